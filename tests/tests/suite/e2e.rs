//! The real bot (serenity + poise + the pipeline + the store) against the fake Discord.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use store::MessageRole;
use supportbot::pipeline::{Outcome, Skip};
use tests::fake_discord::{
    Author, BOT_ID, FakeDiscord, GUILD_ID, GatewayOp, OTHER_CHANNEL, OWNER_ID, RestCall,
    SUPPORT_CHANNEL,
};
use tests::{Kind, RunningBot, TestDb};

pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// A member who joined in 2021: a real 18-digit snowflake.
pub(crate) const MEMBER: u64 = 871_337_004_238_450_729;
/// A staff role made in 2023.
pub(crate) const SUPPORT_ROLE: u64 = 1_104_228_519_730_761_780;
pub(crate) const MANAGE_GUILD: u64 = 1 << 5;

/// A small product's docs: what the test guild's knowledge base holds.
pub(crate) const DOCS: &[(&str, &str)] = &[
    (
        "api-keys.md",
        "# API keys\n\nEvery workspace has API keys for scripts and integrations.\n\n\
         ## Reset your API key\n\nOpen **Settings → API** and click **Reset key**. The old \
         key stops working at once, so update every script that uses it.\n\n\
         ## Key permissions\n\nA key can read or write. Choose read-only keys for dashboards.\n",
    ),
    (
        "backups.md",
        "# Backups\n\nNightly backups keep 30 days of snapshots.\n\n## Restore a \
         backup\n\nRun the restore command with the snapshot date:\n\n```sh\n\
         acme restore --date 2026-01-31\n```\n\nRestoring replaces the current data.\n",
    ),
];

pub(crate) fn is_post_to(channel: u64) -> impl Fn(&RestCall) -> bool {
    move |c| c.method == Method::POST && c.path == format!("/api/v10/channels/{channel}/messages")
}

pub(crate) fn is_thread_on(channel: u64, message: u64) -> impl Fn(&RestCall) -> bool {
    move |c| {
        c.method == Method::POST
            && c.path == format!("/api/v10/channels/{channel}/messages/{message}/threads")
    }
}

pub(crate) fn posts(fake: &FakeDiscord) -> Vec<RestCall> {
    fake.calls()
        .into_iter()
        .filter(|c| c.method == Method::POST && c.path.ends_with("/messages"))
        .collect()
}

/// The channel ID Discord gave the thread created on `message`, once the answer is posted in it.
pub(crate) async fn thread_for(fake: &FakeDiscord, message: u64) -> u64 {
    fake.wait_for_call(
        "a thread on the message",
        WAIT,
        is_thread_on(SUPPORT_CHANNEL, message),
    )
    .await;
    let thread = fake
        .thread_on(message)
        .expect("the fake recorded the thread");
    fake.wait_for_call("a reply in the new thread", WAIT, is_post_to(thread))
        .await;
    thread
}

pub(crate) async fn enable_support_channel(db: &TestDb) {
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
}

#[tokio::test]
async fn the_bot_reaches_ready_registers_commands_and_records_the_guild() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;

    let ops = fake.wait_for_gateway_ops(1, WAIT).await;
    let GatewayOp::Identify(identify) = &ops[0] else {
        panic!("first gateway op was {ops:?}")
    };
    assert_eq!(identify["token"], "Bot fake.bot.token");
    // GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT
    assert_eq!(identify["intents"], json!(1 | (1 << 9) | (1 << 15)));

    let registered = fake
        .wait_for_call("command registration", WAIT, |c| c.method == Method::PUT)
        .await;
    assert_eq!(
        registered.path,
        format!("/api/v10/applications/{BOT_ID}/commands")
    );
    assert_eq!(registered.body[0]["name"], "support");

    let store = db.store().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.guild(GUILD_ID as i64).await.unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "GUILD_CREATE did not record the guild"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn with_a_development_guild_the_commands_are_registered_there_and_not_globally() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    // RunningBot::start waits for any PUT of commands; the guild one is the only one sent.
    let bot = RunningBot::start_with(&fake, &db, &[], |config| {
        config.discord.dev_guild = Some(GUILD_ID);
    })
    .await;
    let puts: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::PUT && c.path.ends_with("/commands"))
        .map(|c| c.path)
        .collect();
    assert_eq!(
        puts,
        [format!(
            "/api/v10/applications/{BOT_ID}/guilds/{GUILD_ID}/commands"
        )]
    );
    bot.stop().await.unwrap();
}

async fn question_in_enabled_channel_gets_a_thread_and_a_reply(kind: Kind) {
    let fake = FakeDiscord::start().await;
    let db = TestDb::new(kind).await;
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let question = "How do I reset my API key? <@402967271003734017> said to ask here";
    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), question);
    let thread_call = fake
        .wait_for_call(
            "a thread on the question",
            WAIT,
            is_thread_on(SUPPORT_CHANNEL, message),
        )
        .await;
    assert_eq!(
        thread_call.body["name"], "How do I reset my API key? said to ask here",
        "the thread is named after the question, without mention markup"
    );
    let thread = thread_for(&fake, message).await;
    let reply = fake
        .wait_for_call("the reply", WAIT, is_post_to(thread))
        .await;
    let content = reply.body["content"].as_str().unwrap();
    assert!(
        content.contains("click **Reset key**") || content.contains("click Reset key"),
        "the answer quotes the docs: {content}"
    );
    assert!(
        content.contains(
            "[1] [API keys › Reset your API key](<https://docs.example/api-keys#reset-your-api-key>)"
        ),
        "the answer cites its source as a numbered footnote without an embed: {content}"
    );
    assert_eq!(
        reply.body["allowed_mentions"]["parse"],
        json!([]),
        "nothing the bot posts can ping"
    );
    let labels: Vec<&str> = reply.body["components"][0]["components"]
        .as_array()
        .expect("the answer has buttons")
        .iter()
        .filter_map(|b| b["label"].as_str())
        .collect();
    assert_eq!(labels, ["Resolved", "Not helpful", "Talk to a human"]);
    assert!(
        fake.calls().iter().any(|c| c.method == Method::POST
            && c.path == format!("/api/v10/channels/{SUPPORT_CHANNEL}/typing")),
        "the bot showed it was typing"
    );
    assert!(
        posts(&fake).iter().all(|c| !is_post_to(SUPPORT_CHANNEL)(c)),
        "the answer goes in the thread, not the channel"
    );

    bot.stop().await.unwrap();
    let store = db.store().await;
    let conversations = store.conversations(GUILD_ID as i64).await.unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].thread_id, Some(thread as i64));
    assert_eq!(conversations[0].author_id, MEMBER as i64);
    let messages = store
        .conversation_messages(GUILD_ID as i64, conversations[0].id)
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].role, MessageRole::Member);
    assert_eq!(messages[0].content, question);
    assert_eq!(messages[0].discord_message_id, Some(message as i64));
    assert_eq!(messages[1].role, MessageRole::Bot);
    assert_eq!(messages[1].author_id, BOT_ID as i64);
    assert_eq!(messages[1].content, reply.body["content"].as_str().unwrap());
}

#[tokio::test]
async fn question_in_enabled_channel_gets_a_thread_and_a_reply_on_sqlite() {
    question_in_enabled_channel_gets_a_thread_and_a_reply(Kind::Sqlite).await;
}

#[tokio::test]
async fn question_in_enabled_channel_gets_a_thread_and_a_reply_on_postgres() {
    question_in_enabled_channel_gets_a_thread_and_a_reply(Kind::Postgres).await;
}

#[tokio::test]
async fn nothing_is_posted_for_a_channel_that_is_not_enabled() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    let ignored = fake.send_message(OTHER_CHANNEL, Author::Member(MEMBER), "anyone around?");
    assert_eq!(
        bot.outcome(ignored).await,
        Outcome::Skipped(Skip::NotAddressed)
    );
    let later = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), "second question");
    thread_for(&fake, later).await;
    let threads: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/threads"))
        .collect();
    assert_eq!(
        threads.len(),
        1,
        "only the enabled channel's question got a thread"
    );
    assert!(
        posts(&fake)
            .iter()
            .all(|c| !c.path.contains(&OTHER_CHANNEL.to_string()))
    );
    bot.stop().await.unwrap();
    let store = db.store().await;
    assert_eq!(store.conversations(GUILD_ID as i64).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_mention_is_answered_in_any_channel() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;

    let message = fake.send_message_with(
        OTHER_CHANNEL,
        Author::Member(MEMBER),
        &format!("<@{BOT_ID}> where are the docs?"),
        &[BOT_ID],
    );
    fake.wait_for_call(
        "a thread on the mention",
        WAIT,
        is_thread_on(OTHER_CHANNEL, message),
    )
    .await;
    let thread = fake
        .thread_on(message)
        .expect("the fake recorded the thread");
    let reply = fake
        .wait_for_call("the reply in the thread", WAIT, is_post_to(thread))
        .await;
    assert!(
        !reply.body["content"]
            .as_str()
            .unwrap_or("")
            .trim()
            .is_empty(),
        "the mention got an answer: {}",
        reply.body
    );
    assert_eq!(reply.body["allowed_mentions"]["parse"], json!([]));
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn bot_authored_messages_are_ignored() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    let other_bot = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Bot(1_045_893_218_604_826_624),
        "I am another bot",
    );
    let itself = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Bot(BOT_ID),
        "I am supportbot itself",
    );
    for message in [other_bot, itself] {
        assert_eq!(bot.outcome(message).await, Outcome::Skipped(Skip::FromBot));
    }
    let later = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), "a real question");
    thread_for(&fake, later).await;
    let threads = fake
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/threads"))
        .count();
    assert_eq!(threads, 1, "bot messages got no thread");
    bot.stop().await.unwrap();
    let store = db.store().await;
    assert_eq!(store.conversations(GUILD_ID as i64).await.unwrap().len(), 1);
}

#[tokio::test]
async fn after_a_dropped_connection_the_client_resumes_and_answers_once() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;
    fake.wait_for_gateway_ops(1, WAIT).await;

    fake.drop_connection();
    let ops = fake.wait_for_gateway_ops(2, Duration::from_secs(30)).await;
    let GatewayOp::Resume(resume) = &ops[1] else {
        panic!("expected a RESUME after the drop, got {ops:?}")
    };
    assert_eq!(resume["session_id"], "session-1");
    assert_eq!(fake.connections(), 2);

    let message = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "after the resume: how do I restore a backup?",
    );
    let thread = thread_for(&fake, message).await;
    assert!(matches!(
        bot.outcome(message).await,
        Outcome::Responded { .. }
    ));
    assert_eq!(
        posts(&fake)
            .iter()
            .filter(|c| is_post_to(thread)(c))
            .count(),
        1
    );
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| is_thread_on(SUPPORT_CHANNEL, message)(c))
            .count(),
        1
    );
    assert_eq!(fake.gateway_ops().len(), 2, "no second IDENTIFY");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_replayed_message_event_is_answered_once() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    let id = fake.next_id();
    let payload = tests::fake_discord::message_payload(
        id,
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "sent twice: how do I restore a backup?",
        &[],
    );
    fake.dispatch("MESSAGE_CREATE", payload.clone());
    fake.dispatch("MESSAGE_CREATE", payload);
    thread_for(&fake, id).await;
    let outcomes = bot.outcomes(id, 2).await;
    // Handled once; the replay is recognised, whichever finishes first.
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Duplicate)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Responded { .. })),
        "{outcomes:?}"
    );
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| is_thread_on(SUPPORT_CHANNEL, id)(c))
            .count(),
        1
    );
    assert_eq!(posts(&fake).len(), 1);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_follow_up_in_the_thread_continues_the_conversation() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let first = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do i restore a backup?",
    );
    let thread = thread_for(&fake, first).await;
    // The reply is recorded once Discord has answered the POST: wait for that, or the follow-up
    // can be stored before it.
    let store = db.store().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let conversations = store.conversations(GUILD_ID as i64).await.unwrap();
        let recorded = match conversations.first() {
            Some(c) => store
                .conversation_messages(GUILD_ID as i64, c.id)
                .await
                .unwrap()
                .len(),
            None => 0,
        };
        if recorded == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first reply was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fake.send_message(
        thread,
        Author::Member(MEMBER),
        "and which snapshot dates can I pick?",
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while posts(&fake)
        .iter()
        .filter(|c| is_post_to(thread)(c))
        .count()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second reply in the thread"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let threads = fake
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/threads"))
        .count();
    assert_eq!(threads, 1, "no thread inside the thread");
    bot.stop().await.unwrap();

    let conversations = store.conversations(GUILD_ID as i64).await.unwrap();
    assert_eq!(conversations.len(), 1);
    let messages = store
        .conversation_messages(GUILD_ID as i64, conversations[0].id)
        .await
        .unwrap();
    let roles: Vec<_> = messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            MessageRole::Member,
            MessageRole::Bot,
            MessageRole::Member,
            MessageRole::Bot
        ]
    );
}

#[tokio::test]
async fn a_long_message_of_odd_unicode_is_stored_and_answered() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    let piece = "how do I fix this? Z\u{335}\u{31b}\u{346}a\u{337}l\u{334}g\u{336}o \u{202E}txet desrever\u{202C} 🧑🏽‍💻🇺🇦 \u{200B}\u{200D}\u{2060} שלום עולם ";
    let content: String = piece.chars().cycle().take(4000).collect();
    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), &content);
    let thread_call = fake
        .wait_for_call("a thread", WAIT, is_thread_on(SUPPORT_CHANNEL, message))
        .await;
    assert!(thread_call.body["name"].as_str().unwrap().chars().count() <= 100);
    let thread = thread_for(&fake, message).await;
    fake.wait_for_call("the reply", WAIT, is_post_to(thread))
        .await;
    bot.stop().await.unwrap();

    let store = db.store().await;
    let conversation = &store.conversations(GUILD_ID as i64).await.unwrap()[0];
    let messages = store
        .conversation_messages(GUILD_ID as i64, conversation.id)
        .await
        .unwrap();
    assert_eq!(messages[0].content, content);
}

#[tokio::test]
async fn malformed_and_unknown_events_do_not_stop_the_bot() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    fake.send_raw_dispatch("SOMETHING_NEW", json!({"what": "a future event"}));
    let mut broken = tests::fake_discord::message_payload(
        fake.next_id(),
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "no attachments field",
        &[],
    );
    broken.as_object_mut().unwrap().remove("attachments");
    fake.send_raw_dispatch("MESSAGE_CREATE", broken);
    fake.send_frame("{not json at all".into());

    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), "still there?");
    thread_for(&fake, message).await;
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.path.ends_with("/threads"))
            .count(),
        1
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_rest_error_is_survived_and_the_next_question_answered() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    fake.fail_next(
        Method::POST,
        "/threads",
        StatusCode::FORBIDDEN,
        json!({"message": "Missing Permissions", "code": 50013}),
    );
    let refused = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my password?",
    );
    fake.wait_for_call(
        "the refused thread",
        WAIT,
        is_thread_on(SUPPORT_CHANNEL, refused),
    )
    .await;
    let message = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "where do I find the audit log?",
    );
    let thread = thread_for(&fake, message).await;
    fake.wait_for_call("the reply", WAIT, is_post_to(thread))
        .await;
    bot.stop().await.unwrap();

    let store = db.store().await;
    let conversations = store.conversations(GUILD_ID as i64).await.unwrap();
    assert_eq!(
        conversations.len(),
        2,
        "the refused question is still on record"
    );
    assert_eq!(conversations[0].thread_id, None);
    let kept = store
        .conversation_messages(GUILD_ID as i64, conversations[0].id)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].content, "how do I reset my password?");
}

#[tokio::test]
async fn admins_enable_a_channel_with_a_slash_command_and_members_cannot() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;

    let denied = fake.send_support_command("enable", SUPPORT_CHANNEL, MEMBER, 1 << 10);
    let callback = fake
        .wait_for_call("the denial", WAIT, |c| {
            c.path
                .starts_with(&format!("/api/v10/interactions/{denied}/"))
        })
        .await;
    assert_eq!(callback.body["data"]["flags"], 64, "the denial is private");
    assert!(
        callback.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Manage Server")
    );
    let store = db.store().await;
    assert!(
        !store
            .is_channel_enabled(GUILD_ID as i64, SUPPORT_CHANNEL as i64)
            .await
            .unwrap()
    );

    let allowed = fake.send_support_command(
        "enable",
        SUPPORT_CHANNEL,
        OWNER_ID,
        MANAGE_GUILD | (1 << 10),
    );
    let callback = fake
        .wait_for_call("the confirmation", WAIT, |c| {
            c.path
                .starts_with(&format!("/api/v10/interactions/{allowed}/"))
        })
        .await;
    assert_eq!(callback.body["data"]["flags"], 64);
    assert!(
        store
            .is_channel_enabled(GUILD_ID as i64, SUPPORT_CHANNEL as i64)
            .await
            .unwrap()
    );

    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), "now answered?");
    thread_for(&fake, message).await;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_finishes_the_message_in_flight() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    fake.delay("/threads", Duration::from_millis(800));
    let message = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "slow one: how do I restore a backup?",
    );
    fake.wait_for_call(
        "the thread request",
        WAIT,
        is_thread_on(SUPPORT_CHANNEL, message),
    )
    .await;
    let shutdown = bot.shutdown.clone();
    shutdown.cancel();
    bot.stop().await.unwrap();
    assert_eq!(
        posts(&fake).len(),
        1,
        "the in-flight answer was posted before exit"
    );

    let store = db.store().await;
    let conversation = &store.conversations(GUILD_ID as i64).await.unwrap()[0];
    let messages = store
        .conversation_messages(GUILD_ID as i64, conversation.id)
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
}

#[tokio::test]
async fn doctor_checks_the_token_against_discord() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut config = supportbot::config::Config {
        data_dir: data.path().to_path_buf(),
        ..Default::default()
    };
    config.discord.api_proxy = Some(fake.http_url());
    config.discord.token = Some(tests::fake_discord::TOKEN.into());
    let checks = supportbot::doctor::run(&config).await;
    let text: Vec<String> = checks.iter().map(|c| c.to_string()).collect();
    assert!(
        checks
            .iter()
            .all(|c| c.level == supportbot::doctor::Level::Ok
                || c.what.contains("migrations pending")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|t| t.contains("Discord accepts the token")),
        "{text:#?}"
    );

    config.discord.token = Some("wrong.token".into());
    let checks = supportbot::doctor::run(&config).await;
    let rejected = checks
        .iter()
        .find(|c| c.what.contains("rejected the token"))
        .expect("a wrong token is reported");
    assert_eq!(rejected.level, supportbot::doctor::Level::Fail);
    assert!(rejected.fix.as_deref().unwrap().contains("Reset Token"));
}

#[tokio::test]
async fn logs_carry_ids_but_never_message_text_or_the_token() {
    let capture = tests::LogCapture::default();
    let _guard = capture.install("debug,serenity=info,h2=info,hyper=info,sqlx=warn");
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    // Distinctive as a whole, and answerable from the docs.
    let secret_question = "how do I reset the API key my workspace scripts use?";
    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), secret_question);
    let thread = thread_for(&fake, message).await;
    let reply = fake
        .wait_for_call("the reply", WAIT, is_post_to(thread))
        .await;
    bot.stop().await.unwrap();

    let logs = capture.text();
    assert!(
        logs.contains(&message.to_string()),
        "message IDs are logged: {logs}"
    );
    assert!(
        logs.contains("outcome=\"answered\"") || logs.contains("outcome=answered"),
        "{logs}"
    );
    assert!(
        !logs.contains(secret_question),
        "message text leaked into logs"
    );
    assert!(
        !logs.contains(tests::fake_discord::TOKEN),
        "the token leaked into logs"
    );
    let answer = reply.body["content"].as_str().unwrap();
    assert!(!logs.contains(answer), "the answer leaked into logs");
}

/// The answer model's settings pointing at fake providers: `primary`, then `fallback`.
/// A model that answers every question with the docs' API-key reset, citing passage 1.
pub(crate) async fn reset_key_model() -> tests::fake_openai::FakeOpenAi {
    tests::fake_openai::FakeOpenAi::with_responder(|_| {
        json!({"action": "reply", "answer": "Click **Reset key** in Settings [1].",
               "citations": [1], "confidence": 0.9})
        .to_string()
    })
    .await
}

pub(crate) fn with_models(
    primary: &tests::fake_openai::FakeOpenAi,
    fallback: Option<&tests::fake_openai::FakeOpenAi>,
) -> impl FnOnce(&mut supportbot::config::Config) {
    let primary = primary.base_url();
    let fallback = fallback.map(|f| f.base_url());
    move |config| {
        config.llm.base_url = Some(primary);
        config.llm.model = Some("primary-model".into());
        config.llm.timeout_secs = 5;
        if let Some(url) = fallback {
            config.llm.fallbacks = vec![supportbot::config::ProviderSettings {
                base_url: url,
                model: "fallback-model".into(),
                api_key: None,
                timeout_secs: Some(5),
                max_tokens: None,
            }];
        }
    }
}

#[tokio::test]
async fn when_the_primary_model_fails_the_fallback_answers_and_nothing_unsafe_is_posted() {
    use tests::fake_openai::{Behaviour, FakeOpenAi};
    let primary = FakeOpenAi::start().await;
    primary.push((0..10).map(|_| Behaviour::status(500)));
    let token = format!(
        "{}.{}.{}",
        "MTA4NjQ2NzA1NjI4MjQ4OTA4Ng", "GxYzAb", "abcdefghijklmnopqrstuvwxyz0123456789AB"
    );
    let answer = format!("@everyone click **Reset key** in Settings [1]. Mine was {token}.");
    let fallback = FakeOpenAi::with_responder(move |_| {
        json!({"action": "reply", "answer": answer, "citations": [1], "confidence": 0.9})
            .to_string()
    })
    .await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot =
        RunningBot::start_with(&fake, &db, DOCS, with_models(&primary, Some(&fallback))).await;

    let message = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my API key?",
    );
    let thread = thread_for(&fake, message).await;
    let reply = fake
        .wait_for_call("the answer", WAIT, is_post_to(thread))
        .await;
    let content = reply.body["content"].as_str().unwrap();
    assert!(
        content.contains("Reset key"),
        "the fallback's answer: {content}"
    );
    assert!(!content.contains("@everyone"), "{content}");
    assert!(
        !content.contains(&token) && content.contains("[redacted]"),
        "{content}"
    );
    assert_eq!(reply.body["allowed_mentions"]["parse"], json!([]));
    assert!(
        !primary.chat_requests().is_empty(),
        "the primary was tried first"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn with_every_model_down_the_member_is_handed_off_to_the_support_role() {
    use tests::fake_openai::{Behaviour, FakeOpenAi};
    let primary = FakeOpenAi::start().await;
    primary.push((0..10).map(|_| Behaviour::status(503)));
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let store = db.store().await;
    store
        .set_guild_settings(
            GUILD_ID as i64,
            &json!({"support_role_id": SUPPORT_ROLE}),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let bot = RunningBot::start_with(&fake, &db, DOCS, with_models(&primary, None)).await;

    let question = "how do I reset my API key?";
    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), question);
    let thread = thread_for(&fake, message).await;
    let reply = fake
        .wait_for_call("the handoff", WAIT, is_post_to(thread))
        .await;
    let content = reply.body["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!("<@&{SUPPORT_ROLE}>")),
        "{content}"
    );
    assert_eq!(
        reply.body["allowed_mentions"]["roles"],
        json!([SUPPORT_ROLE.to_string()])
    );
    bot.stop().await.unwrap();
    let conversation = store
        .conversations(GUILD_ID as i64)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(conversation.status, store::ConversationStatus::HandedOff);
    let messages = store
        .conversation_messages(GUILD_ID as i64, conversation.id)
        .await
        .unwrap();
    assert_eq!(
        messages[0].content, question,
        "the question is kept for the team"
    );
}

#[tokio::test]
async fn a_guilds_own_llm_key_answers_its_questions_and_a_replaced_key_is_dropped_at_once() {
    // Base64 of 32 bytes of 1s.
    const MASTER: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let primary = reset_key_model().await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let store = db.store().await;
    let master = store::MasterKey::from_base64(MASTER).unwrap();
    let set_key = |value: &'static str| {
        let (store, master) = (store.clone(), &master);
        async move {
            store
                .set_guild_secret(
                    GUILD_ID as i64,
                    store::LLM_API_KEY,
                    &value.to_string().into(),
                    master,
                    chrono::Utc::now(),
                )
                .await
                .unwrap();
        }
    };
    set_key("guild-key-one").await;
    let models = with_models(&primary, None);
    let bot = RunningBot::start_with(&fake, &db, DOCS, move |config| {
        models(config);
        config.llm.api_key = Some("instance-key".to_string().into());
        config.master_key = Some(MASTER.to_string().into());
    })
    .await;

    let mut asked = 0;
    let mut ask = async |expected: &str| {
        let message = fake.send_message(
            SUPPORT_CHANNEL,
            Author::Member(MEMBER),
            "how do I reset my API key?",
        );
        let thread = thread_for(&fake, message).await;
        let reply = fake
            .wait_for_call("the answer", WAIT, is_post_to(thread))
            .await;
        assert!(
            reply.body["content"]
                .as_str()
                .is_some_and(|c| c.contains("Reset key")),
            "{}",
            reply.body
        );
        asked += 1;
        let requests = primary.wait_for_chat_requests(asked, WAIT).await;
        let sent = requests.last().unwrap().authorization().map(str::to_owned);
        assert_eq!(sent.as_deref(), Some(format!("Bearer {expected}").as_str()));
    };
    ask("guild-key-one").await;
    set_key("guild-key-two").await;
    ask("guild-key-two").await;
    assert!(
        store
            .delete_guild_secret(GUILD_ID as i64, store::LLM_API_KEY)
            .await
            .unwrap()
    );
    ask("instance-key").await;
    bot.stop().await.unwrap();
}
