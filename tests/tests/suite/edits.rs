//! Edits and deletions end to end through the fake Discord: an edit is moderated like a new
//! message but never answered twice, and a deleted message's stored text is forgotten.

use std::time::Duration;

use axum::http::Method;
use store::{MessageRole, Store};
use tests::fake_discord::{Author, FakeDiscord, GUILD_ID, OTHER_CHANNEL, SUPPORT_CHANNEL};
use tests::{RunningBot, TestDb};

use crate::e2e::{DOCS, MEMBER, WAIT, enable_support_channel, is_post_to, thread_for};
use crate::moderation::{is_delete_of, settled_audit};

const SCAM: &str = "Free nitro for everyone! claim here https://dlscord-gift.com/claim";

/// A made-up token in Discord's shape, assembled here so no token-looking literal sits in the
/// source.
fn token() -> String {
    [
        "MTA4NjQ2NzA1NjI4MjQ4OTA4Ng",
        "GxYzAb",
        "abcdefghijklmnopqrstuvwxyz0123456789AB",
    ]
    .join(".")
}

/// The stored text of Discord message `id`, once it is stored.
async fn stored_text(store: &Store, id: u64) -> Option<String> {
    for c in store.conversations(GUILD_ID as i64).await.unwrap() {
        let messages = store
            .conversation_messages(GUILD_ID as i64, c.id)
            .await
            .unwrap();
        if let Some(m) = messages
            .into_iter()
            .find(|m| m.discord_message_id == Some(id as i64) && m.role == MessageRole::Member)
        {
            return Some(m.content);
        }
    }
    None
}

/// Waits until the stored text of `id` satisfies `ok`.
async fn wait_for_text(store: &Store, id: u64, what: &str, ok: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = stored_text(store, id).await;
        if text.as_deref().is_some_and(&ok) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: message {id} is stored as {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_token_edited_into_a_message_is_removed_and_audited() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;

    let message = fake.send_message(
        OTHER_CHANNEL,
        Author::Member(MEMBER),
        "my bot will not start, pasting the config in a sec",
    );
    fake.inject_message_update(
        message,
        OTHER_CHANNEL,
        Author::Member(MEMBER),
        &format!("my bot will not start, config: token = {}", token()),
    );
    fake.wait_for_call(
        "the edited message's deletion",
        WAIT,
        is_delete_of(OTHER_CHANNEL, message),
    )
    .await;
    let entry = settled_audit(&db, message).await;
    assert_eq!(
        (entry.verdict.as_str(), entry.category.as_str()),
        ("block", "secret")
    );
    assert_eq!(entry.action_status, "ok");
    assert_eq!(entry.excerpt, None, "a token is never stored");
    fake.wait_for_call("the note to rotate it", WAIT, |c| {
        c.method == Method::POST
            && c.body["content"]
                .as_str()
                .is_some_and(|t| t.contains("rotate"))
    })
    .await;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn an_edited_answered_question_is_not_answered_again_but_is_still_moderated() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let question = "How do I reset my API key?";
    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), question);
    let thread = thread_for(&fake, message).await;

    fake.inject_message_update(
        message,
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "How do I reset my API key? I am on the free plan, if that matters",
    );
    // The stored question follows the edit: what a member takes out is not kept.
    let store = db.store().await;
    wait_for_text(
        &store,
        message,
        "the stored question follows the edit",
        |t| t.ends_with("if that matters"),
    )
    .await;
    // The same content again (Discord sends an update when an embed unfurls) is no edit.
    fake.inject_message_update(
        message,
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "How do I reset my API key? I am on the free plan, if that matters",
    );
    // A later edit that brings a scam is acted on: that is how we know edits were read.
    fake.inject_message_update(message, SUPPORT_CHANNEL, Author::Member(MEMBER), SCAM);
    fake.wait_for_call(
        "the scam edit's deletion",
        WAIT,
        is_delete_of(SUPPORT_CHANNEL, message),
    )
    .await;
    let entry = settled_audit(&db, message).await;
    assert_eq!(entry.category, "scam");
    // Everything the message caused is done once the pipeline has finished with it four
    // times: the question, the edit, the unchanged update, the scam edit.
    bot.outcomes(message, 4).await;

    let calls = fake.calls();
    let threads = calls
        .iter()
        .filter(|c| c.method == Method::POST && c.path.ends_with("/threads"))
        .count();
    let replies = calls.iter().filter(|c| is_post_to(thread)(c)).count();
    assert_eq!(threads, 1, "no second thread for an edit");
    assert_eq!(replies, 1, "no second answer for an edit");
    assert_eq!(
        calls
            .iter()
            .filter(|c| is_delete_of(SUPPORT_CHANNEL, message)(c))
            .count(),
        1,
        "one deletion"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_member_deleting_messages_removes_their_stored_text_one_or_in_bulk() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;
    let store = db.store().await;

    let question = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "How do I reset my API key?",
    );
    let thread = thread_for(&fake, question).await;
    wait_for_text(&store, question, "the question is stored", |t| {
        t.contains("reset my API key")
    })
    .await;
    let first = fake.send_message(
        thread,
        Author::Member(MEMBER),
        "How do I restore a backup from last week?",
    );
    let second = fake.send_message(
        thread,
        Author::Member(MEMBER),
        "And can a key be read-only for dashboards?",
    );
    for id in [first, second] {
        wait_for_text(&store, id, "the follow-up is stored", |t| !t.is_empty()).await;
    }

    fake.inject_message_delete(question, SUPPORT_CHANNEL);
    wait_for_text(
        &store,
        question,
        "the deleted question is forgotten",
        str::is_empty,
    )
    .await;

    fake.inject_message_delete_bulk(&[first, second], thread);
    for id in [first, second] {
        wait_for_text(
            &store,
            id,
            "a bulk-deleted message is forgotten",
            str::is_empty,
        )
        .await;
    }
    bot.stop().await.unwrap();
}
