//! The vector index seen by the rest of the crate: one trait, two backends (Qdrant Edge in
//! process, the Qdrant server over gRPC). Every call names a guild and the backends scope the
//! operation to it, so no caller can reach another guild's chunks.

pub mod edge;
pub mod server;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::sparse::SparseVec;

pub use edge::EdgeIndex;
pub use server::ServerIndex;

/// Name of the BM25 sparse vector in both backends.
pub const SPARSE_VECTOR: &str = "bm25";
/// Name of the optional dense vector.
pub const DENSE_VECTOR: &str = "dense";

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// What a stored chunk carries besides its vectors: enough to cite it and to re-embed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPayload {
    pub source_id: i64,
    /// The document inside the source (relative path, page URL, entry id).
    pub location: String,
    pub url: Option<String>,
    pub title: String,
    pub heading_path: Vec<String>,
    pub anchor: Option<String>,
    pub text: String,
    /// Hash of the document this chunk came from (its text and every setting baked into the
    /// vectors), so re-adding a folder re-indexes only the files that changed.
    #[serde(default)]
    pub doc_hash: String,
    /// Partial files (relative to the source folder) whose included text is in this chunk,
    /// so a citation can name where the words were written.
    #[serde(default)]
    pub origins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct IndexPoint {
    pub id: u64,
    pub sparse: SparseVec,
    pub dense: Option<Vec<f32>>,
    pub payload: ChunkPayload,
}

/// A search: sparse, dense, or both fused.
#[derive(Debug, Clone)]
pub struct IndexQuery {
    pub sparse: Option<SparseVec>,
    pub dense: Option<Vec<f32>>,
    pub limit: usize,
    /// How many candidates each side contributes before fusion.
    pub prefetch: usize,
    /// How a hybrid search merges its two lists, set explicitly so both backends fuse the
    /// same way.
    pub fusion: Fusion,
}

/// How hybrid search merges the sparse and the dense candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    /// Reciprocal rank fusion: each list adds `1 / (k + rank)`; scores are ignored.
    Rrf { k: usize },
    /// Distribution-based score fusion: each list's scores are normalised by their mean and
    /// spread (three standard deviations either side) and summed, so how much better the
    /// top hit is than the rest counts, not only its rank.
    Dbsf,
}

/// DBSF: on SciFact, NFCorpus and the Pi-hole docs it ranks better than RRF
/// (docs/benchmarks.md).
impl Default for Fusion {
    fn default() -> Self {
        Fusion::Dbsf
    }
}

impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fusion::Rrf { k } => write!(f, "rrf (k = {k})"),
            Fusion::Dbsf => f.write_str("dbsf"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoredChunk {
    pub id: u64,
    pub score: f32,
    pub payload: ChunkPayload,
    /// The chunk's stored dense vector, returned when the query had one (for the query's
    /// cosine similarity to each hit); `None` otherwise or when the chunk has none.
    pub dense: Option<Vec<f32>>,
}

/// Per-guild corpus statistics kept beside the vectors: BM25's `avg_len` is baked into
/// document vectors, so the value used must be remembered, and the real mean tracked to know
/// when re-embedding would pay off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuildMeta {
    /// The `avg_len` the guild's document vectors were embedded with.
    pub avg_len: f64,
    /// Snowball language of the guild's vectors; `None` means the configured default.
    pub language: Option<String>,
    /// Per source: (chunks, BM25 tokens).
    pub sources: BTreeMap<i64, (u64, u64)>,
}

impl GuildMeta {
    /// The real mean chunk length of the guild's corpus, if it has any chunks.
    pub fn mean_len(&self) -> Option<f64> {
        let (chunks, tokens) = self
            .sources
            .values()
            .fold((0u64, 0u64), |(c, t), (sc, st)| (c + sc, t + st));
        (chunks > 0).then(|| tokens as f64 / chunks as f64)
    }
}

pub trait VectorIndex: Send + Sync {
    /// Inserts or replaces points in a guild.
    fn upsert(&self, guild: i64, points: Vec<IndexPoint>) -> BoxFuture<'_, ()>;
    /// Removes every chunk of one source in a guild.
    fn delete_source(&self, guild: i64, source_id: i64) -> BoxFuture<'_, ()>;
    /// Removes chunks of a guild by id.
    fn delete_points(&self, guild: i64, ids: Vec<u64>) -> BoxFuture<'_, ()>;
    /// Removes everything a guild has in the index (guild purge).
    fn delete_guild(&self, guild: i64) -> BoxFuture<'_, ()>;
    /// Number of chunks in a guild, or in one of its sources.
    fn count(&self, guild: i64, source_id: Option<i64>) -> BoxFuture<'_, usize>;
    fn search(&self, guild: i64, query: IndexQuery) -> BoxFuture<'_, Vec<ScoredChunk>>;
    /// The guild's chunk count and, per term, how many of its chunks hold it (counted up to
    /// `cap`; a higher count is reported as `cap`). The agent weighs how well passages cover
    /// a question with these.
    fn doc_freq(
        &self,
        guild: i64,
        terms: Vec<u32>,
        cap: usize,
    ) -> BoxFuture<'_, (usize, Vec<usize>)>;
    /// Replaces only the sparse vectors of existing points (dense vectors stay).
    fn update_sparse(&self, guild: i64, vectors: Vec<(u64, SparseVec)>) -> BoxFuture<'_, ()>;
    /// Every chunk of a guild, or of one of its sources (for re-embedding after the corpus
    /// statistics drift, and for finding which documents of a source changed).
    fn all_chunks(
        &self,
        guild: i64,
        source_id: Option<i64>,
    ) -> BoxFuture<'_, Vec<(u64, ChunkPayload)>>;
    /// Compacts after writes so deleted points stop counting toward IDF.
    fn optimize(&self, guild: i64) -> BoxFuture<'_, ()>;
    fn load_meta(&self, guild: i64) -> BoxFuture<'_, Option<GuildMeta>>;
    fn store_meta(&self, guild: i64, meta: GuildMeta) -> BoxFuture<'_, ()>;
}

/// Extra hits asked of the index beyond a search's limit. Fused scores tie often (a chunk
/// ranked 5th by words alone and one ranked 5th by meaning alone score the same), and which
/// of two tied hits the index keeps at its cut is arbitrary, so the same question could find
/// different chunks from one run to the next. Asking for more, ordering ties by id and then
/// cutting makes the result repeatable.
pub(crate) const TIE_SLACK: usize = 16;

/// The first `limit` hits by score, ties by id, so equal scores come back in the same order
/// every time.
pub(crate) fn cut(mut hits: Vec<ScoredChunk>, limit: usize) -> Vec<ScoredChunk> {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stored_before_origins_existed_still_read() {
        let old = serde_json::json!({
            "source_id": 1,
            "location": "a.md",
            "url": null,
            "title": "A",
            "heading_path": [],
            "anchor": null,
            "text": "alpha",
        });
        let p: ChunkPayload = serde_json::from_value(old).expect("old payload reads");
        assert!(p.origins.is_empty());
        assert_eq!(p.text, "alpha");
    }

    #[test]
    fn tied_hits_are_cut_by_id_whatever_order_the_index_returned() {
        let payload: ChunkPayload = serde_json::from_value(serde_json::json!({
            "source_id": 1, "location": "a.md", "url": null, "title": "A",
            "heading_path": [], "anchor": null, "text": "alpha",
        }))
        .expect("payload");
        let hit = |id, score| ScoredChunk {
            id,
            score,
            payload: payload.clone(),
            dense: None,
        };
        let one = vec![hit(9, 0.5), hit(3, 0.2), hit(7, 0.2), hit(5, 0.2)];
        let other = vec![hit(5, 0.2), hit(9, 0.5), hit(7, 0.2), hit(3, 0.2)];
        let ids = |hits: Vec<ScoredChunk>| hits.iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(cut(one, 3)), vec![9, 3, 5]);
        assert_eq!(ids(cut(other, 3)), vec![9, 3, 5]);
    }
}
