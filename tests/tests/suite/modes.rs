//! Where and when the bot answers: channel modes (off, mention, auto) and `/channel mode`, the
//! human-first delay, follow-ups in the bot's threads, and staff taking a thread over until
//! `/support resume`. Through the real client against the fake Discord, and on a manual clock
//! through the pipeline where time matters.

use std::sync::Arc;

use chrono::Duration as Span;
use serde_json::json;
use store::{ChannelMode, ConversationStatus, HumanFirstDelay};
use supportbot::clock::Clock;
use supportbot::pipeline::{Handled, Inbound, Outcome, RecordingDelivery, Skip};
use tests::fake_discord::{
    Author, FakeDiscord, GUILD_ID, MOD_ROLE, OTHER_CHANNEL, OWNER_ID, SUPPORT_CHANNEL,
};
use tests::{RunningBot, TestDb};
use tokio::sync::mpsc;

use crate::e2e::{
    DOCS, MANAGE_GUILD, MEMBER, WAIT, enable_support_channel, is_post_to, posts, thread_for,
};
use crate::moderation::is_delete_of;
use crate::pipeline::{CHANNEL, GUILD, ROLE, harness};

/// Another member, who joined in 2022.
const OTHER_MEMBER: u64 = 1_021_554_872_993_447_936;
const SCAM: &str = "Free nitro for everyone! claim here https://dlscord-gift.com/claim";

/// `/channel mode` as `user` with `permissions`: `mode` is Discord's choice index (off 0,
/// mention 1, auto 2); `channel` is sent with what Discord resolved it to.
fn channel_mode(
    fake: &FakeDiscord,
    mode: u8,
    human_first: Option<u32>,
    channel: Option<u64>,
    user: u64,
    permissions: u64,
) -> u64 {
    let mut options = vec![json!({"name": "mode", "type": 4, "value": mode})];
    if let Some(secs) = human_first {
        options.push(json!({"name": "human_first_seconds", "type": 4, "value": secs}));
    }
    let mut resolved = json!({});
    if let Some(c) = channel {
        options.push(json!({"name": "channel", "type": 7, "value": c.to_string()}));
        resolved = json!({"channels": {c.to_string(): {
            "id": c.to_string(), "type": 0, "name": "elsewhere", "permissions": "1024"
        }}});
    }
    fake.send_command_resolved(
        "channel",
        json!([{"name": "mode", "type": 1, "options": options}]),
        resolved,
        SUPPORT_CHANNEL,
        user,
        permissions,
    )
}

/// The private answer to an interaction.
async fn answer(fake: &FakeDiscord, interaction: u64) -> String {
    let call = fake
        .wait_for_call("the command's answer", WAIT, |c| {
            c.path
                .starts_with(&format!("/api/v10/interactions/{interaction}/"))
        })
        .await;
    assert_eq!(call.body["data"]["flags"], 64, "the answer is private");
    call.body["data"]["content"]
        .as_str()
        .expect("the answer has text")
        .to_string()
}

/// The member asks in the support channel and is answered in a new thread; returns the thread.
async fn answered_in_thread(fake: &FakeDiscord, bot: &RunningBot, member: Author) -> u64 {
    let question = fake.send_message(SUPPORT_CHANNEL, member, "how do I reset my API key?");
    let thread = thread_for(fake, question).await;
    assert!(matches!(
        bot.outcome(question).await,
        Outcome::Responded { .. }
    ));
    thread
}

fn threads_opened(fake: &FakeDiscord) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.path.ends_with("/threads"))
        .count()
}

#[tokio::test]
async fn in_auto_mode_thanks_chat_and_talk_to_another_member_get_no_answer_but_a_question_does() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let set = channel_mode(&fake, 2, None, None, OWNER_ID, MANAGE_GUILD);
    let text = answer(&fake, set).await;
    assert!(text.contains("without a mention"), "{text}");

    let member = Author::Member(MEMBER);
    let thanks = fake.send_message(SUPPORT_CHANNEL, member, "thanks!");
    let to_other = fake.send_message_with(
        SUPPORT_CHANNEL,
        member,
        &format!("<@{OTHER_MEMBER}> did you try restarting the container?"),
        &[OTHER_MEMBER],
    );
    let chat = fake.send_message(SUPPORT_CHANNEL, member, "just upgraded to 2.3 today");
    for message in [thanks, to_other, chat] {
        assert_eq!(
            bot.outcome(message).await,
            Outcome::Skipped(Skip::NoAnswerNeeded)
        );
    }
    let question = fake.send_message(SUPPORT_CHANNEL, member, "how do I reset my API key?");
    let thread = thread_for(&fake, question).await;
    assert!(matches!(
        bot.outcome(question).await,
        Outcome::Responded { thread_id, .. } if thread_id == thread
    ));
    assert_eq!(threads_opened(&fake), 1, "only the question got a thread");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn in_mention_mode_only_mentions_are_answered_and_follow_ups_in_the_thread_need_none() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let set = channel_mode(&fake, 1, None, None, OWNER_ID, MANAGE_GUILD);
    let text = answer(&fake, set).await;
    assert!(text.contains("when mentioned"), "{text}");

    let member = Author::Member(MEMBER);
    let unaddressed = fake.send_message(SUPPORT_CHANNEL, member, "how do I reset my API key?");
    assert_eq!(
        bot.outcome(unaddressed).await,
        Outcome::Skipped(Skip::NotAddressed)
    );
    let mention = fake.send_message_with(
        SUPPORT_CHANNEL,
        member,
        &format!(
            "<@{}> how do I reset my API key?",
            tests::fake_discord::BOT_ID
        ),
        &[tests::fake_discord::BOT_ID],
    );
    let thread = thread_for(&fake, mention).await;
    assert!(matches!(
        bot.outcome(mention).await,
        Outcome::Responded { .. }
    ));
    let follow_up = fake.send_message(thread, member, "and how do I restore a backup?");
    assert!(
        matches!(bot.outcome(follow_up).await, Outcome::Responded { thread_id, .. } if thread_id == thread),
        "a follow-up in the bot's thread is answered without a mention"
    );
    assert_eq!(
        posts(&fake)
            .iter()
            .filter(|c| is_post_to(thread)(c))
            .count(),
        2
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn in_off_mode_nothing_is_answered_but_a_scam_is_still_removed() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let set = channel_mode(&fake, 0, None, None, OWNER_ID, MANAGE_GUILD);
    let text = answer(&fake, set).await;
    assert!(text.contains("will not answer"), "{text}");

    let member = Author::Member(MEMBER);
    let mention = fake.send_message_with(
        SUPPORT_CHANNEL,
        member,
        &format!(
            "<@{}> how do I reset my API key?",
            tests::fake_discord::BOT_ID
        ),
        &[tests::fake_discord::BOT_ID],
    );
    assert_eq!(
        bot.outcome(mention).await,
        Outcome::Skipped(Skip::ChannelOff)
    );
    let scam = fake.send_message(SUPPORT_CHANNEL, member, SCAM);
    fake.wait_for_call("the deletion", WAIT, is_delete_of(SUPPORT_CHANNEL, scam))
        .await;
    assert!(matches!(bot.outcome(scam).await, Outcome::Moderated(_)));
    assert_eq!(threads_opened(&fake), 0, "nothing was answered");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn with_a_human_first_delay_a_members_reply_keeps_the_bot_silent_and_silence_gets_an_answer()
{
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let set = channel_mode(&fake, 2, Some(1), None, OWNER_ID, MANAGE_GUILD);
    let text = answer(&fake, set).await;
    assert!(text.contains("after waiting 1 s"), "{text}");

    let question = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my API key?",
    );
    let reply = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(OTHER_MEMBER),
        "Settings, then API, then Reset key",
    );
    assert_eq!(
        bot.outcome(reply).await,
        Outcome::Skipped(Skip::NoAnswerNeeded)
    );
    assert_eq!(
        bot.outcome(question).await,
        Outcome::Skipped(Skip::HumanAnswered)
    );

    let unanswered = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I restore a backup?",
    );
    thread_for(&fake, unanswered).await;
    assert!(matches!(
        bot.outcome(unanswered).await,
        Outcome::Responded { .. }
    ));
    assert_eq!(threads_opened(&fake), 1);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_staff_reply_pauses_the_bot_in_its_thread_and_support_resume_brings_it_back() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let member = Author::Member(MEMBER);
    let thread = answered_in_thread(&fake, &bot, member).await;

    // A moderator (Manage Messages through their role) answers in the thread.
    let staff = fake.send_message_with_roles(
        thread,
        Author::Member(OTHER_MEMBER),
        "I'll take this one, which plan are you on?",
        &[MOD_ROLE],
    );
    assert_eq!(
        bot.outcome(staff).await,
        Outcome::Skipped(Skip::StaffReplied)
    );
    let store = db.store().await;
    let conversation = store
        .conversation_by_thread(GUILD_ID as i64, thread as i64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.status, ConversationStatus::Paused);
    let paused = fake.send_message(thread, member, "the free plan, how do I restore a backup?");
    assert_eq!(
        bot.outcome(paused).await,
        Outcome::Skipped(Skip::ConversationPaused)
    );
    assert_eq!(
        posts(&fake)
            .iter()
            .filter(|c| is_post_to(thread)(c))
            .count(),
        1,
        "the bot stayed quiet after staff stepped in"
    );

    let resume = fake.send_support_command("resume", thread, OWNER_ID, MANAGE_GUILD | (1 << 10));
    let text = answer(&fake, resume).await;
    assert!(text.contains("again"), "{text}");
    let after = fake.send_message(thread, member, "and how do I restore a backup?");
    assert!(matches!(
        bot.outcome(after).await,
        Outcome::Responded { thread_id, .. } if thread_id == thread
    ));
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn channel_mode_is_for_admins_and_only_for_channels_of_their_own_guild() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;
    let store = db.store().await;

    let denied = channel_mode(&fake, 2, None, None, MEMBER, 1 << 10);
    assert!(answer(&fake, denied).await.contains("Manage Server"));
    assert_eq!(
        store
            .channel_setting(GUILD_ID as i64, SUPPORT_CHANNEL as i64)
            .await
            .unwrap(),
        None
    );

    // A channel of another guild, in a forged interaction.
    let foreign = 1_200_000_000_000_000_001;
    let forged = channel_mode(&fake, 2, None, Some(foreign), OWNER_ID, MANAGE_GUILD);
    let text = answer(&fake, forged).await;
    assert!(text.contains("not in this server"), "{text}");
    let forged = fake.send_command_resolved(
        "support",
        json!([{"name": "enable", "type": 1, "options": [
            {"name": "channel", "type": 7, "value": foreign.to_string()}
        ]}]),
        json!({"channels": {foreign.to_string(): {
            "id": foreign.to_string(), "type": 0, "name": "elsewhere", "permissions": "1024"
        }}}),
        SUPPORT_CHANNEL,
        OWNER_ID,
        MANAGE_GUILD,
    );
    let text = answer(&fake, forged).await;
    assert!(text.contains("not in this server"), "{text}");
    assert!(
        store
            .channel_settings(GUILD_ID as i64)
            .await
            .unwrap()
            .is_empty()
    );

    let other = channel_mode(
        &fake,
        2,
        Some(30),
        Some(OTHER_CHANNEL),
        OWNER_ID,
        MANAGE_GUILD,
    );
    let text = answer(&fake, other).await;
    assert!(text.contains(&format!("<#{OTHER_CHANNEL}>")), "{text}");
    assert!(text.contains("30 s"), "{text}");
    let setting = store
        .channel_setting(GUILD_ID as i64, OTHER_CHANNEL as i64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(setting.mode, ChannelMode::Auto);
    assert_eq!(setting.human_first.secs(), 30);
    assert_eq!(setting.updated_by, Some(OWNER_ID as i64));
    bot.stop().await.unwrap();
}

/// A member's message in the pipeline harness's guild.
fn inbound(id: u64, author: u64, channel: u64, parent: Option<u64>, text: &str) -> Inbound {
    Inbound {
        parent_channel_id: parent,
        ..tests::member_message(GUILD, channel, id, author, text, chrono::Utc::now())
    }
}

/// Waits for what became of `message`, from the pipeline's outcome reports.
async fn outcome_of(rx: &mut mpsc::UnboundedReceiver<Handled>, message: u64) -> Outcome {
    loop {
        let handled = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("the pipeline reports the message in time")
            .expect("the pipeline is alive");
        if handled.message_id == message {
            return handled.outcome.expect("the message was handled");
        }
    }
}

/// The pipeline harness with a 60 s human-first delay in its `auto` channel, watched.
async fn delayed() -> (
    crate::pipeline::Harness,
    Arc<RecordingDelivery>,
    mpsc::UnboundedReceiver<Handled>,
) {
    let h = harness(false, |_| {}).await;
    h.store()
        .set_channel_mode(
            GUILD as i64,
            CHANNEL as i64,
            ChannelMode::Auto,
            HumanFirstDelay::from_secs(60),
            None,
            h.clock.now(),
        )
        .await
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    h.services.pipeline.report_outcomes_to(tx);
    (h, Arc::new(RecordingDelivery::new(7004, 1_000_000)), rx)
}

#[tokio::test]
async fn the_bot_answers_once_the_human_first_delay_passes_with_no_one_else_replying() {
    let (h, delivery, mut rx) = delayed().await;
    let pipeline = &h.services.pipeline;
    let mut question = inbound(201, 1, CHANNEL, None, "how do I restore a backup?");
    question.received_at = h.clock.now();
    pipeline.spawn(question, Arc::clone(&delivery));
    // The asker adding a word does not count as someone else answering.
    let mut own = inbound(202, 1, CHANNEL, None, "thanks in advance!");
    own.received_at = h.clock.now();
    pipeline.spawn(own, Arc::clone(&delivery));
    assert_eq!(
        outcome_of(&mut rx, 202).await,
        Outcome::Skipped(Skip::NoAnswerNeeded)
    );
    assert!(
        rx.try_recv().is_err() && delivery.posts().is_empty(),
        "nothing is answered before the delay is over"
    );

    h.clock.advance(Span::seconds(60));
    assert!(matches!(
        outcome_of(&mut rx, 201).await,
        Outcome::Responded { .. }
    ));
    assert_eq!(delivery.threads().len(), 1);
}

#[tokio::test]
async fn a_reply_from_someone_else_inside_the_human_first_delay_keeps_the_bot_silent() {
    let (h, delivery, mut rx) = delayed().await;
    let pipeline = &h.services.pipeline;
    let say = |id: u64, author: u64, channel: u64, parent: Option<u64>, text: &str| {
        let mut message = inbound(id, author, channel, parent, text);
        message.received_at = h.clock.now();
        pipeline.spawn(message, Arc::clone(&delivery));
    };

    // Another member answers in a thread they started on the question.
    say(301, 1, CHANNEL, None, "how do I restore a backup?");
    h.clock.advance(Span::seconds(30));
    say(302, 2, 301, Some(CHANNEL), "acme restore --date <day>");
    assert_eq!(
        outcome_of(&mut rx, 302).await,
        Outcome::Skipped(Skip::NoAnswerNeeded)
    );
    h.clock.advance(Span::seconds(30));
    assert_eq!(
        outcome_of(&mut rx, 301).await,
        Outcome::Skipped(Skip::HumanAnswered)
    );

    // Or right in the channel.
    say(303, 1, CHANNEL, None, "where do I find my API key?");
    say(304, 2, CHANNEL, None, "Settings, then API");
    assert_eq!(
        outcome_of(&mut rx, 304).await,
        Outcome::Skipped(Skip::NoAnswerNeeded)
    );
    h.clock.advance(Span::seconds(60));
    assert_eq!(
        outcome_of(&mut rx, 303).await,
        Outcome::Skipped(Skip::HumanAnswered)
    );
    assert!(delivery.posts().is_empty() && delivery.threads().is_empty());
}

#[tokio::test]
async fn shutting_down_ends_a_human_first_wait_at_once() {
    let (h, delivery, mut rx) = delayed().await;
    let pipeline = &h.services.pipeline;
    let mut question = inbound(401, 1, CHANNEL, None, "how do I restore a backup?");
    question.received_at = h.clock.now();
    pipeline.spawn(question, Arc::clone(&delivery));
    // Once a later message is through, the question is waiting (it went first).
    let mut own = inbound(402, 1, CHANNEL, None, "thanks in advance!");
    own.received_at = h.clock.now();
    pipeline.spawn(own, Arc::clone(&delivery));
    assert_eq!(
        outcome_of(&mut rx, 402).await,
        Outcome::Skipped(Skip::NoAnswerNeeded)
    );
    // The clock never moves: only shutdown can end the wait.
    tokio::time::timeout(WAIT, pipeline.drain())
        .await
        .expect("draining does not wait out the delay");
    assert_eq!(
        outcome_of(&mut rx, 401).await,
        Outcome::Skipped(Skip::ShuttingDown)
    );
    assert!(delivery.posts().is_empty());
}

#[tokio::test]
async fn a_support_role_reply_in_the_bots_thread_pauses_it_there() {
    let mut h = harness(true, |_| {}).await;
    let answered = h.say(1, None, "how do I restore a backup?").await;
    let Outcome::Responded { thread_id, .. } = answered else {
        panic!("expected an answer, got {answered:?}");
    };
    // The asker holding the role is still the asker: their follow-up is answered.
    let mut own = inbound(
        900,
        1,
        thread_id,
        Some(CHANNEL),
        "and how do I pick a snapshot?",
    );
    own.author_roles = vec![ROLE];
    own.received_at = h.clock.now();
    let outcome = h.services.pipeline.handle(own, &h.delivery).await.unwrap();
    assert!(matches!(outcome, Outcome::Responded { .. }), "{outcome:?}");
    let mut staff = inbound(901, 2, thread_id, Some(CHANNEL), "I can help here");
    staff.author_roles = vec![ROLE];
    staff.received_at = h.clock.now();
    let outcome = h
        .services
        .pipeline
        .handle(staff, &h.delivery)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Skipped(Skip::StaffReplied));
    let conversation = h
        .store()
        .conversation_by_thread(GUILD as i64, thread_id as i64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.status, ConversationStatus::Paused);
    let later = h
        .say(1, Some(thread_id), "how do I pick the snapshot?")
        .await;
    assert_eq!(later, Outcome::Skipped(Skip::ConversationPaused));
    assert_eq!(
        h.delivery.posts().len(),
        2,
        "nothing after staff stepped in"
    );
}

#[tokio::test]
async fn the_staff_member_who_took_a_thread_over_hands_it_back_with_resume() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let member = Author::Member(MEMBER);
    let thread = answered_in_thread(&fake, &bot, member).await;
    let staff = fake.send_message_with_roles(
        thread,
        Author::Member(OTHER_MEMBER),
        "I'll take this one.",
        &[MOD_ROLE],
    );
    assert_eq!(
        bot.outcome(staff).await,
        Outcome::Skipped(Skip::StaffReplied)
    );

    // A member cannot hand it back; the moderator (Manage Messages, not Manage Server) can.
    let refused = fake.send_command("resume", json!([]), thread, MEMBER, 0);
    assert!(answer(&fake, refused).await.contains("Only the team"));
    let quiet = fake.send_message(thread, member, "still there?");
    assert_eq!(
        bot.outcome(quiet).await,
        Outcome::Skipped(Skip::ConversationPaused)
    );
    let manage_messages = 1 << 13;
    let resumed = fake.send_command("resume", json!([]), thread, OTHER_MEMBER, manage_messages);
    assert!(answer(&fake, resumed).await.contains("again"));
    let follow_up = fake.send_message(thread, member, "and how do I restore a backup?");
    assert!(matches!(
        bot.outcome(follow_up).await,
        Outcome::Responded { .. }
    ));
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn who_counts_as_staff_follows_the_channels_permission_overwrites() {
    let fake = FakeDiscord::start().await;
    let manage_messages = 1 << 13;
    // Moderators of another area: their role may not manage messages in the support channel.
    fake.overwrite_in(SUPPORT_CHANNEL, MOD_ROLE, false, 0, manage_messages);
    // A helper with no staff role, allowed to manage messages in the support channel only.
    fake.overwrite_in(SUPPORT_CHANNEL, OTHER_MEMBER, true, manage_messages, 0);
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;
    let store = db.store().await;
    let member = Author::Member(MEMBER);

    let thread = answered_in_thread(&fake, &bot, member).await;
    let moderator = fake.send_message_with_roles(
        thread,
        Author::Member(1_021_554_872_993_447_938),
        "which plan are you on?",
        &[MOD_ROLE],
    );
    assert_ne!(
        bot.outcome(moderator).await,
        Outcome::Skipped(Skip::StaffReplied),
        "a role denied Manage Messages here is not staff here"
    );
    let status = async || {
        store
            .conversation_by_thread(GUILD_ID as i64, thread as i64)
            .await
            .unwrap()
            .unwrap()
            .status
    };
    assert_eq!(status().await, ConversationStatus::Open);

    let helper = fake.send_message(thread, Author::Member(OTHER_MEMBER), "I'll take this one.");
    assert_eq!(
        bot.outcome(helper).await,
        Outcome::Skipped(Skip::StaffReplied),
        "a member allowed Manage Messages here is staff here"
    );
    assert_eq!(status().await, ConversationStatus::Paused);
    bot.stop().await.unwrap();
}
