-- supportbot schema, SQLite flavour. Kept in step with migrations/postgres/0001_init.sql.
-- Discord IDs are 64-bit integers; timestamps are RFC 3339 UTC text written by the application.

CREATE TABLE guilds (
    guild_id    INTEGER PRIMARY KEY NOT NULL,
    settings    TEXT    NOT NULL DEFAULT '{}',
    joined_at   TEXT    NOT NULL,
    left_at     TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE TABLE channel_settings (
    guild_id    INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    channel_id  INTEGER NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_by  INTEGER,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE conversations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id           INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    channel_id         INTEGER NOT NULL,
    thread_id          INTEGER,
    origin_message_id  INTEGER NOT NULL,
    author_id          INTEGER NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'open',
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    UNIQUE (guild_id, origin_message_id)
);
CREATE INDEX conversations_by_thread ON conversations (guild_id, thread_id);

CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id            INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id     INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel_id          INTEGER NOT NULL,
    discord_message_id  INTEGER,
    author_id           INTEGER NOT NULL,
    role                TEXT    NOT NULL,
    content             TEXT    NOT NULL,
    content_purged_at   TEXT,
    created_at          TEXT    NOT NULL,
    UNIQUE (guild_id, discord_message_id)
);
CREATE INDEX messages_by_conversation ON messages (guild_id, conversation_id, id);
CREATE INDEX messages_by_author ON messages (guild_id, author_id);
CREATE INDEX messages_by_created ON messages (created_at);

CREATE TABLE audit_log (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id            INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    channel_id          INTEGER NOT NULL,
    message_id          INTEGER NOT NULL,
    author_id           INTEGER NOT NULL,
    verdict             TEXT    NOT NULL,
    category            TEXT    NOT NULL,
    rule                TEXT    NOT NULL,
    model               TEXT,
    model_verdict       TEXT,
    score               REAL    NOT NULL,
    action              TEXT    NOT NULL,
    action_status       TEXT    NOT NULL,
    action_error        TEXT,
    excerpt             TEXT,
    excerpt_expires_at  TEXT,
    created_at          TEXT    NOT NULL
);
CREATE INDEX audit_log_by_guild ON audit_log (guild_id, created_at);
CREATE INDEX audit_log_by_author ON audit_log (guild_id, author_id, created_at);

CREATE TABLE traces (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id         INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id  INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
    message_id       INTEGER,
    kind             TEXT    NOT NULL,
    model            TEXT,
    latency_ms       INTEGER NOT NULL,
    tokens_in        INTEGER,
    tokens_out       INTEGER,
    payload          TEXT    NOT NULL DEFAULT '{}',
    created_at       TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL
);
CREATE INDEX traces_by_guild ON traces (guild_id, created_at);
CREATE INDEX traces_by_expiry ON traces (expires_at);

CREATE TABLE knowledge_sources (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    location      TEXT    NOT NULL,
    content_hash  TEXT,
    chunk_count   INTEGER NOT NULL DEFAULT 0,
    status        TEXT    NOT NULL DEFAULT 'pending',
    indexed_at    TEXT,
    last_error    TEXT,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    UNIQUE (guild_id, kind, location)
);

CREATE TABLE feedback (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id         INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id  INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
    message_id       INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    rating           INTEGER NOT NULL,
    created_at       TEXT    NOT NULL,
    UNIQUE (guild_id, message_id, user_id)
);
