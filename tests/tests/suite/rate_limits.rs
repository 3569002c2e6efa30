//! Discord's rate limits with serenity's rate limiter on, as in production: the fake answers
//! with per-route `X-RateLimit-*` headers and 429s (route and global), and counts the invalid
//! requests that get a bot banned at 10,000 in ten minutes.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::Method;
use serde_json::json;
use supportbot::pipeline::Outcome;
use tests::fake_discord::{
    Author, FakeDiscord, OTHER_CHANNEL, RateLimits, STAFF_CHANNEL, SUPPORT_CHANNEL, ratelimit,
};
use tests::{RunningBot, TestDb};

use crate::e2e::{MEMBER, enable_support_channel, is_post_to, thread_for};
use crate::moderation::{SCAM, settled_audit, with_staff_channel};

#[tokio::test]
async fn a_raid_is_moderated_completely_within_discords_rate_limits() {
    let fake = FakeDiscord::start().await;
    // Discord's shape (five requests per route and channel per window, 50 a second overall)
    // on a short window, so the raid crosses several.
    fake.set_rate_limits(RateLimits {
        per_bucket: 5,
        window: Duration::from_millis(300),
        global_per_second: 50,
    });
    let db = TestDb::sqlite();
    with_staff_channel(&db, json!({})).await;
    let bot = RunningBot::start(&fake, &db).await;

    let raid: Vec<(u64, u64)> = (0..30)
        .map(|i| {
            let member = MEMBER + 100 + i;
            (
                fake.send_message(OTHER_CHANNEL, Author::Member(member), SCAM),
                member,
            )
        })
        .collect();
    for (message, _) in &raid {
        let entry = settled_audit(&db, *message).await;
        assert_eq!(entry.action_status, "ok", "{entry:?}");
    }
    let notices: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| is_post_to(STAFF_CHANNEL)(c))
        .filter_map(|c| c.body["content"].as_str().map(str::to_string))
        .collect();
    for (message, member) in &raid {
        assert!(!fake.has_message(*message), "scam {message} was deleted");
        assert!(
            notices.iter().any(|n| n.contains(&format!("<@{member}>"))),
            "staff heard about <@{member}>"
        );
    }
    let mut per_bucket: HashMap<String, usize> = HashMap::new();
    for limited in fake.rate_limited() {
        *per_bucket.entry(limited.bucket).or_default() += 1;
    }
    assert!(
        per_bucket.values().all(|n| *n <= 1),
        "at most one 429 per bucket: {per_bucket:?}"
    );
    assert!(
        fake.invalid_requests() < ratelimit::INVALID_LIMIT / 100,
        "{} invalid requests: far below Discord's ban",
        fake.invalid_requests()
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_global_rate_limit_is_waited_out_and_the_answer_still_posted() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    fake.force_global_rate_limit(Duration::from_millis(300));
    let question = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my API key?",
    );
    let thread = thread_for(&fake, question).await;
    assert!(matches!(
        bot.outcome(question).await,
        Outcome::Responded { .. }
    ));
    let limited = fake.rate_limited();
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert!(limited[0].global);
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| is_post_to(thread)(c))
            .count(),
        1
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn answers_carry_discords_rate_limit_headers_and_a_dry_bucket_answers_429() {
    let fake = FakeDiscord::start().await;
    fake.set_rate_limits(RateLimits {
        per_bucket: 2,
        window: Duration::from_secs(30),
        global_per_second: 50,
    });
    let http = fake.discord_http_client();
    let url = format!("https://discord.com/api/v10/channels/{OTHER_CHANNEL}/messages");
    let post_to = |url: &str| {
        http.post(url)
            .header(
                "authorization",
                format!("Bot {}", tests::fake_discord::TOKEN),
            )
            .header("content-type", "application/json")
            .body(json!({"content": "hello"}).to_string())
            .send()
    };
    let post = || post_to(&url);
    let first = post().await.expect("the fake answers over TLS");
    assert_eq!(first.status(), 200);
    let h = first.headers();
    assert_eq!(h["x-ratelimit-limit"], "2");
    assert_eq!(h["x-ratelimit-remaining"], "1");
    let reset_after: f64 = h["x-ratelimit-reset-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset_after > 0.0 && reset_after <= 30.0, "{reset_after}");
    let reset: f64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!(reset > 1.7e9, "an epoch time in seconds: {reset}");
    let bucket = h["x-ratelimit-bucket"].to_str().unwrap().to_string();
    assert_eq!(post().await.unwrap().status(), 200);

    let refused = post().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-scope"], "user");
    assert_eq!(refused.headers()["x-ratelimit-bucket"], bucket.as_str());
    let retry: f64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(body["global"], false);
    assert!(body["retry_after"].as_f64().unwrap() > 0.0 && retry > 0.0);

    // Another channel is another bucket.
    let other = post_to(&format!(
        "https://discord.com/api/v10/channels/{SUPPORT_CHANNEL}/messages"
    ))
    .await
    .unwrap();
    assert_eq!(other.status(), 200);

    fake.force_global_rate_limit(Duration::from_millis(50));
    let global = post().await.unwrap();
    assert_eq!(global.status(), 429);
    assert_eq!(global.headers()["x-ratelimit-global"], "true");
    assert_eq!(global.headers()["x-ratelimit-scope"], "global");

    // Two 429s and a 401 count toward the ban; the successes do not.
    let unauthorised = http
        .post(&url)
        .header("content-type", "application/json")
        .body(json!({"content": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);
    assert_eq!(fake.invalid_requests(), 3);
    assert!(
        fake.calls().iter().all(|c| c.method == Method::POST),
        "only the posts above"
    );
}
