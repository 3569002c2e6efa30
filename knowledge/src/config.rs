//! Settings for a knowledge base. The CLI layers defaults, file and environment on top of
//! `KnowledgeConfig::default()`.

use std::path::PathBuf;

use secrecy::SecretString;

use crate::chunk::ChunkSettings;
use crate::dense::DenseConfig;
use crate::fetch::FetchConfig;
use crate::index::Fusion;
use crate::source::FileLimits;
use crate::sparse::Bm25Settings;

/// Where vectors live.
#[derive(Debug, Clone, Default)]
pub enum BackendConfig {
    /// Qdrant Edge, in process, one shard per guild under `<data_dir>/edge/`.
    #[default]
    Edge,
    /// A Qdrant server or cluster (`QDRANT_URL`), all guilds in one collection with
    /// `guild_id` as the tenant key.
    Server {
        /// gRPC URL, e.g. `http://127.0.0.1:6334`.
        url: String,
        api_key: Option<SecretString>,
        collection: String,
    },
}

#[derive(Debug, Clone)]
pub struct KnowledgeConfig {
    /// Holds the lock file and, for the Edge backend, the shards. Default `./data/knowledge`.
    pub data_dir: PathBuf,
    pub backend: BackendConfig,
    /// BM25 settings for new guilds (the language can be changed per guild).
    pub bm25: Bm25Settings,
    pub chunking: ChunkSettings,
    pub files: FileLimits,
    pub fetch: FetchConfig,
    /// Dense vectors from an OpenAI-compatible embeddings endpoint or the local sentence
    /// model; when set, searches are hybrid (sparse and dense fused).
    pub dense: Option<DenseConfig>,
    /// How hybrid search fuses the two lists.
    pub fusion: Fusion,
    /// Re-embed a guild's sparse vectors when its real mean chunk length drifts this far
    /// (as a fraction) from the `avg_len` its vectors were built with.
    pub avg_len_drift: f64,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data/knowledge"),
            backend: BackendConfig::Edge,
            bm25: Bm25Settings::default(),
            chunking: ChunkSettings::default(),
            files: FileLimits::default(),
            fetch: FetchConfig::default(),
            dense: None,
            fusion: Fusion::default(),
            avg_len_drift: 0.25,
        }
    }
}
