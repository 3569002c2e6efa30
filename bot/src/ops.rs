//! The operations endpoint, off unless `ops.listen` is set: `/healthz` (the process answers),
//! `/readyz` (database reachable, every shard this process runs connected, knowledge index
//! answering; 503 naming what failed) and Prometheus `/metrics`. It serves no member data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use knowledge::KnowledgeBase;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::QUEUE_DEPTH_TOP;
use crate::pipeline::Pipeline;

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the Discord adapter reports about its connections: one per shard this process runs.
#[derive(Debug)]
pub struct Health {
    /// Each shard this process runs, and whether it is connected (READY or RESUMED seen).
    shards: Mutex<BTreeMap<u32, bool>>,
}

impl Default for Health {
    /// An unsharded bot: shard 0 only.
    fn default() -> Self {
        Health::for_shards(0..=0)
    }
}

impl Health {
    /// Nothing connected yet, of the shards `ids`.
    pub fn for_shards(ids: RangeInclusive<u32>) -> Self {
        Health {
            shards: Mutex::new(ids.map(|id| (id, false)).collect()),
        }
    }

    fn shards(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, bool>> {
        // A panic elsewhere cannot leave a map of booleans half-written.
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A shard connected or lost its connection; shards this process does not run are not
    /// counted.
    pub fn set_shard_connected(&self, shard: u32, connected: bool) {
        if let Some(state) = self.shards().get_mut(&shard) {
            *state = connected;
        }
    }

    /// Every shard at once: for a caller that is not a gateway (the ops tests).
    pub fn set_gateway_connected(&self, connected: bool) {
        self.shards().values_mut().for_each(|s| *s = connected);
    }

    /// Whether every shard this process runs is connected.
    pub fn gateway_connected(&self) -> bool {
        self.shards().values().all(|connected| *connected)
    }

    /// The shards not connected, lowest first.
    pub fn shards_down(&self) -> Vec<u32> {
        self.shards()
            .iter()
            .filter(|(_, connected)| !**connected)
            .map(|(id, _)| *id)
            .collect()
    }
}

#[derive(Clone)]
pub struct OpsState {
    pub pipeline: Arc<Pipeline>,
    pub knowledge: Arc<KnowledgeBase>,
    pub health: Arc<Health>,
}

/// Binds `addr` (port 0 picks a free one) and serves until `shutdown`; returns the address
/// bound.
pub async fn start(
    addr: SocketAddr,
    state: OpsState,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "ops endpoint stopped");
        }
    });
    Ok((local, server))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<OpsState>) -> impl IntoResponse {
    let database = matches!(
        tokio::time::timeout(CHECK_TIMEOUT, state.pipeline.store().ping()).await,
        Ok(Ok(()))
    );
    let down = state.health.shards_down();
    let gateway = down.is_empty();
    // Any guild's count will do: it proves the index answers.
    let index = matches!(
        tokio::time::timeout(CHECK_TIMEOUT, state.knowledge.chunk_count(0)).await,
        Ok(Ok(_))
    );
    let checks = [
        ("database", database),
        ("gateway", gateway),
        ("index", index),
    ];
    let body: String = checks
        .iter()
        .map(|(name, ok)| match (*name, *ok) {
            (_, true) => format!("{name} ok\n"),
            ("gateway", false) => format!(
                "gateway failed (not connected: shard {})\n",
                down.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (_, false) => format!("{name} failed\n"),
        })
        .collect();
    let status = if checks.iter().all(|(_, ok)| *ok) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

async fn metrics(State(state): State<OpsState>) -> impl IntoResponse {
    let depths = state.pipeline.deepest_queues(QUEUE_DEPTH_TOP);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.pipeline.metrics().render(&depths),
    )
}

#[cfg(test)]
mod tests {
    use super::Health;

    #[test]
    fn ready_only_when_every_shard_of_the_process_is_connected() {
        let health = Health::for_shards(2..=3);
        assert!(!health.gateway_connected());
        health.set_shard_connected(2, true);
        assert_eq!(health.shards_down(), [3]);
        assert!(!health.gateway_connected(), "shard 3 is still down");
        // Another process's shard changes nothing here.
        health.set_shard_connected(0, true);
        health.set_shard_connected(3, true);
        assert!(health.gateway_connected());
        health.set_shard_connected(2, false);
        assert_eq!(health.shards_down(), [2]);
        assert!(!health.gateway_connected());

        let unsharded = Health::default();
        assert_eq!(unsharded.shards_down(), [0]);
        unsharded.set_gateway_connected(true);
        assert!(unsharded.gateway_connected());
    }
}
