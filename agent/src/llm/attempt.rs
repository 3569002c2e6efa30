//! One request to one provider: the body for the job in the given shape, sent through
//! async-openai under the provider's timeout, and the answer read back.

use std::time::Duration;

use async_openai::{Chat, Client};
use futures_util::StreamExt;
use serde_json::Value;

use super::transport::{AttemptError, Endpoint};
use super::wire::{self, Answer, Shape};
use super::{ChatMessage, Dialect, ProviderConfig, StructuredRequest, TextRequest, Usage};

/// Enough for "OK" and no more.
const PROBE_MAX_TOKENS: u32 = 5;

/// What a call asks for.
pub(super) enum Job<'a> {
    Structured(&'a StructuredRequest),
    /// A structured answer streamed when the shape allows it (the JSON-schema and JSON-object
    /// dialects, a provider that streams), asked for whole otherwise.
    StreamStructured {
        request: &'a StructuredRequest,
        on_delta: &'a mut (dyn FnMut(&str) + Send),
        shown: bool,
    },
    Text(&'a TextRequest),
    Stream {
        request: &'a TextRequest,
        on_delta: &'a mut (dyn FnMut(&str) + Send),
        /// Text already went to the caller: a retry would show it twice.
        shown: bool,
    },
    Probe,
}

impl Job<'_> {
    pub(super) fn shown(&self) -> bool {
        matches!(
            self,
            Job::Stream { shown: true, .. } | Job::StreamStructured { shown: true, .. }
        )
    }

    pub(super) fn is_structured(&self) -> bool {
        matches!(self, Job::Structured(_) | Job::StreamStructured { .. })
    }

    pub(super) fn streams(&self) -> bool {
        matches!(self, Job::Stream { .. } | Job::StreamStructured { .. })
    }
}

/// One attempt at `job` in `shape`; a timeout anywhere inside becomes `AttemptError::Timeout`.
pub(super) async fn send(
    client: &Client<Endpoint>,
    config: &ProviderConfig,
    job: &mut Job<'_>,
    shape: Shape,
) -> Result<Answer, AttemptError> {
    let chat = client.chat();
    let max_tokens = |requested: Option<u32>| requested.unwrap_or(config.max_tokens);
    match job {
        Job::Structured(request) => {
            let dialect = shape.dialect.unwrap_or(Dialect::JsonSchema);
            let max_tokens = max_tokens(request.max_tokens);
            let body =
                wire::structured_body(&config.model, request, max_tokens, shape.tokens, dialect);
            let response = ask(&chat, body, config.timeout).await?;
            wire::read_structured(&response, dialect)
        }
        Job::StreamStructured {
            request,
            on_delta,
            shown,
        } => {
            let dialect = shape.dialect.unwrap_or(Dialect::JsonSchema);
            let max_tokens = max_tokens(request.max_tokens);
            let mut body =
                wire::structured_body(&config.model, request, max_tokens, shape.tokens, dialect);
            // A tool call's arguments arrive in fragments no provider agrees on: asked whole.
            if !shape.stream || dialect == Dialect::ToolCall {
                let response = ask(&chat, body, config.timeout).await?;
                return wire::read_structured(&response, dialect);
            }
            wire::ask_to_stream(&mut body);
            let mut answer = stream(&chat, body, config.timeout, &mut **on_delta, shown).await?;
            answer.content = wire::json_object(&answer.content)
                .ok_or(AttemptError::Malformed)?
                .to_owned();
            Ok(answer)
        }
        Job::Text(request) => {
            let max_tokens = max_tokens(request.max_tokens);
            let body = wire::text_body(
                &config.model,
                &request.messages,
                max_tokens,
                shape.tokens,
                false,
            );
            wire::read_text(&ask(&chat, body, config.timeout).await?)
        }
        Job::Probe => {
            let hello = [ChatMessage::user("Reply with OK.")];
            let body =
                wire::text_body(&config.model, &hello, PROBE_MAX_TOKENS, shape.tokens, false);
            wire::read_probe(&ask(&chat, body, config.timeout).await?)
        }
        Job::Stream {
            request,
            on_delta,
            shown,
        } => {
            let max_tokens = max_tokens(request.max_tokens);
            let body = wire::text_body(
                &config.model,
                &request.messages,
                max_tokens,
                shape.tokens,
                true,
            );
            stream(&chat, body, config.timeout, &mut **on_delta, shown).await
        }
    }
}

async fn ask(
    chat: &Chat<'_, Endpoint>,
    body: Value,
    timeout: Duration,
) -> Result<Value, AttemptError> {
    tokio::time::timeout(timeout, chat.create_byot::<Value, Value>(body))
        .await
        .map_err(|_| AttemptError::Timeout)?
        .map_err(AttemptError::from_openai)
}

/// Reads a streamed answer; `timeout` bounds the wait for the start and for each event.
async fn stream(
    chat: &Chat<'_, Endpoint>,
    body: Value,
    timeout: Duration,
    on_delta: &mut (dyn FnMut(&str) + Send),
    shown: &mut bool,
) -> Result<Answer, AttemptError> {
    let mut events = tokio::time::timeout(timeout, chat.create_stream_byot::<Value, Value>(body))
        .await
        .map_err(|_| AttemptError::Timeout)?
        .map_err(AttemptError::from_openai)?;
    let mut content = String::new();
    let mut usage = Usage::default();
    let mut model = None;
    let mut finished = false;
    while let Some(event) = tokio::time::timeout(timeout, events.next())
        .await
        .map_err(|_| AttemptError::Timeout)?
    {
        let event = event.map_err(AttemptError::from_openai)?;
        let chunk = wire::read_chunk(&event);
        if chunk.error {
            return Err(AttemptError::Malformed);
        }
        if let Some(delta) = chunk.delta {
            on_delta(delta);
            *shown = true;
            content.push_str(delta);
        }
        finished |= chunk.finished;
        usage = chunk.usage.unwrap_or(usage);
        model = chunk.model.or(model);
    }
    // A stream that stops without a finish reason was cut off.
    if !finished || content.is_empty() {
        return Err(AttemptError::Malformed);
    }
    Ok(Answer {
        content,
        model,
        usage,
    })
}
