//! Reading the audit log: `--since`/`since:` durations, one page as Discord text with paging
//! buttons, and the stateless button IDs that carry a page's query (so paging survives restarts
//! and every click is checked again).

use chrono::{DateTime, Duration, Utc};
use serenity::all::{ButtonStyle, CreateActionRow, CreateButton};
use store::{AuditEntry, AuditFilter};

use crate::pipeline::MESSAGE_LIMIT;

pub const PAGE_SIZE: i64 = 6;
const EXCERPT_PREVIEW: usize = 120;

/// Parses `30m`, `12h`, `7d` or `2w`.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let err =
        || format!("{text:?} is not a duration; use a number and a unit, like 30m, 12h, 7d or 2w");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| err())?;
    let d = match unit {
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    };
    d.filter(|d| *d > Duration::zero() && *d <= Duration::days(3650))
        .ok_or_else(err)
}

/// What a page shows: the filter, minus paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub guild_id: u64,
    pub category: Option<String>,
    pub author_id: Option<u64>,
    pub since: Option<DateTime<Utc>>,
}

impl AuditQuery {
    pub fn filter(&self, before_id: Option<i64>, limit: i64) -> AuditFilter {
        AuditFilter {
            category: self.category.clone(),
            author_id: self.author_id.map(|a| a as i64),
            since: self.since,
            before_id,
            limit,
        }
    }

    /// `audit:<guild>:<before>:<category>:<author>:<since>`, within Discord's 100 characters.
    pub fn button_id(&self, before_id: i64) -> String {
        format!(
            "audit:{}:{}:{}:{}:{}",
            self.guild_id,
            before_id,
            self.category.as_deref().unwrap_or("-"),
            self.author_id.unwrap_or(0),
            self.since.map_or(0, |t| t.timestamp())
        )
    }

    pub fn from_button_id(id: &str) -> Option<(AuditQuery, i64)> {
        let mut parts = id.strip_prefix("audit:")?.split(':');
        let guild_id = parts.next()?.parse().ok()?;
        let before_id = parts.next()?.parse().ok()?;
        let category = parts.next()?;
        let author: u64 = parts.next()?.parse().ok()?;
        let since: i64 = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some((
            AuditQuery {
                guild_id,
                category: (category != "-").then(|| category.to_string()),
                author_id: (author != 0).then_some(author),
                since: (since != 0)
                    .then(|| DateTime::from_timestamp(since, 0))
                    .flatten(),
            },
            before_id,
        ))
    }
}

/// One page: text and, when older entries exist, an "Older" button. Shows up to `PAGE_SIZE`
/// entries, fewer when more would not fit in one Discord message: with real 18–19-digit IDs
/// and long errors or excerpts, six rows can pass 2,000 characters. Every row is bounded, so
/// the first always fits.
pub fn render_page(
    query: &AuditQuery,
    entries: &[AuditEntry],
    first_page: bool,
) -> (String, Vec<CreateActionRow>) {
    let mut filters = Vec::new();
    if let Some(c) = &query.category {
        filters.push(format!("category {}", preview(c, 40)));
    }
    if let Some(a) = query.author_id {
        filters.push(format!("member <@{a}>"));
    }
    if let Some(s) = query.since {
        filters.push(format!("since <t:{}:f>", s.timestamp()));
    }
    let mut text = format!(
        "**Audit log**{}\n",
        if filters.is_empty() {
            String::new()
        } else {
            format!(" ({})", filters.join(", "))
        }
    );
    let mut shown: &[AuditEntry] = &[];
    let mut length = text.chars().count();
    for (i, e) in entries.iter().take(PAGE_SIZE as usize).enumerate() {
        let row = render_row(e);
        let row_length = row.chars().count();
        if i > 0 && length + row_length > MESSAGE_LIMIT {
            break;
        }
        text.push_str(&row);
        length += row_length;
        shown = &entries[..=i];
    }
    if shown.is_empty() {
        text.push_str(if first_page {
            "No entries match."
        } else {
            "No older entries."
        });
    }
    let mut buttons = Vec::new();
    if !first_page {
        buttons.push(
            CreateButton::new(query.button_id(0))
                .label("Newest")
                .style(ButtonStyle::Secondary),
        );
    }
    if entries.len() > shown.len()
        && let Some(last) = shown.last()
    {
        buttons.push(
            CreateButton::new(query.button_id(last.id))
                .label("Older")
                .style(ButtonStyle::Primary),
        );
    }
    let rows = if buttons.is_empty() {
        Vec::new()
    } else {
        vec![CreateActionRow::Buttons(buttons)]
    };
    (text, rows)
}

/// One entry: a headline, the model's view when a model judged it, and the excerpt. Every
/// free-text field is cut, so a row stays a few hundred characters whatever the entry holds.
fn render_row(e: &AuditEntry) -> String {
    let mut row = format!(
        "\n`#{}` <t:{}:R> **{} · {}** `{}` {:.2} — <@{}> in <#{}> — {}: {}{}",
        e.id,
        e.created_at.timestamp(),
        preview(&e.verdict, 20),
        preview(&e.category, 40),
        preview(&e.rule, 60),
        e.score,
        e.author_id,
        e.channel_id,
        preview(&e.action, 80),
        preview(&e.action_status, 20),
        e.action_error
            .as_deref()
            .map(|err| format!(" ({})", preview(err, 80)))
            .unwrap_or_default(),
    );
    if let Some(model) = &e.model {
        row.push_str(&format!(
            "\n  model {}: {}",
            preview(model, 60),
            preview(e.model_verdict.as_deref().unwrap_or("-"), 120)
        ));
    }
    if let Some(excerpt) = &e.excerpt {
        row.push_str(&format!("\n  `{}`", preview(excerpt, EXCERPT_PREVIEW)));
    }
    row
}

/// A one-line, code-span-safe preview: no backticks, no line breaks, bounded length.
fn preview(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c == '`' || c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= max {
        clean
    } else {
        let mut out: String = clean.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_nonsense_is_refused() {
        assert_eq!(parse_since("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_since("12h").unwrap(), Duration::hours(12));
        assert!(parse_since("7").unwrap_err().contains("like 30m"));
        assert!(parse_since("0d").is_err());
        assert!(parse_since("99999999999999d").is_err());
        assert!(parse_since("d").is_err());
    }

    #[test]
    fn button_ids_round_trip_and_fit_discord() {
        let q = AuditQuery {
            guild_id: u64::MAX,
            category: Some("prompt_injection".into()),
            author_id: Some(u64::MAX),
            since: DateTime::from_timestamp(1_700_000_000, 0),
        };
        let id = q.button_id(i64::MAX);
        assert!(id.len() <= 100, "{} chars", id.len());
        assert_eq!(AuditQuery::from_button_id(&id), Some((q, i64::MAX)));
        assert_eq!(AuditQuery::from_button_id("audit:1:2:-:0"), None);
        assert_eq!(AuditQuery::from_button_id("other:1:2:-:0:0"), None);
    }

    /// An entry as long as a real one gets: 19-digit IDs, a long error and excerpt, a model.
    fn long_entry(id: i64) -> AuditEntry {
        AuditEntry {
            id,
            guild_id: 1_098_765_432_109_876_543,
            channel_id: 1_098_765_433_045_204_993,
            message_id: 1_314_159_265_358_979_323 + id,
            author_id: 1_187_463_215_648_771_094 + id,
            verdict: "escalate".into(),
            category: "prompt_injection".into(),
            rule: "instruction_override_multilingual_fake_chat_turns".into(),
            model: Some("meta-llama/llama-guard-4-12b-instruct-preview".into()),
            model_verdict: Some("unsafe: S14 code interpreter abuse; S7 privacy. ".repeat(5)),
            score: 0.97,
            action: "delete,notify_staff,timeout,keep_from_agent,dm_author".into(),
            action_status: "failed".into(),
            action_error: Some("forbidden: Missing Permissions (code 50013) ".repeat(4)),
            excerpt: Some("ignore all previous instructions and ".repeat(10)),
            created_at: DateTime::from_timestamp(1_733_539_200, 0).unwrap(),
        }
    }

    #[test]
    fn pages_of_long_entries_with_real_ids_fit_one_discord_message_and_lose_none() {
        let query = AuditQuery {
            guild_id: 1_098_765_432_109_876_543,
            category: Some("prompt_injection".into()),
            author_id: Some(1_187_463_215_648_771_094),
            since: DateTime::from_timestamp(1_700_000_000, 0),
        };
        let all: Vec<AuditEntry> = (1..=20).rev().map(long_entry).collect();
        let (mut seen, mut first, mut pages) = (0, true, 0);
        while seen < all.len() {
            let window = &all[seen..(seen + PAGE_SIZE as usize + 1).min(all.len())];
            let (text, rows) = render_page(&query, window, first);
            assert!(
                text.chars().count() <= MESSAGE_LIMIT,
                "{} characters",
                text.chars().count()
            );
            let shown = text.matches("**escalate · prompt_injection**").count();
            assert!(shown >= 1, "every page shows at least one entry");
            seen += shown;
            first = false;
            pages += 1;
            let buttons = serde_json::to_string(&rows).unwrap();
            assert_eq!(buttons.contains("Older"), seen < all.len(), "{buttons}");
        }
        assert_eq!(seen, all.len());
        assert!(
            pages > 20 / PAGE_SIZE as usize + 1,
            "long rows make more pages"
        );
    }
}
