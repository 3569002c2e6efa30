//! Conversations (one per support thread) and the messages in them.

use chrono::{DateTime, Utc};

use crate::{Result, Store, StoreError, on_pool, ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    /// A human took over; the bot stays quiet in this thread.
    Paused,
    /// The bot handed the conversation to a person (the support role was pinged); it stays
    /// quiet in this thread until resumed.
    HandedOff,
    /// The asker (or staff) marked the question resolved; the bot stays quiet in this thread.
    Resolved,
    Closed,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Paused => "paused",
            Self::HandedOff => "handed_off",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "open" => Ok(Self::Open),
            "paused" => Ok(Self::Paused),
            "handed_off" => Ok(Self::HandedOff),
            "resolved" => Ok(Self::Resolved),
            "closed" => Ok(Self::Closed),
            other => Err(StoreError::Corrupt(format!(
                "unknown conversation status {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    Member,
    Bot,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Bot => "bot",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "member" => Ok(Self::Member),
            "bot" => Ok(Self::Bot),
            other => Err(StoreError::Corrupt(format!(
                "unknown message role {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Conversation {
    pub id: i64,
    pub guild_id: i64,
    pub channel_id: i64,
    pub thread_id: Option<i64>,
    pub origin_message_id: i64,
    pub author_id: i64,
    pub status: ConversationStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: i64,
    guild_id: i64,
    channel_id: i64,
    thread_id: Option<i64>,
    origin_message_id: i64,
    author_id: i64,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;

    fn try_from(r: ConversationRow) -> Result<Self> {
        Ok(Conversation {
            id: r.id,
            guild_id: r.guild_id,
            channel_id: r.channel_id,
            thread_id: r.thread_id,
            origin_message_id: r.origin_message_id,
            author_id: r.author_id,
            status: ConversationStatus::parse(&r.status)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

macro_rules! conversation_columns {
    () => {
        "id, guild_id, channel_id, thread_id, origin_message_id, author_id, status, created_at, updated_at"
    };
}

/// A message to append to a conversation.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub guild_id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    /// `None` for a bot reply that could not be posted.
    pub discord_message_id: Option<i64>,
    pub author_id: i64,
    pub role: MessageRole,
    pub content: &'a str,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredMessage {
    pub id: i64,
    pub guild_id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    pub discord_message_id: Option<i64>,
    pub author_id: i64,
    pub role: MessageRole,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    guild_id: i64,
    conversation_id: i64,
    channel_id: i64,
    discord_message_id: Option<i64>,
    author_id: i64,
    role: String,
    content: String,
    created_at: DateTime<Utc>,
}

impl Store {
    /// Opens a conversation for a message. Returns `None` when a conversation for this message
    /// already exists, which is how a replayed gateway event is answered only once.
    pub async fn start_conversation(
        &self,
        guild_id: i64,
        channel_id: i64,
        origin_message_id: i64,
        author_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Conversation>> {
        let now = ts(now);
        // Gateway events are handled concurrently: a message can overtake its GUILD_CREATE.
        self.ensure_guild(guild_id, now).await?;
        let sql = concat!("INSERT INTO conversations (guild_id, channel_id, origin_message_id, author_id, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'open', $5, $5)
             ON CONFLICT (guild_id, origin_message_id) DO NOTHING
             RETURNING ", conversation_columns!(), "");
        let row: Option<ConversationRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(guild_id)
            .bind(channel_id)
            .bind(origin_message_id)
            .bind(author_id)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        row.map(Conversation::try_from).transpose()
    }

    pub async fn set_conversation_thread(
        &self,
        guild_id: i64,
        conversation_id: i64,
        thread_id: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        on_pool!(self, pool => sqlx::query(
            "UPDATE conversations SET thread_id = $3, updated_at = $4 WHERE guild_id = $1 AND id = $2",
        )
        .bind(guild_id)
        .bind(conversation_id)
        .bind(thread_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn set_conversation_status(
        &self,
        guild_id: i64,
        conversation_id: i64,
        status: ConversationStatus,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        // The first handoff, staff takeover and resolution are kept for `/stats`: resuming or
        // resolving later does not erase that a person was brought in.
        let (handed_off, staff_joined, resolved) = match status {
            ConversationStatus::HandedOff => (Some(now), None, None),
            ConversationStatus::Paused => (None, Some(now), None),
            ConversationStatus::Resolved => (None, None, Some(now)),
            ConversationStatus::Open | ConversationStatus::Closed => (None, None, None),
        };
        on_pool!(self, pool => sqlx::query(
            "UPDATE conversations SET status = $3, updated_at = $4,
                    handed_off_at = COALESCE(handed_off_at, $5),
                    staff_joined_at = COALESCE(staff_joined_at, $6),
                    resolved_at = COALESCE(resolved_at, $7)
             WHERE guild_id = $1 AND id = $2",
        )
        .bind(guild_id)
        .bind(conversation_id)
        .bind(status.as_str())
        .bind(now)
        .bind(handed_off)
        .bind(staff_joined)
        .bind(resolved)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Marks a conversation resolved unless it already is; returns whether this call did it,
    /// so a second click changes nothing.
    pub async fn resolve_conversation(
        &self,
        guild_id: i64,
        conversation_id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now = ts(now);
        let changed = on_pool!(self, pool => sqlx::query(
            "UPDATE conversations SET status = 'resolved', updated_at = $3,
                    resolved_at = COALESCE(resolved_at, $3)
             WHERE guild_id = $1 AND id = $2 AND status <> 'resolved'",
        )
        .bind(guild_id)
        .bind(conversation_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(changed > 0)
    }

    /// The bot posted in a conversation: the first time, how long the member waited
    /// (`waited_ms`) is kept; `answered` (a reply from the docs, not a question back or a
    /// handoff) keeps when it first answered. Later posts change neither.
    pub async fn record_response(
        &self,
        guild_id: i64,
        conversation_id: i64,
        waited_ms: i64,
        answered: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let answered_at = answered.then(|| ts(now));
        on_pool!(self, pool => sqlx::query(
            "UPDATE conversations SET first_response_ms = COALESCE(first_response_ms, $3),
                    answered_at = COALESCE(answered_at, $4)
             WHERE guild_id = $1 AND id = $2",
        )
        .bind(guild_id)
        .bind(conversation_id)
        .bind(waited_ms.max(0))
        .bind(answered_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn conversation(&self, guild_id: i64, id: i64) -> Result<Option<Conversation>> {
        let sql = concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE guild_id = $1 AND id = $2"
        );
        let row: Option<ConversationRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(guild_id)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(Conversation::try_from).transpose()
    }

    /// The conversation a bot-created thread belongs to, if any.
    pub async fn conversation_by_thread(
        &self,
        guild_id: i64,
        thread_id: i64,
    ) -> Result<Option<Conversation>> {
        let sql = concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE guild_id = $1 AND thread_id = $2
             ORDER BY id DESC LIMIT 1"
        );
        let row: Option<ConversationRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(guild_id)
            .bind(thread_id)
            .fetch_optional(pool)
            .await)?;
        row.map(Conversation::try_from).transpose()
    }

    pub async fn conversations(&self, guild_id: i64) -> Result<Vec<Conversation>> {
        let sql = concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE guild_id = $1 ORDER BY id"
        );
        let rows: Vec<ConversationRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(guild_id)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(Conversation::try_from).collect()
    }

    /// Appends a message. Returns `None` when this Discord message was already stored (a
    /// replayed event), so callers can skip work they already did.
    pub async fn append_message(&self, m: &NewMessage<'_>) -> Result<Option<i64>> {
        let created_at = ts(m.created_at);
        // Postgres text cannot hold NUL; both backends store U+FFFD instead, so they agree.
        let content = m.content.replace('\0', "\u{FFFD}");
        let id: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "INSERT INTO messages (guild_id, conversation_id, channel_id, discord_message_id, author_id, role, content, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE EXISTS (SELECT 1 FROM conversations WHERE guild_id = $1 AND id = $2)
             ON CONFLICT (guild_id, discord_message_id) DO NOTHING
             RETURNING id",
        )
        .bind(m.guild_id)
        .bind(m.conversation_id)
        .bind(m.channel_id)
        .bind(m.discord_message_id)
        .bind(m.author_id)
        .bind(m.role.as_str())
        .bind(&content)
        .bind(created_at)
        .fetch_optional(pool)
        .await)?;
        Ok(id)
    }

    /// A member edited a stored message: the stored text follows the edit, so what they took
    /// out is not kept. A message whose text was already forgotten (deleted, erased, expired)
    /// stays forgotten. Returns whether a stored message changed.
    pub async fn edit_message_content(
        &self,
        guild_id: i64,
        discord_message_id: i64,
        content: &str,
    ) -> Result<bool> {
        let content = content.replace('\0', "\u{FFFD}");
        let changed = on_pool!(self, pool => sqlx::query(
            "UPDATE messages SET content = $3
             WHERE guild_id = $1 AND discord_message_id = $2 AND role = 'member'
               AND content <> '' AND content_purged_at IS NULL",
        )
        .bind(guild_id)
        .bind(discord_message_id)
        .bind(&content)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(changed > 0)
    }

    pub async fn conversation_messages(
        &self,
        guild_id: i64,
        conversation_id: i64,
    ) -> Result<Vec<StoredMessage>> {
        let rows: Vec<MessageRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, guild_id, conversation_id, channel_id, discord_message_id, author_id, role, content, created_at
             FROM messages WHERE guild_id = $1 AND conversation_id = $2 ORDER BY id",
        )
        .bind(guild_id)
        .bind(conversation_id)
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(StoredMessage::try_from).collect()
    }

    /// A guild's conversations, or (with `member`) those the member started, for an export.
    pub(crate) async fn export_conversations(
        &self,
        guild_id: i64,
        member: Option<i64>,
    ) -> Result<Vec<Conversation>> {
        let sql = concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE guild_id = $1 AND ($2 IS NULL OR author_id = $2) ORDER BY id"
        );
        let rows: Vec<ConversationRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(guild_id)
            .bind(member)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(Conversation::try_from).collect()
    }

    /// A guild's messages, or (with `member`) the member's own and every message of the
    /// conversations they started, for an export.
    pub(crate) async fn export_messages(
        &self,
        guild_id: i64,
        member: Option<i64>,
    ) -> Result<Vec<StoredMessage>> {
        let rows: Vec<MessageRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, guild_id, conversation_id, channel_id, discord_message_id, author_id, role, content, created_at
             FROM messages
             WHERE guild_id = $1
               AND ($2 IS NULL OR author_id = $2
                    OR conversation_id IN (SELECT id FROM conversations WHERE guild_id = $1 AND author_id = $2))
             ORDER BY id",
        )
        .bind(guild_id)
        .bind(member)
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(StoredMessage::try_from).collect()
    }
}

impl TryFrom<MessageRow> for StoredMessage {
    type Error = StoreError;

    fn try_from(r: MessageRow) -> Result<Self> {
        Ok(StoredMessage {
            id: r.id,
            guild_id: r.guild_id,
            conversation_id: r.conversation_id,
            channel_id: r.channel_id,
            discord_message_id: r.discord_message_id,
            author_id: r.author_id,
            role: MessageRole::parse(&r.role)?,
            content: r.content,
            created_at: r.created_at,
        })
    }
}
