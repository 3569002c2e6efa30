-- What became of each conversation, as metadata for `/stats` (counts and timings, never text):
-- how long the member waited for the bot's first response, when the bot answered from the docs,
-- when a person was brought in (a handoff, or staff taking the thread over) and when the asker
-- or staff marked it resolved (the new status `resolved`). Each time is the first; a later
-- change of status keeps it. Kept in step with migrations/sqlite/0005_conversation_outcomes.sql.

ALTER TABLE conversations ADD COLUMN first_response_ms BIGINT;
ALTER TABLE conversations ADD COLUMN answered_at TIMESTAMPTZ;
ALTER TABLE conversations ADD COLUMN handed_off_at TIMESTAMPTZ;
ALTER TABLE conversations ADD COLUMN staff_joined_at TIMESTAMPTZ;
ALTER TABLE conversations ADD COLUMN resolved_at TIMESTAMPTZ;
CREATE INDEX conversations_by_created ON conversations (guild_id, created_at);
CREATE INDEX feedback_by_created ON feedback (guild_id, created_at);
