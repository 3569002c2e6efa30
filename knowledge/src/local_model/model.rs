//! all-MiniLM-L6-v2 itself: its three files read from a directory, BERT through candle on the
//! CPU, and the sentence-transformers recipe on top (mean over the attention mask, then L2
//! normalisation). Synchronous and CPU-bound: callers run it on the blocking pool.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams, TruncationStrategy};

use super::LocalModelError;

/// The files a model directory must hold.
pub const WEIGHTS: &str = "model.safetensors";
pub const TOKENIZER: &str = "tokenizer.json";
pub const CONFIG: &str = "config.json";

/// Input is cut at 128 word pieces, the length the model was trained with (its tokenizer.json
/// says the same; sentence-transformers' config allows 256). Chunks are embedded from their
/// start and BM25 reads them whole: on SciFact, hybrid search ranks as well as with 256
/// pieces (nDCG@10 0.737 against 0.737) and ingest is more than twice as fast
/// (docs/benchmarks.md).
pub const MAX_TOKENS: usize = 128;

pub struct MiniLm {
    bert: BertModel,
    tokenizer: Tokenizer,
    dimensions: usize,
    fingerprint: String,
}

impl MiniLm {
    /// Reads the model from `dir`. Errors name the missing or unreadable file.
    pub fn load(dir: &Path) -> Result<Self, LocalModelError> {
        if !dir.is_dir() {
            return Err(LocalModelError::NoDirectory {
                dir: dir.to_path_buf(),
            });
        }
        let read = |name: &str| -> Result<Vec<u8>, LocalModelError> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    LocalModelError::MissingFile {
                        dir: dir.to_path_buf(),
                        file: name.to_string(),
                    }
                } else {
                    LocalModelError::Read { path, source }
                }
            })
        };
        let config_bytes = read(CONFIG)?;
        let tokenizer_bytes = read(TOKENIZER)?;
        let weights = read(WEIGHTS)?;
        let unreadable = |name: &str, reason: String| LocalModelError::Unreadable {
            path: dir.join(name),
            reason,
        };

        let config: Config =
            serde_json::from_slice(&config_bytes).map_err(|e| unreadable(CONFIG, e.to_string()))?;
        let mut tokenizer = Tokenizer::from_bytes(&tokenizer_bytes)
            .map_err(|e| unreadable(TOKENIZER, e.to_string()))?;
        // Pad each batch only to its longest text (the file pads every text to a fixed 128).
        let padding = tokenizer.get_padding().cloned().unwrap_or_default();
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..padding
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                ..TruncationParams::default()
            }))
            .map_err(|e| unreadable(TOKENIZER, e.to_string()))?;

        // The vectors depend on every byte of the three files, so their hash names the model
        // in document hashes: another model (or a changed one) re-embeds on the next add.
        let mut h = Sha256::new();
        for bytes in [&config_bytes, &tokenizer_bytes, &weights] {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        let fingerprint = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();

        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| unreadable(WEIGHTS, e.to_string()))?;
        let bert = BertModel::load(vb, &config).map_err(|e| unreadable(WEIGHTS, e.to_string()))?;
        Ok(Self {
            bert,
            tokenizer,
            dimensions: config.hidden_size,
            fingerprint,
        })
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// A short hash of the model's files.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Each word piece run on its own (`[CLS] piece [SEP]`) and pooled like a sentence: the rows
    /// of the static table. Not normalised: the table centres them first.
    pub fn piece_vectors(&self, ids: &[u32]) -> Result<Vec<Vec<f32>>, LocalModelError> {
        let cls = self.tokenizer.token_to_id("[CLS]").unwrap_or(101);
        let sep = self.tokenizer.token_to_id("[SEP]").unwrap_or(102);
        let mut seq = Vec::with_capacity(ids.len() * 3);
        for &id in ids {
            seq.extend([cls, id, sep]);
        }
        let mask = vec![1u32; seq.len()];
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let device = Device::Cpu;
            let shape = (ids.len(), 3);
            let ids = Tensor::from_vec(seq, shape, &device)?;
            let mask = Tensor::from_vec(mask, shape, &device)?;
            let type_ids = ids.zeros_like()?;
            let hidden = self.bert.forward(&ids, &type_ids, Some(&mask))?;
            hidden.mean(1)?.to_vec2::<f32>()
        };
        run().map_err(|e| LocalModelError::Inference(e.to_string()))
    }

    /// One unit-length vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, LocalModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| LocalModelError::Inference(format!("tokenizing: {e}")))?;
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(texts.len() * len);
        let mut mask = Vec::with_capacity(texts.len() * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        self.forward(ids, mask, (texts.len(), len))
            .map_err(|e| LocalModelError::Inference(e.to_string()))
    }

    fn forward(
        &self,
        ids: Vec<u32>,
        mask: Vec<u32>,
        shape: (usize, usize),
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let device = Device::Cpu;
        let ids = Tensor::from_vec(ids, shape, &device)?;
        let mask = Tensor::from_vec(mask, shape, &device)?;
        let type_ids = ids.zeros_like()?;
        let hidden = self.bert.forward(&ids, &type_ids, Some(&mask))?;
        mean_pool_normalised(&hidden, &mask.to_dtype(DType::F32)?.unsqueeze(2)?)
    }
}

/// The sentence-transformers recipe on an encoder's output `(batch, len, dim)`: the mean over
/// the real tokens (`mask`, `(batch, len, 1)`, 1.0 for a token and 0.0 for padding: padding
/// must not pull short texts toward each other), then unit length.
pub(super) fn mean_pool_normalised(
    hidden: &Tensor,
    mask: &Tensor,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let summed = hidden.broadcast_mul(mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norms = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norms)?.to_vec2::<f32>()
}

/// Which of the model's files `dir` lacks, if any (without loading anything).
pub fn missing_file(dir: &Path) -> Option<&'static str> {
    [CONFIG, TOKENIZER, WEIGHTS]
        .into_iter()
        .find(|f| !dir.join(f).is_file())
}

/// `dir` holds all of the model's files.
pub fn is_complete(dir: &Path) -> bool {
    dir.is_dir() && missing_file(dir).is_none()
}
