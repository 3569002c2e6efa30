//! Knowledge sources, chunking, sparse/dense vectors and the `VectorIndex` backends.
//!
//! A guild's admins add sources (files, folders, pages, sitemaps, Q&A); each is loaded into
//! documents, chunked at headings, embedded as BM25 sparse vectors (and dense vectors from an
//! embeddings endpoint or the local sentence model) and stored in a per-guild scope of the
//! vector index.
//! `KnowledgeBase` is the entry point; `eval` measures retrieval on BEIR datasets through the
//! same code.

pub mod chunk;
pub mod config;
pub mod dense;
pub mod document;
pub mod error;
pub mod eval;
pub mod fetch;
#[cfg(test)]
mod fuzz_tests;
pub mod index;
mod kb;
pub mod local_model;
mod lock;
mod markup;
pub mod pdf;
pub mod progress;
pub mod source;
pub mod sparse;

pub use config::{BackendConfig, KnowledgeConfig};
pub use dense::{DenseConfig, RemoteConfig};
pub use document::{Document, Format};
pub use error::{KnowledgeError, Result};
pub use fetch::FetchConfig;
pub use kb::{Hit, IngestSummary, KnowledgeBase, SearchMode, SearchOutcome};
pub use local_model::LocalModelConfig;
pub use pdf::ParserConfig;
pub use progress::{NoProgress, Progress, Stage};
pub use source::{QaEntry, Skipped, SourceSpec};
pub use store::{KnowledgeSource, KnowledgeSourceStatus};
