//! Persistence for supportbot with sqlx, on SQLite (the embedded default) and Postgres.
//!
//! Every query is scoped by guild: the public functions take a `GuildId`-like `i64` first and
//! the SQL filters on it, so one guild can never read or change another's rows.

mod audit;
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
pub use conversations::{Conversation, ConversationStatus, MessageRole, NewMessage, StoredMessage};
pub use erase::{ForgottenMessages, MemberErasure, TableCount};
pub use export::{GuildExport, MemberExport};
pub use feedback::FeedbackRecord;
pub use guilds::{ChannelSetting, Guild};
pub use knowledge_sources::{KnowledgeSource, KnowledgeSourceStatus};
pub use retention::{RetentionCutoffs, RetentionReport};
pub use schema::Needle;
pub use secrets::{
    LLM_API_KEY, MASTER_KEY_LEN, MasterKey, MasterKeyError, Rotation, SecretError, StoredSecret,
};
pub use settings::{DatabaseSettings, TlsMode, redact_url};
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
}

/// Runs the same statement on whichever pool the store holds. SQLite understands the `$N`
/// placeholders Postgres uses, so most SQL is written once.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

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
        Ok(Store { pool })
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
        on_pool!(self, pool => self.migrator().run(pool).await)?;
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
        on_pool!(self, pool => pool.close().await)
    }
}
