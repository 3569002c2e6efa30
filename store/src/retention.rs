//! Retention: what is zeroed or deleted once it is old enough. Runs across all guilds; each
//! statement touches only rows past their own deadline.

use chrono::{DateTime, Utc};

use crate::{Result, Store, on_pool, ts};

/// What one retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub message_contents_zeroed: u64,
    pub audit_excerpts_cleared: u64,
    pub audit_entries_deleted: u64,
    pub traces_deleted: u64,
}

/// The cut-off points for one pass.
#[derive(Debug, Clone, Copy)]
pub struct RetentionCutoffs {
    pub now: DateTime<Utc>,
    /// Message text older than this is zeroed (the row and its IDs stay for analytics).
    pub messages_before: DateTime<Utc>,
    /// Audit entries older than this are deleted.
    pub audit_before: DateTime<Utc>,
}

impl Store {
    pub async fn apply_retention(&self, c: RetentionCutoffs) -> Result<RetentionReport> {
        let message_contents_zeroed = on_pool!(self, pool => sqlx::query(
            "UPDATE messages SET content = '', content_purged_at = $2
             WHERE created_at < $1 AND content_purged_at IS NULL",
        )
        .bind(ts(c.messages_before))
        .bind(ts(c.now))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        let audit_excerpts_cleared = self.expire_audit_excerpts(c.now).await?;
        let audit_entries_deleted = on_pool!(self, pool => sqlx::query(
            "DELETE FROM audit_log WHERE created_at < $1",
        )
        .bind(ts(c.audit_before))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        let traces_deleted = on_pool!(self, pool => sqlx::query(
            "DELETE FROM traces WHERE expires_at <= $1",
        )
        .bind(ts(c.now))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(RetentionReport {
            message_contents_zeroed,
            audit_excerpts_cleared,
            audit_entries_deleted,
            traces_deleted,
        })
    }
}
