//! The LLM provider chain through the real async-openai client against the fake
//! OpenAI-compatible server: dialects, streaming, retries, fallbacks, cool-downs, probes, and
//! embeddings for the knowledge crate.

mod dialects;
mod fake_server;
mod resilience;

use std::time::Duration;

use agent::llm::{ChatMessage, Failure, FailureKind, RetryPolicy, StructuredRequest, TextRequest};
use serde_json::{Value, json};

const DECISION: &str = r#"{"action":"answer","citations":[2]}"#;

/// Millisecond waits, so retries cost nothing; no cool-down unless a test asks for one.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        attempts_per_provider: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        failures_before_cool_down: 100,
        cool_down: Duration::from_secs(60),
    }
}

fn decision_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["answer", "handoff"]},
            "citations": {"type": "array", "items": {"type": "integer"}}
        },
        "required": ["action", "citations"],
        "additionalProperties": false
    })
}

fn decision_request() -> StructuredRequest {
    StructuredRequest {
        messages: vec![
            ChatMessage::system("Answer support questions from the numbered documents."),
            ChatMessage::user(
                "[1] Billing is monthly.\n[2] Reset your password in Settings.\n\nHow do I reset my password?",
            ),
        ],
        schema_name: "decision".into(),
        schema: decision_schema(),
        max_tokens: Some(200),
    }
}

fn question(text: &str) -> TextRequest {
    TextRequest {
        messages: vec![ChatMessage::user(text)],
        max_tokens: None,
    }
}

fn failure(provider: &str, kind: FailureKind) -> Failure {
    Failure {
        provider: provider.to_owned(),
        kind,
    }
}
