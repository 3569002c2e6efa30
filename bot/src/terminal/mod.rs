//! The pipeline in a terminal: `ask` (one turn), `chat` (a conversation) and `demo`. The
//! terminal user stands in as one member of the guild, so conversations, traces and audit rows
//! are written as they would be for a Discord message there; only the posting is recorded
//! instead of sent.

pub mod ask;
pub mod chat;
pub mod demo;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent::{Citation, Decision};
use chrono::Utc;
use serde_json::json;

use crate::pipeline::{
    Inbound, InboundKind, Outcome, Pipeline, PipelineError, Posted, RecordingDelivery,
};

/// The bot's own user ID in terminal sessions (nothing is posted anywhere).
pub const TERMINAL_BOT_ID: u64 = 1;
/// The channel a terminal conversation starts in.
pub const TERMINAL_CHANNEL: u64 = 2;

/// Discord's epoch (2015-01-01), for IDs shaped like Discord snowflakes.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// A snowflake-shaped ID for now: it sorts like Discord's and cannot collide with a real
/// message stored in the same database by a later Discord message (the low bits count up).
pub fn snowflake(counter: u64) -> u64 {
    let ms = (Utc::now().timestamp_millis() - DISCORD_EPOCH_MS).max(0) as u64;
    (ms << 22) | (counter & 0x3F_FFFF)
}

/// One member talking to the pipeline.
pub struct Session {
    pipeline: Arc<Pipeline>,
    pub delivery: RecordingDelivery,
    pub guild_id: u64,
    pub member_id: u64,
    counter: AtomicU64,
    /// The thread of the current conversation, once the bot has opened one.
    pub thread: Option<u64>,
}

/// What one turn did.
pub struct TurnResult {
    pub outcome: Outcome,
    /// What the bot posted during the turn (answers, caring replies, staff notices).
    pub posted: Vec<Posted>,
    /// Where the message was posted (the terminal channel or the conversation's thread).
    pub asked_in: u64,
    pub latency: Duration,
}

impl Session {
    pub fn new(pipeline: Arc<Pipeline>, guild_id: u64, member_id: u64) -> Self {
        let start = snowflake(0) + 1_000_000;
        Self {
            pipeline,
            delivery: RecordingDelivery::new(TERMINAL_BOT_ID, start + (1 << 21)),
            guild_id,
            member_id,
            counter: AtomicU64::new(start),
            thread: None,
        }
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Forgets the current thread: the next message starts a new conversation.
    pub fn new_conversation(&mut self) {
        self.thread = None;
    }

    /// Sends one message through the pipeline: in the current thread when there is one,
    /// else as a new question addressed to the bot.
    pub async fn say(&mut self, text: &str) -> Result<TurnResult, PipelineError> {
        let id = self.counter.fetch_add(1, Ordering::SeqCst);
        let (channel, parent) = match self.thread {
            Some(t) => (t, Some(TERMINAL_CHANNEL)),
            None => (TERMINAL_CHANNEL, None),
        };
        let inbound = Inbound {
            guild_id: self.guild_id,
            channel_id: channel,
            parent_channel_id: parent,
            message_id: id,
            kind: InboundKind::New,
            author_id: self.member_id,
            author_is_bot: false,
            author_roles: Vec::new(),
            author_manages_messages: false,
            content: text.to_string(),
            // The terminal talks to the bot directly, as a mention does on Discord.
            mentions_bot: true,
            user_mentions: 0,
            role_mentions: 0,
            mentions_everyone: false,
            addresses_others: false,
            received_at: Utc::now(),
        };
        let before = self.delivery.post_count();
        let started = Instant::now();
        let outcome = self.pipeline.handle(inbound, &self.delivery).await?;
        let latency = started.elapsed();
        if let Outcome::Responded { thread_id, .. } = &outcome {
            self.thread = Some(*thread_id);
        }
        Ok(TurnResult {
            outcome,
            posted: self.delivery.posts_since(before),
            asked_in: channel,
            latency,
        })
    }
}

/// The action a turn ended in, in `ask --json`'s and the eval's words.
pub fn action(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Responded { decision, .. } => decision.kind(),
        Outcome::Moderated(m) if m.verdict == "block" => "blocked",
        Outcome::Moderated(_) => "escalate",
        Outcome::Skipped(_) => "silent",
        Outcome::Duplicate => "duplicate",
        Outcome::DeliveryFailed { .. } => "failed",
    }
}

/// The classifier's verdict as the terminal shows it.
pub fn verdict(outcome: &Outcome) -> String {
    let moderated = match outcome {
        Outcome::Moderated(m) => Some(m),
        Outcome::Responded { moderated, .. } => moderated.as_ref(),
        _ => None,
    };
    match moderated {
        Some(m) => format!("{} ({}), audit #{}", m.verdict, m.category, m.audit_id),
        None => "allow".into(),
    }
}

/// The member-visible text of a turn: the answer, else whatever was posted where the member
/// asked.
pub fn answer_text(result: &TurnResult) -> Option<String> {
    if let Some(d) = result.outcome.decision() {
        return d.text().map(str::to_string);
    }
    result
        .posted
        .iter()
        .find(|p| p.channel_id == result.asked_in)
        .map(|p| p.message.joined())
}

/// Citations as `ask --json` prints them.
pub fn citations_json(citations: &[Citation], sources: &[(i64, String)]) -> serde_json::Value {
    citations
        .iter()
        .map(|c| {
            let source = sources
                .iter()
                .find(|(id, _)| *id == c.source_id)
                .map(|(_, l)| l.clone())
                .unwrap_or_default();
            let mut v = json!({
                "number": c.number,
                "source": source,
                "title": c.title,
            });
            match &c.url {
                Some(url) => v["url"] = json!(url),
                None => v["path"] = json!(c.location),
            }
            if !c.origins.is_empty() {
                v["origins"] = json!(c.origins);
            }
            v
        })
        .collect()
}

/// The decision's citations, if it has any.
pub fn citations(outcome: &Outcome) -> &[Citation] {
    outcome.decision().map_or(&[], Decision::citations)
}
