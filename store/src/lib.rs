//! Persistence for supportbot with sqlx, on SQLite (the embedded default) and Postgres.
//!
//! Every query is scoped by guild: the public functions take a `GuildId`-like `i64` first and
//! the SQL filters on it, so one guild can never read or change another's rows.

mod audit;
mod channels;
mod conversations;
mod erase;
mod export;
mod feedback;
mod files;
mod guilds;
mod knowledge_sources;
mod retention;
mod schema;
mod secrets;
mod settings;
mod stats;
mod traces;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use audit::{AuditEntry, AuditFilter, NewAuditEntry};
pub use channels::{ChannelMode, ChannelSetting, HumanFirstDelay, UnknownChannelMode};
pub use conversations::{Conversation, ConversationStatus, MessageRole, NewMessage, StoredMessage};
pub use erase::{ForgottenMessages, MemberErasure, TableCount};
pub use export::{GuildExport, MemberExport};
pub use feedback::FeedbackRecord;
pub use guilds::Guild;
pub use knowledge_sources::{KnowledgeSource, KnowledgeSourceStatus};
pub use retention::{RetentionCutoffs, RetentionReport};
pub use schema::Needle;
pub use secrets::{
    LLM_API_KEY, MASTER_KEY_LEN, MasterKey, MasterKeyError, Rotation, SecretError, StoredSecret,
};
pub use settings::{DatabaseSettings, TlsMode, redact_url};
pub use stats::{DayCounts, GuildStats};
pub use traces::{NewTrace, StoredTrace};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database a `Store` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got {0})")]
    UnsupportedUrl(String),
    #[error("invalid database URL {url}: {source}")]
    InvalidUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not connect to the {backend} database at {url}: {source}")]
    Connect {
        backend: Backend,
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "could not open a TLS connection to the postgres database at {url}: the server offers \
         no TLS, or its certificate was refused (verify-ca and verify-full check it against the \
         CA file in sslrootcert, verify-full its host name too): {source}"
    )]
    Tls {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the database; cheap to clone (it wraps a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// How long a statement is retried while the database is unreachable.
    retry_for: Duration,
    outbox: std::sync::Arc<std::sync::Mutex<audit::AuditOutbox>>,
}

/// Runs the same statement on whichever pool the store holds. SQLite understands the `$N`
/// placeholders Postgres uses, so most SQL is written once.
///
/// A statement that fails because the database cannot be reached (a restart, a failover, a
/// dropped connection) is tried again with backoff for up to the store's `retry_for`, so a
/// short outage delays work instead of losing it. Other errors return at once.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {{
        let mut retry = $crate::Retry::new($store.retry_for);
        loop {
            let result = match &$store.pool {
                $crate::Pool::Sqlite($pool) => $body,
                $crate::Pool::Postgres($pool) => $body,
            };
            match result {
                Err(e) if retry.again(&e).await => continue,
                other => break other,
            }
        }
    }};
}
pub(crate) use on_pool;

/// [`on_pool!`] without retrying: for transactions and other blocks that return early with
/// `?`, which a retry could not see, and for migrations.
macro_rules! on_pool_once {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool_once;

/// Backoff for statements that failed because the database could not be reached.
pub(crate) struct Retry {
    deadline: std::time::Instant,
    delay: Duration,
    attempts: u32,
}

impl Retry {
    pub(crate) fn new(budget: Duration) -> Self {
        Self {
            deadline: std::time::Instant::now() + budget,
            delay: Duration::from_millis(50),
            attempts: 0,
        }
    }

    /// Waits and says yes when `error` is worth another try within the budget.
    pub(crate) async fn again(&mut self, error: &impl Transient) -> bool {
        if !error.is_transient() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= self.deadline {
            return false;
        }
        self.attempts += 1;
        let wait = self.delay.min(self.deadline - now);
        tracing::warn!(
            attempt = self.attempts,
            wait_ms = wait.as_millis() as u64,
            "the database is unreachable; retrying"
        );
        tokio::time::sleep(wait).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(2));
        true
    }
}

/// Errors that say the database could not be reached, as opposed to a statement it refused.
pub(crate) trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for sqlx::Error {
    fn is_transient(&self) -> bool {
        match self {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            // Postgres: connection exceptions (08…), the server shutting down or starting up
            // (57P01–57P03), too many connections (53300).
            sqlx::Error::Database(e) => e.code().is_some_and(|code| {
                code.starts_with("08")
                    || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
            }),
            _ => false,
        }
    }
}

impl Transient for StoreError {
    fn is_transient(&self) -> bool {
        matches!(self, StoreError::Query(e) if e.is_transient())
    }
}

/// Timestamps are stored with microsecond precision on both backends, so values read back
/// compare equal to what was written and SQLite's text form sorts chronologically.
pub(crate) fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// Whether connecting failed in the TLS handshake: sqlx reports a refused certificate as an I/O
/// error carrying rustls's.
fn is_tls_failure(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    }
}

/// Migration status, for `supportbot doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: usize,
    pub known: usize,
    pub pending: Vec<String>,
}

impl Store {
    /// Connects without running migrations. SQLite files (and their directory) are created on
    /// first use.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self> {
        let url = settings.url.expose_secret();
        let shown = redact_url(url);
        let pool = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|source| StoreError::InvalidUrl {
                    url: shown.clone(),
                    source,
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL with NORMAL sync cannot corrupt the database; a power cut may lose the
                // last commits, an application crash loses nothing. FULL would fsync every
                // message's handful of writes.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Deleted and zeroed text is overwritten on disk, not left in free pages.
                .pragma("secure_delete", "ON")
                .busy_timeout(Duration::from_secs(5));
            if !url.contains(":memory:") && !url.contains("mode=memory") {
                files::prepare_sqlite_file(opts.get_filename())?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(settings.connect_timeout)
                .connect_with(opts)
                .await
                .map_err(|source| StoreError::Connect {
                    backend: Backend::Sqlite,
                    url: shown,
                    source,
                })?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut opts =
                PgConnectOptions::from_str(url).map_err(|source| StoreError::InvalidUrl {
                    url: shown.clone(),
                    source,
                })?;
            if let Some(mode) = settings.tls {
                opts = opts.ssl_mode(mode.into());
            }
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(settings.connect_timeout)
                .connect_with(opts)
                .await
                .map_err(|source| match source {
                    source if is_tls_failure(&source) => StoreError::Tls { url: shown, source },
                    source => StoreError::Connect {
                        backend: Backend::Postgres,
                        url: shown,
                        source,
                    },
                })?;
            Pool::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(shown));
        };
        Ok(Store {
            pool,
            retry_for: settings.retry_for,
            outbox: Default::default(),
        })
    }

    /// Connects and brings the schema up to date.
    pub async fn open(settings: &DatabaseSettings) -> Result<Self> {
        let store = Self::connect(settings).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies every pending migration; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        let before = self.migration_status().await?.applied;
        on_pool_once!(self, pool => self.migrator().run(pool).await)?;
        Ok(self.migration_status().await?.applied - before)
    }

    pub async fn migration_status(&self) -> Result<MigrationStatus> {
        let table_exists: bool = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
                )
                .fetch_one(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(pool)
                    .await?
            }
        };
        let applied: Vec<i64> = if table_exists {
            on_pool!(self, pool => sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version").fetch_all(pool).await)?
        } else {
            Vec::new()
        };
        let known = self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration());
        let pending: Vec<String> = known
            .clone()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        Ok(MigrationStatus {
            applied: applied.len(),
            known: known.count(),
            pending,
        })
    }

    /// A trivial round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_pool_once!(self, pool => pool.close().await)
    }
}
