//! The same store behaviour, checked on SQLite and on Postgres.

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use store::{ConversationStatus, MessageRole, NewMessage, Store};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 123_456_789)
        .single()
        .expect("valid timestamp")
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = tests::TestDb::new(tests::Kind::Sqlite).await;
                    super::$name(db.store().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = tests::TestDb::new(tests::Kind::Postgres).await;
                    super::$name(db.store().await).await;
                }
            )*
        }
    };
}

conformance!(
    migrations_are_idempotent,
    guild_upsert_keeps_first_join_and_tracks_leaving,
    channels_are_disabled_until_enabled_and_scoped_by_guild,
    a_message_starts_one_conversation_only,
    messages_keep_order_content_and_time,
    replayed_messages_are_not_stored_twice,
    another_guild_cannot_touch_a_conversation,
    threads_map_back_to_their_conversation,
);

async fn migrations_are_idempotent(store: Store) {
    assert_eq!(store.migrate().await.unwrap(), 0, "open() already migrated");
    let status = store.migration_status().await.unwrap();
    assert!(status.pending.is_empty());
    assert_eq!(status.applied, status.known);
    store.ping().await.unwrap();
}

async fn guild_upsert_keeps_first_join_and_tracks_leaving(store: Store) {
    store.upsert_guild(1, t(0)).await.unwrap();
    store.upsert_guild(1, t(10)).await.unwrap();
    let g = store.guild(1).await.unwrap().unwrap();
    assert_eq!(g.joined_at, t(0).trunc_subsecs(6));
    assert_eq!(g.left_at, None);

    store.mark_guild_left(1, t(20)).await.unwrap();
    assert_eq!(
        store.guild(1).await.unwrap().unwrap().left_at,
        Some(t(20).trunc_subsecs(6))
    );
    store.upsert_guild(1, t(30)).await.unwrap();
    assert_eq!(store.guild(1).await.unwrap().unwrap().left_at, None);
    assert!(store.guild(2).await.unwrap().is_none());
}

async fn channels_are_disabled_until_enabled_and_scoped_by_guild(store: Store) {
    store.upsert_guild(1, t(0)).await.unwrap();
    store.upsert_guild(2, t(0)).await.unwrap();
    assert!(!store.is_channel_enabled(1, 10).await.unwrap());
    store
        .set_channel_enabled(1, 10, true, Some(99), t(1))
        .await
        .unwrap();
    assert!(store.is_channel_enabled(1, 10).await.unwrap());
    assert!(
        !store.is_channel_enabled(2, 10).await.unwrap(),
        "other guild unaffected"
    );
    store
        .set_channel_enabled(1, 10, false, Some(99), t(2))
        .await
        .unwrap();
    assert!(!store.is_channel_enabled(1, 10).await.unwrap());
    let settings = store.channel_settings(1).await.unwrap();
    assert_eq!(settings.len(), 1);
    assert_eq!(settings[0].updated_by, Some(99));
    assert!(store.channel_settings(2).await.unwrap().is_empty());
}

async fn a_message_starts_one_conversation_only(store: Store) {
    store.upsert_guild(1, t(0)).await.unwrap();
    let c = store
        .start_conversation(1, 10, 500, 7, t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.status, ConversationStatus::Open);
    assert_eq!(c.thread_id, None);
    assert!(
        store
            .start_conversation(1, 10, 500, 7, t(2))
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_conversation_status(1, c.id, ConversationStatus::Paused, t(3))
        .await
        .unwrap();
    let again = store.conversation(1, c.id).await.unwrap().unwrap();
    assert_eq!(again.status, ConversationStatus::Paused);
    assert_eq!(store.conversations(1).await.unwrap().len(), 1);
}

fn odd_text() -> String {
    let piece = "e\u{301}\u{302} \u{202E}evil\u{202C} 👩‍👩‍👧‍👦 \u{200B}zw\u{FEFF} مرحبا 𝔘𝔫𝔦 \0nul";
    piece
        .repeat(4000 / piece.chars().count() + 1)
        .chars()
        .take(4000)
        .collect()
}

async fn messages_keep_order_content_and_time(store: Store) {
    store.upsert_guild(1, t(0)).await.unwrap();
    let c = store
        .start_conversation(1, 10, 500, 7, t(1))
        .await
        .unwrap()
        .unwrap();
    let text = odd_text();
    for (i, (role, content)) in [
        (MessageRole::Member, text.as_str()),
        (MessageRole::Bot, "reply"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = store
            .append_message(&NewMessage {
                guild_id: 1,
                conversation_id: c.id,
                channel_id: 10,
                discord_message_id: Some(500 + i as i64),
                author_id: 7,
                role,
                content,
                created_at: t(2) + Duration::milliseconds(i as i64),
            })
            .await
            .unwrap();
        assert!(id.is_some());
    }
    let messages = store.conversation_messages(1, c.id).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[0].content,
        text.replace('\0', "\u{FFFD}"),
        "4,000 odd characters survive the round trip (NUL, which Postgres cannot store, becomes U+FFFD on both backends)"
    );
    assert_eq!(messages[0].role, MessageRole::Member);
    assert_eq!(messages[1].content, "reply");
    assert_eq!(messages[0].created_at, t(2).trunc_subsecs(6));
}

async fn replayed_messages_are_not_stored_twice(store: Store) {
    store.upsert_guild(1, t(0)).await.unwrap();
    let c = store
        .start_conversation(1, 10, 500, 7, t(1))
        .await
        .unwrap()
        .unwrap();
    let m = NewMessage {
        guild_id: 1,
        conversation_id: c.id,
        channel_id: 10,
        discord_message_id: Some(500),
        author_id: 7,
        role: MessageRole::Member,
        content: "hello",
        created_at: t(2),
    };
    assert!(store.append_message(&m).await.unwrap().is_some());
    assert!(store.append_message(&m).await.unwrap().is_none());
    // Bot replies that never reached Discord have no ID and may repeat.
    let failed = NewMessage {
        discord_message_id: None,
        role: MessageRole::Bot,
        ..m.clone()
    };
    assert!(store.append_message(&failed).await.unwrap().is_some());
    assert!(store.append_message(&failed).await.unwrap().is_some());
    assert_eq!(store.conversation_messages(1, c.id).await.unwrap().len(), 3);
}

async fn another_guild_cannot_touch_a_conversation(store: Store) {
    store.upsert_guild(1, t(0)).await.unwrap();
    store.upsert_guild(2, t(0)).await.unwrap();
    let c = store
        .start_conversation(1, 10, 500, 7, t(1))
        .await
        .unwrap()
        .unwrap();
    let foreign = NewMessage {
        guild_id: 2,
        conversation_id: c.id,
        channel_id: 10,
        discord_message_id: Some(501),
        author_id: 8,
        role: MessageRole::Member,
        content: "intrusion",
        created_at: t(2),
    };
    assert!(store.append_message(&foreign).await.unwrap().is_none());
    assert!(store.conversation(2, c.id).await.unwrap().is_none());
    assert!(
        store
            .conversation_messages(2, c.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .conversation_messages(1, c.id)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .set_conversation_thread(2, c.id, 77, t(3))
        .await
        .unwrap();
    assert_eq!(
        store
            .conversation(1, c.id)
            .await
            .unwrap()
            .unwrap()
            .thread_id,
        None
    );
}

async fn threads_map_back_to_their_conversation(store: Store) {
    store.upsert_guild(1, t(0)).await.unwrap();
    store.upsert_guild(2, t(0)).await.unwrap();
    let c = store
        .start_conversation(1, 10, 500, 7, t(1))
        .await
        .unwrap()
        .unwrap();
    store
        .set_conversation_thread(1, c.id, 77, t(2))
        .await
        .unwrap();
    let found = store.conversation_by_thread(1, 77).await.unwrap().unwrap();
    assert_eq!(found.id, c.id);
    assert_eq!(found.thread_id, Some(77));
    assert!(store.conversation_by_thread(2, 77).await.unwrap().is_none());
    assert!(store.conversation_by_thread(1, 78).await.unwrap().is_none());
}
