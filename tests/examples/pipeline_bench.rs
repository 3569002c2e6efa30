//! Pipeline overhead through the fake Discord: questions arrive at a steady rate, a zero-latency
//! fake model answers, and the time from each MESSAGE_CREATE to the answer's POST is measured.
//!
//! cargo run --release -p tests --example pipeline_bench -- [messages] [per_second] [extractive]

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::json;
use tests::fake_discord::{Author, FakeDiscord, GUILD_ID, RateLimits, SUPPORT_CHANNEL};
use tests::fake_openai::FakeOpenAi;
use tests::{BENCH_DOCS, BENCH_QUESTIONS, RunningBot, TestDb};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let rate: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50.0);
    let extractive = args.iter().skip(3).any(|a| a == "extractive");
    // `bm25`: without the local sentence model, whether or not it is installed.
    let bm25_only = args.iter().skip(3).any(|a| a == "bm25");

    let model = FakeOpenAi::with_responder(|_| {
        json!({"action": "reply", "answer": "Click **Reset key** [1].", "citations": [1], "confidence": 0.9})
            .to_string()
    })
    .await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let store = db.store().await;
    store
        .upsert_guild(GUILD_ID as i64, chrono::Utc::now())
        .await
        .unwrap();
    store
        .set_channel_enabled(
            GUILD_ID as i64,
            SUPPORT_CHANNEL as i64,
            true,
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    // The pipeline's own overhead is measured, not Discord's rate limits: every bucket is wide.
    fake.set_rate_limits(RateLimits {
        per_bucket: 1_000_000,
        window: Duration::from_secs(1),
        global_per_second: 1_000_000,
    });
    let base_url = model.base_url();
    let bot = RunningBot::start_with(&fake, &db, BENCH_DOCS, move |config| {
        config.pipeline.per_member_per_minute = 1_000;
        // The guild limit (300 questions a minute by default) would turn most of the burst away.
        config.pipeline.per_guild_per_minute = 100_000;
        if bm25_only {
            config.knowledge.local_model = Some("off".into());
        }
        if !extractive {
            config.llm.base_url = Some(base_url);
            config.llm.model = Some("zero-latency".into());
        }
    })
    .await;

    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let at = Instant::now();
        let id = fake.send_message(
            SUPPORT_CHANNEL,
            Author::Member(10_000 + i as u64),
            BENCH_QUESTIONS[i % BENCH_QUESTIONS.len()],
        );
        sent.push((id, at));
    }
    // Wait for every answer.
    let deadline = Instant::now() + Duration::from_secs(120);
    let latencies = loop {
        let calls = fake.calls();
        let mut done = Vec::new();
        for (id, at) in &sent {
            let Some(thread) = fake.thread_on(*id) else {
                break;
            };
            let posted = calls.iter().find(|c| {
                c.method == Method::POST && c.path == format!("/api/v10/channels/{thread}/messages")
            });
            match posted {
                Some(c) => done.push(c.at.duration_since(*at)),
                None => break,
            }
        }
        if done.len() == sent.len() || Instant::now() > deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed();
    bot.stop().await.unwrap();
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((p / 100.0 * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "{} of {n} answered at {rate}/s ({} mode) in {:.1} s: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (MESSAGE_CREATE sent → answer POSTed, thread creation included)",
        ms.len(),
        if extractive {
            "extractive"
        } else {
            "zero-latency model"
        },
        elapsed.as_secs_f64(),
        pct(50.0),
        pct(90.0),
        pct(99.0),
        ms.last().copied().unwrap_or(0.0),
    );
    println!("model requests: {}", model.chat_requests().len());
}
