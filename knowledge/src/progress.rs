//! Progress reporting for long ingests, so the CLI can drive a progress bar without this
//! crate knowing about terminals.

/// What an ingest is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading files or fetching pages.
    Loading,
    /// Chunking and computing vectors; `total` is the number of chunks.
    Embedding,
    /// Writing vectors to the index; `total` is the number of chunks.
    Indexing,
}

pub trait Progress: Send + Sync {
    /// A new stage begins; `total` is known for the embedding and indexing stages.
    fn stage(&self, stage: Stage, total: Option<u64>);
    /// `n` more items of the current stage are done.
    fn advance(&self, n: u64);
}

/// For callers that do not show progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: Stage, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}
