//! The database going away under load: a Postgres server of the test's own (initdb and pg_ctl
//! from the installed server, on a free port, so no other test is affected) is restarted during
//! a burst of writes, or stays down past the retry budget. No audit row may be lost.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use store::{AuditFilter, DatabaseSettings, NewAuditEntry, Store};

use crate::e2e::WAIT;

const GUILD: i64 = 1_180_552_963_107_160_064;

/// A throwaway Postgres cluster owned by one test.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
            .max()
            .expect(
                "the database fault tests need PostgreSQL's server programs (initdb, pg_ctl) \
                 under /usr/lib/postgresql/<version>/bin; .ci/run installs them",
            );
        let dir = tempfile::tempdir().expect("temporary directory");
        if running_as_root() {
            // Postgres refuses to run as root: the cluster belongs to the postgres user.
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = PrivatePostgres { dir, bin, port };
        pg.postgres_cmd("initdb", |c| {
            c.arg("-D").arg(pg.data()).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]);
        });
        pg.up();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one of the server programs as the user that owns the cluster.
    fn postgres_cmd(&self, program: &str, args: impl FnOnce(&mut Command)) {
        let path = self.bin.join(program);
        let mut cmd = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        args(&mut cmd);
        run(&mut cmd);
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.postgres_cmd("pg_ctl", |c| {
            c.arg("-D")
                .arg(self.data())
                .args(["-w", "-l"])
                .arg(self.dir.path().join("server.log"))
                .args(["-o", &options, "start"]);
        });
    }

    fn down(&self) {
        self.postgres_cmd("pg_ctl", |c| {
            c.arg("-D")
                .arg(self.data())
                .args(["-w", "-m", "fast", "stop"]);
        });
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut cmd = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = cmd
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn running_as_root() -> bool {
    Path::new("/proc/self").exists()
        && std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

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
