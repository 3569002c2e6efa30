//! The operations endpoint, off unless `ops.listen` is set: `/healthz` (the process answers),
//! `/readyz` (database reachable, gateway connected, knowledge index answering; 503 naming what
//! failed) and Prometheus `/metrics`. It serves no member data.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// What the Discord adapter reports about its connection.
#[derive(Debug, Default)]
pub struct Health {
    gateway: AtomicBool,
}

impl Health {
    pub fn set_gateway_connected(&self, connected: bool) {
        self.gateway.store(connected, Ordering::SeqCst);
    }

    pub fn gateway_connected(&self) -> bool {
        self.gateway.load(Ordering::SeqCst)
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
    let gateway = state.health.gateway_connected();
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
        .map(|(name, ok)| format!("{name} {}\n", if *ok { "ok" } else { "failed" }))
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
