//! A fake OpenAI-compatible server on 127.0.0.1 for the real async-openai client: chat
//! completions (plain and streamed), embeddings and the model list.
//!
//! Requests are validated the way a real server does (400 with an OpenAI-style error body) and
//! every request is recorded. Chat completions follow a script of `Behaviour`s, one per request,
//! then the responder closure, whose text is shaped the way the request asks: streamed if it
//! streams, a tool call if it forces one.

mod reply;
mod routes;
mod validate;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use agent::llm::ProviderConfig;
use axum::http::{HeaderMap, Method, header};
use secrecy::SecretString;
use serde_json::Value;
use tokio::task::JoinHandle;

pub use reply::embed;

/// Gives the assistant's text for a chat-completion request (the request's JSON).
pub type Responder = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// How the fake answers one chat-completion request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// The responder's text, shaped as the request asks.
    Respond,
    /// This text instead of the responder's, shaped likewise.
    Reply(String),
    /// A call of the request's tool (the forced one, else the first) with these arguments.
    ToolCall(String),
    /// These deltas when the request streams; their concatenation otherwise.
    Stream(Vec<String>),
    /// These deltas, then the connection breaks: no finish reason, no `[DONE]` (for a request
    /// that does not stream, the JSON body breaks off).
    TruncatedStream(Vec<String>),
    /// An error status with an OpenAI-style body carrying `message`, and `Retry-After` if given.
    Status {
        status: u16,
        retry_after: Option<String>,
        message: String,
    },
    /// Waits, then behaves as told: a client with a shorter timeout gives up first.
    Delay(Duration, Box<Behaviour>),
    /// HTTP 200, `application/json`, and a body that is not JSON.
    MalformedBody,
    /// HTTP 200, `application/json`, and this body, whatever it is.
    Garbage(String),
}

impl Behaviour {
    /// HTTP 429 with `Retry-After: retry_after` (seconds or an HTTP date).
    pub fn rate_limited(retry_after: &str) -> Self {
        Behaviour::Status {
            status: 429,
            retry_after: Some(retry_after.to_owned()),
            message: default_message(429).to_owned(),
        }
    }

    /// An error status with the message a real server would give.
    pub fn status(status: u16) -> Self {
        Behaviour::Status {
            status,
            retry_after: None,
            message: default_message(status).to_owned(),
        }
    }

    pub fn delayed(by: Duration, then: Behaviour) -> Self {
        Behaviour::Delay(by, Box::new(then))
    }
}

fn default_message(status: u16) -> &'static str {
    match status {
        429 => "Rate limit reached for requests. Please try again later.",
        500 => "The server had an error while processing your request.",
        502 => "Bad gateway.",
        503 => "The server is overloaded or not ready yet.",
        _ => "The request failed.",
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// `Value::Null` when the body was not JSON.
    pub body: Value,
    pub at: Instant,
}

impl RecordedRequest {
    pub fn authorization(&self) -> Option<&str> {
        self.headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
    }

    /// How structured output was asked for: `"json_schema"`, `"json_object"`, `"tools"`, or
    /// `None` for plain text.
    pub fn structured_dialect(&self) -> Option<&str> {
        if self.body.get("tools").is_some_and(|t| !t.is_null()) {
            return Some("tools");
        }
        self.body["response_format"]["type"]
            .as_str()
            .filter(|t| *t != "text")
    }
}

/// Every message's text in a chat request, one per line, in order: for responders.
pub fn prompt_text(request: &Value) -> String {
    request["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The last user message of a chat request.
pub fn last_user_message(request: &Value) -> Option<&str> {
    request["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "user")?["content"]
        .as_str()
}

#[derive(Debug, Clone, Copy)]
enum UsageMode {
    /// About four characters a token.
    Estimate,
    Fixed(u32, u32),
    Omitted,
}

struct Inner {
    requests: Vec<RecordedRequest>,
    script: VecDeque<Behaviour>,
    responder: Responder,
    reject_json_schema: bool,
    without_tools: bool,
    without_streaming: bool,
    max_completion_tokens_only: bool,
    usage: UsageMode,
    dimensions: usize,
    api_key: Option<String>,
    /// `None`: any model is accepted.
    models: Option<Vec<String>>,
    served: u64,
    /// An outage in progress: every chat completion gets this status.
    outage: Option<u16>,
    /// The pause before each event of a streamed answer.
    pace: Duration,
}

struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake OpenAI state poisoned")
    }
}

pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `{}` when the request asks for JSON, `OK` otherwise.
fn default_responder(request: &Value) -> String {
    let wants_json = request.get("tools").is_some_and(|t| !t.is_null())
        || request["response_format"]["type"]
            .as_str()
            .is_some_and(|t| t != "text");
    if wants_json { "{}" } else { "OK" }.to_owned()
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake OpenAI server");
        let addr = listener.local_addr().expect("listener has an address");
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                requests: Vec::new(),
                script: VecDeque::new(),
                responder: Arc::new(default_responder),
                reject_json_schema: false,
                without_tools: false,
                without_streaming: false,
                max_completion_tokens_only: false,
                usage: UsageMode::Estimate,
                dimensions: 64,
                api_key: None,
                models: None,
                served: 0,
                outage: None,
                pace: Duration::ZERO,
            }),
        });
        let app = routes::router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            // Streamed chunks go out as they are written, as a real provider's do.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app).await;
        });
        FakeOpenAi {
            addr,
            shared,
            server,
        }
    }

    /// A server whose answers come from `responder` (given each chat request's JSON).
    pub async fn with_responder(
        responder: impl Fn(&Value) -> String + Send + Sync + 'static,
    ) -> Self {
        let fake = Self::start().await;
        fake.set_responder(responder);
        fake
    }

    /// The base URL clients are given, with `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A provider for the chain pointing here: no key, 5 s timeout, 400 tokens.
    pub fn provider(&self, name: &str, model: &str) -> ProviderConfig {
        ProviderConfig {
            name: name.to_owned(),
            base_url: self.base_url(),
            api_key: SecretString::from(""),
            model: model.to_owned(),
            timeout: Duration::from_secs(5),
            max_tokens: 400,
        }
    }

    pub fn set_responder(&self, responder: impl Fn(&Value) -> String + Send + Sync + 'static) {
        self.shared.lock().responder = Arc::new(responder);
    }

    /// While `Some(status)`, every chat completion is answered with that status, as a provider
    /// in an outage answers; `None` ends the outage.
    pub fn set_outage(&self, status: Option<u16>) {
        self.shared.lock().outage = status;
    }

    /// Streamed answers send each event after `pace`, as a model writing at that speed does
    /// (until set, all at once).
    pub fn set_stream_pace(&self, pace: Duration) {
        self.shared.lock().pace = pace;
    }

    /// Queues behaviours for the next chat-completion requests, one each, in order.
    pub fn push(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        self.shared.lock().script.extend(behaviours);
    }

    /// Like llama-cpp-python 0.3.x: HTTP 500 for a `json_schema` response format (it accepts
    /// `json_object` with a `schema`).
    pub fn reject_json_schema(&self) {
        self.shared.lock().reject_json_schema = true;
    }

    /// Like Ollama with a model lacking tool support: HTTP 400 for any request with tools.
    pub fn without_tools(&self) {
        self.shared.lock().without_tools = true;
    }

    /// Like a server that cannot stream structured output: HTTP 400 for any request with
    /// `stream: true` and a response format or tools.
    pub fn without_streaming(&self) {
        self.shared.lock().without_streaming = true;
    }

    /// Like OpenAI's reasoning models: HTTP 400 for `max_tokens`, which they replaced with
    /// `max_completion_tokens`.
    pub fn max_completion_tokens_only(&self) {
        self.shared.lock().max_completion_tokens_only = true;
    }

    /// Answer 401 unless requests carry `Authorization: Bearer <key>`.
    pub fn require_api_key(&self, key: &str) {
        self.shared.lock().api_key = Some(key.to_owned());
    }

    /// The models served: listed by `/v1/models`, and any other model is answered with 404.
    /// Until this is called, any model is accepted and `fake-model` is listed.
    pub fn set_models(&self, models: &[&str]) {
        self.shared.lock().models = Some(models.iter().map(|m| (*m).to_owned()).collect());
    }

    /// The usage every completion reports.
    pub fn set_usage(&self, prompt_tokens: u32, completion_tokens: u32) {
        self.shared.lock().usage = UsageMode::Fixed(prompt_tokens, completion_tokens);
    }

    /// Completions carry no `usage`, as some local servers do.
    pub fn omit_usage(&self) {
        self.shared.lock().usage = UsageMode::Omitted;
    }

    /// Vector size for embedding requests that do not ask for `dimensions` (64 until set).
    pub fn set_embedding_dimensions(&self, dimensions: usize) {
        self.shared.lock().dimensions = dimensions;
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .collect()
    }

    /// Waits until `n` chat-completion requests arrived, or panics after `timeout`.
    pub async fn wait_for_chat_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let requests = self.chat_requests();
            if requests.len() >= n {
                return requests;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {n} chat requests; got {}",
                    requests.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
