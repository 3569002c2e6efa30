//! The HTTP exchange under async-openai. Its default transport retries 429s and 5xxs on its own
//! and logs server error bodies; this one sends each request once, turns an error status into
//! `HttpFailure` (status, `Retry-After`, and a few yes/no hints read from the body, never the
//! body itself), and refuses bodies that are not JSON before async-openai would log them.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_openai::Client;
use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};

use super::FailureKind;
use super::retry::parse_retry_after;

/// An async-openai client for one provider, sending through `Exchange`.
pub(super) fn client(base_url: &str, api_key: &SecretString) -> Client<Endpoint> {
    crate::tls::install_crypto_provider();
    let endpoint = Endpoint::new(base_url, api_key.clone());
    let http = reqwest::Client::new();
    Client::build(http.clone(), endpoint).with_http_service(Exchange { http })
}

/// Where and how to authenticate, with nothing taken from the environment (async-openai's
/// `OpenAIConfig` reads `OPENAI_*` variables, which could send one provider's organisation to
/// another).
#[derive(Clone)]
pub(super) struct Endpoint {
    base: String,
    key: SecretString,
    authorization: Option<HeaderValue>,
}

impl Endpoint {
    fn new(base_url: &str, key: SecretString) -> Self {
        let authorization = Some(key.expose_secret())
            .filter(|k| !k.is_empty())
            .and_then(|k| HeaderValue::try_from(format!("Bearer {k}")).ok())
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        Endpoint {
            base: base_url.trim_end_matches('/').to_owned(),
            key,
            authorization,
        }
    }
}

impl Config for Endpoint {
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = &self.authorization {
            headers.insert(AUTHORIZATION, value.clone());
        }
        headers
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn query(&self) -> Vec<(&str, &str)> {
        Vec::new()
    }

    fn api_base(&self) -> &str {
        &self.base
    }

    fn api_key(&self) -> &SecretString {
        &self.key
    }
}

/// What an error body said, reduced to what the chain acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct BodyHints {
    /// Mentions `response_format` or `json_schema`.
    pub response_format: bool,
    /// Mentions tools.
    pub tools: bool,
    /// Names `max_tokens` as the offending parameter (newer OpenAI models want
    /// `max_completion_tokens`).
    pub max_tokens: bool,
    /// A 429 that is an exhausted quota, not a rate: waiting does not help.
    pub quota: bool,
    /// Mentions streaming (a server that cannot stream this request).
    pub stream: bool,
}

impl BodyHints {
    fn read(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body).to_ascii_lowercase();
        let param = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"]["param"].as_str().map(str::to_owned));
        BodyHints {
            response_format: text.contains("response_format") || text.contains("json_schema"),
            tools: text.contains("tool"),
            max_tokens: param.as_deref() == Some("max_tokens"),
            quota: text.contains("insufficient_quota"),
            stream: text.contains("stream"),
        }
    }
}

/// A response the transport refused to hand to async-openai.
#[derive(Debug, thiserror::Error)]
pub(super) enum HttpFailure {
    #[error("the provider answered HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
        hints: BodyHints,
    },
    #[error("the provider's answer is not JSON")]
    NotJson,
}

/// Why one attempt failed.
#[derive(Debug)]
pub(super) enum AttemptError {
    Status {
        status: u16,
        retry_after: Option<Duration>,
        hints: BodyHints,
    },
    Timeout,
    Unreachable,
    Malformed,
}

impl AttemptError {
    pub(super) fn kind(&self) -> FailureKind {
        match self {
            AttemptError::Status { status: 429, .. } => FailureKind::RateLimited,
            AttemptError::Status { status, .. } if *status >= 500 => FailureKind::Server(*status),
            AttemptError::Status { status, .. } => FailureKind::Client(*status),
            AttemptError::Timeout => FailureKind::Timeout,
            AttemptError::Unreachable => FailureKind::Unreachable,
            AttemptError::Malformed => FailureKind::Malformed,
        }
    }

    /// Reads an async-openai error. Only kinds and the transport's own `HttpFailure` survive:
    /// the texts inside other variants can quote the provider.
    pub(super) fn from_openai(error: OpenAIError) -> Self {
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpFailure>() {
                Ok(failure) => match *failure {
                    HttpFailure::Status {
                        status,
                        retry_after,
                        hints,
                    } => AttemptError::Status {
                        status,
                        retry_after,
                        hints,
                    },
                    HttpFailure::NotJson => AttemptError::Malformed,
                },
                Err(_) => AttemptError::Unreachable,
            },
            OpenAIError::Reqwest(e) if e.is_timeout() => AttemptError::Timeout,
            OpenAIError::Reqwest(e) if e.is_body() || e.is_decode() => AttemptError::Malformed,
            OpenAIError::Reqwest(_) => AttemptError::Unreachable,
            OpenAIError::ApiError(e) => AttemptError::Status {
                status: e.status_code.as_u16(),
                retry_after: None,
                hints: BodyHints::default(),
            },
            _ => AttemptError::Malformed,
        }
    }
}

/// The tower service async-openai sends through: one request, no retries, no body in logs.
#[derive(Clone)]
pub(super) struct Exchange {
    http: reqwest::Client,
}

type ExchangeFuture =
    Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send + 'static>>;

impl tower::Service<HttpRequestFactory> for Exchange {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = ExchangeFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        Box::pin(async move {
            let request = factory.build().await?;
            let response = http.execute(request).await?;
            screen(response).await
        })
    }
}

fn refuse(failure: HttpFailure) -> OpenAIError {
    OpenAIError::Boxed(Box::new(failure))
}

async fn screen(response: reqwest::Response) -> Result<reqwest::Response, OpenAIError> {
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // An unreadable error body only costs the hints.
        let body = response.bytes().await.unwrap_or_default();
        return Err(refuse(HttpFailure::Status {
            status: status.as_u16(),
            retry_after,
            hints: BodyHints::read(&body),
        }));
    }
    let is_event_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut parts = http::Response::builder().status(status);
    if let Some(headers) = parts.headers_mut() {
        *headers = response.headers().clone();
    }
    let body = if is_event_stream {
        reqwest::Body::wrap_stream(checked_events(response))
    } else {
        let bytes = response.bytes().await?;
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            return Err(refuse(HttpFailure::NotJson));
        }
        reqwest::Body::from(bytes)
    };
    let rebuilt = parts.body(body).map_err(|_| refuse(HttpFailure::NotJson))?;
    Ok(reqwest::Response::from(rebuilt))
}

/// Passes an SSE body through unchanged, but ends it with an error at the first `data:` line
/// that is neither JSON nor `[DONE]` (async-openai would log such a line).
fn checked_events(
    response: reqwest::Response,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let mut pending: Vec<u8> = Vec::new();
    response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if !event_line_is_sound(&line) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a stream event is not JSON",
                ));
            }
        }
        Ok(chunk)
    })
}

fn event_line_is_sound(line: &[u8]) -> bool {
    let line = line.trim_ascii_end();
    let Some(data) = line.strip_prefix(b"data:") else {
        return true;
    };
    let data = data.trim_ascii();
    data == b"[DONE]" || serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_sent_only_when_there_is_one_and_is_marked_sensitive() {
        let with_key = Endpoint::new("http://127.0.0.1:1/v1/", SecretString::from("sk-1"));
        let value = with_key.headers().remove(AUTHORIZATION).unwrap();
        assert_eq!(value, "Bearer sk-1");
        assert!(value.is_sensitive());
        assert_eq!(
            with_key.url("/chat/completions"),
            "http://127.0.0.1:1/v1/chat/completions"
        );

        let without = Endpoint::new("http://127.0.0.1:1/v1", SecretString::from(""));
        assert!(without.headers().is_empty());
    }

    #[test]
    fn error_bodies_become_hints() {
        let llama_cpp_python = br#"{"error":{"message":"1 validation error: input_value='json_schema'","type":"internal_server_error","param":null,"code":null}}"#;
        let hints = BodyHints::read(llama_cpp_python);
        assert!(hints.response_format && !hints.tools && !hints.max_tokens);

        let openai = br#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
        assert!(BodyHints::read(openai).max_tokens);

        let ollama = br#"{"error":{"message":"model does not support tools","type":"api_error","param":null,"code":null}}"#;
        assert!(BodyHints::read(ollama).tools);

        assert_eq!(
            BodyHints::read(b"<html>Bad gateway</html>"),
            BodyHints::default()
        );
    }

    #[test]
    fn stream_lines_must_be_json_or_done() {
        assert!(event_line_is_sound(b"data: {\"a\":1}\n"));
        assert!(event_line_is_sound(b"data: [DONE]\r\n"));
        assert!(event_line_is_sound(b": keep-alive\n"));
        assert!(event_line_is_sound(b"\n"));
        assert!(!event_line_is_sound(b"data: {\"a\":\n"));
    }

    #[test]
    fn error_kinds_follow_the_status() {
        let status = |status| AttemptError::Status {
            status,
            retry_after: None,
            hints: BodyHints::default(),
        };
        assert_eq!(status(429).kind(), FailureKind::RateLimited);
        assert_eq!(status(503).kind(), FailureKind::Server(503));
        assert_eq!(status(401).kind(), FailureKind::Client(401));
    }
}
