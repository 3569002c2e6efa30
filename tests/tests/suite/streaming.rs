//! A model's long reply shown while it is written, through the real serenity client and the real
//! async-openai client against the fakes: posted early in the answer's thread, edited at most
//! once per 1.5 s, finished with citations and buttons; withdrawn when the checked decision is
//! not a reply or the model stops mid-answer; a short answer posted once.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use store::ConversationStatus;
use supportbot::pipeline::Outcome;
use tests::fake_discord::{Author, FakeDiscord, GUILD_ID, RestCall, SUPPORT_CHANNEL};
use tests::fake_openai::{Behaviour, FakeOpenAi};
use tests::{RunningBot, TestDb};

use crate::e2e::{
    DOCS, MEMBER, SUPPORT_ROLE, enable_support_channel, is_post_to, reset_key_model, thread_for,
    with_models,
};

/// A model writing about ten words a second.
const PACE: Duration = Duration::from_millis(100);

/// A reply of `words` numbered words about resetting the key, citing `cited`.
fn long_reply(words: usize, cited: u64) -> String {
    let text: Vec<String> = (1..=words).map(|i| format!("step{i}")).collect();
    let answer = format!(
        "Click **Reset key** in Settings [{cited}]. {}",
        text.join(" ")
    );
    json!({"action": "reply", "answer": answer, "citations": [cited], "confidence": 0.9})
        .to_string()
}

/// A model answering every question with `reply`, streaming at `PACE`.
async fn paced_model(reply: String) -> FakeOpenAi {
    let model = FakeOpenAi::with_responder(move |_| reply.clone()).await;
    model.set_stream_pace(PACE);
    model
}

async fn start(fake: &FakeDiscord, db: &TestDb, model: &FakeOpenAi) -> RunningBot {
    enable_support_channel(db).await;
    db.store()
        .await
        .set_guild_settings(
            GUILD_ID as i64,
            &json!({"support_role_id": SUPPORT_ROLE}),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    RunningBot::start_with(fake, db, DOCS, with_models(model, None)).await
}

const QUESTION: &str = "how do I reset my API key?";

/// The member asks `QUESTION` in the support channel; what the bot did with it.
async fn ask(fake: &FakeDiscord, bot: &RunningBot) -> Outcome {
    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), QUESTION);
    bot.outcome(message).await
}

fn calls_in(fake: &FakeDiscord, thread: u64, method: Method) -> Vec<RestCall> {
    fake.calls()
        .into_iter()
        .filter(|c| c.method == method && c.path.contains(&format!("/channels/{thread}/messages")))
        .collect()
}

fn content(call: &RestCall) -> &str {
    call.body["content"].as_str().unwrap_or_default()
}

fn button_labels(call: &RestCall) -> Vec<String> {
    call.body["components"][0]["components"]
        .as_array()
        .map(|buttons| {
            buttons
                .iter()
                .filter_map(|b| b["label"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_long_answer_is_posted_early_then_edited_at_a_steady_pace_and_finished_with_sources() {
    let model = paced_model(long_reply(60, 1)).await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&fake, &db, &model).await;

    let Outcome::Responded {
        thread_id,
        reply_ids,
        ..
    } = ask(&fake, &bot).await
    else {
        panic!("the question was answered");
    };
    let posts = calls_in(&fake, thread_id, Method::POST);
    assert_eq!(posts.len(), 1, "one message, posted early and then edited");
    let edits = fake.edits_of(reply_ids[0]);
    assert!(edits.len() >= 2, "edited as it grew: {} edits", edits.len());

    let writes: Vec<&RestCall> = posts.iter().chain(&edits).collect();
    for pair in writes.windows(2) {
        let apart = pair[1].at.duration_since(pair[0].at);
        assert!(
            apart >= Duration::from_millis(1400),
            "writes of one message {apart:?} apart"
        );
    }
    let (last, interim) = writes.split_last().unwrap();
    for pair in interim.windows(2) {
        assert!(
            content(pair[1]).starts_with(content(pair[0]))
                && content(pair[1]).len() > content(pair[0]).len(),
            "the text grows: {:?} then {:?}",
            content(pair[0]),
            content(pair[1])
        );
    }
    assert!(
        interim.iter().all(|c| button_labels(c).is_empty()),
        "no buttons before the answer is complete"
    );
    let final_text = content(last);
    assert!(final_text.contains("step60"), "{final_text}");
    assert!(
        final_text.contains("Reset key** in Settings [1]")
            && final_text.contains("[1] [API keys › Reset your API key]("),
        "the final edit carries the numbered citation: {final_text}"
    );
    assert_eq!(
        button_labels(last),
        ["Resolved", "Not helpful", "Talk to a human"]
    );
    assert!(
        writes
            .iter()
            .all(|c| c.body["allowed_mentions"]["parse"] == json!([])),
        "no write can ping"
    );
    assert_eq!(
        fake.shown(reply_ids[0]).map(|(text, _)| text).as_deref(),
        Some(final_text)
    );
    assert_eq!(model.chat_requests()[0].body["stream"], true);
    bot.stop().await.unwrap();

    let store = db.store().await;
    let conversation = store
        .conversations(GUILD_ID as i64)
        .await
        .unwrap()
        .remove(0);
    let stored = store
        .conversation_messages(GUILD_ID as i64, conversation.id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[1].content, final_text,
        "the stored answer is the final one"
    );
    assert_eq!(stored[1].discord_message_id, Some(reply_ids[0] as i64));
}

#[tokio::test]
async fn a_streamed_mass_mention_or_secret_never_reaches_discord_raw() {
    let token = format!(
        "{}.{}.{}",
        "MTA4NjQ2NzA1NjI4MjQ4OTA4Ng", "GxYzAb", "abcdefghijklmnopqrstuvwxyz0123456789AB"
    );
    let words: Vec<String> = (1..=40).map(|i| format!("word{i}")).collect();
    let answer = format!(
        "@everyone click **Reset key** in Settings [1]. {} Mine was {token} and @here {}",
        words[..20].join(" "),
        words[20..].join(" ")
    );
    let reply = json!({"action": "reply", "answer": answer, "citations": [1], "confidence": 0.9})
        .to_string();
    let model = paced_model(reply).await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&fake, &db, &model).await;

    let Outcome::Responded {
        thread_id,
        reply_ids,
        ..
    } = ask(&fake, &bot).await
    else {
        panic!("the question was answered");
    };
    let writes: Vec<RestCall> = calls_in(&fake, thread_id, Method::POST)
        .into_iter()
        .chain(fake.edits_of(reply_ids[0]))
        .collect();
    assert!(writes.len() >= 3, "posted early and edited");
    for call in &writes {
        let text = content(call);
        assert!(
            !text.contains("@everyone") && !text.contains("@here"),
            "{text}"
        );
        assert!(!text.contains(&token[..20]), "no part of the token: {text}");
        assert_eq!(call.body["allowed_mentions"]["parse"], json!([]));
    }
    assert!(content(writes.last().unwrap()).contains("[redacted]"));
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_streamed_reply_with_invented_citations_is_withdrawn_and_the_member_handed_off() {
    let model = paced_model(long_reply(40, 7)).await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&fake, &db, &model).await;

    let outcome = ask(&fake, &bot).await;
    assert_eq!(outcome.kind(), "handed_off");
    let Outcome::Responded { thread_id, .. } = outcome else {
        unreachable!()
    };
    let posts = calls_in(&fake, thread_id, Method::POST);
    let deletes = calls_in(&fake, thread_id, Method::DELETE);
    assert_eq!(posts.len(), 2, "the early answer, then the handoff");
    assert!(content(&posts[0]).contains("step1"), "shown while written");
    assert!(
        content(&posts[1]).starts_with(&format!("<@&{SUPPORT_ROLE}>")),
        "{}",
        content(&posts[1])
    );
    assert_eq!(deletes.len(), 1, "the early answer is taken back");
    assert!(deletes[0].at <= posts[1].at, "before the handoff");
    let early: u64 = deletes[0].path.rsplit('/').next().unwrap().parse().unwrap();
    assert!(!fake.has_message(early));
    let requests = model.chat_requests();
    assert_eq!(requests.len(), 2, "one corrective retry");
    assert_eq!(requests[0].body["stream"], true);
    assert_ne!(requests[1].body["stream"], true, "the retry is asked whole");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_model_that_dies_mid_answer_leaves_an_honest_handoff_and_the_question_stored() {
    let reply = long_reply(40, 1);
    let deltas: Vec<String> = reply.split_inclusive(' ').map(str::to_owned).collect();
    let model = FakeOpenAi::start().await;
    model.set_stream_pace(PACE);
    model.push([Behaviour::TruncatedStream(deltas[..30].to_vec())]);
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&fake, &db, &model).await;

    let outcome = ask(&fake, &bot).await;
    assert_eq!(outcome.kind(), "handed_off");
    let Outcome::Responded { thread_id, .. } = outcome else {
        unreachable!()
    };
    let posts = calls_in(&fake, thread_id, Method::POST);
    assert_eq!(posts.len(), 2, "the early answer, then the handoff");
    assert_eq!(calls_in(&fake, thread_id, Method::DELETE).len(), 1);
    assert!(content(&posts[1]).starts_with(&format!("<@&{SUPPORT_ROLE}>")));
    assert_eq!(
        model.chat_requests().len(),
        1,
        "text was shown: no retry that would show it twice"
    );
    bot.stop().await.unwrap();

    let store = db.store().await;
    let conversation = store
        .conversations(GUILD_ID as i64)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(conversation.status, ConversationStatus::HandedOff);
    let stored = store
        .conversation_messages(GUILD_ID as i64, conversation.id)
        .await
        .unwrap();
    assert_eq!(
        stored[0].content, QUESTION,
        "the question is kept for the team"
    );
    assert!(
        stored.iter().all(|m| !m.content.contains("step1")),
        "the withdrawn text is not kept as the answer"
    );
}

#[tokio::test]
async fn a_short_answer_is_posted_once_and_never_edited() {
    let model = reset_key_model().await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&fake, &db, &model).await;

    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), QUESTION);
    let thread = thread_for(&fake, message).await;
    assert_eq!(bot.outcome(message).await.kind(), "answered");
    let posts: Vec<RestCall> = fake
        .calls()
        .into_iter()
        .filter(is_post_to(thread))
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        button_labels(&posts[0]),
        ["Resolved", "Not helpful", "Talk to a human"]
    );
    assert!(fake.calls().iter().all(|c| c.method != Method::PATCH));
    assert_eq!(
        model.chat_requests()[0].body["stream"],
        true,
        "streamed, and done before it was worth showing"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn with_streaming_off_a_long_answer_is_asked_whole_and_posted_once() {
    let model = paced_model(long_reply(30, 1)).await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let configure = with_models(&model, None);
    let bot = RunningBot::start_with(&fake, &db, DOCS, |config| {
        configure(config);
        config.agent.stream = false;
    })
    .await;

    assert_eq!(ask(&fake, &bot).await.kind(), "answered");
    assert!(fake.calls().iter().all(|c| c.method != Method::PATCH));
    assert_eq!(model.chat_requests()[0].body.get("stream"), None::<&Value>);
    bot.stop().await.unwrap();
}
