//! Logging. Events carry IDs, verdicts, actions and timings; never message text, prompts,
//! answers, tokens or keys. Some libraries log what passes through them (a provider's
//! unparseable answer, a gateway frame that did not deserialize, request and response
//! frames); those targets are capped here whatever filter the operator sets.

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::{Filter, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;

/// The most each library may log, whatever `RUST_LOG` or `log.filter` ask for. The nearest
/// (longest) target wins.
pub const CAPS: [(&str, LevelFilter); 17] = [
    // Logs whole response bodies it cannot parse (ERROR) and header values (WARN); the
    // provider chain logs every failure itself, without the body.
    ("async_openai", LevelFilter::OFF),
    ("serenity", LevelFilter::WARN),
    // Logs undeserializable gateway frames whole (WARN) and the bytes (DEBUG).
    ("serenity::gateway::ws", LevelFilter::OFF),
    // Passes on the gateway's errors, whose serde messages quote the frame's values (ERROR).
    ("serenity::gateway::bridge::shard_runner", LevelFilter::OFF),
    ("serenity::gateway::shard", LevelFilter::ERROR),
    ("poise", LevelFilter::WARN),
    // Request and response frames, headers (an API key is one) and bodies at DEBUG and TRACE.
    ("hyper", LevelFilter::WARN),
    ("hyper_util", LevelFilter::WARN),
    ("h2", LevelFilter::WARN),
    ("reqwest", LevelFilter::WARN),
    ("tungstenite", LevelFilter::WARN),
    ("tokio_tungstenite", LevelFilter::WARN),
    ("rustls", LevelFilter::WARN),
    ("tonic", LevelFilter::WARN),
    ("tower", LevelFilter::WARN),
    // Statements (bound values are never in them) at DEBUG; slow ones at WARN.
    ("sqlx", LevelFilter::WARN),
    ("axum", LevelFilter::WARN),
];

/// The caps, as a filter that passes everything else.
pub fn caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPS)
}

/// The filter `init` installs: the operator's directives (`user`, i.e. `RUST_LOG`, when set
/// and valid, else `configured`, else `info`), and the caps on top, which no directive lifts.
pub fn filter<S>(user: Option<&str>, configured: &str) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let directives = user
        .and_then(|d| EnvFilter::try_new(d).ok())
        .or_else(|| EnvFilter::try_new(configured).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    directives.and(caps())
}

/// Installs the global subscriber. `RUST_LOG`, when set, wins over the configured filter;
/// neither lifts the caps.
pub fn init(config: &LogConfig) {
    let user = std::env::var("RUST_LOG").ok();
    let filter = filter(user.as_deref(), &config.filter);
    let layer = if config.format == "json" {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_caps_hold_against_any_directive() {
        let caps = caps();
        assert!(!caps.would_enable("async_openai::error", &Level::ERROR));
        assert!(!caps.would_enable("serenity::gateway::ws", &Level::WARN));
        assert!(!caps.would_enable("serenity::gateway::bridge::shard_runner", &Level::ERROR));
        assert!(caps.would_enable("serenity::gateway::shard", &Level::ERROR));
        assert!(!caps.would_enable("serenity::http::client", &Level::DEBUG));
        assert!(!caps.would_enable("h2::codec", &Level::TRACE));
        assert!(caps.would_enable("supportbot::pipeline", &Level::TRACE));
        assert!(caps.would_enable("agent::llm", &Level::TRACE));
    }
}
