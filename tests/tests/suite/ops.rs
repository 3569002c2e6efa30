//! The ops endpoint on 127.0.0.1:0 over the real pipeline: liveness, readiness that names
//! what failed, and Prometheus counters that move with the messages and carry no content.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use supportbot::config::Config;
use supportbot::ops::{self, Health, OpsState};
use tests::fake_discord::{Author, FakeDiscord, SUPPORT_CHANNEL};
use tests::fake_openai::FakeOpenAi;
use tests::{RunningBot, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::admission::sample;
use crate::e2e::{MEMBER, enable_support_channel};
use crate::pipeline::harness;

const SCAM: &str = "Free nitro for everyone! claim here https://dlscord-gift.com/claim";

/// One plain HTTP/1.1 GET; the status and the body, `None` when nothing answers.
async fn fetch(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    fetch(addr, path).await.expect("the ops endpoint answers")
}

#[tokio::test]
async fn health_readiness_and_metrics_follow_what_the_bot_does() {
    let llm = FakeOpenAi::with_responder(|_| {
        json!({"action": "reply", "answer": "Run acme restore with the date.", "citations": [1], "confidence": 0.9})
            .to_string()
    })
    .await;
    llm.set_usage(120, 30);
    let base_url = llm.base_url();
    let mut h = harness(true, move |config: &mut Config| {
        config.llm.base_url = Some(base_url);
        config.llm.model = Some("fake-model".into());
        config.llm.timeout_secs = 5;
    })
    .await;
    let health = Arc::new(Health::default());
    let shutdown = CancellationToken::new();
    let (addr, server) = ops::start(
        "127.0.0.1:0".parse().unwrap(),
        OpsState {
            pipeline: Arc::clone(&h.services.pipeline),
            knowledge: Arc::clone(&h.services.knowledge),
            health: Arc::clone(&health),
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    assert_eq!(get(addr, "/healthz").await.0, 200);
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "not ready before the gateway connects");
    assert!(body.contains("gateway failed"), "{body}");
    assert!(
        body.contains("database ok") && body.contains("index ok"),
        "{body}"
    );
    health.set_gateway_connected(true);
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");

    let answered = h.say(MEMBER, None, "how do I restore a backup?").await;
    assert_eq!(answered.kind(), "answered", "{answered:?}");
    let blocked = h.say(MEMBER + 1, None, SCAM).await;
    assert_eq!(blocked.kind(), "blocked", "{blocked:?}");

    let (status, metrics) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for (series, value) in [
        ("supportbot_messages_total{outcome=\"answered\"}", 1.0),
        ("supportbot_messages_total{outcome=\"blocked\"}", 1.0),
        (
            "supportbot_verdicts_total{category=\"scam\",verdict=\"block\"}",
            1.0,
        ),
        (
            "supportbot_moderation_actions_total{action=\"delete\",result=\"ok\"}",
            1.0,
        ),
        (
            "supportbot_model_tokens_total{kind=\"prompt\",provider=\"primary\"}",
            120.0,
        ),
        (
            "supportbot_model_tokens_total{kind=\"completion\",provider=\"primary\"}",
            30.0,
        ),
        (
            "supportbot_model_latency_seconds_count{provider=\"primary\"}",
            1.0,
        ),
        ("supportbot_gateway_reconnects_total", 0.0),
        ("supportbot_rest_rate_limited_total", 0.0),
    ] {
        assert_eq!(sample(&metrics, series), value, "{series} in\n{metrics}");
    }
    for private in ["restore", "nitro", "dlscord", &MEMBER.to_string()] {
        assert!(
            !metrics.contains(private),
            "the metrics carry {private}:\n{metrics}"
        );
    }

    // The database goes away: not ready, and the answer says which check failed.
    h.store().close().await;
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("database failed"), "{body}");
    assert!(body.contains("gateway ok"), "{body}");

    shutdown.cancel();
    server.await.unwrap();
}

/// Polls `path` until `ok` holds for its answer.
async fn wait_for(addr: SocketAddr, path: &str, ok: impl Fn(u16, &str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((status, body)) = fetch(addr, path).await
            && ok(status, &body)
        {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting on {path}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_running_bot_is_ready_once_connected_and_counts_a_gateway_reconnect() {
    // `run` takes an address from its configuration: a port free a moment ago.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, &[], |config| {
        config.ops.listen = Some(addr);
    })
    .await;
    let body = wait_for(addr, "/readyz", |status, _| status == 200).await;
    assert!(body.contains("gateway ok"), "{body}");

    fake.drop_connection();
    fake.wait_for_gateway_ops(2, Duration::from_secs(30)).await;
    wait_for(addr, "/metrics", |_, body| {
        sample(body, "supportbot_gateway_reconnects_total") == 1.0
    })
    .await;
    wait_for(addr, "/readyz", |status, _| status == 200).await;

    // Discord answers 429 to the thread the answer needs: counted, and the message's outcome
    // says the delivery failed.
    fake.fail_next(
        Method::POST,
        "/threads",
        StatusCode::TOO_MANY_REQUESTS,
        json!({"message": "You are being rate limited.", "retry_after": 0.5, "global": false, "code": 0}),
    );
    fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my password?",
    );
    let metrics = wait_for(addr, "/metrics", |_, body| {
        sample(
            body,
            "supportbot_messages_total{outcome=\"delivery_failed\"}",
        ) == 1.0
    })
    .await;
    assert_eq!(
        sample(&metrics, "supportbot_rest_rate_limited_total"),
        1.0,
        "{metrics}"
    );
    bot.stop().await.unwrap();
}
