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

/// Audit rows the database could not take (it stayed unreachable past the retry budget), in
/// the order they were made, until [`Store::flush_audit_outbox`] writes them. Each has a
/// provisional negative id that later status updates can use, before and after the flush.
#[derive(Debug, Default)]
pub(crate) struct AuditOutbox {
    pending: std::collections::VecDeque<PendingAudit>,
    last_provisional: i64,
    /// Provisional id -> the row's real id, for updates that arrive after the flush.
    written: std::collections::HashMap<i64, i64>,
    /// Rows given up because the outbox was full.
    dropped: u64,
}

/// Rows kept in memory while the database is away; past this the oldest are given up (and
/// counted), so an outage cannot grow memory without bound.
const OUTBOX_LIMIT: usize = 10_000;

#[derive(Debug)]
struct PendingAudit {
    provisional: i64,
    entry: OwnedAuditEntry,
    result: Option<(String, Option<String>)>,
}

#[derive(Debug, Clone)]
struct OwnedAuditEntry {
    guild_id: i64,
    channel_id: i64,
    message_id: i64,
    author_id: i64,
    verdict: String,
    category: String,
    rule: String,
    model: Option<String>,
    model_verdict: Option<String>,
    score: f64,
    action: String,
    action_status: String,
    excerpt: Option<String>,
    excerpt_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl OwnedAuditEntry {
    fn from(e: &NewAuditEntry<'_>) -> Self {
        Self {
            guild_id: e.guild_id,
            channel_id: e.channel_id,
            message_id: e.message_id,
            author_id: e.author_id,
            verdict: e.verdict.into(),
            category: e.category.into(),
            rule: e.rule.into(),
            model: e.model.map(Into::into),
            model_verdict: e.model_verdict.map(Into::into),
            score: e.score,
            action: e.action.into(),
            action_status: e.action_status.into(),
            excerpt: e.excerpt.map(Into::into),
            excerpt_expires_at: e.excerpt_expires_at,
            created_at: e.created_at,
        }
    }

    fn as_new(&self) -> NewAuditEntry<'_> {
        NewAuditEntry {
            guild_id: self.guild_id,
            channel_id: self.channel_id,
            message_id: self.message_id,
            author_id: self.author_id,
            verdict: &self.verdict,
            category: &self.category,
            rule: &self.rule,
            model: self.model.as_deref(),
            model_verdict: self.model_verdict.as_deref(),
            score: self.score,
            action: &self.action,
            action_status: &self.action_status,
            excerpt: self.excerpt.as_deref(),
            excerpt_expires_at: self.excerpt_expires_at,
            created_at: self.created_at,
        }
    }
}

impl Store {
    /// Records a verdict. When the database stays unreachable past the retry budget the row is
    /// kept in memory and a provisional (negative) id returned; [`Store::flush_audit_outbox`]
    /// writes it later, so an outage delays audit rows but does not lose them.
    pub async fn insert_audit(&self, e: &NewAuditEntry<'_>) -> Result<i64> {
        match self.write_audit(e).await {
            Err(error) if crate::Transient::is_transient(&error) => {
                let mut outbox = self.outbox();
                outbox.last_provisional -= 1;
                let provisional = outbox.last_provisional;
                if outbox.pending.len() >= OUTBOX_LIMIT {
                    outbox.pending.pop_front();
                    outbox.dropped += 1;
                    tracing::error!(
                        dropped = outbox.dropped,
                        "the audit outbox is full; the oldest unwritten audit row was given up"
                    );
                }
                outbox.pending.push_back(PendingAudit {
                    provisional,
                    entry: OwnedAuditEntry::from(e),
                    result: None,
                });
                tracing::warn!(
                    guild_id = e.guild_id,
                    pending = outbox.pending.len(),
                    "the database is unreachable; the audit row waits in memory"
                );
                Ok(provisional)
            }
            other => other,
        }
    }

    /// Audit rows waiting for the database, and rows given up because the outbox was full.
    pub fn audit_outbox_len(&self) -> (usize, u64) {
        let outbox = self.outbox();
        (outbox.pending.len(), outbox.dropped)
    }

    /// Writes the rows waiting in the outbox, oldest first; stops at the first that still
    /// cannot be written. Returns how many were written.
    pub async fn flush_audit_outbox(&self) -> Result<usize> {
        let mut written = 0;
        loop {
            let Some(next) = self.outbox().pending.pop_front() else {
                return Ok(written);
            };
            match self.write_audit(&next.entry.as_new()).await {
                Ok(id) => {
                    {
                        let mut outbox = self.outbox();
                        if outbox.written.len() >= OUTBOX_LIMIT {
                            outbox.written.clear();
                        }
                        outbox.written.insert(next.provisional, id);
                    }
                    if let Some((status, error)) = &next.result {
                        self.set_audit_action_result(
                            next.entry.guild_id,
                            id,
                            status,
                            error.as_deref(),
                        )
                        .await?;
                    }
                    written += 1;
                }
                Err(e) => {
                    self.outbox().pending.push_front(next);
                    return Err(e);
                }
            }
        }
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, AuditOutbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn write_audit(&self, e: &NewAuditEntry<'_>) -> Result<i64> {
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
        let id = if id < 0 {
            let mut outbox = self.outbox();
            if let Some(p) = outbox.pending.iter_mut().find(|p| p.provisional == id) {
                p.result = Some((status.to_string(), error.map(String::from)));
                return Ok(());
            }
            match outbox.written.get(&id) {
                Some(real) => *real,
                None => return Ok(()),
            }
        } else {
            id
        };
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
