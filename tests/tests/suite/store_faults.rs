//! The database going away under load: a Postgres server of the test's own (initdb and pg_ctl
//! from the installed server, on a free port, so no other test is affected) is restarted during
//! a burst of writes, or stays down past the retry budget. No audit row may be lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use store::{AuditFilter, DatabaseSettings, NewAuditEntry, Store};
use tests::PrivatePostgres;

use crate::e2e::WAIT;

const GUILD: i64 = 1_180_552_963_107_160_064;

fn entry(n: i64) -> NewAuditEntry<'static> {
    NewAuditEntry {
        guild_id: GUILD,
        channel_id: 1_180_552_963_107_160_065,
        message_id: 1_300_000_000_000_000_000 + n,
        author_id: 871_337_004_238_450_729,
        verdict: "block",
        category: "scam",
        rule: "scam.link",
        model: None,
        model_verdict: None,
        score: 0.99,
        action: "delete",
        action_status: "pending",
        excerpt: None,
        excerpt_expires_at: None,
        created_at: Utc.timestamp_opt(1_780_000_000 + n, 0).unwrap(),
    }
}

async fn audit_rows(store: &Store) -> Vec<store::AuditEntry> {
    store
        .list_audit(
            GUILD,
            &AuditFilter {
                limit: 1_000,
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap()
}

async fn open(pg: &PrivatePostgres, retry_for: Duration) -> Store {
    let mut settings = DatabaseSettings::new(pg.url());
    settings.retry_for = retry_for;
    settings.connect_timeout = Duration::from_secs(2);
    Store::open(&settings).await.expect("the private Postgres")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_during_a_burst_loses_no_audit_row() {
    let pg = Arc::new(PrivatePostgres::start());
    let store = open(&pg, Duration::from_secs(30)).await;

    // Rows keep coming until the server has been down and back, and at least `ROWS` are in.
    const ROWS: usize = 60;
    let written = Arc::new(AtomicUsize::new(0));
    let restarted = Arc::new(AtomicBool::new(false));
    let burst = tokio::spawn({
        let store = store.clone();
        let written = Arc::clone(&written);
        let restarted = Arc::clone(&restarted);
        async move {
            for n in 0.. {
                if restarted.load(Ordering::SeqCst) && n >= ROWS as i64 {
                    break;
                }
                let id = store.insert_audit(&entry(n)).await.unwrap();
                assert!(
                    id > 0,
                    "row {n} waited in memory: the retry should have covered it"
                );
                written.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    tokio::time::timeout(WAIT, async {
        while written.load(Ordering::SeqCst) < ROWS / 3 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the burst started");
    let when_down = tokio::task::spawn_blocking({
        let pg = Arc::clone(&pg);
        let written = Arc::clone(&written);
        move || {
            pg.down();
            let when_down = written.load(Ordering::SeqCst);
            pg.up();
            when_down
        }
    })
    .await
    .unwrap();
    restarted.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(60), burst)
        .await
        .expect("the burst finished after the restart")
        .unwrap();
    let total = written.load(Ordering::SeqCst);
    assert!(
        total > when_down,
        "no row was written after the server went down"
    );

    let rows = audit_rows(&store).await;
    assert_eq!(rows.len(), total, "audit rows lost in the restart");
    let mut messages: Vec<i64> = rows.iter().map(|r| r.message_id).collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), total, "an audit row was written twice");
    assert_eq!(store.audit_outbox_len(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_made_while_postgres_is_down_wait_in_memory_and_are_written_when_it_is_back() {
    let pg = PrivatePostgres::start();
    let store = open(&pg, Duration::from_millis(300)).await;
    store.insert_audit(&entry(0)).await.unwrap();

    pg.down();
    let mut provisional = Vec::new();
    for n in 1..=3 {
        let id = store.insert_audit(&entry(n)).await.unwrap();
        assert!(id < 0, "a row written while the server is down? id {id}");
        provisional.push(id);
    }
    // The action's outcome arrives while the row still waits; it is kept with it.
    store
        .set_audit_action_result(GUILD, provisional[1], "failed", Some("Missing Permissions"))
        .await
        .unwrap();
    assert_eq!(store.audit_outbox_len(), (3, 0));
    assert!(
        store.flush_audit_outbox().await.is_err(),
        "flushed with the server down"
    );
    assert_eq!(store.audit_outbox_len(), (3, 0), "a failed flush lost rows");

    pg.up();
    assert_eq!(store.flush_audit_outbox().await.unwrap(), 3);
    assert_eq!(store.audit_outbox_len(), (0, 0));
    // An outcome that arrives after the flush still reaches the written row.
    store
        .set_audit_action_result(GUILD, provisional[2], "ok", None)
        .await
        .unwrap();

    let rows = audit_rows(&store).await;
    assert_eq!(rows.len(), 4);
    let by_message = |n: i64| {
        rows.iter()
            .find(|r| r.message_id == entry(n).message_id)
            .unwrap_or_else(|| panic!("row {n} missing"))
    };
    assert_eq!(by_message(2).action_status, "failed");
    assert_eq!(
        by_message(2).action_error.as_deref(),
        Some("Missing Permissions")
    );
    assert_eq!(by_message(3).action_status, "ok");
    assert_eq!(by_message(1).action_status, "pending");
    assert!(rows.iter().all(|r| r.id > 0));
}
