//! The chain: providers in order, each retried under the `RetryPolicy`, skipped while cooling
//! down, and asked in the request shape that last worked there.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_openai::Client;
use secrecy::SecretString;
use tracing::{debug, info, warn};

use super::attempt::{self, Job};
use super::retry::CoolDown;
use super::transport::{self, AttemptError, Endpoint};
use super::wire::{Answer, Shape, TokenField};
use super::{
    ChainError, Completion, Dialect, Failure, FailureKind, ProbeReport, ProviderConfig,
    RetryPolicy, StructuredRequest, TextRequest,
};

/// OpenAI-compatible providers tried in order: the primary, then fallbacks.
pub struct ProviderChain {
    providers: Vec<Provider>,
    retry: RetryPolicy,
    rng: Mutex<fastrand::Rng>,
}

struct Provider {
    config: ProviderConfig,
    client: Client<Endpoint>,
    state: Mutex<ProviderState>,
}

struct ProviderState {
    cool_down: CoolDown,
    /// The structured-output dialect that last worked here.
    dialect: Option<Dialect>,
    tokens: TokenField,
    /// Cleared when the provider refuses to stream a structured answer.
    streams: bool,
}

impl Provider {
    fn state(&self) -> MutexGuard<'_, ProviderState> {
        // Plain bookkeeping: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn first_shape(&self, job: &Job<'_>) -> Shape {
        let state = self.state();
        Shape {
            dialect: job
                .is_structured()
                .then(|| state.dialect.unwrap_or(Dialect::JsonSchema)),
            tokens: state.tokens,
            stream: job.streams() && state.streams,
        }
    }

    fn worked(&self, shape: Shape, job: &Job<'_>) {
        let mut state = self.state();
        state.cool_down.succeeded();
        state.tokens = shape.tokens;
        if shape.dialect.is_some() {
            state.dialect = shape.dialect;
        }
        if job.streams() && job.is_structured() {
            state.streams = shape.stream;
        }
    }
}

impl ProviderChain {
    pub fn new(providers: Vec<ProviderConfig>, retry: RetryPolicy) -> Self {
        let providers = providers
            .into_iter()
            .map(|config| Provider {
                client: transport::client(&config.base_url, &config.api_key),
                config,
                state: Mutex::new(ProviderState {
                    cool_down: CoolDown::default(),
                    dialect: None,
                    tokens: TokenField::MaxTokens,
                    streams: true,
                }),
            })
            .collect();
        ProviderChain {
            providers,
            retry,
            rng: Mutex::new(fastrand::Rng::new()),
        }
    }

    /// The same providers with the primary's API key replaced: for a guild that gave its own.
    /// A fresh chain (its own client, no cool-downs carried over), built per question, so a
    /// key the guild replaces is never used again.
    pub fn with_primary_key(&self, api_key: &SecretString) -> ProviderChain {
        let configs = self
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut config = p.config.clone();
                if i == 0 {
                    config.api_key = api_key.clone();
                }
                config
            })
            .collect();
        ProviderChain::new(configs, self.retry.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// (name, model) of each provider, in order.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.providers
            .iter()
            .map(|p| (p.config.name.clone(), p.config.model.clone()))
            .collect()
    }

    /// One JSON object shaped by the request's schema.
    pub async fn structured(&self, request: &StructuredRequest) -> Result<Completion, ChainError> {
        self.run(&mut Job::Structured(request)).await
    }

    /// One JSON object shaped by the request's schema, its text streamed to `on_delta` as it
    /// arrives where the provider and dialect allow (JSON schema, JSON mode); asked for whole
    /// otherwise (a tool call, a provider that refuses to stream), with no deltas. As with
    /// `stream_text`, once a delta was given, a failure ends the call.
    pub async fn stream_structured(
        &self,
        request: &StructuredRequest,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, ChainError> {
        let mut job = Job::StreamStructured {
            request,
            on_delta,
            shown: false,
        };
        self.run(&mut job).await
    }

    pub async fn text(&self, request: &TextRequest) -> Result<Completion, ChainError> {
        self.run(&mut Job::Text(request)).await
    }

    /// Streams the answer's text to `on_delta` as it arrives. Failures before the first delta
    /// are retried and fall back like any other; once text was shown, a failure ends the call.
    pub async fn stream_text(
        &self,
        request: &TextRequest,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, ChainError> {
        let mut job = Job::Stream {
            request,
            on_delta,
            shown: false,
        };
        self.run(&mut job).await
    }

    /// Asks every provider for a few tokens, once, whatever its cool-down: for `doctor`.
    pub async fn probe(&self) -> Vec<ProbeReport> {
        let mut reports = Vec::with_capacity(self.providers.len());
        for provider in &self.providers {
            let mut shape = provider.first_shape(&Job::Probe);
            let started = Instant::now();
            let outcome = loop {
                match attempt::send(&provider.client, &provider.config, &mut Job::Probe, shape)
                    .await
                {
                    Ok(_) => break Ok(()),
                    Err(error) => match shape.after_refusal(&error) {
                        Some(next) => shape = next,
                        None => break Err(error.kind()),
                    },
                }
            };
            reports.push(ProbeReport {
                provider: provider.config.name.clone(),
                model: provider.config.model.clone(),
                outcome,
                latency: started.elapsed(),
            });
        }
        reports
    }

    async fn run(&self, job: &mut Job<'_>) -> Result<Completion, ChainError> {
        let mut failures = Vec::new();
        let mut attempts = 0u32;
        for provider in &self.providers {
            let name = &provider.config.name;
            let model = &provider.config.model;
            if provider.state().cool_down.is_cooling(Instant::now()) {
                debug!(provider = %name, model = %model, "LLM provider skipped: cooling down");
                failures.push(Failure {
                    provider: name.clone(),
                    kind: FailureKind::CoolingDown,
                });
                continue;
            }
            let mut shape = provider.first_shape(job);
            let mut failed = 0u32;
            let mut malformed = 0u32;
            loop {
                attempts += 1;
                let started = Instant::now();
                let result = attempt::send(&provider.client, &provider.config, job, shape).await;
                let latency = started.elapsed();
                let error = match result {
                    Ok(answer) => {
                        provider.worked(shape, job);
                        return Ok(
                            self.completed(provider, answer, shape, latency, attempts, failures)
                        );
                    }
                    Err(error) => error,
                };
                if let Some(next) = shape.after_refusal(&error) {
                    debug!(
                        provider = %name, model = %model, attempt = attempts, kind = %error.kind(),
                        from = ?shape, to = ?next, "LLM provider refused the request shape; trying the next"
                    );
                    shape = next;
                    continue;
                }
                let kind = error.kind();
                failures.push(Failure {
                    provider: name.clone(),
                    kind,
                });
                failed += 1;
                if kind == FailureKind::Malformed {
                    malformed += 1;
                }
                let cooling = provider
                    .state()
                    .cool_down
                    .failed(Instant::now(), &self.retry);
                debug!(
                    provider = %name, model = %model, attempt = attempts, kind = %kind,
                    latency_ms = latency.as_millis(), "LLM attempt failed"
                );
                if cooling {
                    warn!(
                        provider = %name, model = %model, cool_down_s = self.retry.cool_down.as_secs(),
                        "LLM provider keeps failing; skipping it for a while"
                    );
                }
                if job.shown() {
                    return Err(self.failed(failures));
                }
                match self.wait_before_retry(&error, failed, malformed, cooling) {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => break,
                }
            }
        }
        Err(self.failed(failures))
    }

    fn completed(
        &self,
        provider: &Provider,
        answer: Answer,
        shape: Shape,
        latency: Duration,
        attempts: u32,
        failures: Vec<Failure>,
    ) -> Completion {
        let model = answer
            .model
            .unwrap_or_else(|| provider.config.model.clone());
        let name = &provider.config.name;
        if failures.is_empty() {
            debug!(provider = %name, model = %model, attempts, latency_ms = latency.as_millis(), "LLM answered");
        } else {
            info!(
                provider = %name, model = %model, attempts, failed = failures.len(),
                latency_ms = latency.as_millis(), "LLM answered after failed attempts"
            );
        }
        Completion {
            content: answer.content,
            provider: name.clone(),
            model,
            dialect: shape.dialect,
            usage: answer.usage,
            latency,
            attempts,
            failures,
        }
    }

    fn failed(&self, failures: Vec<Failure>) -> ChainError {
        let error = ChainError { failures };
        info!(%error, "no LLM provider answered");
        error
    }

    /// The wait before trying the same provider again, or `None` to move on.
    fn wait_before_retry(
        &self,
        error: &AttemptError,
        failed: u32,
        malformed: u32,
        cooling: bool,
    ) -> Option<Duration> {
        if cooling || failed >= self.retry.attempts_per_provider {
            return None;
        }
        let asked = match error {
            AttemptError::Status {
                status: 429, hints, ..
            } if hints.quota => return None,
            AttemptError::Status {
                status,
                retry_after,
                ..
            } if *status == 429 || *status >= 500 => *retry_after,
            AttemptError::Status { .. } => return None,
            AttemptError::Malformed if malformed > 1 => return None,
            AttemptError::Malformed | AttemptError::Timeout | AttemptError::Unreachable => None,
        };
        match asked {
            Some(wait) if wait > self.retry.max_delay => None,
            Some(wait) => Some(wait),
            None => {
                let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
                Some(self.retry.backoff(failed - 1, &mut rng))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::llm::ChatMessage;

    fn assert_send<T: Send>(_: T) {}

    #[test]
    fn calls_can_run_on_any_tokio_worker() {
        let chain = ProviderChain::new(Vec::new(), RetryPolicy::default());
        let text = TextRequest {
            messages: vec![],
            max_tokens: None,
        };
        let structured = StructuredRequest {
            messages: vec![],
            schema_name: "x".into(),
            schema: Value::Null,
            max_tokens: None,
        };
        let mut sink = |_: &str| {};
        assert_send(chain.structured(&structured));
        assert_send(chain.text(&text));
        assert_send(chain.stream_text(&text, &mut sink));
        assert_send(chain.stream_structured(&structured, &mut sink));
        assert_send(chain.probe());
    }

    #[tokio::test]
    async fn an_empty_chain_fails_at_once() {
        let chain = ProviderChain::new(Vec::new(), RetryPolicy::default());
        assert!(chain.is_empty());
        let error = chain
            .text(&TextRequest {
                messages: vec![ChatMessage::user("hi")],
                max_tokens: None,
            })
            .await
            .unwrap_err();
        assert!(error.failures.is_empty());
        assert!(chain.probe().await.is_empty());
    }
}
