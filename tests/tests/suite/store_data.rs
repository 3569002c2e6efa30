//! Export, erase, purge and forgetting deleted messages, on SQLite and on Postgres. What must be
//! gone is looked for in every column of every table the database reports, so a table added
//! later is checked without anyone remembering to add it here.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use store::{MessageRole, NewAuditEntry, NewMessage, NewTrace, Store};

const G1: i64 = 9_100_000_001;
const G2: i64 = 9_200_000_002;
/// The member who asks to be erased; also a member of G2.
const M: i64 = 7_770_001_110;
/// Another member of G1.
const O: i64 = 7_770_002_220;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0)
        .single()
        .expect("valid timestamp")
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = tests::TestDb::new(tests::Kind::Sqlite).await;
                    super::$name(&db, db.store().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = tests::TestDb::new(tests::Kind::Postgres).await;
                    super::$name(&db, db.store().await).await;
                }
            )*
        }
    };
}

both!(
    every_table_is_a_guild_table_and_a_guild_export_names_them_all,
    a_member_export_holds_every_row_about_the_member_and_nothing_else,
    an_erased_member_leaves_no_trace_but_verdicts,
    a_purged_guild_leaves_no_row_in_any_table,
    a_deleted_message_loses_its_text_and_its_audit_excerpt_keeps_the_verdict,
    the_database_refuses_rows_linking_across_guilds,
    retention_counts_match_and_a_guild_pass_stays_in_its_guild,
    guilds_that_left_are_due_after_their_grace_period,
    a_guild_secret_is_sealed_bound_to_its_guild_replaced_at_once_and_rotated,
    an_edit_replaces_stored_text_but_never_brings_forgotten_text_back,
);

/// A master key made of one repeated byte: enough for tests, never for use.
fn master_key(byte: u8) -> store::MasterKey {
    store::MasterKey::from_bytes(&[byte; store::MASTER_KEY_LEN]).expect("a valid master key")
}

fn secret(text: &str) -> secrecy::SecretString {
    secrecy::SecretString::from(text.to_string())
}

struct Fixture {
    m_conversation: i64,
    o_conversation: i64,
}

async fn message(
    store: &Store,
    guild: i64,
    conversation: i64,
    discord: i64,
    author: i64,
    text: &str,
) {
    let role = if author == 0 {
        MessageRole::Bot
    } else {
        MessageRole::Member
    };
    store
        .append_message(&NewMessage {
            guild_id: guild,
            conversation_id: conversation,
            channel_id: 10,
            discord_message_id: Some(discord),
            author_id: author,
            role,
            content: text,
            created_at: t(discord % 1000),
        })
        .await
        .unwrap()
        .expect("stored");
}

async fn trace(store: &Store, guild: i64, conversation: i64, discord: i64, text: &str) {
    store
        .insert_trace(&NewTrace {
            guild_id: guild,
            conversation_id: Some(conversation),
            message_id: Some(discord),
            kind: "reply",
            model: None,
            latency_ms: 5,
            tokens_in: 0,
            tokens_out: 0,
            payload: &serde_json::json!({"question": text, "answer": "see the docs"}),
            created_at: t(1),
            expires_at: t(1000),
        })
        .await
        .unwrap();
}

async fn audit(store: &Store, guild: i64, discord: i64, author: i64, text: &str) -> i64 {
    store
        .insert_audit(&NewAuditEntry {
            guild_id: guild,
            channel_id: 10,
            message_id: discord,
            author_id: author,
            verdict: "block",
            category: "spam",
            rule: "spam.test",
            model: None,
            model_verdict: None,
            score: 0.9,
            action: "delete",
            action_status: "ok",
            excerpt: Some(text),
            excerpt_expires_at: Some(t(1000)),
            created_at: t(2),
        })
        .await
        .unwrap()
}

/// Two guilds with a row in every table: in G1, member M's conversation (with the bot's reply
/// and a trace), M's message in O's conversation, feedback, audit entries and a channel M set;
/// in G2, M again. Every text names its owner and guild (`MARK-M-G1`, …).
async fn fixture(store: &Store) -> Fixture {
    for g in [G1, G2] {
        store.upsert_guild(g, t(0)).await.unwrap();
        store
            .set_guild_settings(g, &serde_json::json!({"staff_channel_id": 1}), t(0))
            .await
            .unwrap();
        store
            .upsert_knowledge_source(g, "path", "/docs", t(0))
            .await
            .unwrap();
    }
    store
        .set_channel_enabled(G1, 10, true, Some(M), t(0))
        .await
        .unwrap();
    store
        .set_channel_enabled(G1, 11, true, Some(O), t(0))
        .await
        .unwrap();
    store
        .set_channel_enabled(G2, 10, true, Some(M), t(0))
        .await
        .unwrap();

    let mc = store
        .start_conversation(G1, 10, 5001, M, t(1))
        .await
        .unwrap()
        .unwrap();
    message(store, G1, mc.id, 5001, M, "MARK-M-G1 how do I restore?").await;
    message(
        store,
        G1,
        mc.id,
        9001,
        0,
        "MARK-M-G1 quoted in the bot's answer",
    )
    .await;
    trace(store, G1, mc.id, 5001, "MARK-M-G1 how do I restore?").await;

    let oc = store
        .start_conversation(G1, 10, 5002, O, t(1))
        .await
        .unwrap()
        .unwrap();
    message(store, G1, oc.id, 5002, O, "MARK-O-G1 where are the logs?").await;
    message(
        store,
        G1,
        oc.id,
        5003,
        M,
        "MARK-M-G1 chiming in on O's thread",
    )
    .await;
    message(store, G1, oc.id, 9002, 0, "MARK-O-G1 the bot's answer").await;
    trace(store, G1, oc.id, 5002, "MARK-O-G1 where are the logs?").await;
    store
        .record_feedback(G1, Some(oc.id), 9002, M, 1, t(3))
        .await
        .unwrap();
    store
        .record_feedback(G1, Some(oc.id), 9002, O, 1, t(3))
        .await
        .unwrap();

    audit(store, G1, 5004, M, "MARK-M-G1 buy followers").await;
    audit(store, G1, 5005, O, "MARK-O-G1 buy followers").await;

    let g2 = store
        .start_conversation(G2, 10, 6001, M, t(1))
        .await
        .unwrap()
        .unwrap();
    message(store, G2, g2.id, 6001, M, "MARK-M-G2 a question elsewhere").await;
    trace(store, G2, g2.id, 6001, "MARK-M-G2 a question elsewhere").await;
    store
        .record_feedback(G2, Some(g2.id), 9003, M, -1, t(3))
        .await
        .unwrap();
    audit(store, G2, 6002, M, "MARK-M-G2 buy followers").await;
    for (g, value) in [(G1, "MARK-SECRET-G1"), (G2, "MARK-SECRET-G2")] {
        store
            .set_guild_secret(g, store::LLM_API_KEY, &secret(value), &master_key(1), t(4))
            .await
            .unwrap();
    }

    Fixture {
        m_conversation: mc.id,
        o_conversation: oc.id,
    }
}

async fn found(store: &Store, needle: store::Needle) -> BTreeSet<(String, String, u64)> {
    store
        .occurrences(&needle)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

fn contains(text: &str) -> store::Needle {
    store::Needle::Contains(text.into())
}

fn exact(id: i64) -> store::Needle {
    store::Needle::Exact(id.to_string())
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

async fn every_table_is_a_guild_table_and_a_guild_export_names_them_all(
    _: &tests::TestDb,
    store: Store,
) {
    fixture(&store).await;
    let columns = store.schema_columns().await.unwrap();
    let tables = store.tables().await.unwrap();
    assert!(tables.len() >= 8, "{tables:?}");
    for table in &tables {
        assert!(
            columns.iter().any(|(t, c)| t == table && c == "guild_id"),
            "table {table} has no guild_id: a guild purge could not reach it"
        );
    }
    let export = serde_json::to_value(store.export_guild(G1, t(9)).await.unwrap()).unwrap();
    let exported = keys(&export);
    for table in &tables {
        assert!(
            exported.contains(table),
            "the guild export leaves out {table}"
        );
    }
    let counts = store.guild_row_counts(G1).await.unwrap();
    for c in &counts {
        let rows = export[&c.table].as_array().unwrap().len() as u64;
        assert_eq!(rows, c.rows, "every row of {} is exported", c.table);
        assert!(c.rows > 0, "the fixture fills {}", c.table);
    }
    let text = export.to_string();
    assert!(text.contains("MARK-M-G1") && text.contains("MARK-O-G1"));
    assert!(!text.contains("MARK-M-G2"), "another guild's rows stay out");
    assert_eq!(export["guild_secrets"][0]["name"], store::LLM_API_KEY);
    assert!(
        !text.contains("MARK-SECRET"),
        "an export says a secret exists, never its value"
    );
    assert_eq!(
        found(&store, contains("MARK-SECRET")).await,
        BTreeSet::new(),
        "secrets are stored sealed"
    );
}

async fn a_member_export_holds_every_row_about_the_member_and_nothing_else(
    _: &tests::TestDb,
    store: Store,
) {
    fixture(&store).await;
    let export = store.export_member(G1, M, t(9)).await.unwrap();
    assert_eq!(export.conversations.len(), 1);
    assert_eq!(
        export.messages.len(),
        3,
        "their two, and the bot's reply to them"
    );
    assert_eq!(export.traces.len(), 1);
    assert_eq!(export.feedback.len(), 1);
    assert_eq!(export.audit_log.len(), 1);
    assert_eq!(export.channel_settings.len(), 1);
    let json = serde_json::to_value(&export).unwrap();
    // Every table with a column naming a member is in the export.
    let exported = keys(&json);
    for (table, column) in store.schema_columns().await.unwrap() {
        if ["author_id", "user_id", "updated_by"].contains(&column.as_str()) {
            assert!(
                exported.contains(&table),
                "the member export leaves out {table}"
            );
        }
    }
    let text = json.to_string();
    assert!(text.contains("MARK-M-G1 how do I restore?"));
    assert!(
        !text.contains("MARK-O-G1"),
        "another member's rows stay out"
    );
    assert!(!text.contains("MARK-M-G2"), "another guild's rows stay out");
}

async fn an_erased_member_leaves_no_trace_but_verdicts(_: &tests::TestDb, store: Store) {
    let f = fixture(&store).await;
    let g2_before = serde_json::to_value(store.export_guild(G2, t(9)).await.unwrap()).unwrap();
    let others_before = found(&store, contains("MARK-O-G1")).await;

    let due = store.member_erasure_preview(G1, M).await.unwrap();
    let erased = store.erase_member(G1, M).await.unwrap();
    assert_eq!(due, erased, "the preview says exactly what is erased");
    assert_eq!(erased.conversations_deleted, 1);
    assert_eq!(erased.messages_deleted, 3);
    assert_eq!(erased.traces_deleted, 1);
    assert_eq!(erased.feedback_deleted, 1);
    assert_eq!(erased.audit_excerpts_cleared, 1);
    assert_eq!(erased.channel_settings_unattributed, 1);

    assert_eq!(
        found(&store, contains("MARK-M-G1")).await,
        BTreeSet::new(),
        "no text of the member is left in any table"
    );
    // The member's ID is left only on the audit entry (its verdict stays accountable) and on
    // their rows in the other guild.
    let ids = found(&store, exact(M)).await;
    let expected: BTreeSet<(String, String, u64)> = [
        ("audit_log", "author_id", 2),
        ("channel_settings", "updated_by", 1),
        ("conversations", "author_id", 1),
        ("feedback", "user_id", 1),
        ("messages", "author_id", 1),
    ]
    .into_iter()
    .map(|(t, c, n)| (t.to_string(), c.to_string(), n))
    .collect();
    assert_eq!(ids, expected);
    let verdicts = store
        .list_audit(
            G1,
            &store::AuditFilter {
                author_id: Some(M),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(verdicts.len(), 1);
    assert_eq!(
        (verdicts[0].verdict.as_str(), verdicts[0].category.as_str()),
        ("block", "spam")
    );
    assert_eq!(verdicts[0].excerpt, None);

    assert!(
        store
            .conversation(G1, f.m_conversation)
            .await
            .unwrap()
            .is_none()
    );
    let thread = store
        .conversation_messages(G1, f.o_conversation)
        .await
        .unwrap();
    assert_eq!(
        thread.len(),
        2,
        "the other member's conversation stays, without M's message"
    );
    assert_eq!(found(&store, contains("MARK-O-G1")).await, others_before);
    assert_eq!(
        serde_json::to_value(store.export_guild(G2, t(9)).await.unwrap()).unwrap(),
        g2_before,
        "the member's rows in another guild are untouched"
    );
    assert_eq!(
        store.erase_member(G1, M).await.unwrap(),
        Default::default(),
        "nothing left"
    );
}

async fn a_purged_guild_leaves_no_row_in_any_table(_: &tests::TestDb, store: Store) {
    fixture(&store).await;
    let g2_before = serde_json::to_value(store.export_guild(G2, t(9)).await.unwrap()).unwrap();
    let due = store.guild_row_counts(G1).await.unwrap();
    let removed = store.purge_guild(G1).await.unwrap();
    let sorted = |mut v: Vec<store::TableCount>| {
        v.sort_by(|a, b| a.table.cmp(&b.table));
        v
    };
    assert_eq!(
        sorted(removed),
        sorted(due),
        "the preview says exactly what goes"
    );
    for c in store.guild_row_counts(G1).await.unwrap() {
        assert_eq!(
            c.rows, 0,
            "{} still holds rows of the purged guild",
            c.table
        );
    }
    for marker in ["MARK-M-G1", "MARK-O-G1"] {
        assert_eq!(
            found(&store, contains(marker)).await,
            BTreeSet::new(),
            "{marker}"
        );
    }
    assert_eq!(
        found(&store, exact(G1)).await,
        BTreeSet::new(),
        "not even the guild's ID"
    );
    assert_eq!(found(&store, exact(O)).await, BTreeSet::new());
    assert!(store.guild(G1).await.unwrap().is_none());
    assert_eq!(
        store.guild_settings(G1).await.unwrap(),
        serde_json::json!({})
    );
    assert_eq!(
        serde_json::to_value(store.export_guild(G2, t(9)).await.unwrap()).unwrap(),
        g2_before,
        "another guild is untouched"
    );
}

async fn a_deleted_message_loses_its_text_and_its_audit_excerpt_keeps_the_verdict(
    _: &tests::TestDb,
    store: Store,
) {
    let f = fixture(&store).await;
    let forgotten = store
        .forget_messages(G1, &[5001, 5004, 424_242], t(50))
        .await
        .unwrap();
    assert_eq!(forgotten.messages_zeroed, 1);
    assert_eq!(forgotten.audit_excerpts_cleared, 1);
    assert_eq!(forgotten.traces_deleted, 1);
    let messages = store
        .conversation_messages(G1, f.m_conversation)
        .await
        .unwrap();
    assert_eq!(messages.len(), 2, "the row stays, with its IDs");
    assert_eq!(messages[0].content, "");
    assert_eq!(messages[1].content, "MARK-M-G1 quoted in the bot's answer");
    let entry = store
        .list_audit(
            G1,
            &store::AuditFilter {
                author_id: Some(M),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (entry.message_id, entry.verdict.as_str(), entry.excerpt),
        (5004, "block", None)
    );
    assert_eq!(
        found(&store, contains("how do I restore")).await,
        BTreeSet::new()
    );
    assert_eq!(
        found(&store, contains("buy followers")).await.len(),
        1,
        "other entries keep their excerpts"
    );
    // Another guild's message with the same ID is not this guild's to forget.
    let again = store.forget_messages(G2, &[5001], t(51)).await.unwrap();
    assert_eq!(again, Default::default());
}

async fn the_database_refuses_rows_linking_across_guilds(db: &tests::TestDb, store: Store) {
    let f = fixture(&store).await;
    // Straight to the database, around the store's own guild checks.
    let err = db
        .execute_raw(&format!(
            "INSERT INTO messages (guild_id, conversation_id, channel_id, discord_message_id, author_id, role, content, created_at)
             VALUES ({G2}, {}, 10, 7001, {M}, 'member', 'intrusion', '2026-01-01T00:00:00Z')",
            f.m_conversation
        ))
        .await
        .expect_err("a message of G2 in a conversation of G1 is refused");
    assert!(
        err.to_string().to_lowercase().contains("foreign key"),
        "{err}"
    );
    for sql in [
        format!(
            "INSERT INTO traces (guild_id, conversation_id, kind, latency_ms, payload, created_at, expires_at)
             VALUES ({G2}, {}, 'reply', 1, '{{}}', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')",
            f.m_conversation
        ),
        format!(
            "INSERT INTO feedback (guild_id, conversation_id, message_id, user_id, rating, created_at)
             VALUES ({G2}, {}, 7002, {M}, 1, '2026-01-01T00:00:00Z')",
            f.o_conversation
        ),
    ] {
        let err = db.execute_raw(&sql).await.expect_err("refused");
        assert!(err.to_string().to_lowercase().contains("foreign key"), "{err}");
    }
    // The store's own writes meet the same wall.
    assert!(
        store
            .record_feedback(G2, Some(f.m_conversation), 7003, M, 1, t(5))
            .await
            .is_err()
    );
    // The same rows within one guild are accepted.
    db.execute_raw(&format!(
        "INSERT INTO feedback (guild_id, conversation_id, message_id, user_id, rating, created_at)
         VALUES ({G1}, {}, 7004, {M}, 1, '2026-01-01T00:00:00Z')",
        f.o_conversation
    ))
    .await
    .unwrap();
}

async fn retention_counts_match_and_a_guild_pass_stays_in_its_guild(
    _: &tests::TestDb,
    store: Store,
) {
    fixture(&store).await;
    let cutoffs = |guild_id| store::RetentionCutoffs {
        now: t(2000),
        messages_before: t(1500),
        traces_before: t(1500),
        audit_before: t(1500),
        guild_id,
    };
    let preview = store.preview_retention(cutoffs(Some(G2))).await.unwrap();
    assert_eq!(preview.message_contents_zeroed, 1);
    assert_eq!(preview.traces_deleted, 1);
    assert_eq!(preview.audit_entries_deleted, 1);
    assert_eq!(preview.audit_excerpts_cleared, 1);
    assert!(
        found(&store, contains("MARK-M-G2")).await.len() >= 3,
        "a dry run changes nothing"
    );
    let done = store.apply_retention(cutoffs(Some(G2))).await.unwrap();
    assert_eq!(done, preview);
    assert_eq!(found(&store, contains("MARK-M-G2")).await, BTreeSet::new());
    assert!(
        !found(&store, contains("MARK-M-G1")).await.is_empty(),
        "G1 is not G2's pass"
    );
    let all = store.preview_retention(cutoffs(None)).await.unwrap();
    assert_eq!(all.message_contents_zeroed, 5, "G1's five messages");
}

async fn guilds_that_left_are_due_after_their_grace_period(_: &tests::TestDb, store: Store) {
    fixture(&store).await;
    store.mark_guild_left(G1, t(100)).await.unwrap();
    assert!(store.guilds_left_before(t(100)).await.unwrap().is_empty());
    assert_eq!(store.guilds_left_before(t(101)).await.unwrap(), vec![G1]);
    store.upsert_guild(G1, t(150)).await.unwrap();
    assert!(
        store.guilds_left_before(t(200)).await.unwrap().is_empty(),
        "a guild that added the bot back is kept"
    );
}

async fn a_guild_secret_is_sealed_bound_to_its_guild_replaced_at_once_and_rotated(
    db: &tests::TestDb,
    store: Store,
) {
    let (old, new) = (&master_key(1), &master_key(2));
    assert_eq!(read_secret(&store, G1, old).await.unwrap(), None);
    store
        .set_guild_secret(
            G1,
            store::LLM_API_KEY,
            &secret("MARK-SECRET-one"),
            old,
            t(1),
        )
        .await
        .unwrap();
    assert!(
        store.guild(G1).await.unwrap().is_some(),
        "the guild row is made"
    );
    assert_eq!(
        read_secret(&store, G1, old).await.unwrap().as_deref(),
        Some("MARK-SECRET-one")
    );
    assert_eq!(
        read_secret(&store, G2, old).await.unwrap(),
        None,
        "other guilds have none"
    );

    store
        .set_guild_secret(
            G1,
            store::LLM_API_KEY,
            &secret("MARK-SECRET-two"),
            old,
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(
        read_secret(&store, G1, old).await.unwrap().as_deref(),
        Some("MARK-SECRET-two"),
        "a replaced secret is gone at once"
    );
    let listed = store.guild_secrets(G1).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, old.id());
    assert_eq!((listed[0].created_at, listed[0].updated_at), (t(1), t(2)));
    assert_eq!(
        found(&store, contains("MARK-SECRET")).await,
        BTreeSet::new()
    );

    // A ciphertext copied into another guild's row does not open there.
    store.upsert_guild(G2, t(0)).await.unwrap();
    db.execute_raw(&format!(
        "INSERT INTO guild_secrets (guild_id, name, key_id, nonce, ciphertext, created_at, updated_at)
         SELECT {G2}, name, key_id, nonce, ciphertext, created_at, updated_at
         FROM guild_secrets WHERE guild_id = {G1}"
    ))
    .await
    .unwrap();
    let err = read_secret(&store, G2, old).await.unwrap_err().to_string();
    assert!(err.contains("does not open"), "{err}");
    assert!(!err.contains("MARK-SECRET"), "{err}");
    assert!(
        store
            .delete_guild_secret(G2, store::LLM_API_KEY)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_guild_secret(G2, store::LLM_API_KEY)
            .await
            .unwrap()
    );

    // Under another master key the row names the key it needs.
    let err = read_secret(&store, G1, new).await.unwrap_err().to_string();
    assert!(err.contains(old.id()), "{err}");

    store
        .set_guild_secret(G2, store::LLM_API_KEY, &secret("MARK-SECRET-g2"), old, t(3))
        .await
        .unwrap();
    let rotation = store.rotate_master_key(old, new).await.unwrap();
    assert_eq!((rotation.resealed, rotation.already_current), (2, 0));
    assert_eq!(
        read_secret(&store, G1, new).await.unwrap().as_deref(),
        Some("MARK-SECRET-two")
    );
    assert_eq!(
        read_secret(&store, G2, new).await.unwrap().as_deref(),
        Some("MARK-SECRET-g2")
    );
    assert!(
        read_secret(&store, G1, old).await.is_err(),
        "the old key opens nothing now"
    );
    assert!(
        store
            .guild_secrets(G1)
            .await
            .unwrap()
            .iter()
            .all(|s| s.key_id == new.id())
    );
    let again = store.rotate_master_key(old, new).await.unwrap();
    assert_eq!(
        (again.resealed, again.already_current),
        (0, 2),
        "a rerun is harmless"
    );

    assert!(
        store
            .delete_guild_secret(G1, store::LLM_API_KEY)
            .await
            .unwrap()
    );
    assert_eq!(
        read_secret(&store, G1, new).await.unwrap(),
        None,
        "a cleared secret is gone"
    );
    store.purge_guild(G2).await.unwrap();
    assert!(
        store.guild_secrets(G2).await.unwrap().is_empty(),
        "purge takes secrets too"
    );
}

async fn read_secret(
    store: &Store,
    guild: i64,
    key: &store::MasterKey,
) -> store::Result<Option<String>> {
    use secrecy::ExposeSecret;
    Ok(store
        .guild_secret(guild, store::LLM_API_KEY, key)
        .await?
        .map(|s| s.expose_secret().to_string()))
}

async fn an_edit_replaces_stored_text_but_never_brings_forgotten_text_back(
    _: &tests::TestDb,
    store: Store,
) {
    let f = fixture(&store).await;
    let text = |store: Store| async move {
        store
            .conversation_messages(G1, f.m_conversation)
            .await
            .unwrap()[0]
            .content
            .clone()
    };
    assert!(
        !store
            .edit_message_content(G2, 5001, "not yours")
            .await
            .unwrap(),
        "another guild's edit changes nothing here"
    );
    assert!(
        store
            .edit_message_content(G1, 5001, "how do I restore last night's backup?")
            .await
            .unwrap()
    );
    assert_eq!(
        text(store.clone()).await,
        "how do I restore last night's backup?"
    );
    store.forget_messages(G1, &[5001], t(60)).await.unwrap();
    assert!(
        !store
            .edit_message_content(G1, 5001, "a late edit")
            .await
            .unwrap(),
        "a deleted message's text stays forgotten"
    );
    assert_eq!(text(store.clone()).await, "");
}
