//! Dense vectors from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, OpenRouter,
//! Ollama, vLLM, llama.cpp) through async-openai.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{KnowledgeError, Result};

#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Base URL including `/v1`, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Sent as a bearer token; `Debug` never prints it.
    pub api_key: Option<SecretString>,
    pub model: String,
    /// Size of the vectors the model returns; fixed per index.
    pub dimensions: usize,
    /// Ask the endpoint to shorten vectors to `dimensions` (models that support it, such as
    /// OpenAI's text-embedding-3); off for endpoints that reject the parameter.
    pub request_dimensions: bool,
    /// Texts per request.
    pub batch_size: usize,
    pub timeout: Duration,
}

impl RemoteConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, dimensions: usize) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            dimensions,
            request_dimensions: false,
            batch_size: 64,
            timeout: Duration::from_secs(60),
        }
    }
}

pub struct RemoteEmbedder {
    client: Client<OpenAIConfig>,
    config: RemoteConfig,
}

impl RemoteEmbedder {
    pub fn new(config: RemoteConfig) -> Result<Self> {
        crate::fetch::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| KnowledgeError::Embeddings(format!("cannot build HTTP client: {e}")))?;
        let mut oa = OpenAIConfig::new().with_api_base(config.base_url.trim_end_matches('/'));
        // An empty key rather than whatever OPENAI_API_KEY holds: configuration is explicit.
        oa = oa.with_api_key(
            config
                .api_key
                .as_ref()
                .map(|k| k.expose_secret().to_string())
                .unwrap_or_default(),
        );
        Ok(Self {
            client: Client::build(http, oa),
            config,
        })
    }

    pub fn dimensions(&self) -> usize {
        self.config.dimensions
    }

    /// What the vectors depend on (the same text as before local models existed, so
    /// documents embedded then keep their hashes).
    pub fn settings_key(&self) -> String {
        let c = &self.config;
        format!("{}|{}|{}", c.base_url, c.model, c.dimensions)
    }

    /// One vector per text, in order.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.batch_size.max(1)) {
            let request = CreateEmbeddingRequest {
                model: self.config.model.clone(),
                input: EmbeddingInput::StringArray(batch.to_vec()),
                encoding_format: None,
                user: None,
                dimensions: self
                    .config
                    .request_dimensions
                    .then_some(self.config.dimensions as u32),
            };
            let mut response = self
                .client
                .embeddings()
                .create(request)
                .await
                .map_err(|e| KnowledgeError::Embeddings(e.to_string()))?;
            if response.data.len() != batch.len() {
                return Err(KnowledgeError::Embeddings(format!(
                    "asked for {} embeddings, got {}",
                    batch.len(),
                    response.data.len()
                )));
            }
            response.data.sort_by_key(|e| e.index);
            for e in response.data {
                if e.embedding.len() != self.config.dimensions {
                    return Err(KnowledgeError::Embeddings(format!(
                        "model returned {} dimensions, configured {}",
                        e.embedding.len(),
                        self.config.dimensions
                    )));
                }
                out.push(e.embedding);
            }
        }
        Ok(out)
    }
}
