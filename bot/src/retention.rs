//! The retention job: zeroes old message text, clears audit excerpts and deletes old audit
//! entries and traces, on the schedule the configuration sets.

use chrono::{DateTime, Duration, Utc};
use store::{RetentionCutoffs, Store};
use tracing::{info, warn};

use crate::config::RetentionConfig;

pub fn cutoffs(config: &RetentionConfig, now: DateTime<Utc>) -> RetentionCutoffs {
    RetentionCutoffs {
        now,
        messages_before: now - Duration::days(config.message_days.into()),
        traces_before: now - Duration::days(config.trace_days.into()),
        audit_before: now - Duration::days(config.audit_days.into()),
        guild_id: None,
    }
}

/// When a new audit excerpt must be cleared.
pub fn audit_excerpt_expiry(config: &RetentionConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(config.audit_days.into())
}

pub async fn run_once(store: &Store, config: &RetentionConfig, now: DateTime<Utc>) {
    match store.apply_retention(cutoffs(config, now)).await {
        Ok(report) => info!(
            messages_zeroed = report.message_contents_zeroed,
            audit_excerpts_cleared = report.audit_excerpts_cleared,
            audit_deleted = report.audit_entries_deleted,
            traces_deleted = report.traces_deleted,
            "retention pass"
        ),
        Err(e) => warn!(error = %e, "retention pass failed; will retry next hour"),
    }
}
