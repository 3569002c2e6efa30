//! Gateway failures as Discord produces them: a wrong token (4004) and a refused privileged
//! intent (4014) end `run` with one line an admin can act on; op 7 and op 9 (resumable or not)
//! are followed; RESUME replays what the client missed; a missed heartbeat ACK reconnects.

use std::time::Duration;

use secrecy::SecretString;
use supportbot::pipeline::Outcome;
use tests::fake_discord::{Author, FakeDiscord, GatewayOp, SUPPORT_CHANNEL};
use tests::{RunningBot, TestDb};

use crate::e2e::{MEMBER, WAIT, enable_support_channel, is_post_to, is_thread_on, thread_for};

/// What `run` returned, as `supportbot run` prints it (`error: {e:#}`).
async fn run_error(bot: RunningBot) -> String {
    let result = tokio::time::timeout(Duration::from_secs(20), bot.handle)
        .await
        .expect("run gives up instead of reconnecting forever")
        .expect("the bot task did not panic");
    let e = result.expect_err("run fails");
    format!("{e:#}")
}

#[tokio::test]
async fn a_rejected_token_ends_run_with_one_line_saying_so() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::launch(&fake, &db, &[], |config| {
        config.discord.token = Some(SecretString::from("MTA4.wrong.token"));
    })
    .await;
    let line = run_error(bot).await;
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(line.contains("rejected the bot token"), "{line}");
    assert!(
        line.contains("Reset Token"),
        "says where to get one: {line}"
    );
    assert!(
        !line.contains("MTA4.wrong.token"),
        "never the token itself: {line}"
    );
    assert!(matches!(fake.gateway_ops()[..], [GatewayOp::Identify(_)]));
}

#[tokio::test]
async fn a_refused_message_content_intent_ends_run_with_one_line_saying_how_to_turn_it_on() {
    let fake = FakeDiscord::start().await;
    fake.refuse_privileged_intents();
    let db = TestDb::sqlite();
    let bot = RunningBot::launch(&fake, &db, &[], |_| {}).await;
    let line = run_error(bot).await;
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(
        line.contains("Message Content Intent") && line.contains("Developer Portal"),
        "{line}"
    );
}

/// Sends a question and checks it gets exactly one thread and one reply.
async fn answered_once(fake: &FakeDiscord, bot: &RunningBot, text: &str) {
    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), text);
    answered_once_after(fake, bot, message).await;
}

async fn answered_once_after(fake: &FakeDiscord, bot: &RunningBot, message: u64) {
    let thread = thread_for(fake, message).await;
    assert!(matches!(
        bot.outcome(message).await,
        Outcome::Responded { .. }
    ));
    let count = |pred: &dyn Fn(&tests::fake_discord::RestCall) -> bool| {
        fake.calls().iter().filter(|c| pred(c)).count()
    };
    assert_eq!(count(&is_thread_on(SUPPORT_CHANNEL, message)), 1);
    assert_eq!(count(&is_post_to(thread)), 1);
}

async fn running(fake: &FakeDiscord, db: &TestDb) -> RunningBot {
    enable_support_channel(db).await;
    let bot = RunningBot::start(fake, db).await;
    fake.wait_for_gateway_ops(1, WAIT).await;
    bot
}

#[tokio::test]
async fn a_message_sent_while_the_connection_was_down_is_replayed_on_resume_and_answered_once() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = running(&fake, &db).await;

    fake.drop_connection();
    // Nothing is connected now: Discord keeps the event for the session.
    let message = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my API key?",
    );
    let ops = fake.wait_for_gateway_ops(2, Duration::from_secs(30)).await;
    assert!(matches!(ops[1], GatewayOp::Resume(_)), "{ops:?}");
    answered_once_after(&fake, &bot, message).await;
    assert_eq!(bot.outcomes(message, 1).await.len(), 1);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn op_7_reconnect_is_followed_by_a_resume() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = running(&fake, &db).await;

    fake.request_reconnect();
    let ops = fake.wait_for_gateway_ops(2, Duration::from_secs(30)).await;
    assert!(matches!(ops[1], GatewayOp::Resume(_)), "{ops:?}");
    answered_once(&fake, &bot, "after op 7: how do I reset my API key?").await;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn op_9_resumable_resumes_and_op_9_not_resumable_identifies_again() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = running(&fake, &db).await;

    fake.invalidate_session(true);
    let ops = fake.wait_for_gateway_ops(2, Duration::from_secs(30)).await;
    assert!(matches!(ops[1], GatewayOp::Resume(_)), "{ops:?}");
    answered_once(
        &fake,
        &bot,
        "after a resumable op 9: how do I reset my API key?",
    )
    .await;

    fake.invalidate_session(false);
    let ops = fake.wait_for_gateway_ops(3, Duration::from_secs(30)).await;
    assert!(matches!(ops[2], GatewayOp::Identify(_)), "{ops:?}");
    answered_once(
        &fake,
        &bot,
        "after a new session: how do I reset my API key?",
    )
    .await;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_missed_heartbeat_ack_makes_the_client_reconnect() {
    let fake = FakeDiscord::start().await;
    fake.set_heartbeat_interval(Duration::from_millis(300));
    let db = TestDb::sqlite();
    let bot = running(&fake, &db).await;
    assert_eq!(fake.connections(), 1);

    fake.withhold_heartbeat_acks(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while fake.connections() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconnect after an unacknowledged heartbeat"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fake.wait_for_gateway_ops(2, Duration::from_secs(15)).await;
    answered_once(
        &fake,
        &bot,
        "after the reconnect: how do I reset my API key?",
    )
    .await;
    bot.stop().await.unwrap();
}
