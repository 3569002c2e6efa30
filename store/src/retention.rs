//! Retention: what is zeroed or deleted once it is old enough. A pass runs across all guilds
//! with the instance's periods, and again for a guild that chose shorter ones; each statement
//! touches only rows past their own deadline, so passes can repeat and overlap.

use chrono::{DateTime, Utc};

use crate::{Result, Store, on_pool, ts};

/// What one retention pass removed, or (from `preview_retention`) would remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub message_contents_zeroed: u64,
    pub audit_excerpts_cleared: u64,
    pub audit_entries_deleted: u64,
    pub traces_deleted: u64,
}

impl std::ops::AddAssign for RetentionReport {
    fn add_assign(&mut self, other: Self) {
        self.message_contents_zeroed += other.message_contents_zeroed;
        self.audit_excerpts_cleared += other.audit_excerpts_cleared;
        self.audit_entries_deleted += other.audit_entries_deleted;
        self.traces_deleted += other.traces_deleted;
    }
}

/// The cut-off points for one pass.
#[derive(Debug, Clone, Copy)]
pub struct RetentionCutoffs {
    pub now: DateTime<Utc>,
    /// Message text older than this is zeroed (the row and its IDs stay for analytics); audit
    /// excerpts, which are message text too, are cleared on the same schedule.
    pub messages_before: DateTime<Utc>,
    /// Agent traces older than this are deleted.
    pub traces_before: DateTime<Utc>,
    /// Audit entries older than this are deleted.
    pub audit_before: DateTime<Utc>,
    /// Only this guild's rows; `None` for every guild.
    pub guild_id: Option<i64>,
}

/// One rule: the rows past their deadline (shared by the count and the change, so a dry run
/// reports exactly what a pass would do). In every statement $1 is the rule's cut-off, $2 the
/// guild (or NULL) and $3 the current time; each names $3 even where its condition does not need
/// it, because Postgres refuses a bound value a statement never mentions.
struct Rule {
    count: &'static str,
    apply: &'static str,
}

macro_rules! rule {
    ($table:literal, $apply:literal, $where:literal) => {
        Rule {
            count: concat!(
                "SELECT COUNT(*) FROM ",
                $table,
                " WHERE $3 IS NOT NULL AND ($2 IS NULL OR guild_id = $2) AND ",
                $where
            ),
            apply: concat!(
                $apply,
                " WHERE $3 IS NOT NULL AND ($2 IS NULL OR guild_id = $2) AND ",
                $where
            ),
        }
    };
}

const MESSAGES: Rule = rule!(
    "messages",
    "UPDATE messages SET content = '', content_purged_at = $3",
    "created_at < $1 AND content_purged_at IS NULL"
);
const AUDIT_EXCERPTS: Rule = rule!(
    "audit_log",
    "UPDATE audit_log SET excerpt = NULL, excerpt_expires_at = NULL",
    "excerpt IS NOT NULL AND (created_at < $1 OR excerpt_expires_at <= $3)"
);
const AUDIT_ENTRIES: Rule = rule!("audit_log", "DELETE FROM audit_log", "created_at < $1");
const TRACES: Rule = rule!(
    "traces",
    "DELETE FROM traces",
    "(created_at < $1 OR expires_at <= $3)"
);

impl Store {
    async fn retention_rule(
        &self,
        rule: &Rule,
        cutoff: DateTime<Utc>,
        c: &RetentionCutoffs,
        dry_run: bool,
    ) -> Result<u64> {
        let (cutoff, now) = (ts(cutoff), ts(c.now));
        Ok(if dry_run {
            let rows: i64 = on_pool!(self, pool => sqlx::query_scalar(rule.count)
                .bind(cutoff)
                .bind(c.guild_id)
                .bind(now)
                .fetch_one(pool)
                .await)?;
            rows.max(0) as u64
        } else {
            on_pool!(self, pool => sqlx::query(rule.apply)
                .bind(cutoff)
                .bind(c.guild_id)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?
        })
    }

    async fn retention_pass(&self, c: &RetentionCutoffs, dry_run: bool) -> Result<RetentionReport> {
        Ok(RetentionReport {
            audit_excerpts_cleared: self
                .retention_rule(&AUDIT_EXCERPTS, c.messages_before, c, dry_run)
                .await?,
            message_contents_zeroed: self
                .retention_rule(&MESSAGES, c.messages_before, c, dry_run)
                .await?,
            audit_entries_deleted: self
                .retention_rule(&AUDIT_ENTRIES, c.audit_before, c, dry_run)
                .await?,
            traces_deleted: self
                .retention_rule(&TRACES, c.traces_before, c, dry_run)
                .await?,
        })
    }

    pub async fn apply_retention(&self, c: RetentionCutoffs) -> Result<RetentionReport> {
        self.retention_pass(&c, false).await
    }

    /// What `apply_retention` would do now, changing nothing.
    pub async fn preview_retention(&self, c: RetentionCutoffs) -> Result<RetentionReport> {
        self.retention_pass(&c, true).await
    }

    /// Guilds whose settings document holds `key` (e.g. their own retention periods), with
    /// that document.
    pub async fn guilds_with_setting(&self, key: &str) -> Result<Vec<(i64, serde_json::Value)>> {
        let rows: Vec<(i64, sqlx::types::Json<serde_json::Value>)> = match &self.pool {
            crate::Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT guild_id, settings FROM guilds
                     WHERE json_type(settings, '$.' || $1) IS NOT NULL ORDER BY guild_id",
                )
                .bind(key)
                .fetch_all(pool)
                .await?
            }
            crate::Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT guild_id, settings FROM guilds
                     WHERE settings -> $1 IS NOT NULL ORDER BY guild_id",
                )
                .bind(key)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows.into_iter().map(|(id, s)| (id, s.0)).collect())
    }
}
