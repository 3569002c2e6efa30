//! Forum channels: in `forum` mode every new post is answered inside the post (its title is
//! part of the question), follow-ups there need no mention, and the forum's own tags show
//! where each post stands. Through the real client against the fake Discord.

use axum::http::Method;
use serde_json::json;
use supportbot::pipeline::Outcome;
use tests::fake_discord::{Author, FakeDiscord, OWNER_ID, SUPPORT_CHANNEL};
use tests::{RunningBot, TestDb};

use crate::e2e::{DOCS, MANAGE_GUILD, MEMBER, WAIT, is_post_to};
use crate::member_commands::{content, private_text};

/// The help forum, made in 2024.
const FORUM: u64 = 1_241_093_826_339_225_600;
/// A forum for ideas, left in the default `mention` mode.
const IDEAS: u64 = 1_241_093_826_339_225_601;

/// `/channel mode forum` for `channel`, which Discord resolves with its type.
fn forum_mode(fake: &FakeDiscord, channel: u64, kind: u8) -> u64 {
    fake.send_command_resolved(
        "channel",
        json!([{"name": "mode", "type": 1, "options": [
            {"name": "mode", "type": 4, "value": 3},
            {"name": "channel", "type": 7, "value": channel.to_string()}
        ]}]),
        json!({"channels": {channel.to_string(): {
            "id": channel.to_string(), "type": kind, "name": "help", "permissions": "1024"
        }}}),
        SUPPORT_CHANNEL,
        OWNER_ID,
        MANAGE_GUILD,
    )
}

async fn answer_in(fake: &FakeDiscord, post: u64) -> String {
    let call = fake
        .wait_for_call("the answer inside the post", WAIT, is_post_to(post))
        .await;
    call.body["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn tags_of(fake: &FakeDiscord, post: u64) -> Vec<String> {
    fake.wait_for_call("the post's tags", WAIT, |c| {
        c.method == Method::PATCH && c.path == format!("/api/v10/channels/{post}")
    })
    .await;
    fake.post_tags(post)
}

#[tokio::test]
async fn every_new_forum_post_is_answered_inside_it_and_tagged_with_the_forums_own_tags() {
    let fake = FakeDiscord::start().await;
    fake.add_forum_channel(
        FORUM,
        "help",
        &["✅ Answered", "Needs human", "Solved", "bug"],
    );
    fake.add_forum_channel(IDEAS, "ideas", &["Answered"]);
    let db = TestDb::sqlite();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let refused = forum_mode(&fake, SUPPORT_CHANNEL, 0);
    assert!(content(&private_text(&fake, refused).await).contains("forum channels"));
    let set = forum_mode(&fake, FORUM, 15);
    assert!(content(&private_text(&fake, set).await).contains("every new post"));

    // The question is in the title; the body alone asks nothing.
    let post = fake.create_forum_post(
        FORUM,
        Author::Member(MEMBER),
        "How do I reset my API key?",
        "Our scripts started failing this morning.",
    );
    let answer = answer_in(&fake, post).await;
    assert!(answer.contains("Reset key"), "{answer}");
    assert!(
        !fake.calls().iter().any(|c| c.path.ends_with("/threads")),
        "a post is already a thread: no new one"
    );
    assert_eq!(tags_of(&fake, post).await, ["✅ Answered"]);

    // A follow-up in the post needs no mention.
    let follow_up = fake.send_message(
        post,
        Author::Member(MEMBER),
        "and how do I restore a backup?",
    );
    assert!(matches!(
        bot.outcome(follow_up).await,
        Outcome::Responded { .. }
    ));

    // The member marks it resolved with the answer's button: the post shows it.
    let Outcome::Responded {
        conversation_id,
        reply_ids,
        ..
    } = bot.outcome(post).await
    else {
        panic!("the post was answered");
    };
    let resolve = format!("{}{conversation_id}", supportbot::pipeline::RESOLVED_BUTTON);
    let answer_id = *reply_ids.last().unwrap();
    fake.click_button_on(&resolve, post, answer_id, MEMBER, 0, &[]);
    let patches = |fake: &FakeDiscord| {
        fake.calls()
            .iter()
            .filter(|c| c.method == Method::PATCH && c.path == format!("/api/v10/channels/{post}"))
            .count()
    };
    fake.wait_for_call("the post's second tag change", WAIT, |_| {
        patches(&fake) == 2
    })
    .await;
    assert_eq!(fake.post_tags(post), ["Solved"], "Solved replaces Answered");

    // What the docs don't cover goes to people, and the post says so.
    let uncovered = fake.create_forum_post(
        FORUM,
        Author::Member(MEMBER),
        "SAML single sign-on with Okta?",
        "How do we configure SAML SSO for our workspace?",
    );
    let handoff = answer_in(&fake, uncovered).await;
    assert!(!handoff.contains("Sources"), "{handoff}");
    assert_eq!(tags_of(&fake, uncovered).await, ["Needs human"]);

    // A post in a forum left in `mention` mode is not answered unasked.
    let idea = fake.create_forum_post(
        IDEAS,
        Author::Member(MEMBER),
        "How do I reset my API key?",
        "Asking here by mistake.",
    );
    assert_eq!(
        bot.outcome(idea).await,
        Outcome::Skipped(supportbot::pipeline::Skip::NotAddressed)
    );
    assert!(fake.post_tags(idea).is_empty());
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.method == Method::POST && c.path.ends_with("/messages"))
            .count(),
        3,
        "one answer per post in the help forum and one for the follow-up"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn without_manage_threads_the_post_is_still_answered_and_only_the_tag_is_missing() {
    let fake = FakeDiscord::start().await;
    fake.add_forum_channel(FORUM, "help", &["Answered", "Needs human", "Solved"]);
    // The bot's role without Manage Threads.
    fake.set_bot_role_permissions(
        tests::fake_discord::perm::MANAGE_MESSAGES | tests::fake_discord::perm::MODERATE_MEMBERS,
    );
    let db = TestDb::sqlite();
    let store = db.store().await;
    store
        .set_channel_mode(
            tests::fake_discord::GUILD_ID as i64,
            FORUM as i64,
            store::ChannelMode::Forum,
            None,
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let post = fake.create_forum_post(
        FORUM,
        Author::Member(MEMBER),
        "How do I reset my API key?",
        "It stopped working.",
    );
    assert!(answer_in(&fake, post).await.contains("Reset key"));
    assert!(matches!(bot.outcome(post).await, Outcome::Responded { .. }));
    let refused = fake
        .wait_for_call("the refused tag change", WAIT, |c| {
            c.method == Method::PATCH && c.path == format!("/api/v10/channels/{post}")
        })
        .await;
    assert!(refused.body["applied_tags"].is_array());
    assert!(fake.post_tags(post).is_empty(), "Discord refused the tag");
    bot.stop().await.unwrap();
}
