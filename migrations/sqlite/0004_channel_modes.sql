-- Where and when the bot answers, per channel: an answer mode (off | mention | auto) and a
-- human-first delay in seconds, replacing the on/off flag. A channel that was enabled answered
-- every question there: `auto`; one that was disabled answered mentions only: `mention`.
-- Kept in step with migrations/postgres/0004_channel_modes.sql.

ALTER TABLE channel_settings ADD COLUMN mode TEXT NOT NULL DEFAULT 'mention';
ALTER TABLE channel_settings ADD COLUMN human_first_seconds INTEGER NOT NULL DEFAULT 0;
UPDATE channel_settings SET mode = 'auto' WHERE enabled;
ALTER TABLE channel_settings DROP COLUMN enabled;
