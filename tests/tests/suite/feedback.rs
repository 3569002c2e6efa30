//! The buttons under every answer (Resolved, Not helpful, Talk to a human) and `/stats` with
//! its chart, through the real client against the fake Discord: who may click what, that a
//! click counts once, that a button id forged with another guild's conversation changes
//! nothing there, and that an admin's figures are their own guild's.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use store::{ConversationStatus, NewAuditEntry, Store};
use supportbot::pipeline::{Outcome, Skip};
use tests::fake_discord::{
    Author, BOT_ID, FakeDiscord, GUILD_ID, MOD_ROLE, OWNER_ID, RestCall, SUPPORT_CHANNEL,
};
use tests::{RunningBot, TestDb};

use crate::e2e::{
    DOCS, MANAGE_GUILD, MEMBER, SUPPORT_ROLE, WAIT, enable_support_channel, is_post_to, posts,
};
use crate::moderation::SCAM;

/// Another member, who joined in 2022.
const OTHER_MEMBER: u64 = 1_021_554_872_993_447_936;
/// A second guild the bot is in, with its own conversation.
const GUILD_B: u64 = 1_133_557_799_002_244_668;
const B_CHANNEL: u64 = 1_133_557_799_224_466_880;
const MANAGE_MESSAGES: u64 = 1 << 13;
const SEND_MESSAGES: u64 = 1 << 11;

/// One answered question: where it is and what it is.
struct Answered {
    thread: u64,
    /// The answer's last part: the message the buttons are under.
    answer: u64,
    conversation: i64,
    /// The request that posted it.
    post: RestCall,
}

async fn ask(fake: &FakeDiscord, bot: &RunningBot, author: u64, question: &str) -> Answered {
    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(author), question);
    let Outcome::Responded {
        conversation_id,
        thread_id,
        reply_ids,
        ..
    } = bot.outcome(message).await
    else {
        panic!("the question was not answered");
    };
    let post = posts(fake)
        .into_iter()
        .rev()
        .find(|c| is_post_to(thread_id)(c) && !c.body["components"].is_null())
        .expect("the answer with its buttons was posted");
    Answered {
        thread: thread_id,
        answer: *reply_ids.last().expect("an answer has a message"),
        conversation: conversation_id,
        post,
    }
}

/// The private answer to a click or a command, once the bot gave it.
async fn private_answer(fake: &FakeDiscord, interaction: u64) -> String {
    let call = fake
        .wait_for_call("the interaction's answer", WAIT, |c| {
            c.path
                .starts_with(&format!("/api/v10/interactions/{interaction}/"))
        })
        .await;
    assert_eq!(call.body["data"]["flags"], 64, "the answer is private");
    if call.body["type"] == 5 {
        // Acknowledged first; the answer follows through the interaction's webhook.
        let token = tests::fake_discord::interaction_token(interaction);
        let follow_up = fake
            .wait_for_call("the click's follow-up", WAIT, |c| {
                c.path == format!("/api/v10/webhooks/{}/{token}", tests::fake_discord::BOT_ID)
            })
            .await;
        assert_eq!(follow_up.body["flags"], 64, "the answer is private");
        return follow_up.body["content"]
            .as_str()
            .expect("the answer has text")
            .to_string();
    }
    call.body["data"]["content"]
        .as_str()
        .expect("the answer has text")
        .to_string()
}

async fn status(store: &Store, guild: u64, conversation: i64) -> ConversationStatus {
    store
        .conversation(guild as i64, conversation)
        .await
        .unwrap()
        .expect("the conversation exists")
        .status
}

/// A guild's figures over the last day.
async fn today(store: &Store, guild: u64) -> store::GuildStats {
    let now = chrono::Utc::now();
    store
        .guild_stats(
            guild as i64,
            now - chrono::Duration::days(1),
            now + chrono::Duration::minutes(1),
        )
        .await
        .unwrap()
}

async fn start(db: &TestDb, fake: &FakeDiscord) -> RunningBot {
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
    RunningBot::start_with(fake, db, DOCS, |_| {}).await
}

#[tokio::test]
async fn the_asker_marks_an_answer_resolved_and_the_bot_stops_in_that_thread() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&db, &fake).await;
    let store = db.store().await;

    let a = ask(&fake, &bot, MEMBER, "How do I reset my API key?").await;
    let buttons = &a.post.body["components"][0]["components"];
    let shown: Vec<(&str, &str)> = buttons
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["label"].as_str().unwrap(),
                b["custom_id"].as_str().unwrap(),
            )
        })
        .collect();
    let id = a.conversation;
    assert_eq!(
        shown,
        [
            ("Resolved", format!("resolved:{id}").as_str()),
            ("Not helpful", format!("unhelpful:{id}").as_str()),
            ("Talk to a human", format!("handoff:{id}").as_str()),
        ]
    );

    let click = fake.click_button_on(
        &format!("resolved:{id}"),
        a.thread,
        a.answer,
        MEMBER,
        SEND_MESSAGES,
        &[],
    );
    let note = private_answer(&fake, click).await;
    assert!(note.contains("marked this resolved"), "{note}");
    assert_eq!(
        status(&store, GUILD_ID, id).await,
        ConversationStatus::Resolved
    );

    // A second click changes nothing and says so.
    let again = fake.click_button_on(
        &format!("resolved:{id}"),
        a.thread,
        a.answer,
        MEMBER,
        SEND_MESSAGES,
        &[],
    );
    assert!(private_answer(&fake, again).await.contains("already"));
    let stats = today(&store, GUILD_ID).await;
    assert_eq!((stats.resolved, stats.resolved_without_human), (1, 1));

    // The bot stays out of a resolved thread.
    let replies_before = posts(&fake).len();
    let follow_up = fake.send_message(
        a.thread,
        Author::Member(MEMBER),
        "and how do I restore a backup?",
    );
    assert_eq!(
        bot.outcome(follow_up).await,
        Outcome::Skipped(Skip::Resolved)
    );
    assert_eq!(
        posts(&fake).len(),
        replies_before,
        "nothing more was posted"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn only_the_asker_or_staff_may_mark_a_question_resolved() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&db, &fake).await;
    let store = db.store().await;
    let a = ask(&fake, &bot, MEMBER, "How do I reset my API key?").await;
    let resolved = format!("resolved:{}", a.conversation);

    let stranger = fake.click_button_on(
        &resolved,
        a.thread,
        a.answer,
        OTHER_MEMBER,
        SEND_MESSAGES,
        &[],
    );
    let note = private_answer(&fake, stranger).await;
    assert!(note.contains("Only the member who asked"), "{note}");
    assert_eq!(
        status(&store, GUILD_ID, a.conversation).await,
        ConversationStatus::Open
    );

    // The support role counts as staff.
    let support = fake.click_button_on(
        &resolved,
        a.thread,
        a.answer,
        OWNER_ID,
        SEND_MESSAGES,
        &[SUPPORT_ROLE],
    );
    assert!(private_answer(&fake, support).await.contains("resolved"));
    assert_eq!(
        status(&store, GUILD_ID, a.conversation).await,
        ConversationStatus::Resolved
    );

    // So does Manage Messages, on another question.
    let b = ask(&fake, &bot, MEMBER, "How do I restore a backup?").await;
    let moderator = fake.click_button_on(
        &format!("resolved:{}", b.conversation),
        b.thread,
        b.answer,
        OTHER_MEMBER,
        SEND_MESSAGES | MANAGE_MESSAGES,
        &[MOD_ROLE],
    );
    assert!(private_answer(&fake, moderator).await.contains("resolved"));
    assert_eq!(
        status(&store, GUILD_ID, b.conversation).await,
        ConversationStatus::Resolved
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn not_helpful_counts_once_per_member_per_answer() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&db, &fake).await;
    let store = db.store().await;
    let a = ask(&fake, &bot, MEMBER, "How do I reset my API key?").await;
    let unhelpful = format!("unhelpful:{}", a.conversation);

    for member in [MEMBER, MEMBER, OTHER_MEMBER] {
        let click =
            fake.click_button_on(&unhelpful, a.thread, a.answer, member, SEND_MESSAGES, &[]);
        let note = private_answer(&fake, click).await;
        assert!(note.contains("Talk to a human"), "{note}");
    }
    let stats = today(&store, GUILD_ID).await;
    assert_eq!(stats.not_helpful, 2, "two members, each counted once");
    assert_eq!(
        status(&store, GUILD_ID, a.conversation).await,
        ConversationStatus::Open,
        "a rating does not end the conversation"
    );
    let export = store
        .export_guild(GUILD_ID as i64, chrono::Utc::now())
        .await
        .unwrap();
    let ratings: Vec<(i64, i64, i64)> = export
        .feedback
        .iter()
        .map(|f| (f.user_id, f.message_id, f.rating))
        .collect();
    assert_eq!(
        ratings,
        [
            (MEMBER as i64, a.answer as i64, -1),
            (OTHER_MEMBER as i64, a.answer as i64, -1)
        ],
        "who clicked, which answer, the rating"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn talk_to_a_human_pings_the_support_role_and_pauses_the_bot() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&db, &fake).await;
    let store = db.store().await;
    let a = ask(&fake, &bot, MEMBER, "How do I reset my API key?").await;
    let before = posts(&fake).len();

    let click = fake.click_button_on(
        &format!("handoff:{}", a.conversation),
        a.thread,
        a.answer,
        MEMBER,
        SEND_MESSAGES,
        &[],
    );
    assert!(private_answer(&fake, click).await.contains("team"));
    let ping = posts(&fake)
        .into_iter()
        .skip(before)
        .find(|c| is_post_to(a.thread)(c))
        .expect("the handoff was posted in the thread");
    assert_eq!(
        ping.body["allowed_mentions"]["roles"],
        json!([SUPPORT_ROLE.to_string()])
    );
    assert_eq!(
        status(&store, GUILD_ID, a.conversation).await,
        ConversationStatus::HandedOff
    );
    let follow_up = fake.send_message(a.thread, Author::Member(MEMBER), "hello? anyone?");
    assert_eq!(
        bot.outcome(follow_up).await,
        Outcome::Skipped(Skip::ConversationPaused)
    );
    assert_eq!(today(&store, GUILD_ID).await.handed_off, 1);
    bot.stop().await.unwrap();
}

/// Guild B's conversation, in its own thread, as guild B's members would have left it.
async fn guild_b_conversation(store: &Store, thread: u64) -> i64 {
    let now = chrono::Utc::now();
    let c = store
        .start_conversation(GUILD_B as i64, B_CHANNEL as i64, 4242, 777, now)
        .await
        .unwrap()
        .unwrap();
    store
        .set_conversation_thread(GUILD_B as i64, c.id, thread as i64, now)
        .await
        .unwrap();
    c.id
}

#[tokio::test]
async fn a_button_id_forged_with_another_guilds_conversation_changes_nothing_there() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&db, &fake).await;
    let store = db.store().await;
    // Guild A's own answer, so its thread exists; B's conversation even claims the same
    // thread ID, as a forger would pick.
    let a = ask(&fake, &bot, MEMBER, "How do I reset my API key?").await;
    let theirs = guild_b_conversation(&store, a.thread).await;
    let before = posts(&fake).len();

    for prefix in ["resolved:", "unhelpful:", "handoff:"] {
        let click = fake.click_button_on(
            &format!("{prefix}{theirs}"),
            a.thread,
            a.answer,
            MEMBER,
            SEND_MESSAGES | MANAGE_MESSAGES,
            &[SUPPORT_ROLE],
        );
        let note = private_answer(&fake, click).await;
        assert!(
            note.contains("can't find") || note.contains("couldn't reach"),
            "{prefix}: {note}"
        );
    }
    assert_eq!(
        status(&store, GUILD_B, theirs).await,
        ConversationStatus::Open,
        "guild B's conversation is untouched"
    );
    let b = today(&store, GUILD_B).await;
    assert_eq!((b.resolved, b.not_helpful, b.handed_off), (0, 0, 0));
    assert!(
        store
            .export_guild(GUILD_B as i64, chrono::Utc::now())
            .await
            .unwrap()
            .feedback
            .is_empty(),
        "no feedback was recorded in guild B"
    );
    let a_stats = today(&store, GUILD_ID).await;
    assert_eq!(
        (a_stats.resolved, a_stats.not_helpful, a_stats.handed_off),
        (0, 0, 0)
    );
    assert_eq!(posts(&fake).len(), before, "nothing was posted anywhere");
    bot.stop().await.unwrap();
}

/// `/stats` with `options` (Discord's option list) by `user` with `permissions`.
fn stats_command(fake: &FakeDiscord, options: Value, user: u64, permissions: u64) -> u64 {
    fake.send_command("stats", options, SUPPORT_CHANNEL, user, permissions)
}

/// Width and height from a PNG's header, after its signature.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "a PNG has a header");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "the first chunk is IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

/// Rows of guild B that guild A's figures must never include.
async fn guild_b_activity(store: &Store) {
    let now = chrono::Utc::now();
    for origin in 1..=3 {
        let c = store
            .start_conversation(GUILD_B as i64, B_CHANNEL as i64, origin, 777, now)
            .await
            .unwrap()
            .unwrap();
        store
            .record_response(GUILD_B as i64, c.id, 500, true, now)
            .await
            .unwrap();
        store
            .resolve_conversation(GUILD_B as i64, c.id, now)
            .await
            .unwrap();
        store
            .record_feedback(GUILD_B as i64, Some(c.id), 9000 + origin, 778, -1, now)
            .await
            .unwrap();
    }
    store
        .insert_audit(&NewAuditEntry {
            guild_id: GUILD_B as i64,
            channel_id: B_CHANNEL as i64,
            message_id: 5151,
            author_id: 779,
            verdict: "block",
            category: "spam",
            rule: "test.rule",
            model: None,
            model_verdict: None,
            score: 1.0,
            action: "delete",
            action_status: "ok",
            excerpt: None,
            excerpt_expires_at: None,
            created_at: now,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn stats_counts_a_scripted_run_attaches_a_chart_and_never_counts_another_guild() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&db, &fake).await;
    let store = db.store().await;
    guild_b_activity(&store).await;

    // Two answers (one resolved, one rated not helpful), a handoff, a blocked scam.
    let first = ask(&fake, &bot, MEMBER, "How do I reset my API key?").await;
    let second = ask(&fake, &bot, OTHER_MEMBER, "How do I restore a backup?").await;
    let click = fake.click_button_on(
        &format!("resolved:{}", first.conversation),
        first.thread,
        first.answer,
        MEMBER,
        SEND_MESSAGES,
        &[],
    );
    private_answer(&fake, click).await;
    let click = fake.click_button_on(
        &format!("unhelpful:{}", second.conversation),
        second.thread,
        second.answer,
        OTHER_MEMBER,
        SEND_MESSAGES,
        &[],
    );
    private_answer(&fake, click).await;
    let handoff = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "can I talk to a human please?",
    );
    assert!(matches!(
        bot.outcome(handoff).await,
        Outcome::Responded { .. }
    ));
    let scam = fake.send_message(SUPPORT_CHANNEL, Author::Member(OTHER_MEMBER), SCAM);
    assert!(matches!(bot.outcome(scam).await, Outcome::Moderated(_)));
    // The block's audit row is written before its outcome is reported.
    let deadline = tokio::time::Instant::now() + WAIT;
    while today(&store, GUILD_ID).await.blocked_total() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the block was audited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let command = stats_command(
        &fake,
        json!([{"name": "days", "type": 4, "value": 7}]),
        OWNER_ID,
        MANAGE_GUILD,
    );
    let deferred = fake
        .wait_for_call("the deferral", WAIT, |c| {
            c.path
                .starts_with(&format!("/api/v10/interactions/{command}/"))
        })
        .await;
    assert_eq!(deferred.body["type"], 5, "the command is deferred first");
    assert_eq!(deferred.body["data"]["flags"], 64, "privately");
    let reply = fake
        .wait_for_call("the figures", Duration::from_secs(20), |c| {
            c.method == Method::POST && c.path.starts_with(&format!("/api/v10/webhooks/{BOT_ID}/"))
        })
        .await;
    assert_eq!(reply.body["flags"], 64, "the figures are private");
    let text = reply.body["content"].as_str().expect("the figures as text");
    for expected in [
        "last 7 days",
        "Questions: **3**",
        "Answered: **2**",
        "Resolved: **1**",
        "Not helpful: **1**",
        "Handed off: **1**",
        "Escalated: **0**",
        "Blocked: **1** (scam 1)",
        "Time to first answer: median",
        "Resolved without a human: **33%** (1 of 3 questions)",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(
        !text.contains("API key") && !text.contains("nitro"),
        "counts and timings only, never content:\n{text}"
    );
    let files = fake.files_sent();
    assert_eq!(files.len(), 1, "one chart");
    let (call, chart) = &files[0];
    assert_eq!(call.path, reply.path);
    assert_eq!(chart.filename, "stats.png");
    assert_eq!(chart.field, "files[0]");
    assert_eq!(png_size(&chart.bytes), (900, 420));
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn stats_is_refused_to_a_member_without_manage_server() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = start(&db, &fake).await;
    let registered = fake
        .calls()
        .into_iter()
        .find(|c| c.method == Method::PUT && c.path.ends_with("/commands"))
        .expect("the commands were registered");
    let stats = registered
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "stats")
        .expect("/stats is registered")
        .clone();
    assert_eq!(
        stats["default_member_permissions"],
        MANAGE_GUILD.to_string()
    );

    // The fake delivers the command whatever the defaults say; the bot checks on its own.
    let command = stats_command(&fake, json!([]), MEMBER, SEND_MESSAGES | MANAGE_MESSAGES);
    let note = private_answer(&fake, command).await;
    assert!(note.contains("Manage Server"), "{note}");
    // A refusal is the whole answer: once the bot has stopped, no figures followed it.
    bot.stop().await.unwrap();
    assert!(fake.files_sent().is_empty(), "no chart was sent");
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.path.starts_with(&format!("/api/v10/webhooks/{BOT_ID}/"))),
        "no figures were sent"
    );
}
