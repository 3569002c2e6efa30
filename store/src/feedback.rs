//! Members' ratings of the bot's answers (a thumbs up or down under a reply). Feedback names
//! the member, so it is exported and erased with them.

use chrono::{DateTime, Utc};

use crate::{Result, Store, on_pool, ts};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct FeedbackRecord {
    pub id: i64,
    pub guild_id: i64,
    pub conversation_id: Option<i64>,
    /// The bot's Discord message that was rated.
    pub message_id: i64,
    pub user_id: i64,
    /// +1 or -1.
    pub rating: i64,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Records (or replaces) a member's rating of one bot message.
    pub async fn record_feedback(
        &self,
        guild_id: i64,
        conversation_id: Option<i64>,
        message_id: i64,
        user_id: i64,
        rating: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        self.ensure_guild(guild_id, now).await?;
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO feedback (guild_id, conversation_id, message_id, user_id, rating, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (guild_id, message_id, user_id) DO UPDATE SET rating = $5, created_at = $6",
        )
        .bind(guild_id)
        .bind(conversation_id)
        .bind(message_id)
        .bind(user_id)
        .bind(rating)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub(crate) async fn export_feedback(
        &self,
        guild_id: i64,
        member: Option<i64>,
    ) -> Result<Vec<FeedbackRecord>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, guild_id, conversation_id, message_id, user_id, rating, created_at
             FROM feedback
             WHERE guild_id = $1
               AND ($2 IS NULL OR user_id = $2
                    OR conversation_id IN (SELECT id FROM conversations WHERE guild_id = $1 AND author_id = $2))
             ORDER BY id",
        )
        .bind(guild_id)
        .bind(member)
        .fetch_all(pool)
        .await)?)
    }
}
