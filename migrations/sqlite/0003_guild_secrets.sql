-- Secrets a guild gives us (its own LLM API key), sealed with an AEAD under the master key
-- (SUPPORTBOT_MASTER_KEY); the guild's ID and the secret's name are the associated data, so a
-- ciphertext copied to another guild or name does not open. `key_id` names the master key that
-- sealed the row (a keyed hash of it, never the key). Kept in step with
-- migrations/postgres/0003_guild_secrets.sql.

CREATE TABLE guild_secrets (
    guild_id    INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    nonce       BLOB    NOT NULL,
    ciphertext  BLOB    NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (guild_id, name)
);
CREATE INDEX guild_secrets_by_key ON guild_secrets (key_id);
