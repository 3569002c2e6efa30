-- Tenancy in the schema: rows that point at a conversation name it by (guild_id, id), so the
-- database refuses a message, trace or feedback row of one guild linked to another guild's
-- conversation, whatever a query forgets. Kept in step with migrations/postgres/0002.
--
-- SQLite cannot change a table's foreign keys in place: each child table is rebuilt, its rows
-- copied with their ids, and its indexes recreated. Nothing references these tables, so they
-- can be dropped with foreign keys on. A row that already linked across guilds cannot satisfy
-- the new keys and is not copied; the application never wrote one (every insert checked the guild).

CREATE UNIQUE INDEX conversations_guild_id_id ON conversations (guild_id, id);

CREATE TABLE messages_scoped (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id            INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id     INTEGER NOT NULL,
    channel_id          INTEGER NOT NULL,
    discord_message_id  INTEGER,
    author_id           INTEGER NOT NULL,
    role                TEXT    NOT NULL,
    content             TEXT    NOT NULL,
    content_purged_at   TEXT,
    created_at          TEXT    NOT NULL,
    UNIQUE (guild_id, discord_message_id),
    FOREIGN KEY (guild_id, conversation_id)
        REFERENCES conversations (guild_id, id) ON DELETE CASCADE
);
INSERT INTO messages_scoped (id, guild_id, conversation_id, channel_id, discord_message_id,
                             author_id, role, content, content_purged_at, created_at)
SELECT m.id, m.guild_id, m.conversation_id, m.channel_id, m.discord_message_id, m.author_id,
       m.role, m.content, m.content_purged_at, m.created_at
FROM messages m
WHERE EXISTS (SELECT 1 FROM conversations c WHERE c.guild_id = m.guild_id AND c.id = m.conversation_id);
DROP TABLE messages;
ALTER TABLE messages_scoped RENAME TO messages;
CREATE INDEX messages_by_conversation ON messages (guild_id, conversation_id, id);
CREATE INDEX messages_by_author ON messages (guild_id, author_id);
CREATE INDEX messages_by_created ON messages (created_at);

CREATE TABLE traces_scoped (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id         INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id  INTEGER,
    message_id       INTEGER,
    kind             TEXT    NOT NULL,
    model            TEXT,
    latency_ms       INTEGER NOT NULL,
    tokens_in        INTEGER,
    tokens_out       INTEGER,
    payload          TEXT    NOT NULL DEFAULT '{}',
    created_at       TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL,
    FOREIGN KEY (guild_id, conversation_id)
        REFERENCES conversations (guild_id, id) ON DELETE CASCADE
);
INSERT INTO traces_scoped (id, guild_id, conversation_id, message_id, kind, model, latency_ms,
                           tokens_in, tokens_out, payload, created_at, expires_at)
SELECT t.id, t.guild_id, t.conversation_id, t.message_id, t.kind, t.model, t.latency_ms,
       t.tokens_in, t.tokens_out, t.payload, t.created_at, t.expires_at
FROM traces t
WHERE t.conversation_id IS NULL
   OR EXISTS (SELECT 1 FROM conversations c WHERE c.guild_id = t.guild_id AND c.id = t.conversation_id);
DROP TABLE traces;
ALTER TABLE traces_scoped RENAME TO traces;
CREATE INDEX traces_by_guild ON traces (guild_id, created_at);
CREATE INDEX traces_by_expiry ON traces (expires_at);
CREATE INDEX traces_by_conversation ON traces (guild_id, conversation_id);

CREATE TABLE feedback_scoped (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id         INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id  INTEGER,
    message_id       INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    rating           INTEGER NOT NULL,
    created_at       TEXT    NOT NULL,
    UNIQUE (guild_id, message_id, user_id),
    FOREIGN KEY (guild_id, conversation_id)
        REFERENCES conversations (guild_id, id) ON DELETE CASCADE
);
INSERT INTO feedback_scoped (id, guild_id, conversation_id, message_id, user_id, rating, created_at)
SELECT f.id, f.guild_id, f.conversation_id, f.message_id, f.user_id, f.rating, f.created_at
FROM feedback f
WHERE f.conversation_id IS NULL
   OR EXISTS (SELECT 1 FROM conversations c WHERE c.guild_id = f.guild_id AND c.id = f.conversation_id);
DROP TABLE feedback;
ALTER TABLE feedback_scoped RENAME TO feedback;
CREATE INDEX feedback_by_conversation ON feedback (guild_id, conversation_id);

CREATE INDEX audit_log_by_message ON audit_log (guild_id, message_id);
CREATE INDEX traces_by_message ON traces (guild_id, message_id);
CREATE INDEX guilds_by_left ON guilds (left_at);
