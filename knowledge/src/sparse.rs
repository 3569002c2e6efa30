//! BM25 sparse vectors through qdrant-edge's built-in embedder: Unicode word segmentation,
//! lowercasing, stopwords and Snowball stemming for the guild's language, murmur3 term ids and
//! TF saturation with length normalisation. IDF is applied at query time by the index
//! (`Modifier::Idf`), so it always reflects the guild's current corpus.

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use serde::{Deserialize, Serialize};

use crate::error::{KnowledgeError, Result};

/// BM25 parameters. `k`, `b` and the tokenizer settings are baked into stored document
/// vectors, so changing them means re-indexing (the content hash covers them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bm25Settings {
    /// Term-frequency saturation.
    pub k: f64,
    /// Length normalisation, 0 (none) to 1 (full).
    pub b: f64,
    /// Tokens shorter than this are dropped (single letters are noise for support text).
    pub min_token_len: usize,
    /// Snowball language for stopwords and stemming, e.g. `english`, `german`, `french`.
    pub language: String,
}

impl Default for Bm25Settings {
    fn default() -> Self {
        Self {
            k: 1.5,
            b: 0.75,
            min_token_len: 2,
            language: "english".into(),
        }
    }
}

/// A sparse vector, free of any backend's types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// Turns text into BM25 document and query vectors for one guild (one `avg_len`).
#[derive(Debug)]
pub struct SparseEncoder {
    model: EdgeBm25,
    /// Same tokenizer with saturation and length normalisation switched off: its weights are
    /// raw term counts, so their sum is the document length the real model normalises by.
    counter: EdgeBm25,
}

impl SparseEncoder {
    pub fn new(settings: &Bm25Settings, avg_len: f64) -> Result<Self> {
        Ok(Self {
            model: build(settings, settings.k, settings.b, avg_len)?,
            counter: build(settings, 1e9, 0.0, 1.0)?,
        })
    }

    pub fn document(&self, text: &str) -> SparseVec {
        convert(self.model.embed_document(&with_joined_compounds(text)))
    }

    pub fn query(&self, text: &str) -> SparseVec {
        convert(self.model.embed_query(&with_joined_compounds(text)))
    }

    /// Number of tokens BM25 counts for `text` (after stopwords and length filters).
    pub fn token_count(&self, text: &str) -> u64 {
        let v = self.counter.embed_document(&with_joined_compounds(text));
        v.values.iter().map(|&x| f64::from(x)).sum::<f64>().round() as u64
    }
}

/// Adds the closed form of every hyphenated word ("Pi-hole" also as "Pihole", "e-mail" as
/// "email", "to-do" as "todo"), on documents and queries alike: members write compounds
/// closed far more often than docs do, and the tokenizer splits at hyphens.
pub fn with_joined_compounds(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('-') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut joined = String::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '-')) {
        let word = word.trim_matches('-');
        if !word.contains('-') || word.contains("--") {
            continue;
        }
        let parts: Vec<&str> = word.split('-').collect();
        if parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
            continue;
        }
        joined.push(' ');
        joined.extend(parts);
    }
    if joined.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(format!("{text}\n{joined}"))
}

fn build(settings: &Bm25Settings, k: f64, b: f64, avg_len: f64) -> Result<EdgeBm25> {
    // Some option types of the config are not re-exported by qdrant-edge 0.7, but the config
    // deserialises from the same JSON shape as Qdrant's REST `Bm25Config`.
    let json = serde_json::json!({
        "k": k,
        "b": b,
        "avg_len": avg_len,
        "language": settings.language,
        "min_token_len": settings.min_token_len,
    });
    let config: EdgeBm25Config =
        serde_json::from_value(json).map_err(|e| KnowledgeError::Bm25(e.to_string()))?;
    EdgeBm25::new(config).map_err(|e| KnowledgeError::Bm25(e.to_string()))
}

fn convert(v: qdrant_edge::SparseVector) -> SparseVec {
    SparseVec {
        indices: v.indices,
        values: v.values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_count_ignores_stopwords_and_counts_repeats() {
        let enc = SparseEncoder::new(&Bm25Settings::default(), 100.0).unwrap();
        assert_eq!(enc.token_count("the cat and the cats chase a dog"), 4);
    }

    #[test]
    fn hyphenated_and_closed_compounds_match_each_other() {
        let enc = SparseEncoder::new(&Bm25Settings::default(), 100.0).unwrap();
        let doc = enc.document("Update Pi-hole with the e-mail link");
        for query in ["pihole", "email", "pi-hole"] {
            let q = enc.query(query);
            assert!(
                q.indices.iter().all(|t| doc.indices.contains(t)),
                "{query} should match"
            );
        }
        assert_eq!(
            with_joined_compounds("pihole -up --force"),
            "pihole -up --force"
        );
    }

    #[test]
    fn unknown_language_is_a_clear_error() {
        let settings = Bm25Settings {
            language: "klingon".into(),
            ..Bm25Settings::default()
        };
        let err = SparseEncoder::new(&settings, 100.0).unwrap_err();
        assert!(err.to_string().contains("klingon"), "{err}");
    }
}
