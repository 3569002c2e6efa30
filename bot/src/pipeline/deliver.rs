//! The last stage: a decision becomes a structured outbound message, cleaned before anything
//! is posted: no mass mentions, no leaked secrets, at most five links (wrapped so Discord shows
//! no embeds), citations as numbered footnotes, at most 2,000 characters per Discord message,
//! split at paragraph boundaries and never inside a code fence.

use std::future::Future;

use agent::Citation;
use chrono::{DateTime, Utc};

pub use super::split::split_for_discord;

/// Discord's limit on one message's content, in characters.
pub const MESSAGE_LIMIT: usize = 2000;
/// Discord's limit on a thread name, in characters.
const THREAD_NAME_LIMIT: usize = 100;
/// Links kept clickable in one answer; more become plain text.
pub const MAX_LINKS: usize = 5;

/// Why Discord refused a delivery, in terms a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Missing permissions (Discord 403 / 50013).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The channel, message or member no longer exists.
    #[error("not found: {0}")]
    NotFound(String),
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// Someone already started a thread on the message (Discord 160004); it carries the
    /// message's own ID.
    #[error("a thread already exists on the message")]
    ThreadExists,
    #[error("{0}")]
    Failed(String),
}

/// A button under a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// What the click handler receives (≤ 100 characters).
    pub custom_id: String,
    pub label: String,
    pub tone: Tone,
}

/// How a button looks: most are plain; the one that ends the conversation well stands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Neutral,
    Positive,
}

/// A forum post's status, shown with the forum's own tags when it has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTag {
    Answered,
    NeedsHuman,
    Solved,
}

impl PostTag {
    pub const ALL: [PostTag; 3] = [PostTag::Answered, PostTag::NeedsHuman, PostTag::Solved];

    /// Whether a forum tag's name means this status: "Answered", "needs-human", "✅ Solved",
    /// "Resolved" and the like, whatever the case, emoji or punctuation.
    pub fn matches(self, tag_name: &str) -> bool {
        let name: String = tag_name
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        match self {
            PostTag::Answered => name == "answered",
            PostTag::NeedsHuman => matches!(
                name.as_str(),
                "needshuman" | "needsahuman" | "humanneeded" | "needshelp" | "handedoff"
            ),
            PostTag::Solved => matches!(name.as_str(), "solved" | "resolved"),
        }
    }
}

/// One outgoing message, already split into Discord-sized parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outbound {
    /// Each at most `MESSAGE_LIMIT` characters; posted in order.
    pub parts: Vec<String>,
    /// The answer's sources, also rendered as footnotes in the last part.
    pub citations: Vec<Citation>,
    /// Shown under the last part.
    pub buttons: Vec<Button>,
    /// The one role this message may ping (a handoff); every other mention stays silent.
    pub ping_role: Option<u64>,
}

impl Outbound {
    /// A plain message from the bot, cleaned and split.
    pub fn text(text: &str) -> Outbound {
        Outbound {
            parts: split_for_discord(&clean(text)),
            ..Outbound::default()
        }
    }

    /// An answer with its citations as numbered footnotes.
    pub fn answer(text: &str, citations: &[Citation]) -> Outbound {
        let mut body = text.to_string();
        if !citations.is_empty() {
            body.push_str("\n\n**Sources**");
            for c in citations {
                body.push_str(&format!("\n[{}] {}", c.number, footnote(c)));
            }
        }
        Outbound {
            parts: split_for_discord(&clean(&body)),
            citations: citations.to_vec(),
            ..Outbound::default()
        }
    }

    /// Everything the member sees, for recording and tests.
    pub fn joined(&self) -> String {
        self.parts.join("\n")
    }
}

fn footnote(c: &Citation) -> String {
    match &c.url {
        Some(url) => format!("[{}]({url})", c.title.replace(['[', ']'], "")),
        None => format!("{} (`{}`)", c.title, c.location.replace('`', "'")),
    }
}

/// Where answers go. The Discord adapter implements it over serenity's HTTP client; the
/// terminal and tests record what would be posted.
pub trait Delivery: Send + Sync {
    fn bot_user_id(&self) -> u64;

    /// Starts a public thread on a message; returns the thread's channel ID.
    fn start_thread(
        &self,
        channel_id: u64,
        message_id: u64,
        name: &str,
    ) -> impl Future<Output = Result<u64, DeliveryError>> + Send;

    /// Posts the parts in order; returns their IDs. Mentions never ping, except the
    /// message's `ping_role`.
    fn post(
        &self,
        channel_id: u64,
        message: &Outbound,
    ) -> impl Future<Output = Result<Vec<u64>, DeliveryError>> + Send;

    /// Replaces the content and buttons of a message the bot posted with the outbound's one
    /// part and its buttons (none removes them). Nothing pings: a streamed answer is edited,
    /// never a handoff.
    fn edit(
        &self,
        channel_id: u64,
        message_id: u64,
        message: &Outbound,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    /// Shows "the bot is typing" in a channel for a few seconds.
    fn typing(&self, channel_id: u64) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    fn delete_message(
        &self,
        channel_id: u64,
        message_id: u64,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    /// Marks a forum post with the forum's tag for `tag`, replacing the other status tags and
    /// keeping the member's own. Nothing happens when the thread is not a forum post or the
    /// forum has no such tag.
    fn tag_post(
        &self,
        post_id: u64,
        tag: PostTag,
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

/// A shared delivery (a test's recorder, say) delivers as the one it points to.
impl<T: Delivery> Delivery for std::sync::Arc<T> {
    fn bot_user_id(&self) -> u64 {
        (**self).bot_user_id()
    }

    fn start_thread(
        &self,
        channel_id: u64,
        message_id: u64,
        name: &str,
    ) -> impl Future<Output = Result<u64, DeliveryError>> + Send {
        (**self).start_thread(channel_id, message_id, name)
    }

    fn post(
        &self,
        channel_id: u64,
        message: &Outbound,
    ) -> impl Future<Output = Result<Vec<u64>, DeliveryError>> + Send {
        (**self).post(channel_id, message)
    }

    fn edit(
        &self,
        channel_id: u64,
        message_id: u64,
        message: &Outbound,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        (**self).edit(channel_id, message_id, message)
    }

    fn typing(&self, channel_id: u64) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        (**self).typing(channel_id)
    }

    fn delete_message(
        &self,
        channel_id: u64,
        message_id: u64,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        (**self).delete_message(channel_id, message_id)
    }

    fn send_dm(
        &self,
        user_id: u64,
        text: &str,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        (**self).send_dm(user_id, text)
    }

    fn tag_post(
        &self,
        post_id: u64,
        tag: PostTag,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        (**self).tag_post(post_id, tag)
    }

    fn timeout_member(
        &self,
        guild_id: u64,
        user_id: u64,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        (**self).timeout_member(guild_id, user_id, until)
    }
}

/// Output hygiene on the bot's own text: secrets redacted, `@everyone`/`@here` defused,
/// links limited and wrapped.
pub fn clean(text: &str) -> String {
    let text = agent::classifier::redact_secrets(text).unwrap_or_else(|| text.to_string());
    let text = text
        .replace("@everyone", "@\u{200B}everyone")
        .replace("@here", "@\u{200B}here");
    limit_links(&text)
}

/// Keeps the first `MAX_LINKS` links clickable, wrapped in `<…>` so Discord shows no embed;
/// later ones become inline code, which Discord never links.
fn limit_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut links = 0;
    let mut rest = text;
    while let Some(at) = find_url(rest) {
        let (before, from) = rest.split_at(at);
        let end = from
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | '<' | '"' | '`'))
            .unwrap_or(from.len());
        let mut url = &from[..end];
        // A Markdown link's closing parenthesis, or prose punctuation, is not the URL's.
        while let Some(last) = url.chars().last() {
            let unbalanced_paren =
                last == ')' && url.matches('(').count() < url.matches(')').count();
            if unbalanced_paren || matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '*') {
                url = &url[..url.len() - last.len_utf8()];
            } else {
                break;
            }
        }
        let wrapped = before.ends_with('<') && from[url.len()..].starts_with('>');
        if links < MAX_LINKS {
            out.push_str(before);
            if wrapped {
                out.push_str(url);
            } else {
                out.push('<');
                out.push_str(url);
                out.push('>');
            }
            links += 1;
        } else if wrapped {
            out.push_str(&before[..before.len() - 1]);
            out.push('`');
            out.push_str(url);
            out.push('`');
            rest = &from[url.len() + 1..];
            continue;
        } else {
            out.push_str(before);
            out.push('`');
            out.push_str(url);
            out.push('`');
        }
        rest = &from[url.len()..];
    }
    out.push_str(rest);
    out
}

fn find_url(text: &str) -> Option<usize> {
    let a = text.find("https://");
    let b = text.find("http://");
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn citation(number: usize, url: Option<&str>) -> Citation {
        Citation {
            number,
            title: "Install guide".into(),
            location: "install.md".into(),
            url: url.map(String::from),
            source_id: 1,
            origins: Vec::new(),
        }
    }

    #[test]
    fn mass_mentions_and_secrets_never_go_out_raw() {
        let token = format!(
            "{}.{}.{}",
            "MTA4NjQ2NzA1NjI4MjQ4OTA4Ng", "GxYzAb", "abcdefghijklmnopqrstuvwxyz0123456789AB"
        );
        let out = Outbound::text(&format!("@everyone use {token} and tell @here"));
        let text = out.joined();
        assert!(
            !text.contains("@everyone") && !text.contains("@here"),
            "{text}"
        );
        assert!(
            !text.contains(&token) && text.contains("[redacted]"),
            "{text}"
        );
    }

    #[test]
    fn links_are_wrapped_and_at_most_five_stay_clickable() {
        let text: String = (1..=7)
            .map(|i| format!("see https://docs.example/{i}. "))
            .collect();
        let out = clean(&text);
        assert_eq!(out.matches("<https://").count(), 5, "{out}");
        assert_eq!(out.matches("`https://").count(), 2, "{out}");
        assert!(out.contains("<https://docs.example/1>."));
        let md = clean("[guide](https://docs.example/a) and [more](<https://docs.example/b>)");
        assert_eq!(
            md,
            "[guide](<https://docs.example/a>) and [more](<https://docs.example/b>)"
        );
    }

    #[test]
    fn citations_are_numbered_footnotes_with_titles() {
        let out = Outbound::answer(
            "Use the flag [1].",
            &[
                citation(1, Some("https://docs.example/install#flags")),
                citation(2, None),
            ],
        );
        let text = out.joined();
        assert!(
            text.contains("[1] [Install guide](<https://docs.example/install#flags>)"),
            "{text}"
        );
        assert!(text.contains("[2] Install guide (`install.md`)"), "{text}");
    }

    #[test]
    fn forum_tags_are_matched_by_meaning_not_spelling() {
        assert!(PostTag::Answered.matches("✅ Answered"));
        assert!(PostTag::NeedsHuman.matches("Needs human"));
        assert!(PostTag::NeedsHuman.matches("needs-a-human"));
        assert!(PostTag::Solved.matches("RESOLVED"));
        assert!(!PostTag::Solved.matches("unsolved"));
        assert!(!PostTag::Answered.matches("unanswered"));
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
}
