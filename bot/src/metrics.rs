//! Prometheus metrics, one registry per running bot (so tests in one process do not share
//! counters). Labels are kinds, categories, provider names and guild IDs: never message text,
//! user IDs or anything a member wrote.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Guilds shown in the queue-depth gauge: the deepest few, so the label set stays small
/// however many guilds the bot serves.
pub const QUEUE_DEPTH_TOP: usize = 10;

pub struct Metrics {
    registry: Registry,
    messages: IntCounterVec,
    verdicts: IntCounterVec,
    actions: IntCounterVec,
    model_latency: HistogramVec,
    model_tokens: IntCounterVec,
    queue_depth: IntGaugeVec,
    gateway_reconnects: IntCounter,
    rest_rate_limited: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)
                .expect("a valid metric definition");
            registry
                .register(Box::new(c.clone()))
                .expect("each metric is registered once");
            c
        };
        let messages = counter_vec(
            "supportbot_messages_total",
            "Guild messages handled, by outcome.",
            &["outcome"],
        );
        let verdicts = counter_vec(
            "supportbot_verdicts_total",
            "Classifier verdicts that blocked or escalated, by category.",
            &["verdict", "category"],
        );
        let actions = counter_vec(
            "supportbot_moderation_actions_total",
            "Moderation actions taken, and whether Discord accepted them.",
            &["action", "result"],
        );
        let model_tokens = counter_vec(
            "supportbot_model_tokens_total",
            "Model tokens spent, by provider and direction.",
            &["provider", "kind"],
        );
        let model_latency = HistogramVec::new(
            HistogramOpts::new(
                "supportbot_model_latency_seconds",
                "Model call latency, by provider.",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0]),
            &["provider"],
        )
        .expect("a valid metric definition");
        registry
            .register(Box::new(model_latency.clone()))
            .expect("each metric is registered once");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "supportbot_queue_depth",
                "Messages waiting for the model stages, for the guilds with the deepest queues.",
            ),
            &["guild"],
        )
        .expect("a valid metric definition");
        registry
            .register(Box::new(queue_depth.clone()))
            .expect("each metric is registered once");
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("a valid metric definition");
            registry
                .register(Box::new(c.clone()))
                .expect("each metric is registered once");
            c
        };
        let gateway_reconnects = counter(
            "supportbot_gateway_reconnects_total",
            "Gateway sessions resumed or re-identified after the first connection.",
        );
        let rest_rate_limited = counter(
            "supportbot_rest_rate_limited_total",
            "Discord REST requests that met a rate limit (HTTP 429).",
        );
        Metrics {
            registry,
            messages,
            verdicts,
            actions,
            model_latency,
            model_tokens,
            queue_depth,
            gateway_reconnects,
            rest_rate_limited,
        }
    }

    pub fn message(&self, outcome: &str) {
        self.messages.with_label_values(&[outcome]).inc();
    }

    pub fn verdict(&self, verdict: &str, category: &str) {
        self.verdicts.with_label_values(&[verdict, category]).inc();
    }

    pub fn action(&self, action: &str, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.actions.with_label_values(&[action, result]).inc();
    }

    pub fn model_call(&self, provider: &str, latency_ms: u64, prompt: u32, completion: u32) {
        self.model_latency
            .with_label_values(&[provider])
            .observe(latency_ms as f64 / 1000.0);
        if prompt > 0 {
            self.model_tokens
                .with_label_values(&[provider, "prompt"])
                .inc_by(prompt.into());
        }
        if completion > 0 {
            self.model_tokens
                .with_label_values(&[provider, "completion"])
                .inc_by(completion.into());
        }
    }

    pub fn gateway_reconnect(&self) {
        self.gateway_reconnects.inc();
    }

    pub fn rest_rate_limited(&self) {
        self.rest_rate_limited.inc();
    }

    /// The Prometheus text format. `queue_depths` (guild, waiting) replaces the gauge's
    /// series, so guilds whose queues emptied drop out.
    pub fn render(&self, queue_depths: &[(u64, usize)]) -> String {
        self.queue_depth.reset();
        for (guild, depth) in queue_depths.iter().take(QUEUE_DEPTH_TOP) {
            self.queue_depth
                .with_label_values(&[guild.to_string().as_str()])
                .set(i64::try_from(*depth).unwrap_or(i64::MAX));
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("the text encoder writes to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_deepest_guild_queues_become_series() {
        let metrics = Metrics::new();
        let depths: Vec<(u64, usize)> = (1..=25).map(|g| (g, 100 - g as usize)).collect();
        let text = metrics.render(&depths);
        let series = text
            .lines()
            .filter(|l| l.starts_with("supportbot_queue_depth{"))
            .count();
        assert_eq!(series, QUEUE_DEPTH_TOP);
        assert!(
            text.contains("supportbot_queue_depth{guild=\"1\"} 99"),
            "{text}"
        );
        // A guild whose queue emptied drops out at the next scrape.
        let text = metrics.render(&[(7, 3)]);
        assert!(!text.contains("guild=\"1\""), "{text}");
        assert!(
            text.contains("supportbot_queue_depth{guild=\"7\"} 3"),
            "{text}"
        );
    }
}
