//! Export, erase and purge: the engine behind `supportbot data …` and the retention job's
//! purge of guilds that removed the bot. A guild's data lives in two places, the database and
//! the knowledge index (an Edge shard directory or points on a Qdrant server); this is the one
//! place that removes it from both.

use knowledge::{KnowledgeBase, KnowledgeError};
use store::{Store, StoreError, TableCount};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
}

/// Removes a guild at once and for good: its vectors and shard first, then every row of every
/// table (settings, channels, conversations, messages, traces, feedback, audit entries,
/// knowledge sources, sealed secrets). A failure part-way leaves the guild row, so the next attempt (or the next
/// retention pass, for a guild that left) finishes the job.
pub async fn purge_guild(
    store: &Store,
    knowledge: &KnowledgeBase,
    guild_id: i64,
) -> Result<Vec<TableCount>, DataError> {
    knowledge.purge_guild(guild_id).await?;
    Ok(store.purge_guild(guild_id).await?)
}
