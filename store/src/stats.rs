//! A guild's support figures over a window, for `/stats`: counts and timings read from
//! metadata columns (conversation outcome times, feedback ratings, audit verdicts), never text.
//! Rows are bucketed by UTC day in Rust, so both backends agree to the row.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::{Result, Store, on_pool, ts};

/// What happened in one UTC day of the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub questions: u64,
    pub answered: u64,
    pub handed_off: u64,
    pub escalated: u64,
    pub blocked: u64,
    pub resolved: u64,
}

/// A guild's figures for `[since, until)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuildStats {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Conversations started.
    pub questions: u64,
    /// Conversations the bot answered from the docs.
    pub answered: u64,
    /// Conversations marked resolved.
    pub resolved: u64,
    /// Of those, resolved with no handoff and no staff taking the thread over.
    pub resolved_without_human: u64,
    /// Answers rated "not helpful" (one per member per answer).
    pub not_helpful: u64,
    /// Conversations handed to a person.
    pub handed_off: u64,
    /// Escalations in the audit log (classifier and agent), acted on. A member asking for a
    /// person is a handoff, counted there, not here.
    pub escalated: u64,
    /// Blocks in the audit log by category, acted on; most first.
    pub blocked: Vec<(String, u64)>,
    /// Milliseconds from a member's question to the bot's first response, in the order of the
    /// conversations; see [`GuildStats::latency_percentile`].
    pub response_ms: Vec<i64>,
    /// Every UTC day of the window, oldest first, empty days included.
    pub days: Vec<(NaiveDate, DayCounts)>,
}

impl GuildStats {
    pub fn blocked_total(&self) -> u64 {
        self.blocked.iter().map(|(_, n)| n).sum()
    }

    /// The `p`th percentile (0–100, nearest rank) of response times, or `None` without any.
    pub fn latency_percentile(&self, p: u32) -> Option<i64> {
        if self.response_ms.is_empty() {
            return None;
        }
        let mut sorted = self.response_ms.clone();
        sorted.sort_unstable();
        let rank = (u64::from(p.min(100)) * sorted.len() as u64).div_ceil(100);
        let index = (rank as usize).saturating_sub(1).min(sorted.len() - 1);
        Some(sorted[index])
    }

    /// Resolved without a person, as a share of the questions asked (0–1).
    pub fn share_resolved_without_human(&self) -> Option<f64> {
        (self.questions > 0).then(|| self.resolved_without_human as f64 / self.questions as f64)
    }
}

#[derive(sqlx::FromRow)]
struct OutcomeRow {
    created_at: DateTime<Utc>,
    first_response_ms: Option<i64>,
    answered_at: Option<DateTime<Utc>>,
    handed_off_at: Option<DateTime<Utc>>,
    staff_joined_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct VerdictRow {
    verdict: String,
    category: String,
    created_at: DateTime<Utc>,
}

impl Store {
    /// A guild's figures for `[since, until)`. Each event counts on the day it happened: a
    /// question asked last week and resolved today counts as resolved today.
    pub async fn guild_stats(
        &self,
        guild_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<GuildStats> {
        let (since, until) = (ts(since), ts(until));
        let conversations: Vec<OutcomeRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT created_at, first_response_ms, answered_at, handed_off_at, staff_joined_at,
                    resolved_at
             FROM conversations
             WHERE guild_id = $1
               AND ((created_at >= $2 AND created_at < $3)
                    OR (answered_at >= $2 AND answered_at < $3)
                    OR (handed_off_at >= $2 AND handed_off_at < $3)
                    OR (resolved_at >= $2 AND resolved_at < $3))",
        )
        .bind(guild_id)
        .bind(since)
        .bind(until)
        .fetch_all(pool)
        .await)?;
        let verdicts: Vec<VerdictRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT verdict, category, created_at FROM audit_log
             WHERE guild_id = $1 AND created_at >= $2 AND created_at < $3
               AND verdict IN ('block', 'escalate')
               AND category <> 'human_request'
               AND action_status NOT IN ('shadow', 'logged')",
        )
        .bind(guild_id)
        .bind(since)
        .bind(until)
        .fetch_all(pool)
        .await)?;
        let not_helpful: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM feedback
             WHERE guild_id = $1 AND created_at >= $2 AND created_at < $3 AND rating < 0",
        )
        .bind(guild_id)
        .bind(since)
        .bind(until)
        .fetch_one(pool)
        .await)?;

        let mut days: BTreeMap<NaiveDate, DayCounts> = BTreeMap::new();
        let last = (until - chrono::Duration::microseconds(1)).date_naive();
        let mut day = since.date_naive();
        while day <= last {
            days.insert(day, DayCounts::default());
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        let within = |t: Option<DateTime<Utc>>| t.filter(|t| *t >= since && *t < until);
        let mut stats = GuildStats {
            since,
            until,
            not_helpful: u64::try_from(not_helpful).unwrap_or(0),
            ..GuildStats::default()
        };
        let mut bump = |t: DateTime<Utc>, field: fn(&mut DayCounts) -> &mut u64| {
            *field(days.entry(t.date_naive()).or_default()) += 1;
        };
        for c in &conversations {
            if let Some(t) = within(Some(c.created_at)) {
                stats.questions += 1;
                bump(t, |d| &mut d.questions);
                if let Some(ms) = c.first_response_ms {
                    stats.response_ms.push(ms);
                }
            }
            if let Some(t) = within(c.answered_at) {
                stats.answered += 1;
                bump(t, |d| &mut d.answered);
            }
            if let Some(t) = within(c.handed_off_at) {
                stats.handed_off += 1;
                bump(t, |d| &mut d.handed_off);
            }
            if let Some(t) = within(c.resolved_at) {
                stats.resolved += 1;
                if c.handed_off_at.is_none() && c.staff_joined_at.is_none() {
                    stats.resolved_without_human += 1;
                }
                bump(t, |d| &mut d.resolved);
            }
        }
        let mut blocked: BTreeMap<String, u64> = BTreeMap::new();
        for v in &verdicts {
            if v.verdict == "block" {
                *blocked.entry(v.category.clone()).or_default() += 1;
                bump(v.created_at, |d| &mut d.blocked);
            } else {
                stats.escalated += 1;
                bump(v.created_at, |d| &mut d.escalated);
            }
        }
        stats.blocked = blocked.into_iter().collect();
        stats
            .blocked
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        stats.days = days.into_iter().collect();
        Ok(stats)
    }
}
