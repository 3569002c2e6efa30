//! The audit log: one row for every Block and Escalate verdict, with the action taken and
//! whether it worked. Excerpts are kept only for the audit retention period.

use chrono::{DateTime, Utc};

use crate::{Result, Store, on_pool, ts};

/// A verdict to record. `excerpt` is a bounded piece of the message, cleared at
/// `excerpt_expires_at`.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub guild_id: i64,
    pub channel_id: i64,
    pub message_id: i64,
    pub author_id: i64,
    /// `block` or `escalate`.
    pub verdict: &'a str,
    pub category: &'a str,
    pub rule: &'a str,
    pub model: Option<&'a str>,
    pub model_verdict: Option<&'a str>,
    pub score: f64,
    /// What the policy asked for, e.g. `delete+notify`.
    pub action: &'a str,
    /// `pending`, `ok`, `failed`, `shadow` (logged only) or `none`.
    pub action_status: &'a str,
    pub excerpt: Option<&'a str>,
    pub excerpt_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub guild_id: i64,
    pub channel_id: i64,
    pub message_id: i64,
    pub author_id: i64,
    pub verdict: String,
    pub category: String,
    pub rule: String,
    pub model: Option<String>,
    pub model_verdict: Option<String>,
    pub score: f64,
    pub action: String,
    pub action_status: String,
    pub action_error: Option<String>,
    pub excerpt: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which entries to list. Newest first; `before_id` pages backwards.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub category: Option<String>,
    pub author_id: Option<i64>,
    pub since: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub async fn insert_audit(&self, e: &NewAuditEntry<'_>) -> Result<i64> {
        self.ensure_guild(e.guild_id, e.created_at).await?;
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "INSERT INTO audit_log (guild_id, channel_id, message_id, author_id, verdict, category, rule,
                                    model, model_verdict, score, action, action_status, excerpt,
                                    excerpt_expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             RETURNING id",
        )
        .bind(e.guild_id)
        .bind(e.channel_id)
        .bind(e.message_id)
        .bind(e.author_id)
        .bind(e.verdict)
        .bind(e.category)
        .bind(e.rule)
        .bind(e.model)
        .bind(e.model_verdict)
        .bind(e.score)
        .bind(e.action)
        .bind(e.action_status)
        .bind(e.excerpt.map(|x| x.replace('\0', "\u{FFFD}")))
        .bind(e.excerpt_expires_at.map(ts))
        .bind(ts(e.created_at))
        .fetch_one(pool)
        .await)?;
        Ok(id)
    }

    /// Records how the actions for an entry went. A failure is kept, never dropped.
    pub async fn set_audit_action_result(
        &self,
        guild_id: i64,
        id: i64,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE audit_log SET action_status = $3, action_error = $4 WHERE guild_id = $1 AND id = $2",
        )
        .bind(guild_id)
        .bind(id)
        .bind(status)
        .bind(error)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn list_audit(&self, guild_id: i64, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let limit = if f.limit <= 0 {
            50
        } else {
            f.limit.min(10_000)
        };
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, guild_id, channel_id, message_id, author_id, verdict, category, rule, model,
                    model_verdict, score, action, action_status, action_error, excerpt, created_at
             FROM audit_log
             WHERE guild_id = $1
               AND ($2 IS NULL OR category = $2)
               AND ($3 IS NULL OR author_id = $3)
               AND ($4 IS NULL OR created_at >= $4)
               AND ($5 IS NULL OR id < $5)
             ORDER BY id DESC
             LIMIT $6",
        )
        .bind(guild_id)
        .bind(f.category.as_deref())
        .bind(f.author_id)
        .bind(f.since.map(ts))
        .bind(f.before_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// A guild's audit entries, or (with `member`) those about the member's messages, oldest
    /// first, for an export.
    pub(crate) async fn export_audit(
        &self,
        guild_id: i64,
        member: Option<i64>,
    ) -> Result<Vec<AuditEntry>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, guild_id, channel_id, message_id, author_id, verdict, category, rule, model,
                    model_verdict, score, action, action_status, action_error, excerpt, created_at
             FROM audit_log WHERE guild_id = $1 AND ($2 IS NULL OR author_id = $2) ORDER BY id",
        )
        .bind(guild_id)
        .bind(member)
        .fetch_all(pool)
        .await)?)
    }

    /// Clears excerpts whose retention has passed; returns how many.
    pub async fn expire_audit_excerpts(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(on_pool!(self, pool => sqlx::query(
            "UPDATE audit_log SET excerpt = NULL, excerpt_expires_at = NULL
             WHERE excerpt_expires_at IS NOT NULL AND excerpt_expires_at <= $1",
        )
        .bind(ts(now))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }
}
