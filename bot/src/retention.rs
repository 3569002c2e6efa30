//! The retention job, hourly inside `run` and on demand with `supportbot data retention`:
//! message text and audit excerpts are zeroed after `message_days`, traces deleted after
//! `trace_days`, audit entries after `audit_days` (sooner for a guild that chose shorter
//! periods), and a guild that removed the bot is purged `left_guild_grace_days` later.

use chrono::{DateTime, Duration, Utc};
use knowledge::KnowledgeBase;
use store::{RetentionCutoffs, RetentionReport, Store};
use tracing::{info, warn};

use crate::config::RetentionConfig;
use crate::data;
use crate::guild_settings::RetentionOverrides;

pub fn cutoffs(
    periods: &RetentionConfig,
    now: DateTime<Utc>,
    guild_id: Option<i64>,
) -> RetentionCutoffs {
    RetentionCutoffs {
        now,
        messages_before: now - Duration::days(periods.message_days.into()),
        traces_before: now - Duration::days(periods.trace_days.into()),
        audit_before: now - Duration::days(periods.audit_days.into()),
        guild_id,
    }
}

/// Whether a pass changes anything.
#[derive(Clone, Copy)]
pub enum Mode<'a> {
    /// Count what would go; change nothing.
    DryRun,
    /// Zero, delete and purge; the knowledge base is where a purged guild's vectors live.
    Apply { knowledge: &'a KnowledgeBase },
}

/// What a pass did, or would do.
#[derive(Debug, Default)]
pub struct RetentionRun {
    pub report: RetentionReport,
    /// Guilds whose grace period after removing the bot is over: purged, or due.
    pub left_guilds: Vec<i64>,
    /// Guilds with their own, shorter periods.
    pub guilds_with_own_periods: usize,
}

pub async fn pass(
    store: &Store,
    config: &RetentionConfig,
    now: DateTime<Utc>,
    mode: Mode<'_>,
) -> Result<RetentionRun, data::DataError> {
    let once = |c: RetentionCutoffs| async move {
        match mode {
            Mode::DryRun => store.preview_retention(c).await,
            Mode::Apply { .. } => store.apply_retention(c).await,
        }
    };
    let mut run = RetentionRun {
        report: once(cutoffs(config, now, None)).await?,
        ..RetentionRun::default()
    };
    for (guild_id, settings) in store.guilds_with_setting("retention").await? {
        let overrides: RetentionOverrides = match serde_json::from_value(
            settings["retention"].clone(),
        ) {
            Ok(o) => o,
            Err(e) => {
                warn!(guild_id, error = %e, "stored retention periods unreadable; the instance's apply");
                continue;
            }
        };
        if overrides.is_empty() {
            continue;
        }
        run.guilds_with_own_periods += 1;
        let periods = overrides.apply_to(config);
        run.report += once(cutoffs(&periods, now, Some(guild_id))).await?;
    }
    let grace = now - Duration::days(config.left_guild_grace_days.into());
    run.left_guilds = store.guilds_left_before(grace).await?;
    if let Mode::Apply { knowledge } = mode {
        for &guild_id in &run.left_guilds {
            let removed = data::purge_guild(store, knowledge, guild_id).await?;
            info!(
                guild_id,
                rows = removed.iter().map(|t| t.rows).sum::<u64>(),
                "purged a guild that removed the bot"
            );
        }
    }
    Ok(run)
}

/// One pass, logged; a failure is logged and retried at the next one.
pub async fn run_once(
    store: &Store,
    knowledge: &KnowledgeBase,
    config: &RetentionConfig,
    now: DateTime<Utc>,
) {
    match pass(store, config, now, Mode::Apply { knowledge }).await {
        Ok(run) => info!(
            messages_zeroed = run.report.message_contents_zeroed,
            audit_excerpts_cleared = run.report.audit_excerpts_cleared,
            audit_deleted = run.report.audit_entries_deleted,
            traces_deleted = run.report.traces_deleted,
            guilds_purged = run.left_guilds.len(),
            guilds_with_own_periods = run.guilds_with_own_periods,
            "retention pass"
        ),
        Err(e) => warn!(error = %e, "retention pass failed; will retry next hour"),
    }
}
