//! The retrieval agent: decides a member's question into a reply with citations, a
//! clarifying question or a handoff, from the guild's own knowledge.
//!
//! In order: a follow-up is rewritten to stand alone (with a model) or joined to the
//! member's previous question (without one); search runs in the guild's knowledge; the
//! evidence is weighed (how much of the question the best documents cover); below the
//! relevance floor the agent asks for details when the question is too vague to search, and
//! hands off otherwise, without calling a model. Above it, a configured model writes the
//! answer from numbered passages and must cite them; with no model, the best sentences are
//! quoted.

pub mod evidence;
pub mod extractive;
pub mod language;
pub mod llm;
mod model;
mod partial;
pub mod query;
mod quote;

use std::sync::Arc;
use std::time::Instant;

use secrecy::SecretString;

use crate::decision::{Decision, HandoffReason, Trace};
use crate::llm::ProviderChain;
use crate::retriever::{Retrieved, Retriever};

pub use evidence::{Evidence, passage_text};
pub use language::{Language, Phrases};
pub use partial::PartialDecision;

/// Who said a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Member,
    Bot,
}

/// One earlier message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

/// A question to decide.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    pub guild_id: u64,
    pub text: &'a str,
    /// Earlier turns of the conversation, oldest first (the agent bounds what it uses).
    pub history: &'a [Turn],
    /// Tokens the guild may still spend today; `None` means no limit.
    pub tokens_left: Option<u64>,
    /// The guild's own API key for the primary provider, when it gave one.
    pub api_key: Option<&'a SecretString>,
    /// The guild's language: answers are in the member's language, and in this one when the
    /// member's cannot be told (a short message); `None` falls back to the instance's.
    pub language: Option<Language>,
}

/// Told the text of a reply as the model writes it, each time it grows: the whole text so far,
/// without citation markers (their numbers are final only once the decision is checked).
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// The decision and how it was reached.
#[derive(Debug, Clone)]
pub struct Answer {
    pub decision: Decision,
    pub trace: Trace,
    /// The language the member wrote in.
    pub language: Language,
}

#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// Least relevance of the best document for an extractive answer.
    pub relevance_floor: f32,
    /// Least relevance for a model to be asked at all; below it the docs lack the topic.
    pub model_floor: f32,
    /// Passages retrieved per question.
    pub passages: usize,
    /// Passages' text given to a model, in (estimated) tokens.
    pub context_tokens: usize,
    /// Earlier turns given to a model, in (estimated) tokens.
    pub history_tokens: usize,
    /// Language of the bot's own sentences when the member's can't be told.
    pub default_language: Language,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            relevance_floor: DEFAULT_FLOOR,
            model_floor: DEFAULT_MODEL_FLOOR,
            passages: 12,
            context_tokens: 2_000,
            history_tokens: 600,
            default_language: Language::English,
        }
    }
}

/// Chosen on the Pi-hole dev set (`eval answers`, docs/benchmarks.md) with
/// `evidence::DENSE_WEIGHT`, one step above the lowest floor that keeps false answers there at
/// the goal: that edge (0.425) let 31–35 % false answers through on sets written by others,
/// and a confident wrong answer costs a member more than an honest handoff.
pub const DEFAULT_FLOOR: f32 = 0.45;
pub const DEFAULT_MODEL_FLOOR: f32 = 0.3;

/// A question with fewer searchable terms than this is too vague to search: the member is
/// asked for details rather than answered or told the docs lack it.
const VAGUE_TERMS: usize = 2;

/// Most documents put before a model.
const MODEL_DOCS: usize = 6;
/// Tokens a standalone rewrite of a follow-up may take.
const REWRITE_TOKENS: u32 = 80;

pub struct Agent {
    retriever: Arc<dyn Retriever>,
    chain: Option<Arc<ProviderChain>>,
    settings: AgentSettings,
}

impl Agent {
    /// `chain` is the configured model providers; `None` (or an empty chain) answers
    /// extractively.
    pub fn new(
        retriever: Arc<dyn Retriever>,
        chain: Option<Arc<ProviderChain>>,
        settings: AgentSettings,
    ) -> Agent {
        Agent {
            retriever,
            chain: chain.filter(|c| !c.is_empty()),
            settings,
        }
    }

    /// Whether answers are written by a model (else quoted from the docs).
    pub fn uses_model(&self) -> bool {
        self.chain.is_some()
    }

    pub fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    /// Decides a question. Never fails: an unreachable knowledge base or model becomes an
    /// honest handoff, recorded in the trace.
    pub async fn answer(&self, q: &Question<'_>) -> Answer {
        self.answer_streamed(q, None).await
    }

    /// Decides a question like `answer`, telling `progress` the reply's text while a model
    /// writes one (streamed where the provider allows). What `progress` was told is a preview:
    /// the returned decision is the checked one, and may not be a reply at all.
    pub async fn answer_streamed(
        &self,
        q: &Question<'_>,
        progress: Option<Progress<'_>>,
    ) -> Answer {
        let started = Instant::now();
        let language =
            language::detect(q.text, q.language.unwrap_or(self.settings.default_language));
        let phrases = language::phrases(language);
        let mut trace = Trace::default();
        let result = match &self.chain {
            Some(chain) => {
                trace.mode = "llm";
                if q.tokens_left == Some(0) {
                    trace.mode = "rules";
                    Ok(Decision::Handoff {
                        reason: HandoffReason::BudgetExhausted,
                        message: phrases.budget.into(),
                    })
                } else if let Some(key) = q.api_key {
                    let own = chain.with_primary_key(key);
                    self.with_model(&own, q, language, progress, &mut trace)
                        .await
                } else {
                    self.with_model(chain, q, language, progress, &mut trace)
                        .await
                }
            }
            None => {
                trace.mode = "extractive";
                trace.query = standalone_without_model(q);
                let query = trace.query.clone();
                self.extractive(q.guild_id, &query, phrases, &mut trace)
                    .await
            }
        };
        let decision = result.unwrap_or_else(|e| {
            trace.failures.push(e);
            Decision::Handoff {
                reason: HandoffReason::ProviderFailed,
                message: phrases.provider_failed.into(),
            }
        });
        trace.action = decision.kind();
        trace.latency_ms = started.elapsed().as_millis() as u64;
        Answer {
            decision,
            trace,
            language,
        }
    }

    /// Search, weigh the evidence and measure it against `floor`. `Err` only when the
    /// knowledge base failed.
    pub async fn retrieve(&self, guild: u64, query: &str) -> Result<(Retrieved, Evidence), String> {
        let retrieved = self
            .retriever
            .search(guild, query, self.settings.passages)
            .await
            .map_err(|e| e.to_string())?;
        let texts: Vec<String> = retrieved.passages.iter().map(passage_text).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let terms = self
            .retriever
            .analyze(guild, &refs)
            .await
            .map_err(|e| e.to_string())?;
        let evidence = Evidence::new(&retrieved, &terms);
        Ok((retrieved, evidence))
    }
}

/// Too few searchable words to tell what the member means ("it doesn't work", "help").
fn is_vague(retrieved: &Retrieved) -> bool {
    retrieved.terms.len() < VAGUE_TERMS
}

fn not_in_docs(phrases: Phrases) -> Decision {
    Decision::Handoff {
        reason: HandoffReason::NotInDocs,
        message: phrases.not_in_docs.into(),
    }
}

fn ask(phrases: Phrases) -> Decision {
    Decision::Ask {
        question: phrases.ask_details.into(),
    }
}

/// Without a model a follow-up cannot be rewritten, but joined to the member's previous
/// question it still searches the topic ("and how do I undo that?").
fn standalone_without_model(q: &Question<'_>) -> String {
    let previous = q
        .history
        .iter()
        .rev()
        .find(|t| t.speaker == Speaker::Member)
        .map(|t| t.text.as_str());
    match previous {
        Some(p) => format!("{}\n{}", query::search_text(p), query::search_text(q.text)),
        None => query::search_text(q.text),
    }
}
