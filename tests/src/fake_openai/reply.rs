//! The fake's answers in OpenAI's wire format. Each body is first read back with async-openai's
//! own response types, so an answer a real client would reject fails the test instead.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::time::Duration;

use async_openai::error::WrappedError;
use async_openai::types::chat::{CreateChatCompletionResponse, CreateChatCompletionStreamResponse};
use async_openai::types::embeddings::CreateEmbeddingResponse;
use async_openai::types::models::ListModelResponse;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

fn checked<T: DeserializeOwned>(what: &str, value: Value) -> Value {
    if let Err(e) = serde_json::from_value::<T>(value.clone()) {
        panic!("the fake built a {what} that async-openai cannot read: {e}\n{value:#}");
    }
    value
}

/// What the assistant says.
#[derive(Debug, Clone)]
pub(super) enum Said {
    Content(String),
    ToolCall { name: String, arguments: String },
}

/// Fields every completion of one request shares.
pub(super) struct Envelope {
    pub id: String,
    pub model: String,
    pub created: u32,
}

impl Envelope {
    fn base(&self, object: &str) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("id".into(), json!(self.id));
        map.insert("object".into(), json!(object));
        map.insert("created".into(), json!(self.created));
        map.insert("model".into(), json!(self.model));
        map.insert("system_fingerprint".into(), json!("fp_fake"));
        map
    }
}

fn usage_json(usage: (u32, u32)) -> Value {
    json!({"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1})
}

fn finish_reason(said: &Said, named_tool: bool) -> &'static str {
    match said {
        Said::Content(_) => "stop",
        // OpenAI reports "stop" when the request named the function it had to call.
        Said::ToolCall { .. } if named_tool => "stop",
        Said::ToolCall { .. } => "tool_calls",
    }
}

pub(super) fn completion(
    envelope: &Envelope,
    said: &Said,
    named_tool: bool,
    usage: Option<(u32, u32)>,
) -> Value {
    let message = match said {
        Said::Content(content) => json!({"role": "assistant", "content": content, "refusal": null}),
        Said::ToolCall { name, arguments } => json!({
            "role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": format!("call_{}", envelope.id), "type": "function",
                            "function": {"name": name, "arguments": arguments}}]
        }),
    };
    let mut body = envelope.base("chat.completion");
    body.insert(
        "choices".into(),
        json!([{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(said, named_tool)}]),
    );
    if let Some(usage) = usage {
        body.insert("usage".into(), usage_json(usage));
    }
    checked::<CreateChatCompletionResponse>("chat completion", Value::Object(body))
}

/// The chunks of a streamed answer: the role, one chunk per delta, the finish reason, and the
/// usage when the request asked for it.
pub(super) fn chunks(
    envelope: &Envelope,
    said: &Said,
    deltas: &[String],
    named_tool: bool,
    usage: Option<(u32, u32)>,
    include_usage: bool,
) -> Vec<Value> {
    let chunk = |delta: Value, finish: Value| {
        let mut body = envelope.base("chat.completion.chunk");
        body.insert(
            "choices".into(),
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
        );
        if include_usage {
            body.insert("usage".into(), Value::Null);
        }
        checked::<CreateChatCompletionStreamResponse>("stream chunk", Value::Object(body))
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    match said {
        Said::Content(_) => out.extend(deltas.iter().map(|d| chunk(json!({"content": d}), Value::Null))),
        Said::ToolCall { name, arguments } => out.push(chunk(
            json!({"tool_calls": [{"index": 0, "id": format!("call_{}", envelope.id), "type": "function",
                                   "function": {"name": name, "arguments": arguments}}]}),
            Value::Null,
        )),
    }
    out.push(chunk(json!({}), json!(finish_reason(said, named_tool))));
    if include_usage {
        let mut body = envelope.base("chat.completion.chunk");
        body.insert("choices".into(), json!([]));
        body.insert("usage".into(), usage.map_or(Value::Null, usage_json));
        out.push(checked::<CreateChatCompletionStreamResponse>(
            "usage chunk",
            Value::Object(body),
        ));
    }
    out
}

/// `text/event-stream` of `data:` lines, ending with `[DONE]`, or cut off (the connection
/// breaks mid-body) when `cut`; each event after a pause of `pace`, as a model writes.
pub(super) fn event_stream(events: &[Value], cut: bool, pace: Duration) -> Response {
    let mut parts: Vec<Bytes> = events
        .iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    if !cut {
        parts.push(Bytes::from_static(b"data: [DONE]\n\n"));
    }
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body(parts, cut, pace),
    )
        .into_response()
}

/// `parts`, each after `pace`, then, when `cut`, a broken connection. The break waits a moment
/// so what came before it reaches the client first, as when a server dies mid-answer.
fn body(parts: Vec<Bytes>, cut: bool, pace: Duration) -> Body {
    let sent = futures_util::stream::iter(parts).then(move |part| async move {
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        Ok::<_, io::Error>(part)
    });
    let broken = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut off"))
    })
    .filter(move |_| std::future::ready(cut));
    Body::from_stream(sent.chain(broken))
}

/// A JSON body that breaks off halfway: the connection drops mid-body.
pub(super) fn cut_json(text: &str) -> Response {
    let half = text.get(..text.len() / 2).unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "application/json")],
        body(vec![Bytes::from(half.to_owned())], true, Duration::ZERO),
    )
        .into_response()
}

/// Splits `text` into stream deltas of a word (and its following space) each.
pub(super) fn split_deltas(text: &str) -> Vec<String> {
    let mut deltas = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if c == ' ' {
            deltas.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() || deltas.is_empty() {
        deltas.push(current);
    }
    deltas
}

/// A vector for `text` in `dimensions`: each word adds ±1 at a position its hash picks, then the
/// vector is scaled to unit length. Same text, same vector; shared words, higher cosine.
pub fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0f32; dimensions.max(1)];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut hasher = DefaultHasher::new();
        word.to_lowercase().hash(&mut hasher);
        let h = hasher.finish();
        let slot = usize::try_from(h % vector.len() as u64).unwrap_or(0);
        vector[slot] += if h >> 63 == 0 { 1.0 } else { -1.0 };
    }
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    } else {
        // No words: a fixed unit vector, so the cosine stays defined.
        vector[0] = 1.0;
    }
    vector
}

pub(super) fn embeddings(model: &str, vectors: Vec<Vec<f32>>, prompt_tokens: u32) -> Value {
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    checked::<CreateEmbeddingResponse>(
        "embeddings response",
        json!({"object": "list", "model": model, "data": data,
               "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}),
    )
}

pub(super) fn models(ids: &[String]) -> Value {
    let data: Vec<Value> = ids
        .iter()
        .map(
            |id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}),
        )
        .collect();
    checked::<ListModelResponse>("model list", json!({"object": "list", "data": data}))
}

/// An OpenAI-style error: `{"error": {"message", "type", "param", "code"}}`.
pub(super) fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = checked::<WrappedError>(
        "error body",
        json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    );
    (status, axum::Json(body)).into_response()
}
