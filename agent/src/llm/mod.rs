//! The LLM provider chain: asks any OpenAI-compatible chat endpoint (OpenAI, OpenRouter, Ollama,
//! vLLM, llama.cpp) for a structured decision or a text, trying a primary provider and then
//! ordered fallbacks, with retries, cool-downs and structured-output dialects per provider.
//!
//! Nothing here logs or returns what a provider said when it failed: error bodies can echo a
//! member's message. Failures are kinds (`FailureKind`); logs carry provider, model, kind,
//! status, attempt and latency only.

mod attempt;
mod chain;
mod failure;
mod retry;
mod transport;
mod wire;

use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;

pub use chain::ProviderChain;
pub use failure::{ChainError, Failure, FailureKind};
pub use retry::RetryPolicy;

/// One OpenAI-compatible endpoint and the model to ask there.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Label for logs and traces, e.g. "primary".
    pub name: String,
    /// Base URL including `/v1`, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Sent as a bearer token when not empty; local servers usually need none.
    pub api_key: SecretString,
    pub model: String,
    /// Per attempt; for streams, the longest wait for the answer to start or continue.
    pub timeout: Duration,
    /// Used when a request does not set its own.
    pub max_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A request for one JSON object shaped by `schema`. The answer is checked to be a JSON object,
/// nothing more: the caller validates its meaning.
#[derive(Debug, Clone)]
pub struct StructuredRequest {
    pub messages: Vec<ChatMessage>,
    /// Names the schema (and the tool, in the tool-call dialect); letters, digits, `_` and `-`.
    pub schema_name: String,
    pub schema: serde_json::Value,
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct TextRequest {
    pub messages: Vec<ChatMessage>,
    pub max_tokens: Option<u32>,
}

/// How a structured answer was asked for. Providers differ in what they accept; the chain tries
/// them in this order and remembers, per provider, the first that worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// `response_format: {"type": "json_schema", …}` (OpenAI, vLLM, OpenRouter, llama.cpp).
    JsonSchema,
    /// A forced call of one function whose parameters are the schema.
    ToolCall,
    /// `response_format: {"type": "json_object", "schema": …}` with the schema spelled out in the
    /// system message (llama-cpp-python, older servers).
    JsonObject,
}

impl Dialect {
    fn next(self) -> Option<Dialect> {
        match self {
            Dialect::JsonSchema => Some(Dialect::ToolCall),
            Dialect::ToolCall => Some(Dialect::JsonObject),
            Dialect::JsonObject => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// A provider's answer and how it was obtained.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    /// The text; for a structured request, the JSON object's text.
    pub content: String,
    /// Name of the provider that answered.
    pub provider: String,
    /// The model that answered, as the provider reports it (the configured one otherwise).
    pub model: String,
    /// `None` for text requests.
    pub dialect: Option<Dialect>,
    pub usage: Usage,
    /// Of the attempt that answered.
    pub latency: Duration,
    /// Requests sent for this call, the answering one included.
    pub attempts: u32,
    /// Earlier failed attempts, in order.
    pub failures: Vec<Failure>,
}

/// What `probe` found for one provider.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub provider: String,
    pub model: String,
    pub outcome: Result<(), FailureKind>,
    pub latency: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_config_never_prints_its_key() {
        let config = ProviderConfig {
            name: "primary".into(),
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: SecretString::from("sk-very-secret"),
            model: "m".into(),
            timeout: Duration::from_secs(1),
            max_tokens: 10,
        };
        let printed = format!("{config:?}");
        assert!(printed.contains("primary") && !printed.contains("sk-very-secret"));
    }
}
