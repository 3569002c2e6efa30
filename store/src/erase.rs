//! Deleting on request: a member's erasure, a guild's purge and a deleted Discord message's
//! text. Each runs in one transaction, so it happens completely or not at all.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::schema::ident;
use crate::{Result, Store, on_pool, on_pool_once, ts};

/// Rows of one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCount {
    pub table: String,
    pub rows: u64,
}

/// What erasing a member removed, or (from `member_erasure_preview`) would remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemberErasure {
    /// Conversations the member started, with every message, trace and feedback in them.
    pub conversations_deleted: u64,
    /// The member's messages, and the bot's replies in the member's conversations.
    pub messages_deleted: u64,
    pub traces_deleted: u64,
    pub feedback_deleted: u64,
    /// Audit entries about the member's messages keep their IDs and verdict; the text goes.
    pub audit_excerpts_cleared: u64,
    /// Channel settings the member changed forget who changed them.
    pub channel_settings_unattributed: u64,
}

impl MemberErasure {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What forgetting deleted Discord messages cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgottenMessages {
    pub messages_zeroed: u64,
    pub audit_excerpts_cleared: u64,
    pub traces_deleted: u64,
}

/// The member's conversations, as a condition on a `conversation_id` column ($1 guild, $2
/// member).
macro_rules! in_member_conversations {
    () => {
        "conversation_id IN (SELECT id FROM conversations WHERE guild_id = $1 AND author_id = $2)"
    };
}

/// One step of a member's erasure: the rows it touches (shared by the preview's count and the
/// erasure itself, so the two cannot drift apart) and what it does to them.
struct Step {
    count: &'static str,
    apply: &'static str,
}

macro_rules! step {
    ($table:literal, $apply:literal, $where:expr) => {
        Step {
            count: concat!("SELECT COUNT(*) FROM ", $table, " WHERE ", $where),
            apply: concat!($apply, " WHERE ", $where),
        }
    };
}

/// In order: traces and feedback before the messages and conversations they point at.
const MEMBER_STEPS: [Step; 6] = [
    step!(
        "traces",
        "DELETE FROM traces",
        concat!(
            "guild_id = $1 AND (",
            in_member_conversations!(),
            " OR message_id IN (SELECT discord_message_id FROM messages WHERE guild_id = $1 AND author_id = $2))"
        )
    ),
    step!(
        "feedback",
        "DELETE FROM feedback",
        concat!(
            "guild_id = $1 AND (user_id = $2 OR ",
            in_member_conversations!(),
            ")"
        )
    ),
    step!(
        "messages",
        "DELETE FROM messages",
        concat!(
            "guild_id = $1 AND (author_id = $2 OR ",
            in_member_conversations!(),
            ")"
        )
    ),
    step!(
        "conversations",
        "DELETE FROM conversations",
        "guild_id = $1 AND author_id = $2"
    ),
    step!(
        "audit_log",
        "UPDATE audit_log SET excerpt = NULL, excerpt_expires_at = NULL",
        "guild_id = $1 AND author_id = $2 AND excerpt IS NOT NULL"
    ),
    step!(
        "channel_settings",
        "UPDATE channel_settings SET updated_by = NULL",
        "guild_id = $1 AND updated_by = $2"
    ),
];

fn erasure(counts: [u64; 6]) -> MemberErasure {
    let [traces, feedback, messages, conversations, audit, channels] = counts;
    MemberErasure {
        conversations_deleted: conversations,
        messages_deleted: messages,
        traces_deleted: traces,
        feedback_deleted: feedback,
        audit_excerpts_cleared: audit,
        channel_settings_unattributed: channels,
    }
}

impl Store {
    /// What `erase_member` would remove, without removing it.
    pub async fn member_erasure_preview(
        &self,
        guild_id: i64,
        member_id: i64,
    ) -> Result<MemberErasure> {
        let mut counts = [0u64; 6];
        for (i, step) in MEMBER_STEPS.iter().enumerate() {
            let rows: i64 = on_pool!(self, pool => sqlx::query_scalar(step.count)
                .bind(guild_id)
                .bind(member_id)
                .fetch_one(pool)
                .await)?;
            counts[i] = rows.max(0) as u64;
        }
        Ok(erasure(counts))
    }

    /// Erases a member from a guild: their messages, the conversations they started (with the
    /// bot's replies, traces and feedback), their feedback, and the text of audit entries about
    /// their messages. Audit entries keep their IDs and verdicts, so moderation stays
    /// accountable.
    pub async fn erase_member(&self, guild_id: i64, member_id: i64) -> Result<MemberErasure> {
        let mut counts = [0u64; 6];
        on_pool_once!(self, pool => {
            let mut tx = pool.begin().await?;
            for (i, step) in MEMBER_STEPS.iter().enumerate() {
                counts[i] = sqlx::query(step.apply)
                    .bind(guild_id)
                    .bind(member_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
        });
        Ok(erasure(counts))
    }

    /// Deletes every row of a guild from every table that has a `guild_id` column, the guild's
    /// settings row last, in one transaction. Returns what each table held.
    pub async fn purge_guild(&self, guild_id: i64) -> Result<Vec<TableCount>> {
        let mut tables = self.guild_tables().await?;
        // Children first, the guild row (which the others reference) last.
        tables.sort_by_key(|t| t == "guilds");
        let mut counts = Vec::new();
        on_pool_once!(self, pool => {
            let mut tx = pool.begin().await?;
            // Counted before any delete: a conversation's delete cascades to its messages.
            for table in &tables {
                let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM {} WHERE guild_id = $1",
                    ident(table)
                )))
                .bind(guild_id)
                .fetch_one(&mut *tx)
                .await?;
                counts.push(TableCount {
                    table: table.clone(),
                    rows: rows.max(0) as u64,
                });
            }
            for table in &tables {
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {} WHERE guild_id = $1",
                    ident(table)
                )))
                .bind(guild_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(counts)
    }

    /// Guilds that removed the bot before `cutoff`: due for purging.
    pub async fn guilds_left_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<i64>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT guild_id FROM guilds WHERE left_at IS NOT NULL AND left_at < $1 ORDER BY guild_id",
        )
        .bind(ts(cutoff))
        .fetch_all(pool)
        .await)?)
    }

    /// Forgets the text of Discord messages that were deleted: the stored message keeps its
    /// IDs with empty text, an audit entry keeps its verdict without the excerpt, and the
    /// agent's traces for it (they quote it) go.
    pub async fn forget_messages(
        &self,
        guild_id: i64,
        message_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<ForgottenMessages> {
        let now = ts(now);
        let mut report = ForgottenMessages::default();
        on_pool_once!(self, pool => {
            let mut tx = pool.begin().await?;
            for id in message_ids {
                report.messages_zeroed += sqlx::query(
                    "UPDATE messages SET content = '', content_purged_at = $3
                     WHERE guild_id = $1 AND discord_message_id = $2
                       AND (content <> '' OR content_purged_at IS NULL)",
                )
                .bind(guild_id)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                report.audit_excerpts_cleared += sqlx::query(
                    "UPDATE audit_log SET excerpt = NULL, excerpt_expires_at = NULL
                     WHERE guild_id = $1 AND message_id = $2 AND excerpt IS NOT NULL",
                )
                .bind(guild_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                report.traces_deleted += sqlx::query(
                    "DELETE FROM traces WHERE guild_id = $1 AND message_id = $2",
                )
                .bind(guild_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
        });
        Ok(report)
    }
}
