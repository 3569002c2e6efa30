//! The agent's only view of a guild's knowledge: a search that returns passages with what is
//! needed to cite them, plus the corpus statistics of the query's terms, and the guild's own
//! analyzer (the terms search matches on) so sentences can be scored the way search scores
//! chunks. The bot implements it over the knowledge base; tests implement it in memory.

use std::future::Future;
use std::pin::Pin;

pub type RetrieverFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, RetrievalError>> + Send + 'a>>;

/// One retrieved chunk of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The knowledge source it belongs to (its id in the store).
    pub source_id: i64,
    /// The document inside the source: a path relative to the folder, a page URL, an entry id.
    /// Chunks of one document share it.
    pub location: String,
    /// Partial files whose text was included into this passage (an include's text belongs to
    /// the page that includes it, but it is still that file's text).
    pub origins: Vec<String>,
    pub title: String,
    pub heading_path: Vec<String>,
    /// Link to cite, when the document has one.
    pub url: Option<String>,
    pub text: String,
    /// Search score; comparable only within one result list.
    pub score: f32,
    /// Cosine similarity of the question and this passage, when the knowledge base has
    /// dense vectors (a sentence model or an embeddings endpoint).
    pub similarity: Option<f32>,
}

/// A query term as search saw it, with how many of the guild's chunks contain it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TermStat {
    pub term: u32,
    /// Chunks holding the term. `0` means the guild's knowledge never uses it.
    pub df: usize,
}

/// What one search found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retrieved {
    /// Best first.
    pub passages: Vec<Passage>,
    /// The query's distinct terms (after stopwords and stemming).
    pub terms: Vec<TermStat>,
    /// Chunks in the guild's knowledge base.
    pub chunks: usize,
}

impl Retrieved {
    /// Inverse document frequency of a term, with the same formula BM25 search uses. A term
    /// the corpus never uses gets the highest weight a term can have.
    pub fn idf(&self, df: usize) -> f32 {
        let n = self.chunks.max(df) as f32;
        let df = df as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("knowledge search failed: {0}")]
pub struct RetrievalError(pub String);

pub trait Retriever: Send + Sync {
    /// The best `limit` passages for `query` in one guild's knowledge.
    fn search<'a>(
        &'a self,
        guild: u64,
        query: &'a str,
        limit: usize,
    ) -> RetrieverFuture<'a, Retrieved>;

    /// Each text's distinct terms under the guild's analyzer (its language's stopwords and
    /// stemming), in the same id space as `TermStat::term`.
    fn analyze<'a>(
        &'a self,
        guild: u64,
        texts: &'a [&'a str],
    ) -> RetrieverFuture<'a, Vec<Vec<u32>>>;
}
