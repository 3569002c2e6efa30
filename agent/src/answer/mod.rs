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
pub mod query;

use std::sync::Arc;
use std::time::Instant;

use crate::decision::{Decision, HandoffReason, Trace};
use crate::llm::{ChatMessage, ProviderChain, StructuredRequest, TextRequest};
use crate::retriever::{Retrieved, Retriever};

pub use evidence::{Evidence, passage_text};
pub use language::{Language, Phrases};

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
}

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
    /// Least coverage of the question by the best document for an extractive answer.
    pub relevance_floor: f32,
    /// Least coverage for a model to be asked at all; below it the docs lack the topic.
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

/// Chosen from `eval answers` figures (docs/benchmarks.md): where citation hit stays high and
/// false answers on questions the docs don't cover fall.
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
        let started = Instant::now();
        let language = language::detect(q.text, self.settings.default_language);
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
                } else {
                    self.with_model(chain, q, language, &mut trace).await
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

    async fn with_model(
        &self,
        chain: &ProviderChain,
        q: &Question<'_>,
        language: Language,
        trace: &mut Trace,
    ) -> Result<Decision, String> {
        let phrases = language::phrases(language);
        trace.query = if q.history.is_empty() {
            query::search_text(q.text)
        } else {
            self.rewrite(chain, q, trace).await
        };
        let query = trace.query.clone();
        let (retrieved, evidence) = self.retrieve(q.guild_id, &query).await?;
        trace.retrieved = retrieved
            .passages
            .iter()
            .map(|p| (p.location.clone(), p.score))
            .collect();
        trace.evidence = evidence.max_coverage();
        trace.unknown = evidence.unknown_share;
        trace.coverage = evidence
            .docs
            .iter()
            .map(|d| (d.location.clone(), d.coverage))
            .collect();
        if is_vague(&retrieved) {
            return Ok(ask(phrases));
        }
        if evidence.max_coverage() < self.settings.model_floor {
            // The docs lack the topic: no model call, no tokens spent.
            return Ok(not_in_docs(phrases));
        }
        let docs = self.prompt_docs(&retrieved, &evidence);
        let request = StructuredRequest {
            messages: vec![
                ChatMessage::system(llm::system_prompt(language)),
                ChatMessage::user(llm::user_prompt(
                    &docs,
                    &retrieved.passages,
                    q.history,
                    self.settings.history_tokens,
                    q.text,
                )),
            ],
            schema_name: llm::SCHEMA_NAME.into(),
            schema: llm::schema(),
            max_tokens: None,
        };
        trace.prompt = Some(request.messages[1].content.clone());
        let mut request = request;
        // Malformed output gets one corrective retry, then the member is handed off.
        for attempt in 0..2 {
            let completion = match chain.structured(&request).await {
                Ok(c) => c,
                Err(e) => {
                    trace.failures.extend(
                        e.failures
                            .iter()
                            .map(|f| format!("{}: {}", f.provider, f.kind)),
                    );
                    return Ok(Decision::Handoff {
                        reason: HandoffReason::ProviderFailed,
                        message: phrases.provider_failed.into(),
                    });
                }
            };
            trace.provider = Some(completion.provider.clone());
            trace.model = Some(completion.model.clone());
            trace.prompt_tokens += completion.usage.prompt_tokens;
            trace.completion_tokens += completion.usage.completion_tokens;
            trace.failures.extend(
                completion
                    .failures
                    .iter()
                    .map(|f| format!("{}: {}", f.provider, f.kind)),
            );
            trace.response = Some(completion.content.clone());
            match llm::check(&completion.content, docs.len()) {
                Ok(checked) => return Ok(self.decision(checked, &docs, &retrieved, phrases)),
                Err(why) => {
                    trace.failures.push(format!("invalid decision: {why}"));
                    if attempt == 0 {
                        request
                            .messages
                            .push(ChatMessage::assistant(completion.content));
                        request.messages.push(ChatMessage::user(format!(
                            "That answer cannot be used: {why}. Answer again with one JSON \
                             object that follows the schema."
                        )));
                    }
                }
            }
        }
        Ok(Decision::Handoff {
            reason: HandoffReason::ProviderFailed,
            message: phrases.provider_failed.into(),
        })
    }

    /// A follow-up rewritten to stand alone; the member's words joined to their previous
    /// question when the model can't help.
    async fn rewrite(&self, chain: &ProviderChain, q: &Question<'_>, trace: &mut Trace) -> String {
        let request = TextRequest {
            messages: vec![
                ChatMessage::system(llm::REWRITE_SYSTEM),
                ChatMessage::user(llm::rewrite_prompt(
                    q.history,
                    self.settings.history_tokens,
                    q.text,
                )),
            ],
            max_tokens: Some(REWRITE_TOKENS),
        };
        match chain.text(&request).await {
            Ok(c) => {
                trace.prompt_tokens += c.usage.prompt_tokens;
                trace.completion_tokens += c.usage.completion_tokens;
                let rewritten = c.content.trim();
                if rewritten.is_empty() || rewritten.len() > 600 {
                    standalone_without_model(q)
                } else {
                    rewritten.to_string()
                }
            }
            Err(e) => {
                trace.failures.extend(
                    e.failures
                        .iter()
                        .map(|f| format!("rewrite {}: {}", f.provider, f.kind)),
                );
                standalone_without_model(q)
            }
        }
    }

    /// Documents for the prompt in search order, their chunks merged, within the token budget.
    fn prompt_docs(&self, retrieved: &Retrieved, evidence: &Evidence) -> Vec<llm::PromptDoc> {
        let mut docs = Vec::new();
        let mut used = 0;
        for d in &evidence.docs {
            if docs.len() >= MODEL_DOCS {
                break;
            }
            let mut passages = Vec::new();
            for &i in &d.passages {
                let cost = llm::estimate_tokens(&retrieved.passages[i].text) + 20;
                if used + cost > self.settings.context_tokens
                    && !(docs.is_empty() && passages.is_empty())
                {
                    continue;
                }
                used += cost;
                passages.push(i);
            }
            if passages.is_empty() {
                continue;
            }
            docs.push(llm::PromptDoc {
                number: docs.len() + 1,
                passages,
            });
        }
        docs
    }

    fn decision(
        &self,
        checked: llm::Checked,
        docs: &[llm::PromptDoc],
        retrieved: &Retrieved,
        phrases: Phrases,
    ) -> Decision {
        match checked {
            llm::Checked::Reply { text, cited, .. } => Decision::Reply {
                text,
                citations: cited
                    .iter()
                    .enumerate()
                    .map(|(k, &n)| {
                        let passage = &retrieved.passages[docs[n - 1].passages[0]];
                        extractive::cite(k + 1, passage)
                    })
                    .collect(),
            },
            llm::Checked::Ask { question } => Decision::Ask { question },
            llm::Checked::Handoff => Decision::Handoff {
                reason: HandoffReason::ModelChose,
                message: phrases.not_in_docs.into(),
            },
            llm::Checked::Escalate => Decision::Escalate {
                reason: "the model judged that staff should handle this".into(),
                message: phrases.escalated.into(),
            },
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

    async fn extractive(
        &self,
        guild: u64,
        query: &str,
        phrases: Phrases,
        trace: &mut Trace,
    ) -> Result<Decision, String> {
        let (retrieved, evidence) = self.retrieve(guild, query).await?;
        trace.retrieved = retrieved
            .passages
            .iter()
            .map(|p| (p.location.clone(), p.score))
            .collect();
        trace.evidence = evidence.max_coverage();
        trace.unknown = evidence.unknown_share;
        trace.coverage = evidence
            .docs
            .iter()
            .map(|d| (d.location.clone(), d.coverage))
            .collect();
        trace.detail = evidence.detail(&retrieved);
        if is_vague(&retrieved) {
            return Ok(ask(phrases));
        }
        let docs = extractive::pick_docs(&evidence, self.settings.relevance_floor);
        if docs.is_empty() {
            return Ok(not_in_docs(phrases));
        }
        // Score every unit of the chosen documents' passages with the guild's analyzer, then
        // quote each document from its best-matching passage (one section, read in order,
        // cited with that section's link).
        let candidates: Vec<(usize, Vec<extractive::Unit>)> = docs
            .iter()
            .flat_map(|doc| doc.passages.iter().take(evidence::DOC_PASSAGES))
            .map(|&i| (i, extractive::units(&retrieved.passages[i].text)))
            .collect();
        let texts: Vec<&str> = candidates
            .iter()
            .flat_map(|(_, units)| units.iter().map(|u| u.text()))
            .collect();
        let unit_terms = self
            .retriever
            .analyze(guild, &texts)
            .await
            .map_err(|e| e.to_string())?;
        let mut scores = unit_terms.iter().map(|t| evidence.score(t));
        let scored: Vec<(usize, Vec<(extractive::Unit, f32)>)> = candidates
            .into_iter()
            .map(|(i, units)| {
                let units = units
                    .into_iter()
                    .map(|u| (u, scores.next().unwrap_or(0.0)))
                    .collect();
                (i, units)
            })
            .collect();
        // The best passages overall, at most two sections of one document and three in all,
        // each nearly as good as the best; quoted in the documents' order.
        let mut ranked: Vec<(usize, usize, f32)> = scored
            .iter()
            .enumerate()
            .map(|(k, (i, units))| {
                let doc = docs
                    .iter()
                    .position(|d| d.passages.contains(i))
                    .unwrap_or(usize::MAX);
                (k, doc, extractive::passage_score(units))
            })
            .filter(|(_, _, s)| *s > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.2.total_cmp(&a.2));
        let top = ranked.first().map_or(0.0, |r| r.2);
        let mut picked: Vec<(usize, usize)> = Vec::new();
        for (k, doc, score) in ranked {
            let from_doc = picked.iter().filter(|(_, d)| *d == doc).count();
            if score >= top * extractive::RUNNER_UP
                && from_doc < 2
                && picked.len() < extractive::MAX_DOCS
            {
                picked.push((k, doc));
            }
        }
        picked.sort_by_key(|&(k, doc)| (doc, k));
        let mut quotes = Vec::new();
        let mut citations = Vec::new();
        for (k, _) in picked {
            let (passage, units) = &scored[k];
            let chosen = extractive::select(units, quotes.is_empty());
            if chosen.is_empty() {
                continue;
            }
            let number = citations.len() + 1;
            let passage = &retrieved.passages[*passage];
            quotes.push((
                number,
                extractive::label(passage),
                chosen.into_iter().map(|i| units[i].0.clone()).collect(),
            ));
            citations.push(extractive::cite(number, passage));
        }
        if citations.is_empty() {
            return Ok(not_in_docs(phrases));
        }
        Ok(Decision::Reply {
            text: extractive::render(phrases.lead, &quotes),
            citations,
        })
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
