//! The bot against a guild as admins really set it up: permissions missing here and there,
//! members who refuse DMs, threads someone else started, channels and messages that are gone.
//! Discord refuses as it does (50013, 50007, 160004, 10003, 10008) and the bot copes the way an
//! admin would expect: nothing crashes, nothing is retried in a loop, the audit log says what
//! failed and why, and staff are told what to grant.

use axum::http::Method;
use serde_json::json;
use store::ConversationStatus;
use supportbot::pipeline::{DeliveryError, Outcome};
use tests::fake_discord::{
    Author, FakeDiscord, GUILD_ID, OTHER_CHANNEL, STAFF_CHANNEL, SUPPORT_CHANNEL, perm,
};
use tests::{RunningBot, TestDb};

use crate::e2e::{
    DOCS, MEMBER, WAIT, enable_support_channel, is_post_to, is_thread_on, thread_for,
};
use crate::moderation::{SCAM, is_delete_of, settled_audit, with_staff_channel};

fn calls_matching(
    fake: &FakeDiscord,
    pred: impl Fn(&tests::fake_discord::RestCall) -> bool,
) -> usize {
    fake.calls().iter().filter(|c| pred(c)).count()
}

#[tokio::test]
async fn without_manage_messages_a_scam_stays_up_and_staff_are_told_what_to_grant() {
    let fake = FakeDiscord::start().await;
    // The admin invited the bot with Moderate Members but not Manage Messages.
    fake.set_bot_role_permissions(perm::MODERATE_MEMBERS);
    let db = TestDb::sqlite();
    with_staff_channel(&db, json!({})).await;
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    let scam = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), SCAM);
    assert!(matches!(bot.outcome(scam).await, Outcome::Moderated(_)));
    let entry = settled_audit(&db, scam).await;
    assert_eq!(entry.action_status, "failed");
    let error = entry.action_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("delete") && error.contains("Missing Permissions"),
        "the audit row says the delete failed and why: {error}"
    );
    let notice = fake
        .wait_for_call("the staff notice", WAIT, is_post_to(STAFF_CHANNEL))
        .await;
    let text = notice.body["content"].as_str().unwrap_or_default();
    assert!(
        text.contains("could not delete") && text.contains("Manage Messages"),
        "staff learn what to grant: {text}"
    );
    assert!(
        text.contains(&format!(
            "https://discord.com/channels/{GUILD_ID}/{SUPPORT_CHANNEL}/{scam}"
        )),
        "and where the scam still is: {text}"
    );
    assert_eq!(
        calls_matching(&fake, is_delete_of(SUPPORT_CHANNEL, scam)),
        1,
        "a refused delete is not retried"
    );
    assert_eq!(
        calls_matching(&fake, is_thread_on(SUPPORT_CHANNEL, scam)),
        0,
        "a scam is not answered"
    );
    assert_eq!(
        fake.invalid_requests(),
        1,
        "one refusal, one invalid request"
    );

    // Nothing crashed: the next question is answered.
    let question = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER + 1),
        "how do I reset my password?",
    );
    thread_for(&fake, question).await;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn without_moderate_members_the_timeout_fails_and_the_scam_is_still_deleted() {
    let fake = FakeDiscord::start().await;
    fake.set_bot_role_permissions(perm::MANAGE_MESSAGES);
    let db = TestDb::sqlite();
    with_staff_channel(&db, json!({"timeout_minutes": 10})).await;
    let bot = RunningBot::start(&fake, &db).await;

    let scam = fake.send_message(OTHER_CHANNEL, Author::Member(MEMBER), SCAM);
    let entry = settled_audit(&db, scam).await;
    assert_eq!(entry.action_status, "failed");
    let error = entry.action_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("timeout") && error.contains("Missing Permissions"),
        "{error}"
    );
    assert!(!error.contains("delete"), "the delete worked: {error}");
    assert!(!fake.has_message(scam), "the scam is gone");
    let notice = fake
        .wait_for_call("the staff notice", WAIT, is_post_to(STAFF_CHANNEL))
        .await;
    let text = notice.body["content"].as_str().unwrap_or_default();
    assert!(text.contains("The message was deleted."), "{text}");
    assert!(
        text.contains(&format!("could not time <@{MEMBER}> out"))
            && text.contains("Moderate Members"),
        "{text}"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_staff_channel_the_bot_cannot_post_in_is_on_the_audit_row() {
    let fake = FakeDiscord::start().await;
    fake.deny_bot_in(STAFF_CHANNEL, perm::SEND_MESSAGES);
    let db = TestDb::sqlite();
    with_staff_channel(&db, json!({})).await;
    let bot = RunningBot::start(&fake, &db).await;

    let scam = fake.send_message(OTHER_CHANNEL, Author::Member(MEMBER), SCAM);
    let entry = settled_audit(&db, scam).await;
    assert_eq!(entry.action_status, "failed");
    let error = entry.action_error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("notify_staff: forbidden") && error.contains("Missing Permissions"),
        "{error}"
    );
    assert!(!fake.has_message(scam), "the scam was still deleted");
    assert_eq!(calls_matching(&fake, is_post_to(STAFF_CHANNEL)), 1);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn where_the_bot_may_not_open_threads_the_question_is_kept_and_nothing_retried() {
    let fake = FakeDiscord::start().await;
    fake.deny_bot_in(SUPPORT_CHANNEL, perm::CREATE_PUBLIC_THREADS);
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    let question = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my API key?",
    );
    match bot.outcome(question).await {
        Outcome::DeliveryFailed {
            error: DeliveryError::Forbidden(e),
            ..
        } => assert!(e.contains("Missing Permissions"), "{e}"),
        other => panic!("expected a refused thread, got {other:?}"),
    }
    assert_eq!(
        calls_matching(&fake, is_thread_on(SUPPORT_CHANNEL, question)),
        1
    );
    let store = db.store().await;
    let conversations = store.conversations(GUILD_ID as i64).await.unwrap();
    assert_eq!(conversations.len(), 1, "the question is on record");
    assert_eq!(conversations[0].thread_id, None);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_member_who_refuses_dms_still_has_the_leak_removed_and_staff_know() {
    let fake = FakeDiscord::start().await;
    fake.refuse_dms_from(MEMBER);
    let db = TestDb::sqlite();
    with_staff_channel(&db, json!({})).await;
    let bot = RunningBot::start(&fake, &db).await;

    let token = [
        "MTA4NjQ2NzA1NjI4MjQ4OTA4Ng",
        "GxYzAb",
        "abcdefghijklmnopqrstuvwxyz0123456789AB",
    ]
    .join(".");
    let leak = fake.send_message(
        OTHER_CHANNEL,
        Author::Member(MEMBER),
        &format!("my bot token is {token}"),
    );
    let entry = settled_audit(&db, leak).await;
    assert_eq!(entry.category, "secret");
    assert_eq!(entry.action_status, "failed");
    let error = entry.action_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("notify_author") && error.contains("Cannot send messages to this user"),
        "{error}"
    );
    assert!(!fake.has_message(leak), "the leak was deleted anyway");
    let notice = fake
        .wait_for_call("the staff notice", WAIT, is_post_to(STAFF_CHANNEL))
        .await;
    let text = notice.body["content"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!("could not send <@{MEMBER}> a private note")),
        "staff can tell the member themselves: {text}"
    );
    assert!(!text.contains(&token), "{text}");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_thread_the_member_already_started_gets_the_answer() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let question = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I restore a backup?",
    );
    // The member opens a thread on their own question before the bot gets to it.
    fake.start_member_thread(SUPPORT_CHANNEL, question, "restore help");
    let outcome = bot.outcome(question).await;
    let Outcome::Responded { thread_id, .. } = outcome else {
        panic!("the bot responded: {outcome:?}")
    };
    assert_eq!(thread_id, question, "a message's thread has its ID");
    assert_eq!(calls_matching(&fake, is_post_to(question)), 1);
    let store = db.store().await;
    let conversation = store
        .conversation_by_thread(GUILD_ID as i64, question as i64)
        .await
        .unwrap()
        .expect("the conversation lives in the member's thread");
    assert_eq!(conversation.status, ConversationStatus::Open);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn messages_and_channels_that_are_gone_are_handled_without_fuss() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    // The staff channel was deleted after it was configured.
    let gone_channel = fake.next_id();
    let store = db.store().await;
    store
        .set_guild_settings(
            GUILD_ID as i64,
            &json!({"staff_channel_id": gone_channel}),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let bot = RunningBot::start(&fake, &db).await;

    // A question its author deleted at once: Discord has no message to start a thread on.
    let question = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my API key?",
    );
    fake.remove_message(question);
    match bot.outcome(question).await {
        Outcome::DeliveryFailed {
            error: DeliveryError::NotFound(e),
            ..
        } => assert!(e.contains("Unknown Message"), "{e}"),
        other => panic!("expected Unknown Message, got {other:?}"),
    }

    // A scam a moderator removed first: the bot's delete finds nothing, which is what it
    // wanted; the notice to the deleted staff channel fails and says so.
    let scam = fake.send_message(OTHER_CHANNEL, Author::Member(MEMBER), SCAM);
    fake.remove_message(scam);
    let entry = settled_audit(&db, scam).await;
    let error = entry.action_error.as_deref().unwrap_or_default();
    assert_eq!(entry.action_status, "failed", "{entry:?}");
    assert!(
        !error.contains("delete"),
        "a message already gone is not a failure: {error}"
    );
    assert!(
        error.contains("notify_staff: not found") && error.contains("Unknown Channel"),
        "{error}"
    );
    assert_eq!(calls_matching(&fake, is_delete_of(OTHER_CHANNEL, scam)), 1);
    assert_eq!(
        calls_matching(&fake, |c| c.method == Method::POST
            && c.path == format!("/api/v10/channels/{gone_channel}/messages")),
        1
    );
    bot.stop().await.unwrap();
}
