//! Gateway payloads as a buggy client library, a Discord change or an attacker could shape
//! them, through the real serenity client into the pipeline. Whatever arrives, the bot stays
//! up, its requests stay valid against Discord's spec, and the next ordinary question is
//! answered.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use tests::fake_discord::{Author, FakeDiscord, SUPPORT_CHANNEL};
use tests::{RunningBot, TestDb};

use crate::e2e::{MEMBER, WAIT, enable_support_channel, thread_for};

/// A value of the wrong kind, an extreme one, or one that is hard to carry.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1e308)),
        Just(json!(u64::MAX)),
        Just(json!("")),
        Just(json!("18446744073709551616")),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
        (1usize..120_000).prop_map(|n| json!("x".repeat(n))),
        (1usize..200).prop_map(|d| {
            let mut v = json!("deep");
            for _ in 0..d {
                v = json!([v]);
            }
            v
        }),
        "\\PC{0,64}".prop_map(Value::String),
    ]
}

/// What a member's text can be: ordinary, enormous, or Unicode that breaks naive code.
fn content() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ?]{0,80}",
        "\\PC{0,200}",
        (1usize..6_000).prop_map(|n| "é".repeat(n)),
        Just("\u{202E}\u{200B}@everyone <@&1> <#2> ||spoiler|| ```".to_string()),
        Just("Z\u{0351}\u{0352}\u{0353}\u{0354}".repeat(300)),
        Just("\u{0000}\u{FFFF}\u{FEFF}".to_string()),
    ]
}

/// A MESSAGE_CREATE in the support channel with some fields removed or replaced.
fn payload(fake: &FakeDiscord) -> impl Strategy<Value = Value> + use<> {
    let base = tests::fake_discord::message_payload(
        fake.next_id(),
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "",
        &[],
    );
    let fields: Vec<&'static str> = vec![
        "id",
        "channel_id",
        "guild_id",
        "author",
        "member",
        "content",
        "timestamp",
        "mentions",
        "mention_roles",
        "mention_everyone",
        "attachments",
        "embeds",
        "type",
        "flags",
        "author.id",
        "author.bot",
        "author.username",
        "member.roles",
    ];
    let edit = (prop::sample::select(fields), prop::option::of(odd_value()));
    // A message that mentions other members is addressed to them and not answered; most
    // cases mention no one, so they reach the answering path.
    let mentions = prop_oneof![
        3 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u64>(), 1..300),
    ];
    (
        content(),
        prop::collection::vec(edit, 0..4),
        mentions,
        any::<u64>(),
    )
        .prop_map(move |(text, edits, mentions, id)| {
            let mut p = base.clone();
            p["id"] = json!(id.to_string());
            // A different member each time, so the per-member limit does not hide the cases.
            p["author"]["id"] = json!((id >> 1).to_string());
            p["content"] = json!(format!("how do I reset the router? {text}"));
            p["mentions"] = mentions
                .iter()
                .map(|m| {
                    json!({"id": m.to_string(), "username": "someone", "discriminator": "0",
                           "global_name": null, "avatar": null})
                })
                .collect();
            for (field, value) in edits {
                let (object, key) = match field.split_once('.') {
                    Some((outer, key)) => (&mut p[outer], key),
                    None => (&mut p, field),
                };
                if let Some(object) = object.as_object_mut() {
                    match value {
                        Some(v) => object.insert(key.to_string(), v),
                        None => object.remove(key),
                    };
                }
            }
            p
        })
}

#[tokio::test]
async fn malformed_and_extreme_message_payloads_never_take_the_bot_down() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    let bot = RunningBot::start(&fake, &db).await;

    // The same cases every run, so a failure can be replayed.
    let mut runner = TestRunner::deterministic();
    let strategy = payload(&fake);
    for _ in 0..32 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        fake.send_raw_dispatch("MESSAGE_CREATE", case);
    }

    let message = fake.send_message(SUPPORT_CHANNEL, Author::Member(MEMBER), "still there?");
    thread_for(&fake, message).await;
    // Cases are in the support channel: those that are still messages reach the pipeline, and
    // may finish after the last message (a handoff takes longer than a clarifying question).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let handled = bot.handled_count() - 1;
        if handled > 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {handled} cases got through to the pipeline"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    bot.stop().await.unwrap();
}
