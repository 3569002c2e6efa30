//! Dense vectors for hybrid search, from one of two places: an OpenAI-compatible embeddings
//! endpoint, or the sentence model running in process (`local_model`).

mod remote;

pub use remote::{RemoteConfig, RemoteEmbedder};

use crate::error::Result;
use crate::local_model::{LocalEmbedder, LocalModelConfig};

/// Where dense vectors come from.
#[derive(Debug, Clone)]
pub enum DenseConfig {
    /// An OpenAI-compatible `/v1/embeddings` endpoint.
    Remote(RemoteConfig),
    /// all-MiniLM-L6-v2 on this machine's CPU.
    Local(LocalModelConfig),
}

pub enum DenseEmbedder {
    /// Boxed: the HTTP client is large, and one embedder lives as long as the knowledge base.
    Remote(Box<RemoteEmbedder>),
    Local(LocalEmbedder),
}

impl DenseEmbedder {
    /// Builds the client, or loads the local model.
    pub async fn open(config: &DenseConfig) -> Result<Self> {
        Ok(match config {
            DenseConfig::Remote(c) => Self::Remote(Box::new(RemoteEmbedder::new(c.clone())?)),
            DenseConfig::Local(c) => Self::Local(LocalEmbedder::load(c).await?),
        })
    }

    pub fn dimensions(&self) -> usize {
        match self {
            Self::Remote(e) => e.dimensions(),
            Self::Local(e) => e.dimensions(),
        }
    }

    /// Everything the vectors depend on, for document hashes: a change re-embeds on re-add.
    pub fn settings_key(&self) -> String {
        match self {
            Self::Remote(e) => e.settings_key(),
            Self::Local(e) => e.settings_key(),
        }
    }

    /// Chunk vectors, in order.
    pub async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Remote(e) => e.embed(texts).await,
            Self::Local(e) => e.embed_documents(texts).await,
        }
    }

    /// A search query's vector.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        match self {
            Self::Remote(e) => e.embed(&[text.to_string()]).await?.pop().ok_or_else(|| {
                crate::error::KnowledgeError::Embeddings("the endpoint returned no vector".into())
            }),
            Self::Local(e) => e.embed_query(text).await,
        }
    }
}
