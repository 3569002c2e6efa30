//! Why an attempt failed, as kinds only: a provider's own error text can echo the prompt, so it
//! is never kept, shown or logged.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    Server(u16),
    /// Any other HTTP error status: the request or the configuration is wrong for this provider.
    Client(u16),
    Timeout,
    /// No connection, or it broke before an answer arrived.
    Unreachable,
    /// An answer arrived but was not what was asked for (not JSON, no object, cut off).
    Malformed,
    /// Skipped: the provider failed too often lately.
    CoolingDown,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::RateLimited => f.write_str("rate limited"),
            FailureKind::Server(status) => write!(f, "server error {status}"),
            FailureKind::Client(status) => write!(f, "refused with {status}"),
            FailureKind::Timeout => f.write_str("timed out"),
            FailureKind::Unreachable => f.write_str("unreachable"),
            FailureKind::Malformed => f.write_str("malformed answer"),
            FailureKind::CoolingDown => f.write_str("cooling down"),
        }
    }
}

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub provider: String,
    pub kind: FailureKind,
}

/// No provider answered. `Display` lists the failure kinds per provider, in order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ChainError {
    pub failures: Vec<Failure>,
}

impl ChainError {
    /// True when nothing was asked because every provider was cooling down.
    pub fn all_cooling_down(&self) -> bool {
        !self.failures.is_empty()
            && self
                .failures
                .iter()
                .all(|f| f.kind == FailureKind::CoolingDown)
    }
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.failures.is_empty() {
            return f.write_str("no LLM provider is configured");
        }
        f.write_str("no LLM provider answered (")?;
        let mut previous: Option<&str> = None;
        for failure in &self.failures {
            match previous {
                Some(name) if name == failure.provider => write!(f, ", {}", failure.kind)?,
                Some(_) => write!(f, "; {}: {}", failure.provider, failure.kind)?,
                None => write!(f, "{}: {}", failure.provider, failure.kind)?,
            }
            previous = Some(&failure.provider);
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(provider: &str, kind: FailureKind) -> Failure {
        Failure {
            provider: provider.to_owned(),
            kind,
        }
    }

    #[test]
    fn the_message_lists_kinds_grouped_by_provider() {
        let error = ChainError {
            failures: vec![
                failure("primary", FailureKind::Server(500)),
                failure("primary", FailureKind::RateLimited),
                failure("fallback", FailureKind::Timeout),
            ],
        };
        assert_eq!(
            error.to_string(),
            "no LLM provider answered (primary: server error 500, rate limited; fallback: timed out)"
        );
        assert!(!error.all_cooling_down());
    }

    #[test]
    fn an_empty_chain_says_so() {
        assert_eq!(
            ChainError { failures: vec![] }.to_string(),
            "no LLM provider is configured"
        );
    }
}
