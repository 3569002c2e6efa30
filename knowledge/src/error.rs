//! The errors callers of the knowledge base act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(
        "the knowledge data directory {path} is in use by another process (lock file {lock}); \
         run one process per data directory"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("could not use the knowledge data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the vector index at {path} is unreadable (corrupt or from an incompatible version): {reason}"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("vector index error: {0}")]
    Index(String),
    #[error("invalid BM25 settings: {0}")]
    Bm25(String),
    #[error("embeddings request failed: {0}")]
    Embeddings(String),
    #[error(transparent)]
    LocalModel(#[from] crate::local_model::LocalModelError),
    #[error("could not fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("invalid source: {0}")]
    InvalidSource(String),
    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no knowledge source {id} in this guild")]
    UnknownSource { id: i64 },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("background task failed: {0}")]
    Task(String),
}

pub type Result<T, E = KnowledgeError> = std::result::Result<T, E>;

impl From<tokio::task::JoinError> for KnowledgeError {
    fn from(e: tokio::task::JoinError) -> Self {
        KnowledgeError::Task(e.to_string())
    }
}
