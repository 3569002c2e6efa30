//! A static token table distilled from the sentence model, in the spirit of model2vec: every
//! word piece of the vocabulary is run through the model once, on its own, and its pooled
//! output kept. A text's vector is then a weighted mean of its pieces' rows — no network at
//! message time, so the classifier can afford it on every message (microseconds instead of the
//! full model's milliseconds). It is coarser than the model: word order and context are gone.
//!
//! Distilling takes the model a while (the whole vocabulary), so the table is written to a
//! cache file named by the model's fingerprint and read back on later starts.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use super::LocalModelError;
use super::model::MiniLm;

/// The file format's first bytes; bump the digit when the layout or the recipe changes.
const MAGIC: &[u8; 8] = b"SBSTAT2\n";
/// Word pieces per forward pass while distilling.
const DISTILL_BATCH: usize = 1024;
/// Longer texts are cut: a message's first pieces say what it is about.
pub const MAX_STATIC_TOKENS: usize = 512;
/// BERT's uncased vocabulary lists whole words from this id on, roughly by frequency.
const FIRST_WORD_ID: u32 = 1996;
/// A piece's weight grows with its frequency rank as `rank / (rank + WEIGHT_HALF)`: "the" counts
/// almost nothing, a rare word almost fully (a rank-based stand-in for SIF weighting).
const WEIGHT_HALF: f32 = 100.0;

pub struct StaticTable {
    tokenizer: Tokenizer,
    dims: usize,
    /// vocab × dims, each row the piece's pooled output minus the vocabulary's mean.
    rows: Vec<f32>,
    weights: Vec<f32>,
    fingerprint: String,
}

impl StaticTable {
    /// Reads the table for `model` from `cache_dir`, or distills it and writes it there. A
    /// cache that is damaged or belongs to other model files is rebuilt; a cache directory that
    /// cannot be written only costs the next start another distillation.
    pub fn load_or_distill(model: &MiniLm, cache_dir: &Path) -> Result<Self, LocalModelError> {
        let path = cache_path(cache_dir, model.fingerprint());
        let vocab = model.tokenizer().get_vocab_size(true);
        if let Some(rows) = read_cache(&path, vocab, model.dimensions()) {
            return Ok(Self::from_rows(model, rows));
        }
        let table = Self::distill(model)?;
        if let Err(e) = write_cache(&path, &table.rows, vocab, model.dimensions()) {
            tracing::warn!(
                path = %path.display(),
                error = %e,
                "could not cache the static token table; it will be distilled again next start"
            );
        }
        Ok(table)
    }

    /// Runs every word piece through the model.
    pub fn distill(model: &MiniLm) -> Result<Self, LocalModelError> {
        let vocab = model.tokenizer().get_vocab_size(true) as u32;
        let dims = model.dimensions();
        let mut rows = Vec::with_capacity(vocab as usize * dims);
        let ids: Vec<u32> = (0..vocab).collect();
        for batch in ids.chunks(DISTILL_BATCH) {
            for v in model.piece_vectors(batch)? {
                rows.extend_from_slice(&v);
            }
        }
        // Every piece's output shares a large common direction (the [CLS]/[SEP] around it and
        // the model's anisotropy); without removing it all texts look alike.
        let mut mean = vec![0.0f32; dims];
        for row in rows.chunks_exact(dims) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        for m in &mut mean {
            *m /= vocab.max(1) as f32;
        }
        for row in rows.chunks_exact_mut(dims) {
            for (x, m) in row.iter_mut().zip(&mean) {
                *x -= m;
            }
        }
        Ok(Self::from_rows(model, rows))
    }

    fn from_rows(model: &MiniLm, rows: Vec<f32>) -> Self {
        let mut tokenizer = model.tokenizer().clone();
        tokenizer.with_padding(None);
        // Cutting can only fail for a stride larger than the length, which 0 never is.
        let _ = tokenizer.with_truncation(Some(tokenizers::TruncationParams {
            max_length: MAX_STATIC_TOKENS,
            ..tokenizers::TruncationParams::default()
        }));
        let vocab = model.tokenizer().get_vocab_size(true);
        let special: Vec<u32> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .iter()
            .filter_map(|t| model.tokenizer().token_to_id(t))
            .collect();
        let weights = (0..vocab as u32)
            .map(|id| {
                if special.contains(&id) {
                    0.0
                } else if id < FIRST_WORD_ID {
                    // Single characters and punctuation.
                    0.5
                } else {
                    let rank = (id - FIRST_WORD_ID + 1) as f32;
                    rank / (rank + WEIGHT_HALF)
                }
            })
            .collect();
        Self {
            tokenizer,
            dims: model.dimensions(),
            rows,
            weights,
            fingerprint: model.fingerprint().to_string(),
        }
    }

    pub fn dimensions(&self) -> usize {
        self.dims
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A unit-length vector, or zeros when the text has no known piece.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut out = vec![0.0f32; self.dims];
        let Ok(encoding) = self.tokenizer.encode(text, false) else {
            return out;
        };
        for &id in encoding.get_ids() {
            let id = id as usize;
            let Some(row) = self.rows.get(id * self.dims..(id + 1) * self.dims) else {
                continue;
            };
            let w = self.weights[id];
            if w == 0.0 {
                continue;
            }
            for (o, x) in out.iter_mut().zip(row) {
                *o += w * x;
            }
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 1e-9 {
            for o in &mut out {
                *o /= norm;
            }
        } else {
            out.iter_mut().for_each(|o| *o = 0.0);
        }
        out
    }
}

fn cache_path(dir: &Path, fingerprint: &str) -> PathBuf {
    dir.join(format!("static-table-{fingerprint}.bin"))
}

/// The rows, when `path` holds a complete table of the expected shape.
pub(super) fn read_cache(path: &Path, vocab: usize, dims: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    let header = MAGIC.len() + 8;
    if bytes.len() != header + vocab * dims * 2 || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let n = u32::from_le_bytes(bytes[8..12].try_into().ok()?) as usize;
    let d = u32::from_le_bytes(bytes[12..16].try_into().ok()?) as usize;
    if n != vocab || d != dims {
        return None;
    }
    let rows = bytes[header..]
        .chunks_exact(2)
        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect::<Vec<f32>>();
    rows.iter().all(|x| x.is_finite()).then_some(rows)
}

/// Half precision: the table is 23 MB instead of 47, and the vectors lose nothing that matters
/// for cosine similarity. Written to a temporary file and renamed, so a crash never leaves a
/// half table under the real name.
fn write_cache(path: &Path, rows: &[f32], vocab: usize, dims: usize) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the cache path has no directory"))?;
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + rows.len() * 2);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(vocab as u32).to_le_bytes());
    out.extend_from_slice(&(dims as u32).to_le_bytes());
    for x in rows {
        out.extend_from_slice(&half::f16::from_f32(*x).to_le_bytes());
    }
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(&out)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

impl StaticTable {
    /// Loads the model from `model_dir` only as long as it takes to read or distill the table.
    /// Blocking: reads about 90 MB, and distilling runs the model over the whole vocabulary.
    pub fn open(model_dir: &Path, cache_dir: &Path) -> Result<Self, LocalModelError> {
        let model = MiniLm::load(model_dir)?;
        Self::load_or_distill(&model, cache_dir)
    }
}
