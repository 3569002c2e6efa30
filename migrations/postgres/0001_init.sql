-- supportbot schema, Postgres flavour. Kept in step with migrations/sqlite/0001_init.sql.
-- Discord IDs are 64-bit integers; timestamps are TIMESTAMPTZ.

CREATE TABLE guilds (
    guild_id    BIGINT PRIMARY KEY,
    settings    JSONB   NOT NULL DEFAULT '{}',
    joined_at   TIMESTAMPTZ NOT NULL,
    left_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE channel_settings (
    guild_id    BIGINT  NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    channel_id  BIGINT  NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_by  BIGINT,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE conversations (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id           BIGINT  NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    channel_id         BIGINT  NOT NULL,
    thread_id          BIGINT,
    origin_message_id  BIGINT  NOT NULL,
    author_id          BIGINT  NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'open',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (guild_id, origin_message_id)
);
CREATE INDEX conversations_by_thread ON conversations (guild_id, thread_id);

CREATE TABLE messages (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id            BIGINT  NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id     BIGINT  NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel_id          BIGINT  NOT NULL,
    discord_message_id  BIGINT,
    author_id           BIGINT  NOT NULL,
    role                TEXT    NOT NULL,
    content             TEXT    NOT NULL,
    content_purged_at   TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (guild_id, discord_message_id)
);
CREATE INDEX messages_by_conversation ON messages (guild_id, conversation_id, id);
CREATE INDEX messages_by_author ON messages (guild_id, author_id);
CREATE INDEX messages_by_created ON messages (created_at);

CREATE TABLE audit_log (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id            BIGINT  NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    channel_id          BIGINT  NOT NULL,
    message_id          BIGINT  NOT NULL,
    author_id           BIGINT  NOT NULL,
    verdict             TEXT    NOT NULL,
    category            TEXT    NOT NULL,
    rule                TEXT    NOT NULL,
    model               TEXT,
    model_verdict       TEXT,
    score               DOUBLE PRECISION NOT NULL,
    action              TEXT    NOT NULL,
    action_status       TEXT    NOT NULL,
    action_error        TEXT,
    excerpt             TEXT,
    excerpt_expires_at  TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_by_guild ON audit_log (guild_id, created_at);
CREATE INDEX audit_log_by_author ON audit_log (guild_id, author_id, created_at);

CREATE TABLE traces (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id         BIGINT  NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id  BIGINT  REFERENCES conversations (id) ON DELETE CASCADE,
    message_id       BIGINT,
    kind             TEXT    NOT NULL,
    model            TEXT,
    latency_ms       BIGINT  NOT NULL,
    tokens_in        BIGINT,
    tokens_out       BIGINT,
    payload          JSONB   NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX traces_by_guild ON traces (guild_id, created_at);
CREATE INDEX traces_by_expiry ON traces (expires_at);

CREATE TABLE knowledge_sources (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id      BIGINT  NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    location      TEXT    NOT NULL,
    content_hash  TEXT,
    chunk_count   BIGINT  NOT NULL DEFAULT 0,
    status        TEXT    NOT NULL DEFAULT 'pending',
    indexed_at    TIMESTAMPTZ,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (guild_id, kind, location)
);

CREATE TABLE feedback (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id         BIGINT  NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    conversation_id  BIGINT  REFERENCES conversations (id) ON DELETE CASCADE,
    message_id       BIGINT  NOT NULL,
    user_id          BIGINT  NOT NULL,
    rating           BIGINT  NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (guild_id, message_id, user_id)
);
