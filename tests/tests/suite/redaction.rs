//! The redaction rail: the real bot, on a multi-threaded runtime, runs questions, answers,
//! moderation, knowledge ingest, provider failures with garbage bodies and malformed gateway
//! frames, with a distinctive marker in every message, document, prompt, answer, token and
//! key. Every line any thread logs at TRACE, through the filter supportbot installs when an
//! operator sets `RUST_LOG=trace`, is captured; no marker may appear in it.

use serde_json::json;
use store::MasterKey;
use tests::fake_discord::{Author, FakeDiscord, GUILD_ID, OTHER_CHANNEL, SUPPORT_CHANNEL};
use tests::fake_openai::{Behaviour, FakeOpenAi};
use tests::{LogCapture, RunningBot, TestDb};

use crate::e2e::{MEMBER, WAIT, enable_support_channel, is_post_to, thread_for};

/// Every marker starts with this; each names where it was planted.
const PREFIX: &str = "MKR";
const QUESTION: &str = "how do I reset my API key? MKR-question";
const DOC_TITLE: &str = "MKR-doc-title";
const DOC_BODY: &str = "MKR-doc-body";
const ANSWER: &str = "MKR-answer";
const GARBAGE_BODY: &str = "MKR-garbage-body";
const PROVIDER_ERROR: &str = "MKR-provider-error";
const PRIMARY_KEY: &str = "MKR-primary-api-key";
const FALLBACK_KEY: &str = "MKR-fallback-api-key";
const GUILD_KEY: &str = "MKR-guild-llm-key";
/// Base64 of the 32 bytes `MKR-master-key-for-the-redaction`.
const MASTER_KEY: &str = "TUtSLW1hc3Rlci1rZXktZm9yLXRoZS1yZWRhY3Rpb24=";
const FRAME_CONTENT: &str = "MKR-frame-content";
const FRAME_TEXT: &str = "MKR-frame-not-json";
const FRAME_AUTHOR: &str = "MKR-frame-author";
const LEAK: &str = "MKR-leak-note";

fn docs() -> Vec<(&'static str, String)> {
    vec![(
        "api-keys.md",
        format!(
            "# API keys {DOC_TITLE}\n\nEvery workspace has API keys for scripts. {DOC_BODY}\n\n\
             ## Reset your API key\n\nOpen **Settings → API** and click **Reset key**. The old \
             key stops working at once, so update every script that uses it. {DOC_BODY}\n"
        ),
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_content_reaches_the_logs_at_trace_from_any_thread() {
    let capture = LogCapture::default();
    let guard = capture.install("trace");

    // What the libraries we cap would log on their own, at the levels they use.
    tracing::error!(target: "async_openai::error", "failed deserialization of: {GARBAGE_BODY}-direct");
    tracing::warn!(target: "serenity::gateway::ws", "Err deserializing text: x; text: {FRAME_TEXT}-direct");
    // Lines from other threads and tasks do reach the capture.
    std::thread::spawn(|| tracing::trace!(target: "supportbot::probe", "probe from a thread"))
        .join()
        .unwrap();
    tokio::spawn(async { tracing::trace!(target: "supportbot::probe", "probe from a task") })
        .await
        .unwrap();

    let primary = FakeOpenAi::start().await;
    primary.push((0..6).map(|i| {
        if i % 2 == 0 {
            Behaviour::Garbage(format!(
                "{{\"id\": \"{GARBAGE_BODY}\", \"choices\": [{{\"message\": \"{GARBAGE_BODY}"
            ))
        } else {
            Behaviour::Status {
                status: 500,
                retry_after: None,
                message: PROVIDER_ERROR.into(),
            }
        }
    }));
    let fallback = FakeOpenAi::with_responder(|_| {
        json!({
            "action": "reply",
            "answer": format!("{ANSWER}: click **Reset key** in Settings [1]."),
            "citations": [1],
            "confidence": 0.9
        })
        .to_string()
    })
    .await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let master = MasterKey::from_base64(MASTER_KEY).unwrap();
    db.store()
        .await
        .set_guild_secret(
            GUILD_ID as i64,
            store::LLM_API_KEY,
            &GUILD_KEY.to_string().into(),
            &master,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let docs = docs();
    let docs: Vec<(&str, &str)> = docs.iter().map(|(p, b)| (*p, b.as_str())).collect();
    let (primary_url, fallback_url) = (primary.base_url(), fallback.base_url());
    let bot = RunningBot::start_with(&fake, &db, &docs, move |config| {
        config.llm.base_url = Some(primary_url);
        config.llm.model = Some("primary-model".into());
        config.llm.api_key = Some(PRIMARY_KEY.to_string().into());
        config.llm.timeout_secs = 5;
        config.llm.fallbacks = vec![supportbot::config::ProviderSettings {
            base_url: fallback_url,
            model: "fallback-model".into(),
            api_key: Some(FALLBACK_KEY.to_string().into()),
            timeout_secs: Some(5),
            max_tokens: None,
        }];
        config.master_key = Some(MASTER_KEY.to_string().into());
    })
    .await;

    // Malformed gateway frames, each carrying a marker.
    let mut no_attachments = tests::fake_discord::message_payload(
        fake.next_id(),
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        FRAME_CONTENT,
        &[],
    );
    no_attachments
        .as_object_mut()
        .unwrap()
        .remove("attachments");
    fake.send_raw_dispatch("MESSAGE_CREATE", no_attachments);
    let mut bad_author = tests::fake_discord::message_payload(
        fake.next_id(),
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        FRAME_CONTENT,
        &[],
    );
    bad_author["author"] = json!(FRAME_AUTHOR);
    fake.send_raw_dispatch("MESSAGE_CREATE", bad_author);
    fake.send_frame(format!("{{not json {FRAME_TEXT}"));

    // A question, answered by the fallback after the primary's garbage and errors.
    let question = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), QUESTION);
    let thread = thread_for(&fake, question).await;
    let reply = fake
        .wait_for_call("the answer", WAIT, is_post_to(thread))
        .await;
    assert!(
        reply.body["content"]
            .as_str()
            .is_some_and(|c| c.contains(ANSWER)),
        "the fallback answered: {}",
        reply.body
    );
    assert!(
        !primary.chat_requests().is_empty(),
        "the primary's garbage was read"
    );

    // Moderation: a leaked token is deleted.
    let token = [
        "MTA4NjQ2NzA1NjI4MjQ4OTA4Ng",
        "GxYzAb",
        "abcdefghijklmnopqrstuvwxyz0123456789AB",
    ]
    .join(".");
    let leak = fake.send_message(
        OTHER_CHANNEL,
        Author::Member(MEMBER),
        &format!("{LEAK} here is my bot token {token} please help"),
    );
    fake.wait_for_call("the deletion", WAIT, |c| {
        c.method == axum::http::Method::DELETE
            && c.path == format!("/api/v10/channels/{OTHER_CHANNEL}/messages/{leak}")
    })
    .await;
    bot.stop().await.unwrap();
    drop(guard);

    let logs = capture.text();
    assert!(
        logs.contains("probe from a thread") && logs.contains("probe from a task"),
        "the capture sees other threads at TRACE"
    );
    assert!(
        logs.contains(&question.to_string()),
        "the bot's own lines (with IDs) are captured"
    );
    let threads: std::collections::BTreeSet<&str> = logs
        .lines()
        .filter_map(|l| {
            l.split_once("ThreadId(")
                .map(|(_, rest)| &rest[..rest.find(')').unwrap_or(0)])
        })
        .collect();
    assert!(
        threads.len() >= 2,
        "lines from several threads: {threads:?}"
    );

    let secrets = [
        tests::fake_discord::TOKEN,
        token.as_str(),
        MASTER_KEY,
        "MKR-master-key",
    ];
    let leaked: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(PREFIX) || secrets.iter().any(|s| l.contains(s)))
        .collect();
    assert!(
        leaked.is_empty(),
        "content, keys or tokens reached the logs:\n{}",
        leaked.join("\n")
    );
}
