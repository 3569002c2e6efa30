-- Tenancy in the schema: rows that point at a conversation name it by (guild_id, id), so the
-- database refuses a message, trace or feedback row of one guild linked to another guild's
-- conversation, whatever a query forgets. Kept in step with migrations/sqlite/0002.

ALTER TABLE conversations ADD CONSTRAINT conversations_guild_id_id UNIQUE (guild_id, id);

-- Rows that already link across guilds cannot satisfy the new keys; none can have been
-- written by the application (every insert checked the guild), so this removes nothing.
DELETE FROM messages m
WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.guild_id = m.guild_id AND c.id = m.conversation_id);
DELETE FROM traces t
WHERE t.conversation_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.guild_id = t.guild_id AND c.id = t.conversation_id);
DELETE FROM feedback f
WHERE f.conversation_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.guild_id = f.guild_id AND c.id = f.conversation_id);

ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;
ALTER TABLE messages ADD CONSTRAINT messages_conversation_fkey
    FOREIGN KEY (guild_id, conversation_id) REFERENCES conversations (guild_id, id) ON DELETE CASCADE;
ALTER TABLE traces DROP CONSTRAINT traces_conversation_id_fkey;
ALTER TABLE traces ADD CONSTRAINT traces_conversation_fkey
    FOREIGN KEY (guild_id, conversation_id) REFERENCES conversations (guild_id, id) ON DELETE CASCADE;
ALTER TABLE feedback DROP CONSTRAINT feedback_conversation_id_fkey;
ALTER TABLE feedback ADD CONSTRAINT feedback_conversation_fkey
    FOREIGN KEY (guild_id, conversation_id) REFERENCES conversations (guild_id, id) ON DELETE CASCADE;

CREATE INDEX traces_by_conversation ON traces (guild_id, conversation_id);
CREATE INDEX feedback_by_conversation ON feedback (guild_id, conversation_id);
CREATE INDEX audit_log_by_message ON audit_log (guild_id, message_id);
CREATE INDEX traces_by_message ON traces (guild_id, message_id);
CREATE INDEX guilds_by_left ON guilds (left_at);
