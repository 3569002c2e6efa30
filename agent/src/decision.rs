//! What the agent decided to do with a member's question, and the trace kept of how it got
//! there.

use serde::Serialize;

/// A passage the answer drew on, shown to the member as a numbered footnote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citation {
    /// The footnote number used in the answer text (`[1]`).
    pub number: usize,
    pub title: String,
    /// The document inside its source (a path relative to the folder, a page URL).
    pub location: String,
    /// Link to the exact section, when the document has one.
    pub url: Option<String>,
    pub source_id: i64,
    /// Partial files whose text the cited passage includes.
    pub origins: Vec<String>,
}

/// Why a question goes to a person instead of being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The member asked for a person.
    Requested,
    /// The knowledge base does not cover it.
    NotInDocs,
    /// Every configured model failed or answered unusably.
    ProviderFailed,
    /// The guild's daily token budget is spent.
    BudgetExhausted,
    /// The model judged a person should take it.
    ModelChose,
}

impl HandoffReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffReason::Requested => "requested",
            HandoffReason::NotInDocs => "not_in_docs",
            HandoffReason::ProviderFailed => "provider_failed",
            HandoffReason::BudgetExhausted => "budget_exhausted",
            HandoffReason::ModelChose => "model_chose",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// An answer grounded in the cited passages.
    Reply {
        text: String,
        citations: Vec<Citation>,
    },
    /// A clarifying question back to the member.
    Ask { question: String },
    /// A person should take over; `message` is what the member is told.
    Handoff {
        reason: HandoffReason,
        message: String,
    },
    /// Staff must look at this; `message` is what the member is told.
    Escalate { reason: String, message: String },
    /// Nothing to answer (thanks, greetings, chit-chat, talk between members).
    Silent,
}

impl Decision {
    /// Short name for logs and analytics (never the text itself).
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Reply { .. } => "reply",
            Decision::Ask { .. } => "ask",
            Decision::Handoff { .. } => "handoff",
            Decision::Escalate { .. } => "escalate",
            Decision::Silent => "silent",
        }
    }

    /// The text the member sees, without citations.
    pub fn text(&self) -> Option<&str> {
        match self {
            Decision::Reply { text, .. } => Some(text),
            Decision::Ask { question } => Some(question),
            Decision::Handoff { message, .. } | Decision::Escalate { message, .. } => Some(message),
            Decision::Silent => None,
        }
    }

    pub fn citations(&self) -> &[Citation] {
        match self {
            Decision::Reply { citations, .. } => citations,
            _ => &[],
        }
    }
}

/// How a decision was reached, for the trace table (kept `trace_days`, then deleted). It holds
/// the prompt and the model's response, so it is never logged; logs and analytics read only
/// its metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trace {
    /// `extractive`, `llm` or `rules` (answered without retrieval: chit-chat, budget).
    pub mode: &'static str,
    /// The question search ran with (a follow-up rewritten to stand alone).
    pub query: String,
    /// Retrieved passages: location and score.
    pub retrieved: Vec<(String, f32)>,
    /// How relevant the best document is to the question, 0 to 1.
    pub evidence: f32,
    /// Share of the question's weight in terms the guild's knowledge never uses.
    pub unknown: f32,
    /// The retrieved documents in search order with their relevance to the question (coverage,
    /// blended with similarity when dense vectors exist).
    pub coverage: Vec<(String, f32)>,
    /// Term weights and which documents hold them (ids and numbers only).
    pub detail: serde_json::Value,
    pub prompt: Option<String>,
    pub response: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Why earlier attempts failed (kinds only, never provider text).
    pub failures: Vec<String>,
    pub latency_ms: u64,
    pub action: &'static str,
}
