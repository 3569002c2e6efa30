//! The same store behaviour, checked on SQLite and on Postgres.

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use store::{ChannelMode, ConversationStatus, HumanFirstDelay, MessageRole, NewMessage, Store};

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
    channel_modes_and_delays_are_kept_per_guild_and_channel,
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

async fn channel_modes_and_delays_are_kept_per_guild_and_channel(store: Store) {
    assert_eq!(store.channel_setting(1, 10).await.unwrap(), None);
    let delay = HumanFirstDelay::from_secs(90).unwrap();
    store
        .set_channel_mode(1, 10, ChannelMode::Auto, Some(delay), Some(99), t(1))
        .await
        .unwrap();
    let setting = store.channel_setting(1, 10).await.unwrap().unwrap();
    assert_eq!(
        (setting.mode, setting.human_first, setting.updated_by),
        (ChannelMode::Auto, delay, Some(99))
    );
    assert_eq!(
        store.channel_setting(2, 10).await.unwrap(),
        None,
        "another guild's channel of the same ID keeps the defaults"
    );
    // A new mode without a delay keeps the delay; `/support disable` is `mention`.
    store
        .set_channel_mode(1, 10, ChannelMode::Off, None, Some(98), t(2))
        .await
        .unwrap();
    let setting = store.channel_setting(1, 10).await.unwrap().unwrap();
    assert_eq!(
        (setting.mode, setting.human_first),
        (ChannelMode::Off, delay)
    );
    store
        .set_channel_enabled(1, 10, false, None, t(3))
        .await
        .unwrap();
    let setting = store.channel_setting(1, 10).await.unwrap().unwrap();
    assert_eq!(
        (setting.mode, setting.human_first),
        (ChannelMode::Mention, delay)
    );
    store
        .set_channel_mode(1, 11, ChannelMode::Auto, None, None, t(4))
        .await
        .unwrap();
    let settings = store.channel_settings(1).await.unwrap();
    assert_eq!(
        settings
            .iter()
            .map(|s| (s.channel_id, s.mode, s.human_first.secs()))
            .collect::<Vec<_>>(),
        [(10, ChannelMode::Mention, 90), (11, ChannelMode::Auto, 0)]
    );
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

mod audit {
    use super::t;
    use store::{AuditFilter, NewAuditEntry, Store};

    conformance!(
        audit_entries_filter_page_and_expire,
        guild_settings_round_trip
    );

    fn entry(guild: i64, author: i64, category: &'static str, secs: i64) -> NewAuditEntry<'static> {
        NewAuditEntry {
            guild_id: guild,
            channel_id: 10,
            message_id: 1000 + secs,
            author_id: author,
            verdict: "block",
            category,
            rule: "test.rule",
            model: None,
            model_verdict: None,
            score: 0.9,
            action: "delete",
            action_status: "pending",
            excerpt: Some("free nitro at hxxp://dlscord[.]gift"),
            excerpt_expires_at: Some(t(100)),
            created_at: t(secs),
        }
    }

    async fn audit_entries_filter_page_and_expire(store: Store) {
        store.upsert_guild(1, t(0)).await.unwrap();
        store.upsert_guild(2, t(0)).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..5 {
            let category = if i % 2 == 0 { "scam" } else { "spam" };
            ids.push(
                store
                    .insert_audit(&entry(1, 7 + i % 2, category, i))
                    .await
                    .unwrap(),
            );
        }
        store.insert_audit(&entry(2, 7, "scam", 0)).await.unwrap();

        let all = store
            .list_audit(
                1,
                &AuditFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 5, "only this guild's entries");
        assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");

        let scams = store
            .list_audit(
                1,
                &AuditFilter {
                    category: Some("scam".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(scams.len(), 3);
        let by_author = store
            .list_audit(
                1,
                &AuditFilter {
                    author_id: Some(8),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(by_author.len(), 2);
        let recent = store
            .list_audit(
                1,
                &AuditFilter {
                    since: Some(t(3)),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(recent.len(), 2);
        let page = store
            .list_audit(
                1,
                &AuditFilter {
                    before_id: Some(all[1].id),
                    limit: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            page.iter().map(|e| e.id).collect::<Vec<_>>(),
            [all[2].id, all[3].id]
        );

        store
            .set_audit_action_result(1, ids[0], "failed", Some("Missing Permissions (50013)"))
            .await
            .unwrap();
        store
            .set_audit_action_result(2, ids[1], "ok", None)
            .await
            .unwrap();
        let all = store
            .list_audit(
                1,
                &AuditFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let first = all.iter().find(|e| e.id == ids[0]).unwrap();
        assert_eq!(first.action_status, "failed");
        assert_eq!(
            first.action_error.as_deref(),
            Some("Missing Permissions (50013)")
        );
        let second = all.iter().find(|e| e.id == ids[1]).unwrap();
        assert_eq!(
            second.action_status, "pending",
            "another guild cannot change it"
        );

        assert_eq!(store.expire_audit_excerpts(t(99)).await.unwrap(), 0);
        assert_eq!(store.expire_audit_excerpts(t(100)).await.unwrap(), 6);
        let all = store
            .list_audit(
                1,
                &AuditFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            all.iter().all(|e| e.excerpt.is_none()),
            "excerpts gone, entries kept"
        );
        assert_eq!(all.len(), 5);
    }

    async fn guild_settings_round_trip(store: Store) {
        assert_eq!(
            store.guild_settings(1).await.unwrap(),
            serde_json::json!({})
        );
        let settings = serde_json::json!({"staff_channel_id": 42, "policy": {"shadow": true}});
        store.set_guild_settings(1, &settings, t(0)).await.unwrap();
        assert_eq!(store.guild_settings(1).await.unwrap(), settings);
        assert_eq!(
            store.guild_settings(2).await.unwrap(),
            serde_json::json!({})
        );
        assert!(store.guild(1).await.unwrap().is_some());
    }
}

mod retention {
    use super::t;
    use store::{AuditFilter, MessageRole, NewAuditEntry, NewMessage, RetentionCutoffs, Store};

    conformance!(old_content_is_zeroed_and_old_audit_removed);

    async fn old_content_is_zeroed_and_old_audit_removed(store: Store) {
        let c = store
            .start_conversation(1, 10, 500, 7, t(0))
            .await
            .unwrap()
            .unwrap();
        for (i, at) in [t(0), t(50)].into_iter().enumerate() {
            store
                .append_message(&NewMessage {
                    guild_id: 1,
                    conversation_id: c.id,
                    channel_id: 10,
                    discord_message_id: Some(500 + i as i64),
                    author_id: 7,
                    role: MessageRole::Member,
                    content: "my order number is 1234",
                    created_at: at,
                })
                .await
                .unwrap();
        }
        for (i, at) in [t(0), t(50)].into_iter().enumerate() {
            store
                .insert_audit(&NewAuditEntry {
                    guild_id: 1,
                    channel_id: 10,
                    message_id: 900 + i as i64,
                    author_id: 7,
                    verdict: "block",
                    category: "spam",
                    rule: "spam.test",
                    model: None,
                    model_verdict: None,
                    score: 1.0,
                    action: "delete",
                    action_status: "ok",
                    excerpt: Some("buy now"),
                    excerpt_expires_at: Some(at + chrono::Duration::seconds(20)),
                    created_at: at,
                })
                .await
                .unwrap();
        }
        let report = store
            .apply_retention(RetentionCutoffs {
                now: t(30),
                messages_before: t(10),
                traces_before: t(10),
                audit_before: t(10),
                guild_id: None,
            })
            .await
            .unwrap();
        assert_eq!(report.message_contents_zeroed, 1);
        assert_eq!(report.audit_entries_deleted, 1);
        let messages = store.conversation_messages(1, c.id).await.unwrap();
        assert_eq!(messages[0].content, "");
        assert_eq!(messages[1].content, "my order number is 1234");
        let audit = store
            .list_audit(
                1,
                &AuditFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].excerpt.as_deref(), Some("buy now"));

        let again = store
            .apply_retention(RetentionCutoffs {
                now: t(80),
                messages_before: t(10),
                traces_before: t(10),
                audit_before: t(10),
                guild_id: None,
            })
            .await
            .unwrap();
        assert_eq!(
            again.message_contents_zeroed, 0,
            "already zeroed rows are not counted twice"
        );
        assert_eq!(again.audit_excerpts_cleared, 1);
    }
}

mod knowledge_sources {
    use super::t;
    use chrono::SubsecRound;
    use store::{KnowledgeSourceStatus, Store};

    conformance!(sources_are_idempotent_tracked_and_scoped_by_guild);

    async fn sources_are_idempotent_tracked_and_scoped_by_guild(store: Store) {
        let a = store
            .upsert_knowledge_source(1, "path", "/docs", t(0))
            .await
            .unwrap();
        let again = store
            .upsert_knowledge_source(1, "path", "/docs", t(5))
            .await
            .unwrap();
        assert_eq!(
            a.id, again.id,
            "re-adding the same location is the same source"
        );
        assert_eq!(a.status, KnowledgeSourceStatus::Pending);
        let other = store
            .upsert_knowledge_source(2, "path", "/docs", t(0))
            .await
            .unwrap();
        assert_ne!(other.id, a.id);

        store
            .mark_knowledge_source_indexed(1, a.id, "abc123", 42, t(10))
            .await
            .unwrap();
        let s = store.knowledge_source(1, a.id).await.unwrap().unwrap();
        assert_eq!(s.status, KnowledgeSourceStatus::Indexed);
        assert_eq!(
            (s.content_hash.as_deref(), s.chunk_count),
            (Some("abc123"), 42)
        );
        assert_eq!(s.indexed_at, Some(t(10).trunc_subsecs(6)));

        store
            .mark_knowledge_source_failed(1, a.id, "page returned 404", t(20))
            .await
            .unwrap();
        let s = store.knowledge_source(1, a.id).await.unwrap().unwrap();
        assert_eq!(s.status, KnowledgeSourceStatus::Failed);
        assert_eq!(s.last_error.as_deref(), Some("page returned 404"));

        assert!(
            store.knowledge_source(2, a.id).await.unwrap().is_none(),
            "other guild cannot read it"
        );
        assert!(
            !store.remove_knowledge_source(2, a.id).await.unwrap(),
            "or remove it"
        );
        assert_eq!(store.knowledge_sources(1).await.unwrap().len(), 1);
        assert!(store.remove_knowledge_source(1, a.id).await.unwrap());
        assert!(store.knowledge_sources(1).await.unwrap().is_empty());
        assert_eq!(store.knowledge_sources(2).await.unwrap().len(), 1);
    }
}

/// Migration 0004 on a database holding channels from before modes: an enabled channel answered
/// every question (now `auto`), a disabled one answered mentions (now `mention`).
mod channel_modes_migration {
    use std::path::Path;
    use std::str::FromStr;

    use sqlx::migrate::Migrator;
    use sqlx::{Connection, Executor};
    use store::ChannelMode;
    use tests::{Kind, TestDb};

    const BEFORE_MODES: i64 = 3;
    const OLD_ROWS: [&str; 3] = [
        "INSERT INTO guilds (guild_id, joined_at, created_at, updated_at)
         VALUES (1, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
        "INSERT INTO channel_settings (guild_id, channel_id, enabled, updated_by, updated_at)
         VALUES (1, 10, TRUE, 99, '2024-01-01T00:00:00Z')",
        "INSERT INTO channel_settings (guild_id, channel_id, enabled, updated_by, updated_at)
         VALUES (1, 11, FALSE, NULL, '2024-01-01T00:00:00Z')",
    ];

    async fn migrator(flavour: &str) -> Migrator {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../migrations")
            .join(flavour);
        Migrator::new(dir).await.expect("read the migrations")
    }

    async fn enabled_becomes_auto_and_disabled_mention(kind: Kind) {
        let db = TestDb::new(kind).await;
        match kind {
            Kind::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                    .unwrap()
                    .create_if_missing(true);
                let path = options.get_filename().to_path_buf();
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                migrator("sqlite")
                    .await
                    .run_to(BEFORE_MODES, &mut conn)
                    .await
                    .unwrap();
                for sql in OLD_ROWS {
                    conn.execute(sql).await.unwrap();
                }
                conn.close().await.unwrap();
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                migrator("postgres")
                    .await
                    .run_to(BEFORE_MODES, &mut conn)
                    .await
                    .unwrap();
                for sql in OLD_ROWS {
                    conn.execute(sql).await.unwrap();
                }
                conn.close().await.unwrap();
            }
        }
        let store = db.store().await;
        let settings = store.channel_settings(1).await.unwrap();
        assert_eq!(
            settings
                .iter()
                .map(|s| (s.channel_id, s.mode, s.human_first.secs(), s.updated_by))
                .collect::<Vec<_>>(),
            [
                (10, ChannelMode::Auto, 0, Some(99)),
                (11, ChannelMode::Mention, 0, None)
            ]
        );
    }

    #[tokio::test]
    async fn on_sqlite() {
        enabled_becomes_auto_and_disabled_mention(Kind::Sqlite).await;
    }

    #[tokio::test]
    async fn on_postgres() {
        enabled_becomes_auto_and_disabled_mention(Kind::Postgres).await;
    }
}

/// `/stats`' query: outcomes counted on the day they happened, feedback once per member per
/// answer, audit verdicts acted on, and never another guild's rows.
mod stats {
    use super::t;
    use chrono::{Duration, NaiveDate};
    use store::{ConversationStatus, DayCounts, NewAuditEntry, Store};

    conformance!(guild_stats_count_outcomes_by_day_and_never_another_guild);

    fn verdict(
        guild: i64,
        verdict: &'static str,
        category: &'static str,
        status: &'static str,
        secs: i64,
    ) -> NewAuditEntry<'static> {
        NewAuditEntry {
            guild_id: guild,
            channel_id: 10,
            message_id: 5000 + secs,
            author_id: 9,
            verdict,
            category,
            rule: "test.rule",
            model: None,
            model_verdict: None,
            score: 0.9,
            action: "delete",
            action_status: status,
            excerpt: None,
            excerpt_expires_at: None,
            created_at: t(secs),
        }
    }

    /// A conversation of `guild` started at `secs`; with `waited_ms`, the bot responded that
    /// much later (a reply from the docs under 2 s, a question back otherwise).
    async fn asked(store: &Store, guild: i64, origin: i64, secs: i64, waited_ms: i64) -> i64 {
        let c = store
            .start_conversation(guild, 10, origin, 5, t(secs))
            .await
            .unwrap()
            .unwrap();
        if waited_ms > 0 {
            store
                .record_response(guild, c.id, waited_ms, waited_ms < 2000, t(secs + 1))
                .await
                .unwrap();
        }
        c.id
    }

    async fn guild_stats_count_outcomes_by_day_and_never_another_guild(store: Store) {
        const DAY: i64 = 86_400;
        // t(0) is 2023-11-14 22:13:20 UTC; t(6600) is a few minutes into the 15th.
        let c1 = asked(&store, 1, 101, 0, 500).await;
        let c2 = asked(&store, 1, 102, 10, 1500).await;
        let c3 = asked(&store, 1, 103, 20, 3000).await;
        let before_window = asked(&store, 1, 104, -2 * DAY, 0).await;
        // A later answer keeps the first wait.
        store
            .record_response(1, c1, 60_000, true, t(50))
            .await
            .unwrap();
        assert!(store.resolve_conversation(1, c1, t(6600)).await.unwrap());
        assert!(
            !store.resolve_conversation(1, c1, t(6700)).await.unwrap(),
            "resolving twice changes nothing"
        );
        store
            .set_conversation_status(1, c2, ConversationStatus::HandedOff, t(20))
            .await
            .unwrap();
        store
            .set_conversation_status(1, c2, ConversationStatus::Open, t(25))
            .await
            .unwrap();
        store.resolve_conversation(1, c2, t(30)).await.unwrap();
        store
            .set_conversation_status(1, c3, ConversationStatus::Paused, t(25))
            .await
            .unwrap();
        store
            .resolve_conversation(1, before_window, t(40))
            .await
            .unwrap();
        for (user, rating) in [(5, -1), (5, -1), (6, -1), (7, 1)] {
            store
                .record_feedback(1, Some(c2), 900, user, rating, t(60))
                .await
                .unwrap();
        }
        for e in [
            verdict(1, "block", "spam", "ok", 5),
            verdict(1, "block", "spam", "failed", 6),
            verdict(1, "block", "scam", "ok", 7),
            verdict(1, "block", "scam", "shadow", 8),
            verdict(1, "escalate", "self_harm", "ok", 9),
            verdict(1, "escalate", "human_request", "ok", 11),
        ] {
            store.insert_audit(&e).await.unwrap();
        }
        // Guild 2, busy in the same hours.
        let other = asked(&store, 2, 201, 0, 100).await;
        store.resolve_conversation(2, other, t(30)).await.unwrap();
        store
            .set_conversation_status(2, other, ConversationStatus::HandedOff, t(31))
            .await
            .unwrap();
        store
            .record_feedback(2, Some(other), 901, 5, -1, t(60))
            .await
            .unwrap();
        store
            .insert_audit(&verdict(2, "block", "spam", "ok", 12))
            .await
            .unwrap();
        store
            .insert_audit(&verdict(2, "escalate", "legal", "ok", 13))
            .await
            .unwrap();

        let stats = store.guild_stats(1, t(-DAY), t(7200)).await.unwrap();
        assert_eq!(stats.questions, 3);
        assert_eq!(
            stats.answered, 2,
            "a reply from the docs, not a question back"
        );
        assert_eq!(
            stats.resolved, 3,
            "resolved in the window, asked before it or not"
        );
        assert_eq!(stats.resolved_without_human, 2);
        assert_eq!(stats.handed_off, 1);
        assert_eq!(stats.escalated, 1, "a request for a person is a handoff");
        assert_eq!(
            stats.blocked,
            [("spam".to_string(), 2), ("scam".to_string(), 1)],
            "shadow verdicts were not acted on"
        );
        assert_eq!(stats.not_helpful, 2);
        let mut waits = stats.response_ms.clone();
        waits.sort_unstable();
        assert_eq!(waits, [500, 1500, 3000]);
        assert_eq!(stats.latency_percentile(50), Some(1500));
        assert_eq!(stats.latency_percentile(90), Some(3000));
        let day = |d| NaiveDate::from_ymd_opt(2023, 11, d).unwrap();
        assert_eq!(
            stats.days,
            [
                (day(13), DayCounts::default()),
                (
                    day(14),
                    DayCounts {
                        questions: 3,
                        answered: 2,
                        handed_off: 1,
                        escalated: 1,
                        blocked: 3,
                        resolved: 2,
                    }
                ),
                (
                    day(15),
                    DayCounts {
                        resolved: 1,
                        ..DayCounts::default()
                    }
                ),
            ]
        );

        // Guild 2 sees only its own.
        let theirs = store.guild_stats(2, t(-DAY), t(7200)).await.unwrap();
        assert_eq!(
            (
                theirs.questions,
                theirs.resolved,
                theirs.handed_off,
                theirs.not_helpful,
                theirs.escalated,
                theirs.blocked_total()
            ),
            (1, 1, 1, 1, 1, 1)
        );
        assert_eq!(theirs.resolved_without_human, 0, "handed off after all");
        // An empty window.
        let later = store
            .guild_stats(1, t(30 * DAY), t(30 * DAY) + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(
            (later.questions, later.resolved, later.days.len()),
            (0, 0, 1)
        );
    }
}
