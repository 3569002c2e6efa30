//! What members run themselves, and what keeps any one of them from flooding the bot: `/ask`
//! (a private answer), `/privacy export | forget-me` and the admin's `/privacy purge-guild`
//! with their confirmation steps, per-member limits with one private "slow down" notice, and
//! command cooldowns. Through the real client against the fake Discord.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use store::{ChannelMode, ConversationStatus};
use supportbot::pipeline::{Outcome, Skip};
use tests::fake_discord::{
    Author, BOT_ID, FakeDiscord, GUILD_ID, OWNER_ID, RestCall, SUPPORT_CHANNEL, interaction_token,
};
use tests::{RunningBot, TestDb};

use crate::e2e::{
    DOCS, MANAGE_GUILD, MEMBER, WAIT, enable_support_channel, posts, reset_key_model, thread_for,
    with_models,
};

/// Another member, who joined in 2022.
const OTHER_MEMBER: u64 = 1_021_554_872_993_447_936;
/// A guild the bot also serves, whose rows must survive anything done in the test guild.
const OTHER_GUILD: u64 = 1_187_402_263_094_960_128;

/// Everything the bot sent back for one interaction: its response, and follow-ups or edits
/// through the interaction's webhook, in order.
fn replies_to(fake: &FakeDiscord, interaction: u64) -> Vec<RestCall> {
    let callback = format!("/api/v10/interactions/{interaction}/");
    let webhook = format!(
        "/api/v10/webhooks/{BOT_ID}/{}",
        interaction_token(interaction)
    );
    fake.calls()
        .into_iter()
        .filter(|c| c.path.starts_with(&callback) || c.path.starts_with(&webhook))
        .collect()
}

/// Waits for the first reply to `interaction` with text in it; returns its body (the
/// callback's `data`, or the webhook message).
pub(crate) async fn private_text(fake: &FakeDiscord, interaction: u64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        for call in replies_to(fake, interaction) {
            let body = if call.body.get("data").is_some() {
                call.body["data"].clone()
            } else {
                call.body.clone()
            };
            if body["content"].as_str().is_some_and(|c| !c.is_empty()) {
                assert_eq!(
                    body["flags"].as_u64().unwrap_or(0) & 64,
                    64,
                    "the reply is private: {body}"
                );
                assert_eq!(
                    body["allowed_mentions"]["parse"],
                    json!([]),
                    "a command's reply pings nobody: {body}"
                );
                return body;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no text answered interaction {interaction}: {:#?}",
            replies_to(fake, interaction)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn content(body: &Value) -> String {
    body["content"].as_str().unwrap_or_default().to_string()
}

/// The custom IDs of a reply's buttons.
pub(crate) fn button_ids(body: &Value) -> Vec<String> {
    body["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .collect()
}

/// The bot's answer to a click on its confirmation: the question replaced by the result.
async fn click_result(fake: &FakeDiscord, click: u64) -> String {
    let call = fake
        .wait_for_call("the click's answer", WAIT, |c| {
            c.path
                .starts_with(&format!("/api/v10/interactions/{click}/"))
        })
        .await;
    assert_eq!(call.body["type"], 7, "the confirmation is updated in place");
    assert_eq!(
        call.body["data"]["components"],
        json!([]),
        "no buttons left"
    );
    content(&call.body["data"])
}

fn ask(fake: &FakeDiscord, user: u64, question: &str) -> u64 {
    fake.send_command(
        "ask",
        json!([{"name": "question", "type": 3, "value": question}]),
        SUPPORT_CHANNEL,
        user,
        0,
    )
}

fn privacy(fake: &FakeDiscord, sub: &str, user: u64, permissions: u64) -> u64 {
    fake.send_command(
        "privacy",
        json!([{"name": sub, "type": 1, "options": []}]),
        SUPPORT_CHANNEL,
        user,
        permissions,
    )
}

fn channel_messages(fake: &FakeDiscord) -> usize {
    posts(fake)
        .iter()
        .filter(|c| c.path.starts_with("/api/v10/channels/"))
        .count()
}

#[tokio::test]
async fn ask_answers_privately_from_the_docs_and_posts_nothing_others_can_see() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let asked = ask(&fake, MEMBER, "how do I reset my API key?");
    let answer = private_text(&fake, asked).await;
    let text = content(&answer);
    assert!(text.contains("Reset key"), "{text}");
    assert!(
        text.contains("Sources") && text.contains("API keys"),
        "{text}"
    );
    // Acknowledged privately before the agent ran, as Discord's 3 s window needs.
    let first = &replies_to(&fake, asked)[0];
    assert_eq!(first.body["type"], 5, "deferred first: {}", first.body);
    assert_eq!(first.body["data"]["flags"], 64);

    let thanks = ask(&fake, OTHER_MEMBER, "thanks!");
    let text = content(&private_text(&fake, thanks).await);
    assert!(text.contains("What would you like to know"), "{text}");

    assert_eq!(
        channel_messages(&fake),
        0,
        "nothing was posted in a channel"
    );
    assert!(
        !fake.calls().iter().any(|c| c.path.ends_with("/threads")),
        "no thread was opened"
    );
    let store = db.store().await;
    assert!(
        store
            .conversation_by_thread(GUILD_ID as i64, SUPPORT_CHANNEL as i64)
            .await
            .unwrap()
            .is_none(),
        "a private question is not kept as a conversation"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn ask_with_crisis_language_gets_the_caring_reply_privately_and_staff_are_told() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let store = db.store().await;
    store
        .upsert_guild(GUILD_ID as i64, chrono::Utc::now())
        .await
        .unwrap();
    store
        .set_guild_settings(
            GUILD_ID as i64,
            &json!({"staff_channel_id": tests::fake_discord::STAFF_CHANNEL}),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let asked = ask(&fake, MEMBER, "I want to kill myself tonight");
    let text = content(&private_text(&fake, asked).await);
    assert!(
        !text.contains("Sources") && !text.contains("Reset key"),
        "no docs answer to crisis language: {text}"
    );
    let notice = fake
        .wait_for_call(
            "the staff notice",
            WAIT,
            crate::e2e::is_post_to(tests::fake_discord::STAFF_CHANNEL),
        )
        .await;
    let notice = notice.body["content"].as_str().unwrap().to_string();
    assert!(
        notice.contains(&format!("<@{MEMBER}>")) && notice.contains("privately"),
        "{notice}"
    );
    assert!(
        !notice.contains("kill"),
        "the staff notice never repeats the text: {notice}"
    );
    assert!(
        !fake.calls().iter().any(|c| c.method == Method::DELETE),
        "nothing was posted, so nothing is deleted"
    );
    let audit = store
        .list_audit(GUILD_ID as i64, &store::AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].verdict, "escalate");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_member_over_the_limit_is_told_once_privately_and_no_model_is_asked() {
    let model = reset_key_model().await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let models = with_models(&model, None);
    let bot = RunningBot::start_with(&fake, &db, DOCS, move |config| {
        models(config);
        config.pipeline.per_member_per_minute = 2;
    })
    .await;

    let member = Author::Member(MEMBER);
    let first = fake.send_message(SUPPORT_CHANNEL, member, "how do I reset my API key?");
    thread_for(&fake, first).await;
    let second = fake.send_message(SUPPORT_CHANNEL, member, "how do I restore a backup?");
    thread_for(&fake, second).await;
    model.wait_for_chat_requests(2, WAIT).await;

    let over = fake.send_message(SUPPORT_CHANNEL, member, "what does a read-only key do?");
    assert_eq!(bot.outcome(over).await, Outcome::Skipped(Skip::RateLimited));
    let dm_channel = fake
        .dm_channel_of(MEMBER)
        .expect("the member was written to privately");
    let notice = fake
        .wait_for_call(
            "the slow-down notice",
            WAIT,
            crate::e2e::is_post_to(dm_channel),
        )
        .await;
    assert!(
        notice.body["content"]
            .as_str()
            .is_some_and(|c| c.contains("faster than I can answer")),
        "{}",
        notice.body
    );
    let again = fake.send_message(SUPPORT_CHANNEL, member, "and a write key?");
    assert_eq!(
        bot.outcome(again).await,
        Outcome::Skipped(Skip::RateLimited)
    );
    let dms = posts(&fake)
        .iter()
        .filter(|c| c.path == format!("/api/v10/channels/{dm_channel}/messages"))
        .count();
    assert_eq!(dms, 1, "one notice per window, however many messages");
    assert_eq!(
        model.chat_requests().len(),
        2,
        "no model call over the limit"
    );

    // Another member is not slowed down by the first.
    let other = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(OTHER_MEMBER),
        "how do I reset my API key?",
    );
    thread_for(&fake, other).await;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_command_run_again_within_its_cooldown_is_refused_privately() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let first = ask(&fake, MEMBER, "how do I reset my API key?");
    assert!(content(&private_text(&fake, first).await).contains("Reset key"));
    let second = ask(&fake, MEMBER, "how do I restore a backup?");
    let text = content(&private_text(&fake, second).await);
    assert!(
        text.contains("Slow down") && text.contains("/ask"),
        "{text}"
    );
    assert!(!text.contains("restore"), "{text}");
    // Cooldowns are per member.
    let other = ask(&fake, OTHER_MEMBER, "how do I restore a backup?");
    assert!(content(&private_text(&fake, other).await).contains("acme restore"));
    bot.stop().await.unwrap();
}

/// A conversation in the test guild by `member`, and one in another guild by the same member.
async fn seed_conversations(db: &TestDb, member: u64) {
    let store = db.store().await;
    let now = chrono::Utc::now();
    for guild in [GUILD_ID, OTHER_GUILD] {
        store.upsert_guild(guild as i64, now).await.unwrap();
        let origin = fake_message_id(guild, member);
        let conversation = store
            .start_conversation(
                guild as i64,
                SUPPORT_CHANNEL as i64,
                origin,
                member as i64,
                now,
            )
            .await
            .unwrap()
            .expect("a new conversation")
            .id;
        store
            .append_message(&store::NewMessage {
                guild_id: guild as i64,
                conversation_id: conversation,
                channel_id: SUPPORT_CHANNEL as i64,
                discord_message_id: Some(origin),
                author_id: member as i64,
                role: store::MessageRole::Member,
                content: "how do I reset my API key?",
                created_at: now,
            })
            .await
            .unwrap();
    }
}

fn fake_message_id(guild: u64, member: u64) -> i64 {
    ((guild ^ member) >> 1) as i64
}

async fn conversations_of(db: &TestDb, guild: u64, member: u64) -> usize {
    let export = db
        .store()
        .await
        .export_member(guild as i64, member as i64, chrono::Utc::now())
        .await
        .unwrap();
    export.conversations.len()
}

#[tokio::test]
async fn forget_me_erases_only_the_member_who_confirms_and_only_in_this_guild() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    seed_conversations(&db, MEMBER).await;
    seed_conversations(&db, OTHER_MEMBER).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let asked = privacy(&fake, "forget-me", MEMBER, 0);
    let question = private_text(&fake, asked).await;
    assert!(
        content(&question).contains("1 of your conversations"),
        "{question}"
    );
    let ids = button_ids(&question);
    assert_eq!(ids.len(), 2, "confirm and cancel: {question}");
    let (yes, no) = (&ids[0], &ids[1]);

    // Someone else clicking the member's button changes nothing.
    fake.click_button(yes, SUPPORT_CHANNEL, OTHER_MEMBER, MANAGE_GUILD);
    let cancelled = privacy(&fake, "forget-me", OTHER_MEMBER, 0);
    let other_ids = button_ids(&private_text(&fake, cancelled).await);
    let click = fake.click_button(&other_ids[1], SUPPORT_CHANNEL, OTHER_MEMBER, 0);
    assert!(click_result(&fake, click).await.contains("Cancelled"));
    assert_eq!(conversations_of(&db, GUILD_ID, OTHER_MEMBER).await, 1);
    assert_eq!(conversations_of(&db, GUILD_ID, MEMBER).await, 1);

    let click = fake.click_button(yes, SUPPORT_CHANNEL, MEMBER, 0);
    let done = click_result(&fake, click).await;
    assert!(
        done.contains("1 conversations") || done.contains("Done"),
        "{done}"
    );
    assert_eq!(conversations_of(&db, GUILD_ID, MEMBER).await, 0);
    assert_eq!(
        conversations_of(&db, OTHER_GUILD, MEMBER).await,
        1,
        "another server's data is not this server's to erase"
    );
    assert_eq!(conversations_of(&db, GUILD_ID, OTHER_MEMBER).await, 1);
    let _ = no;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn purge_guild_needs_manage_server_and_a_confirmation_then_starts_the_guild_afresh() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    seed_conversations(&db, MEMBER).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    // Answered from the docs before the purge.
    let before = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my API key?",
    );
    thread_for(&fake, before).await;

    let refused = privacy(&fake, "purge-guild", MEMBER, 0);
    assert!(content(&private_text(&fake, refused).await).contains("Manage Server"));
    assert_eq!(conversations_of(&db, GUILD_ID, MEMBER).await, 2);

    let asked = privacy(&fake, "purge-guild", OWNER_ID, MANAGE_GUILD);
    let question = private_text(&fake, asked).await;
    assert!(content(&question).contains("for good"), "{question}");
    let ids = button_ids(&question);
    // The click is checked again: without Manage Server by then, nothing happens.
    let click = fake.click_button(&ids[0], SUPPORT_CHANNEL, OWNER_ID, 0);
    assert!(click_result(&fake, click).await.contains("Manage Server"));
    assert_eq!(conversations_of(&db, GUILD_ID, MEMBER).await, 2);

    // Another admin (the first is within the command's cooldown).
    let asked = privacy(&fake, "purge-guild", OTHER_MEMBER, MANAGE_GUILD);
    let ids = button_ids(&private_text(&fake, asked).await);
    let click = fake.click_button(&ids[0], SUPPORT_CHANNEL, OTHER_MEMBER, MANAGE_GUILD);
    let done = click_result(&fake, click).await;
    assert!(done.contains("Purged"), "{done}");

    let store = db.store().await;
    assert_eq!(conversations_of(&db, GUILD_ID, MEMBER).await, 0);
    assert_eq!(
        conversations_of(&db, OTHER_GUILD, MEMBER).await,
        1,
        "another guild keeps its data"
    );
    assert!(
        store
            .channel_settings(GUILD_ID as i64)
            .await
            .unwrap()
            .iter()
            .all(|c| c.mode != ChannelMode::Auto),
        "the channel's mode went with the purge"
    );
    // The bot stays and starts afresh: no docs, so a mention is handed off, not answered.
    let after = fake.send_message_with(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        &format!("<@{BOT_ID}> how do I reset my API key?"),
        &[BOT_ID],
    );
    let outcome = bot.outcome(after).await;
    assert!(
        matches!(
            &outcome,
            Outcome::Responded {
                decision: agent::Decision::Handoff { .. },
                ..
            } | Outcome::Responded {
                decision: agent::Decision::Ask { .. },
                ..
            }
        ),
        "{outcome:?}"
    );
    let conversation = store
        .conversation_by_thread(GUILD_ID as i64, fake.thread_on(after).unwrap() as i64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.status, ConversationStatus::HandedOff);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn privacy_export_sends_the_member_their_own_data_as_a_private_json_file() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    seed_conversations(&db, MEMBER).await;
    seed_conversations(&db, OTHER_MEMBER).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let asked = privacy(&fake, "export", MEMBER, 0);
    let reply = private_text(&fake, asked).await;
    assert!(content(&reply).contains("1 conversations"), "{reply}");
    let (call, file) = fake
        .files_sent()
        .into_iter()
        .next()
        .expect("the export went out as a file");
    assert!(
        call.path.contains(&interaction_token(asked)),
        "the file answers the member's own interaction: {}",
        call.path
    );
    assert!(file.filename.ends_with(".json"), "{}", file.filename);
    let export: Value = serde_json::from_slice(&file.bytes).expect("the file is JSON");
    assert_eq!(export["member_id"], MEMBER);
    assert_eq!(export["guild_id"], GUILD_ID);
    let conversations = export["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 1);
    assert!(
        conversations
            .iter()
            .all(|c| c["author_id"] == MEMBER && c["guild_id"] == GUILD_ID),
        "only the member's own rows, only from this server: {export}"
    );
    let text = serde_json::to_string(&export).unwrap();
    assert!(
        text.contains("how do I reset my API key?"),
        "their own messages are in it"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn staff_bring_the_bot_back_after_a_handoff_with_its_button_or_resume_and_members_cannot() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let store = db.store().await;
    store
        .set_guild_settings(
            GUILD_ID as i64,
            &json!({"support_role_id": tests::fake_discord::MOD_ROLE}),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let asked = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "can I talk to a human please?",
    );
    let Outcome::Responded {
        conversation_id,
        thread_id,
        reply_ids,
        ..
    } = bot.outcome(asked).await
    else {
        panic!("the request was handed off");
    };
    let handoff = fake
        .wait_for_call("the handoff", WAIT, crate::e2e::is_post_to(thread_id))
        .await;
    let resume = format!("{}{conversation_id}", supportbot::pipeline::RESUME_BUTTON);
    assert!(
        button_ids(&handoff.body).contains(&resume),
        "the handoff offers staff a way back: {}",
        handoff.body
    );
    let status = async || {
        store
            .conversation(GUILD_ID as i64, conversation_id)
            .await
            .unwrap()
            .unwrap()
            .status
    };
    assert_eq!(status().await, ConversationStatus::HandedOff);

    // A member can neither click the bot back nor run /resume.
    let click = fake.click_button_on(&resume, thread_id, reply_ids[0], MEMBER, 0, &[]);
    assert!(content(&private_text(&fake, click).await).contains("Only the team"));
    let command = fake.send_command("resume", json!([]), thread_id, MEMBER, 0);
    assert!(content(&private_text(&fake, command).await).contains("Only the team"));
    assert_eq!(status().await, ConversationStatus::HandedOff);

    // Staff by role (no special permissions) can.
    let click = fake.click_button_on(
        &resume,
        thread_id,
        reply_ids[0],
        OTHER_MEMBER,
        0,
        &[tests::fake_discord::MOD_ROLE],
    );
    assert!(content(&private_text(&fake, click).await).contains("again"));
    assert_eq!(status().await, ConversationStatus::Open);
    let follow_up = fake.send_message(
        thread_id,
        Author::Member(MEMBER),
        "actually, how do I reset my API key?",
    );
    assert!(matches!(
        bot.outcome(follow_up).await,
        Outcome::Responded { .. }
    ));
    bot.stop().await.unwrap();
}
