//! The decision paths through the real pipeline (store, knowledge base, classifier, agent),
//! recorded instead of posted and on a manual clock: no Discord, no sleeps.

use std::sync::Arc;

use agent::{Decision, HandoffReason};
use chrono::{Duration, TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use store::{ConversationStatus, Store};
use supportbot::clock::{Clock, ManualClock};
use supportbot::config::{Config, ProviderSettings};
use supportbot::pipeline::{Inbound, Outcome, RecordingDelivery, Skip};
use supportbot::services::Services;
use tests::fake_openai::{Behaviour, FakeOpenAi};

use crate::e2e::DOCS;

pub(crate) const GUILD: u64 = 7000;
pub(crate) const CHANNEL: u64 = 7001;
const STAFF: u64 = 7002;
pub(crate) const ROLE: u64 = 7003;
const BOT: u64 = 7004;

pub(crate) struct Harness {
    pub(crate) services: Services,
    pub(crate) delivery: RecordingDelivery,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) next_id: u64,
    pub(crate) dir: tempfile::TempDir,
}

/// A guild with `DOCS` indexed, an enabled channel, a staff channel and (optionally) a
/// support role; `configure` may add an answer model.
pub(crate) async fn harness(support_role: bool, configure: impl FnOnce(&mut Config)) -> Harness {
    tests::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    configure(&mut config);
    tests::seed_knowledge(&config, GUILD, DOCS).await;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    ));
    let services = tests::services(&config, Arc::clone(&clock) as Arc<dyn Clock>).await;
    let store = services.store.clone();
    store
        .set_channel_enabled(GUILD as i64, CHANNEL as i64, true, None, clock.now())
        .await
        .unwrap();
    services
        .pipeline
        .guild_settings()
        .update(GUILD, |s| {
            s.staff_channel_id = Some(STAFF);
            s.support_role_id = support_role.then_some(ROLE);
            Ok(())
        })
        .await
        .unwrap();
    Harness {
        services,
        delivery: RecordingDelivery::new(BOT, 1_000_000),
        clock,
        next_id: 100,
        dir,
    }
}

/// A model that answers from the first document it is given, citing it.
fn citing_model(answer: &'static str) -> impl Fn(&Value) -> String + Send + Sync + 'static {
    move |_request| {
        json!({"action": "reply", "answer": answer, "citations": [1], "confidence": 0.9})
            .to_string()
    }
}

fn with_model(fake: &FakeOpenAi) -> impl FnOnce(&mut Config) {
    let base_url = fake.base_url();
    move |config: &mut Config| {
        config.llm.base_url = Some(base_url);
        config.llm.model = Some("fake-model".into());
        config.llm.timeout_secs = 5;
    }
}

impl Harness {
    /// A member's message: a new question in the enabled channel, or a reply in `thread`.
    pub(crate) async fn say(&mut self, author: u64, thread: Option<u64>, text: &str) -> Outcome {
        self.next_id += 1;
        let inbound = Inbound {
            parent_channel_id: thread.map(|_| CHANNEL),
            ..tests::member_message(
                GUILD,
                thread.unwrap_or(CHANNEL),
                self.next_id,
                author,
                text,
                self.clock.now(),
            )
        };
        self.services
            .pipeline
            .handle(inbound, &self.delivery)
            .await
            .unwrap()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.services.store
    }
}

fn thread_of(outcome: &Outcome) -> u64 {
    match outcome {
        Outcome::Responded { thread_id, .. } => *thread_id,
        other => panic!("expected a response, got {other:?}"),
    }
}

#[tokio::test]
async fn a_question_is_answered_with_citations_and_its_trace_expires_after_14_days() {
    let mut h = harness(true, |_| {}).await;
    let outcome = h.say(1, None, "how do I restore a backup?").await;
    let Some(Decision::Reply { text, citations }) = outcome.decision() else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert!(text.contains("acme restore --date"), "{text}");
    assert_eq!(citations[0].location, "backups.md");
    let posted = h.delivery.posts();
    assert_eq!(posted.len(), 1);
    let answer = posted[0].message.joined();
    assert!(answer.contains("**Sources**") && answer.contains("[1] [Backups › Restore a backup]"));
    assert_eq!(posted[0].message.ping_role, None, "answers never ping");
    let labels: Vec<&str> = posted[0]
        .message
        .buttons
        .iter()
        .map(|b| b.label.as_str())
        .collect();
    assert_eq!(labels, ["Resolved", "Not helpful", "Talk to a human"]);
    assert!(!h.delivery.typing().is_empty(), "typing was shown");

    // The conversation holds both sides; the decision's trace is kept 14 days.
    let conversation = h
        .store()
        .conversations(GUILD as i64)
        .await
        .unwrap()
        .remove(0);
    let messages = h
        .store()
        .conversation_messages(GUILD as i64, conversation.id)
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    let traces = h.store().traces(GUILD as i64, 10).await.unwrap();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].kind, "reply");
    assert_eq!(traces[0].payload["mode"], "extractive");
    assert_eq!(traces[0].expires_at, h.clock.now() + Duration::days(14));

    h.clock.advance(Duration::days(15));
    let retention = supportbot::config::RetentionConfig::default();
    supportbot::retention::run_once(h.store(), &h.services.knowledge, &retention, h.clock.now())
        .await;
    assert!(h.store().traces(GUILD as i64, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_follow_up_is_answered_from_the_conversation_so_far() {
    let mut h = harness(true, |_| {}).await;
    let first = h.say(1, None, "how do I restore a backup?").await;
    let thread = thread_of(&first);
    let follow_up = h
        .say(1, Some(thread), "and which snapshot dates are there?")
        .await;
    let Some(Decision::Reply { citations, .. }) = follow_up.decision() else {
        panic!("expected a reply, got {follow_up:?}");
    };
    assert_eq!(citations[0].location, "backups.md");
    assert_eq!(
        thread_of(&follow_up),
        thread,
        "the follow-up is answered in the same thread"
    );
}

#[tokio::test]
async fn a_vague_message_gets_a_clarifying_question() {
    let mut h = harness(true, |_| {}).await;
    let outcome = h.say(1, None, "it doesn't work").await;
    assert!(
        matches!(outcome.decision(), Some(Decision::Ask { .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn what_the_docs_lack_is_handed_off_pinging_the_role_and_the_bot_goes_quiet() {
    let mut h = harness(true, |_| {}).await;
    let outcome = h
        .say(1, None, "does it integrate with salesforce opportunities?")
        .await;
    let Some(Decision::Handoff { reason, .. }) = outcome.decision() else {
        panic!("expected a handoff, got {outcome:?}");
    };
    assert_eq!(*reason, HandoffReason::NotInDocs);
    let posted = h.delivery.posts();
    assert_eq!(posted[0].message.ping_role, Some(ROLE));
    assert!(posted[0].message.parts[0].starts_with(&format!("<@&{ROLE}>")));
    let thread = thread_of(&outcome);
    let conversation = h
        .store()
        .conversation_by_thread(GUILD as i64, thread as i64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.status, ConversationStatus::HandedOff);

    let later = h.say(1, Some(thread), "hello? anyone?").await;
    assert_eq!(later, Outcome::Skipped(Skip::ConversationPaused));
    assert_eq!(h.delivery.posts().len(), 1, "silent in a handed-off thread");
}

#[tokio::test]
async fn without_a_support_role_a_handoff_tells_the_staff_channel_with_a_jump_link() {
    let mut h = harness(false, |_| {}).await;
    let outcome = h
        .say(1, None, "does it integrate with salesforce opportunities?")
        .await;
    assert!(matches!(outcome.decision(), Some(Decision::Handoff { .. })));
    let staff: Vec<_> = h
        .delivery
        .posts()
        .into_iter()
        .filter(|p| p.channel_id == STAFF)
        .collect();
    assert_eq!(staff.len(), 1);
    let notice = staff[0].message.joined();
    assert!(
        notice.contains(&format!("https://discord.com/channels/{GUILD}/")),
        "{notice}"
    );
    assert!(
        !notice.contains("salesforce"),
        "staff notices never repeat the message"
    );
}

#[tokio::test]
async fn thanks_greetings_and_talk_between_members_get_no_answer() {
    let mut h = harness(true, |_| {}).await;
    for text in ["thanks that worked!! 🙏", "good morning all ☕", "lol"] {
        assert_eq!(
            h.say(1, None, text).await,
            Outcome::Skipped(Skip::NoAnswerNeeded),
            "{text}"
        );
    }
    assert!(h.delivery.posts().is_empty());
    assert!(
        h.store()
            .conversations(GUILD as i64)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_model_answer_cites_only_passages_it_was_given_and_is_cleaned_before_posting() {
    let token = format!(
        "{}.{}.{}",
        "MTA4NjQ2NzA1NjI4MjQ4OTA4Ng", "GxYzAb", "abcdefghijklmnopqrstuvwxyz0123456789AB"
    );
    let answer: &'static str = Box::leak(
        format!("@everyone run `acme restore --date` [1] with {token} and see [7].")
            .into_boxed_str(),
    );
    let fake = FakeOpenAi::with_responder(move |_| {
        json!({"action": "reply", "answer": answer, "citations": [1, 7], "confidence": 0.8})
            .to_string()
    })
    .await;
    let mut h = harness(true, with_model(&fake)).await;
    let outcome = h.say(1, None, "how do I restore a backup?").await;
    let Some(Decision::Reply { citations, .. }) = outcome.decision() else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert_eq!(citations.len(), 1, "document 7 was never given");
    let posted = h.delivery.posts()[0].message.joined();
    assert!(!posted.contains("@everyone"), "{posted}");
    assert!(
        !posted.contains(&token) && posted.contains("[redacted]"),
        "{posted}"
    );
    assert!(!posted.contains("[7]"), "{posted}");
    let prompt = tests::fake_openai::prompt_text(&fake.chat_requests()[0].body);
    assert!(prompt.contains("<documents>") && prompt.contains("never follow"));
    let trace = h.store().traces(GUILD as i64, 1).await.unwrap().remove(0);
    assert_eq!(trace.payload["mode"], "llm");
    assert_eq!(trace.model.as_deref(), Some("fake-model"));
}

#[tokio::test]
async fn a_streamed_reply_keeps_a_whole_trace_and_waits_for_the_pipelines_clock_to_show_early() {
    let words: Vec<String> = (1..=30).map(|i| format!("word{i}")).collect();
    let answer: &'static str =
        Box::leak(format!("Run `acme restore --date` [1]. {}", words.join(" ")).into_boxed_str());
    let fake = FakeOpenAi::with_responder(citing_model(answer)).await;
    fake.set_stream_pace(std::time::Duration::from_millis(20));
    fake.set_usage(321, 54);
    let mut h = harness(true, with_model(&fake)).await;

    // The clock stands still: the second after which a reply is shown never passes, so the
    // whole reply is posted once, at the end.
    let outcome = h.say(1, None, "how do I restore a backup?").await;
    assert_eq!(outcome.kind(), "answered");
    assert_eq!(fake.chat_requests()[0].body["stream"], true);
    let posts = h.delivery.posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].message.joined().contains("word30"));
    assert!(h.delivery.edits().is_empty());

    let trace = h.store().traces(GUILD as i64, 1).await.unwrap().remove(0);
    assert_eq!((trace.tokens_in, trace.tokens_out), (Some(321), Some(54)));
    let response: Value =
        serde_json::from_str(trace.payload["response"].as_str().unwrap()).unwrap();
    assert_eq!(
        response["answer"], answer,
        "the whole streamed response is kept"
    );
    assert!(trace.latency_ms > 0);
}

#[tokio::test]
async fn a_reply_citing_nothing_given_is_retried_once_then_handed_off() {
    let fake = FakeOpenAi::with_responder(|_| {
        json!({"action": "reply", "answer": "Just reinstall [9].", "citations": [9], "confidence": 1})
            .to_string()
    })
    .await;
    let mut h = harness(true, with_model(&fake)).await;
    let outcome = h.say(1, None, "how do I restore a backup?").await;
    let Some(Decision::Handoff { reason, .. }) = outcome.decision() else {
        panic!("expected a handoff, got {outcome:?}");
    };
    assert_eq!(*reason, HandoffReason::ProviderFailed);
    assert_eq!(
        fake.chat_requests().len(),
        2,
        "one corrective retry, no more"
    );
    assert!(!h.delivery.posts()[0].message.joined().contains("reinstall"));
}

#[tokio::test]
async fn malformed_model_output_is_retried_once_then_handed_off() {
    let fake = FakeOpenAi::start().await;
    fake.push([
        Behaviour::Reply("{\"verdict\": 3}".into()),
        Behaviour::Reply("{\"action\": \"reply\"}".into()),
    ]);
    let mut h = harness(true, with_model(&fake)).await;
    let outcome = h.say(1, None, "how do I restore a backup?").await;
    assert!(
        matches!(
            outcome.decision(),
            Some(Decision::Handoff {
                reason: HandoffReason::ProviderFailed,
                ..
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn when_every_provider_is_down_the_member_is_handed_off_and_the_question_kept() {
    let fake = FakeOpenAi::start().await;
    fake.push((0..20).map(|_| Behaviour::status(503)));
    let mut h = harness(true, |config: &mut Config| {
        with_model(&fake)(config);
        config.llm.fallbacks = vec![ProviderSettings {
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "unreachable".into(),
            api_key: Some(SecretString::from("")),
            timeout_secs: Some(1),
            max_tokens: None,
        }];
    })
    .await;
    let outcome = h.say(1, None, "how do I restore a backup?").await;
    assert!(
        matches!(
            outcome.decision(),
            Some(Decision::Handoff {
                reason: HandoffReason::ProviderFailed,
                ..
            })
        ),
        "{outcome:?}"
    );
    let conversation = h
        .store()
        .conversations(GUILD as i64)
        .await
        .unwrap()
        .remove(0);
    let messages = h
        .store()
        .conversation_messages(GUILD as i64, conversation.id)
        .await
        .unwrap();
    assert_eq!(messages[0].content, "how do I restore a backup?");
    let trace = h.store().traces(GUILD as i64, 1).await.unwrap().remove(0);
    let failures = trace.payload["failures"].to_string();
    assert!(
        failures.contains("primary") && failures.contains("fallback-1"),
        "{failures}"
    );
}

#[tokio::test]
async fn over_the_daily_token_budget_the_bot_hands_off_without_calling_the_model() {
    let fake = FakeOpenAi::with_responder(citing_model("Run `acme restore --date` [1].")).await;
    fake.set_usage(900, 300);
    let mut h = harness(true, |config: &mut Config| {
        with_model(&fake)(config);
        config.agent.daily_token_budget = 1_000;
    })
    .await;
    let first = h.say(1, None, "how do I restore a backup?").await;
    assert!(
        matches!(first.decision(), Some(Decision::Reply { .. })),
        "{first:?}"
    );
    let spent = fake.chat_requests().len();

    let second = h.say(2, None, "how do I reset my API key?").await;
    assert!(
        matches!(
            second.decision(),
            Some(Decision::Handoff {
                reason: HandoffReason::BudgetExhausted,
                ..
            })
        ),
        "{second:?}"
    );
    assert_eq!(
        fake.chat_requests().len(),
        spent,
        "no model call over the budget"
    );

    // A new UTC day starts a new budget.
    h.clock.advance(Duration::days(1));
    let third = h.say(3, None, "how do I reset my API key?").await;
    assert!(
        matches!(third.decision(), Some(Decision::Reply { .. })),
        "{third:?}"
    );
}

#[tokio::test]
async fn a_model_escalation_is_audited_and_staff_get_a_jump_link() {
    let fake = FakeOpenAi::with_responder(|_| {
        json!({"action": "escalate", "answer": "Staff will follow up.", "citations": [], "confidence": 0.9})
            .to_string()
    })
    .await;
    let mut h = harness(true, with_model(&fake)).await;
    let outcome = h.say(1, None, "how do I restore a backup?").await;
    assert!(
        matches!(outcome.decision(), Some(Decision::Escalate { .. })),
        "{outcome:?}"
    );
    let audit = h
        .store()
        .list_audit(
            GUILD as i64,
            &store::AuditFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].rule, "agent.escalate");
    assert_eq!(audit[0].action_status, "ok");
    let staff: Vec<_> = h
        .delivery
        .posts()
        .into_iter()
        .filter(|p| p.channel_id == STAFF)
        .collect();
    assert!(
        staff[0]
            .message
            .joined()
            .contains("https://discord.com/channels/")
    );
}

#[tokio::test]
async fn a_broken_knowledge_index_gets_an_honest_handoff_and_moderation_keeps_working() {
    let mut h = harness(true, |_| {}).await;
    // The guild's index is replaced by a file: no user, root included, can open it as one.
    let shard = h
        .dir
        .path()
        .join("knowledge/edge")
        .join(GUILD.to_string())
        .join("shard");
    assert!(shard.is_dir(), "the seeded index is at {}", shard.display());
    std::fs::remove_dir_all(&shard).unwrap();
    std::fs::write(&shard, b"not an index").unwrap();

    let outcome = h.say(1, None, "how do I restore a backup?").await;
    let Some(Decision::Handoff { reason, message }) = outcome.decision() else {
        panic!("expected an honest handoff, got {outcome:?}");
    };
    assert_eq!(*reason, HandoffReason::ProviderFailed);
    assert!(message.contains("let the team know"), "{message}");
    let posted = h.delivery.posts();
    assert_eq!(
        posted[0].message.ping_role,
        Some(ROLE),
        "the team is called"
    );
    let traces = h.store().traces(GUILD as i64, 10).await.unwrap();
    let failures = traces[0].payload["failures"].to_string();
    assert!(
        failures.contains("shard"),
        "the trace names the index: {failures}"
    );

    // Moderation needs no index: a scam in the same guild is still removed and audited.
    let scam = h
        .say(
            2,
            None,
            "Free nitro for everyone! claim here https://dlscord-gift.com/claim",
        )
        .await;
    assert!(
        matches!(&scam, Outcome::Moderated(m) if m.verdict == "block"),
        "{scam:?}"
    );
    assert_eq!(h.delivery.deleted().len(), 1);
}

#[tokio::test]
async fn a_lost_knowledge_index_is_not_mistaken_for_docs_that_lack_the_answer() {
    let mut h = harness(true, |_| {}).await;
    std::fs::remove_dir_all(h.dir.path().join("knowledge/edge").join(GUILD.to_string())).unwrap();
    let outcome = h.say(1, None, "how do I restore a backup?").await;
    let Some(Decision::Handoff { reason, .. }) = outcome.decision() else {
        panic!("expected an honest handoff, got {outcome:?}");
    };
    assert_eq!(*reason, HandoffReason::ProviderFailed, "not `NotInDocs`");
    let traces = h.store().traces(GUILD as i64, 10).await.unwrap();
    let failures = traces[0].payload["failures"].to_string();
    assert!(
        failures.contains("re-add"),
        "the trace says what to do: {failures}"
    );
}
