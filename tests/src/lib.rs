//! End-to-end harness: a fake Discord, a fake OpenAI-compatible server and a fake Hugging Face
//! hub on 127.0.0.1, databases for both backends, and a way to run the real bot against them.

pub mod fake_discord;
pub mod fake_hub;
pub mod fake_openai;
mod private_postgres;

pub use private_postgres::PrivatePostgres;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use sqlx::Connection;
use store::{DatabaseSettings, Store};
use supportbot::app::Wiring;
use supportbot::config::Config;
use supportbot::pipeline::{Handled, Inbound, InboundKind, Outcome};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use fake_discord::FakeDiscord;

/// Where the Postgres server for tests answers; CI makes sure one does.
pub fn postgres_admin_url() -> String {
    std::env::var("SUPPORTBOT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database of one backend, private to one test, removed afterwards.
pub struct TestDb {
    pub settings: DatabaseSettings,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl TestDb {
    pub async fn new(kind: Kind) -> Self {
        match kind {
            Kind::Sqlite => Self::sqlite(),
            Kind::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("db/supportbot.db").display());
        TestDb {
            settings: DatabaseSettings::new(url.clone()),
            url,
            _dir: Some(dir),
            pg_name: None,
        }
    }

    /// Creates a fresh database on the test Postgres server. Panics, loudly, when no server
    /// answers: Postgres tests never skip.
    pub async fn postgres() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = postgres_admin_url();
        let name = format!(
            "supportbot_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "Postgres tests need a server at {admin_url} (set SUPPORTBOT_TEST_POSTGRES_URL to \
                 use another): {e}"
            )
        });
        // Separate statements: Postgres refuses DROP/CREATE DATABASE inside one batch.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .expect("create a test database");
        }
        let _ = admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base.to_string())
            .expect("the admin URL names a database");
        let url = format!("{base}/{name}");
        TestDb {
            settings: DatabaseSettings::new(url.clone()),
            url,
            _dir: None,
            pg_name: Some(name),
        }
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.settings)
            .await
            .expect("open the test store")
    }

    /// Runs one statement on a connection of its own, around the store: for tests that prove
    /// the schema itself refuses something. SQLite connections enforce foreign keys here too.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        if self.pg_name.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await?;
            let done = sqlx::query(sql).execute(&mut conn).await;
            let _ = conn.close().await;
            Ok(done?.rows_affected())
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
            let done = sqlx::query(sql).execute(&mut conn).await;
            let _ = conn.close().await;
            Ok(done?.rows_affected())
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async; a short-lived runtime on its own thread removes the database.
        let admin_url = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            rt.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The real bot, running in this process against a fake Discord.
pub struct RunningBot {
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<anyhow::Result<()>>,
    pub data_dir: PathBuf,
    outcomes: Arc<Mutex<Vec<Handled>>>,
    _data: tempfile::TempDir,
}

impl RunningBot {
    /// Starts the bot and waits until it has identified and registered its commands.
    pub async fn start(fake: &FakeDiscord, db: &TestDb) -> Self {
        Self::start_with(fake, db, &[], |_| {}).await
    }

    /// Starts the bot with `docs` (`(path, Markdown)`) in the test guild's knowledge base and
    /// `configure` applied to its configuration (an answer model, say).
    pub async fn start_with(
        fake: &FakeDiscord,
        db: &TestDb,
        docs: &[(&str, &str)],
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let bot = Self::launch(fake, db, docs, configure).await;
        fake.wait_for_call("slash command registration", Duration::from_secs(20), |c| {
            c.method == "PUT" && c.path.ends_with("/commands")
        })
        .await;
        bot
    }

    /// Starts the bot without waiting for anything: for tests where it must not get far.
    /// REST goes to the fake as `https://discord.com` with serenity's rate limiter on, as in
    /// production.
    pub async fn launch(
        fake: &FakeDiscord,
        db: &TestDb,
        docs: &[(&str, &str)],
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        Self::launch_for(fake, db, &[fake_discord::GUILD_ID], docs, configure).await
    }

    /// [`RunningBot::launch`] with `docs` in the knowledge base of each of `guilds`: for
    /// tests with guilds of their own (several bot processes, one per shard, say).
    pub async fn launch_for(
        fake: &FakeDiscord,
        db: &TestDb,
        guilds: &[u64],
        docs: &[(&str, &str)],
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        init_tracing();
        let data = tempfile::tempdir().expect("create a data directory");
        let mut config = Config {
            data_dir: data.path().to_path_buf(),
            ..Config::default()
        };
        config.discord.token = Some(SecretString::from(fake_discord::TOKEN));
        config.database.url = Some(SecretString::from(db.url.clone()));
        config.pipeline.shutdown_grace_secs = 5;
        configure(&mut config);
        if !docs.is_empty() {
            for &guild in guilds {
                seed_knowledge(&config, guild, docs).await;
            }
        }
        let shutdown = CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn({
            let outcomes = Arc::clone(&outcomes);
            async move {
                while let Some(handled) = rx.recv().await {
                    outcomes
                        .lock()
                        .expect("outcome list poisoned")
                        .push(handled);
                }
            }
        });
        let wiring = Wiring {
            discord_http: Some(fake.discord_http_client()),
            outcomes: Some(tx),
        };
        let handle = tokio::spawn(supportbot::app::run_wired(config, shutdown.clone(), wiring));
        RunningBot {
            shutdown,
            handle,
            data_dir: data.path().to_path_buf(),
            outcomes,
            _data: data,
        }
    }

    /// Waits until the pipeline has finished with `message` and returns what became of it.
    pub async fn outcome(&self, message: u64) -> Outcome {
        self.outcomes(message, 1).await.remove(0)
    }

    /// Waits until the pipeline has finished with `message` `n` times (a replayed event is
    /// handled again) and returns the outcomes in order.
    pub async fn outcomes(&self, message: u64, n: usize) -> Vec<Outcome> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let seen: Vec<Handled> = self
                .outcomes
                .lock()
                .expect("outcome list poisoned")
                .iter()
                .filter(|h| h.message_id == message)
                .cloned()
                .collect();
            if seen.len() >= n {
                return seen
                    .into_iter()
                    .map(|h| {
                        h.outcome.unwrap_or_else(|e| {
                            panic!("the pipeline failed on message {message}: {e}")
                        })
                    })
                    .collect();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the pipeline did not finish message {message} {n} time(s); it finished {}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every message the pipeline has finished with so far, in order.
    pub fn handled(&self) -> Vec<Handled> {
        self.outcomes.lock().expect("outcome list poisoned").clone()
    }

    /// How many distinct messages the pipeline has finished with so far.
    pub fn handled_count(&self) -> usize {
        let outcomes = self.outcomes.lock().expect("outcome list poisoned");
        let ids: std::collections::HashSet<u64> = outcomes.iter().map(|h| h.message_id).collect();
        ids.len()
    }

    /// Stops the bot the way SIGTERM does and returns what `run` returned.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("the bot stops within 20 s of a shutdown request")
            .expect("the bot task did not panic")
    }
}

/// A member's new message as the gateway adapter hands it to the pipeline: top-level in
/// `channel`, no mentions, no roles, addressed to no one.
pub fn member_message(
    guild: u64,
    channel: u64,
    id: u64,
    author: u64,
    text: &str,
    received_at: chrono::DateTime<chrono::Utc>,
) -> Inbound {
    Inbound {
        guild_id: guild,
        channel_id: channel,
        parent_channel_id: None,
        message_id: id,
        kind: InboundKind::New,
        author_id: author,
        author_is_bot: false,
        author_roles: Vec::new(),
        author_manages_messages: false,
        content: text.into(),
        mentions_bot: false,
        user_mentions: 0,
        role_mentions: 0,
        mentions_everyone: false,
        addresses_others: false,
        received_at,
    }
}

/// A guild's small knowledge base for the benchmarks: two pages the questions below are about.
pub const BENCH_DOCS: &[(&str, &str)] = &[
    (
        "api-keys.md",
        "# API keys\n\n## Reset your API key\n\nOpen **Settings → API** and click **Reset key**. \
         The old key stops working at once.\n",
    ),
    (
        "backups.md",
        "# Backups\n\n## Restore a backup\n\nRun `acme restore --date 2026-01-31`. Restoring \
         replaces the current data.\n",
    ),
];

/// Questions members ask about [`BENCH_DOCS`].
pub const BENCH_QUESTIONS: &[&str] = &[
    "how do I reset my API key?",
    "how do i restore a backup from last week?",
    "where do I find the API settings to reset the key",
    "does restoring a backup replace my current data?",
];

/// The services `supportbot run` wires, over `config`'s store and knowledge base, on `clock`,
/// with the rule-stage classifier: for pipeline tests that drive the pipeline directly.
pub async fn services(
    config: &Config,
    clock: Arc<dyn supportbot::clock::Clock>,
) -> supportbot::services::Services {
    let store = Store::open(&config.database_settings())
        .await
        .expect("open the store");
    let knowledge = knowledge::KnowledgeBase::open(
        config.knowledge_config().expect("knowledge settings"),
        store.clone(),
    )
    .await
    .expect("open the knowledge base");
    supportbot::services::Services::build(
        config,
        store,
        Arc::new(knowledge),
        clock,
        config.agent_settings(),
        agent::classifier::Classifier::new(),
    )
    .expect("wire the pipeline")
}

/// Indexes Markdown documents into a guild's knowledge base, the way `supportbot knowledge
/// add` does, before the bot opens it.
pub async fn seed_knowledge(config: &Config, guild: u64, docs: &[(&str, &str)]) {
    let store = Store::open(&config.database_settings())
        .await
        .expect("open the store");
    let kb = knowledge::KnowledgeBase::open(
        config.knowledge_config().expect("knowledge settings"),
        store.clone(),
    )
    .await
    .expect("open the knowledge base");
    let documents = docs
        .iter()
        .map(|(path, body)| knowledge::Document {
            location: (*path).to_string(),
            url: Some(format!(
                "https://docs.example/{}",
                path.trim_end_matches(".md")
            )),
            fallback_title: (*path).to_string(),
            format: knowledge::Format::Markdown,
            body: (*body).to_string(),
        })
        .collect();
    kb.add(
        guild as i64,
        knowledge::SourceSpec::Documents {
            name: "test docs".into(),
            documents,
        },
        &knowledge::NoProgress,
    )
    .await
    .expect("index the test docs");
    drop(kb);
    store.close().await;
}

/// One global subscriber for the whole test binary, installed once: the test's own output
/// (`RUST_LOG` picks the level, `warn` otherwise), and every active `LogCapture`. Global, so a
/// capture sees every thread, the workers of a multi-threaded runtime included.
pub fn init_tracing() {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    let console = tracing_subscriber::fmt::layer()
        .with_test_writer()
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        );
    // What supportbot itself installs when an operator sets `RUST_LOG=trace`: the captures
    // see what a production log would hold at its most verbose.
    let captured = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_thread_ids(true)
        .with_writer(CaptureRouter)
        .with_filter(tracing_subscriber::filter::FilterExt::and(
            supportbot::telemetry::filter(Some("trace"), "info"),
            tracing_subscriber::filter::filter_fn(|_| ACTIVE.load(Ordering::Relaxed) > 0),
        ));
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(captured)
        .try_init();
}

type Buffer = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// How many captures are installed: while none is, nothing is formatted for them.
static ACTIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The active captures: an ID, the levels each asked for, and its buffer.
static CAPTURES: std::sync::Mutex<Vec<(u64, tracing_subscriber::filter::Targets, Buffer)>> =
    std::sync::Mutex::new(Vec::new());

/// A log sink for one test: while installed, every line any thread logs (at the levels it asked
/// for, within supportbot's caps) lands in the buffer. Tests run side by side in one binary,
/// so a capture also holds other tests' lines: assert on what this test alone would log.
#[derive(Clone, Default)]
pub struct LogCapture(Buffer);

/// Stops the capture when dropped.
pub struct CaptureGuard(u64);

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let mut captures = CAPTURES.lock().expect("capture list poisoned");
        captures.retain(|(id, _, _)| *id != self.0);
        ACTIVE.store(captures.len(), Ordering::SeqCst);
    }
}

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer poisoned")).into_owned()
    }

    /// Captures lines at `filter` (`debug`, `trace,serenity=info`, …) until the guard drops.
    pub fn install(&self, filter: &str) -> CaptureGuard {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        init_tracing();
        let targets: tracing_subscriber::filter::Targets =
            filter.parse().expect("a valid capture filter");
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        let mut captures = CAPTURES.lock().expect("capture list poisoned");
        captures.push((id, targets, self.0.clone()));
        ACTIVE.store(captures.len(), Ordering::SeqCst);
        drop(captures);
        // Call sites first reached while no capture was active were cached as enabled for
        // the test output alone; this makes tracing ask the filters again.
        tracing::callsite::rebuild_interest_cache();
        CaptureGuard(id)
    }
}

/// Hands each formatted line to the captures that want its target and level.
struct CaptureRouter;

/// The buffers one line goes to.
pub struct CaptureWriter(Vec<Buffer>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CaptureRouter {
    type Writer = CaptureWriter;

    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(Vec::new())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        CaptureWriter(
            CAPTURES
                .lock()
                .expect("capture list poisoned")
                .iter()
                .filter(|(_, targets, _)| targets.would_enable(meta.target(), meta.level()))
                .map(|(_, _, buffer)| buffer.clone())
                .collect(),
        )
    }
}

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for buffer in &self.0 {
            buffer
                .lock()
                .expect("log buffer poisoned")
                .extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
