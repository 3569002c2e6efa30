//! The last stage: turning a decision into Discord messages.

use std::future::Future;

use agent::Decision;
use chrono::{DateTime, Utc};

/// Discord's limit on one message's content, in characters.
pub const MESSAGE_LIMIT: usize = 2000;
/// Discord's limit on a thread name, in characters.
const THREAD_NAME_LIMIT: usize = 100;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// Where answers go. The Discord adapter implements it over serenity's HTTP client.
pub trait Delivery: Send + Sync {
    fn bot_user_id(&self) -> u64;

    /// Starts a public thread on a message; returns the thread's channel ID.
    fn start_thread(
        &self,
        channel_id: u64,
        message_id: u64,
        name: &str,
    ) -> impl Future<Output = Result<u64, DeliveryError>> + Send;

    /// Posts a message; returns its ID. Mentions in `text` never ping anyone.
    fn post(
        &self,
        channel_id: u64,
        text: &str,
    ) -> impl Future<Output = Result<u64, DeliveryError>> + Send;

    fn delete_message(
        &self,
        channel_id: u64,
        message_id: u64,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    /// A private message to a member.
    fn send_dm(
        &self,
        user_id: u64,
        text: &str,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    /// Discord's timeout: the member cannot post until `until`.
    fn timeout_member(
        &self,
        guild_id: u64,
        user_id: u64,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

pub(super) fn render(decision: &Decision) -> String {
    match decision {
        Decision::Reply { text, citations } => {
            let mut out = text.clone();
            if !citations.is_empty() {
                out.push_str("\n\n**Sources**");
                for (i, c) in citations.iter().enumerate() {
                    match &c.url {
                        Some(url) => {
                            out.push_str(&format!("\n{}. [{}](<{}>)", i + 1, c.title, url))
                        }
                        None => out.push_str(&format!("\n{}. {}", i + 1, c.title)),
                    }
                }
            }
            out
        }
        Decision::Ask { question } => question.clone(),
        Decision::Handoff { reason } => {
            format!("I'm handing this to the support team: {reason}")
        }
        Decision::Escalate { reason } => {
            format!("I've flagged this for the staff team: {reason}")
        }
    }
}

/// A thread name from the question's first line, without mention markup, within Discord's limit.
pub fn thread_name(content: &str) -> String {
    let first_line = content.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let cleaned: String = first_line
        .split_whitespace()
        .filter(|w| !(w.starts_with("<@") || w.starts_with("<#")) || !w.ends_with('>'))
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return "Support question".into();
    }
    if cleaned.chars().count() <= THREAD_NAME_LIMIT {
        return cleaned.to_string();
    }
    let mut name: String = cleaned.chars().take(THREAD_NAME_LIMIT - 1).collect();
    name.push('…');
    name
}

/// Splits text into Discord-sized messages, preferring line breaks, then spaces, and never
/// cutting through a character.
pub fn split_for_discord(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.chars().count() > MESSAGE_LIMIT {
        let limit = rest
            .char_indices()
            .nth(MESSAGE_LIMIT)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let window = &rest[..limit];
        let cut = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .filter(|&i| i > 0)
            .unwrap_or(limit);
        parts.push(rest[..cut].to_string());
        rest = rest[cut..].trim_start_matches(['\n', ' ']);
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_are_split_within_the_limit_without_losing_text() {
        let text = "word ".repeat(1000) + &"é".repeat(2500);
        let parts = split_for_discord(&text);
        assert!(parts.iter().all(|p| p.chars().count() <= MESSAGE_LIMIT));
        let joined: String = parts.concat();
        assert_eq!(
            joined.chars().filter(|c| !c.is_whitespace()).count(),
            text.chars().filter(|c| !c.is_whitespace()).count()
        );
    }

    #[test]
    fn thread_names_drop_mentions_and_fit_discord() {
        assert_eq!(
            thread_name("<@1000> how do I reset?\nmore"),
            "how do I reset?"
        );
        assert_eq!(thread_name("<@1000>"), "Support question");
        let long = "ä".repeat(300);
        assert_eq!(thread_name(&long).chars().count(), 100);
    }

    #[test]
    fn citations_are_listed_as_unembedded_links() {
        let text = render(&Decision::Reply {
            text: "Use the flag.".into(),
            citations: vec![agent::Citation {
                title: "Install guide".into(),
                url: Some("https://docs.example/install#flags".into()),
            }],
        });
        assert!(text.ends_with("1. [Install guide](<https://docs.example/install#flags>)"));
    }
}
