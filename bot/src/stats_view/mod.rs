//! `/stats` without Discord: the window a number of days covers, the figures as text (counts
//! and timings, never content), and the daily chart (`chart`).

pub mod chart;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use store::GuildStats;

/// How many days `/stats` covers: 1 to 90, 7 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsDays(u16);

impl StatsDays {
    pub const DEFAULT: StatsDays = StatsDays(7);
    pub const MAX: u16 = 90;

    pub fn new(days: i64) -> Result<StatsDays, String> {
        u16::try_from(days)
            .ok()
            .filter(|d| (1..=Self::MAX).contains(d))
            .map(StatsDays)
            .ok_or_else(|| format!("Choose between 1 and {} days (got {days}).", Self::MAX))
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// Today (UTC, up to `now`) and the whole days before it: `[since, now)`.
    pub fn window(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let first = now.date_naive() - Duration::days(i64::from(self.0) - 1);
        (first.and_time(NaiveTime::MIN).and_utc(), now)
    }
}

/// The figures as a private Discord message.
pub fn render(stats: &GuildStats, days: StatsDays) -> String {
    let mut out = format!(
        "**Support over the last {} day{}** (since {} UTC)\n",
        days.get(),
        if days.get() == 1 { "" } else { "s" },
        stats.since.format("%Y-%m-%d"),
    );
    out.push_str(&format!(
        "Questions: **{}** · Answered: **{}** · Resolved: **{}** · Not helpful: **{}**\n",
        stats.questions, stats.answered, stats.resolved, stats.not_helpful
    ));
    out.push_str(&format!(
        "Handed off: **{}** · Escalated: **{}**\n",
        stats.handed_off, stats.escalated
    ));
    let blocked = if stats.blocked.is_empty() {
        "**0**".to_string()
    } else {
        let by_category: Vec<String> = stats
            .blocked
            .iter()
            .map(|(category, n)| format!("{category} {n}"))
            .collect();
        format!("**{}** ({})", stats.blocked_total(), by_category.join(", "))
    };
    out.push_str(&format!("Blocked: {blocked}\n"));
    match (stats.latency_percentile(50), stats.latency_percentile(90)) {
        (Some(median), Some(p90)) => out.push_str(&format!(
            "Time to first answer: median **{}**, p90 **{}**\n",
            seconds(median),
            seconds(p90)
        )),
        _ => out.push_str("Time to first answer: no answers yet\n"),
    }
    match stats.share_resolved_without_human() {
        Some(share) => out.push_str(&format!(
            "Resolved without a human: **{:.0}%** ({} of {} questions)",
            share * 100.0,
            stats.resolved_without_human,
            stats.questions
        )),
        None => out.push_str("Resolved without a human: no questions yet"),
    }
    out
}

fn seconds(ms: i64) -> String {
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_checked_once() {
        assert!(StatsDays::new(0).is_err());
        assert!(StatsDays::new(91).is_err());
        assert!(StatsDays::new(-3).is_err());
        assert_eq!(StatsDays::new(90).map(StatsDays::get), Ok(90));
    }

    #[test]
    fn the_window_is_today_and_the_whole_days_before() {
        let now = DateTime::parse_from_rfc3339("2026-03-10T15:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (since, until) = StatsDays::new(7).unwrap().window(now);
        assert_eq!(since.to_rfc3339(), "2026-03-04T00:00:00+00:00");
        assert_eq!(until, now);
    }

    #[test]
    fn the_text_shows_counts_timings_and_the_share() {
        let stats = GuildStats {
            questions: 4,
            answered: 3,
            resolved: 2,
            resolved_without_human: 1,
            not_helpful: 1,
            handed_off: 1,
            escalated: 1,
            blocked: vec![("spam".into(), 2), ("scam".into(), 1)],
            response_ms: vec![1200, 800, 15_000],
            ..GuildStats::default()
        };
        let text = render(&stats, StatsDays::DEFAULT);
        assert!(text.contains("Questions: **4**"), "{text}");
        assert!(text.contains("Blocked: **3** (spam 2, scam 1)"), "{text}");
        assert!(text.contains("median **1.2 s**, p90 **15 s**"), "{text}");
        assert!(text.contains("**25%** (1 of 4 questions)"), "{text}");
    }
}
