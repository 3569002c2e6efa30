//! Reading the audit log: `--since`/`since:` durations, one page as Discord text with paging
//! buttons, and the stateless button IDs that carry a page's query (so paging survives restarts
//! and every click is checked again).

use chrono::{DateTime, Duration, Utc};
use serenity::all::{ButtonStyle, CreateActionRow, CreateButton};
use store::{AuditEntry, AuditFilter};

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

/// One page: text and, when older entries exist, an "Older" button.
pub fn render_page(
    query: &AuditQuery,
    entries: &[AuditEntry],
    first_page: bool,
) -> (String, Vec<CreateActionRow>) {
    let shown = &entries[..entries.len().min(PAGE_SIZE as usize)];
    let mut filters = Vec::new();
    if let Some(c) = &query.category {
        filters.push(format!("category {c}"));
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
    if shown.is_empty() {
        text.push_str(if first_page {
            "No entries match."
        } else {
            "No older entries."
        });
    }
    for e in shown {
        text.push_str(&format!(
            "\n`#{}` <t:{}:R> **{} · {}** `{}` {:.2} — <@{}> in <#{}> — {}: {}{}",
            e.id,
            e.created_at.timestamp(),
            e.verdict,
            e.category,
            e.rule,
            e.score,
            e.author_id,
            e.channel_id,
            e.action,
            e.action_status,
            e.action_error
                .as_deref()
                .map(|err| format!(" ({})", preview(err, 80)))
                .unwrap_or_default(),
        ));
        if let Some(model) = &e.model {
            text.push_str(&format!(
                "\n  model {}: {}",
                model,
                e.model_verdict.as_deref().unwrap_or("-")
            ));
        }
        if let Some(excerpt) = &e.excerpt {
            text.push_str(&format!("\n  `{}`", preview(excerpt, EXCERPT_PREVIEW)));
        }
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
}
