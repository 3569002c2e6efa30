//! Deciding with a model: a follow-up rewritten to stand alone, retrieval, the prompt with
//! numbered documents, one corrective retry for unusable output, and the checked decision.

use crate::decision::{Decision, HandoffReason, Trace};
use crate::llm::{
    ChainError, ChatMessage, Completion, ProviderChain, StructuredRequest, TextRequest,
};
use crate::retriever::Retrieved;

use super::language::{self, Language, Phrases};
use super::{
    Agent, Evidence, MODEL_DOCS, PartialDecision, Progress, Question, REWRITE_TOKENS, ask,
    extractive, is_vague, llm, not_in_docs, query, standalone_without_model,
};

impl Agent {
    pub(super) async fn with_model(
        &self,
        chain: &ProviderChain,
        q: &Question<'_>,
        language: Language,
        progress: Option<Progress<'_>>,
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
        trace.evidence = evidence.max_relevance();
        trace.unknown = evidence.unknown_share;
        trace.coverage = evidence
            .docs
            .iter()
            .map(|d| (d.location.clone(), d.relevance))
            .collect();
        if is_vague(&retrieved) {
            return Ok(ask(phrases));
        }
        if evidence.max_relevance() < self.settings.model_floor {
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
        // Malformed output gets one corrective retry, asked whole, then the member is handed
        // off.
        for attempt in 0..2 {
            let asked = match progress.filter(|_| attempt == 0) {
                Some(progress) => stream_decision(chain, &request, progress).await,
                None => chain.structured(&request).await,
            };
            let completion = match asked {
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
}

/// The decision streamed, `progress` told the reply's text each time it grows while the
/// action is `reply`.
async fn stream_decision(
    chain: &ProviderChain,
    request: &StructuredRequest,
    progress: Progress<'_>,
) -> Result<Completion, ChainError> {
    let mut partial = PartialDecision::default();
    let mut told = 0;
    let mut on_delta = |delta: &str| {
        partial.push(delta);
        if partial.is_reply() && partial.answer().len() > told {
            told = partial.answer().len();
            progress(&llm::without_markers(partial.answer()));
        }
    };
    chain.stream_structured(request, &mut on_delta).await
}
