//! Knowledge source rows: what a guild asked us to index (a folder, a URL, a sitemap, inline
//! Q&A), the hash of the content last indexed, and how that went. The vectors themselves live
//! in the knowledge crate's index; these rows are the catalogue an admin lists and removes.

use chrono::{DateTime, Utc};

use crate::{Result, Store, StoreError, on_pool, ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KnowledgeSourceStatus {
    /// Registered, not (yet) indexed.
    Pending,
    Indexed,
    /// The last attempt failed; `last_error` says why. Chunks of an earlier success may remain.
    Failed,
}

impl KnowledgeSourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Indexed => "indexed",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(Self::Pending),
            "indexed" => Ok(Self::Indexed),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::Corrupt(format!(
                "unknown knowledge source status {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KnowledgeSource {
    pub id: i64,
    pub guild_id: i64,
    /// What the location means (`path`, `url`, `sitemap`, `inline`); the knowledge crate owns
    /// the vocabulary.
    pub kind: String,
    pub location: String,
    pub content_hash: Option<String>,
    pub chunk_count: i64,
    pub status: KnowledgeSourceStatus,
    pub indexed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct KnowledgeSourceRow {
    id: i64,
    guild_id: i64,
    kind: String,
    location: String,
    content_hash: Option<String>,
    chunk_count: i64,
    status: String,
    indexed_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<KnowledgeSourceRow> for KnowledgeSource {
    type Error = StoreError;

    fn try_from(r: KnowledgeSourceRow) -> Result<Self> {
        Ok(KnowledgeSource {
            id: r.id,
            guild_id: r.guild_id,
            kind: r.kind,
            location: r.location,
            content_hash: r.content_hash,
            chunk_count: r.chunk_count,
            status: KnowledgeSourceStatus::parse(&r.status)?,
            indexed_at: r.indexed_at,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

macro_rules! source_columns {
    () => {
        "id, guild_id, kind, location, content_hash, chunk_count, status, indexed_at, last_error, created_at, updated_at"
    };
}

impl Store {
    /// Registers a source (or returns the existing row for the same kind and location, so
    /// re-adding is idempotent). An admin may add knowledge before the bot has seen the guild's
    /// GUILD_CREATE, so a missing guild row is created rather than failing the foreign key.
    pub async fn upsert_knowledge_source(
        &self,
        guild_id: i64,
        kind: &str,
        location: &str,
        now: DateTime<Utc>,
    ) -> Result<KnowledgeSource> {
        let now = ts(now);
        self.ensure_guild(guild_id, now).await?;
        let sql = concat!(
            "INSERT INTO knowledge_sources (guild_id, kind, location, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (guild_id, kind, location) DO UPDATE SET updated_at = $4
             RETURNING ",
            source_columns!()
        );
        let row: KnowledgeSourceRow = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(guild_id)
            .bind(kind)
            .bind(location)
            .bind(now)
            .fetch_one(pool)
            .await)?;
        row.try_into()
    }

    pub async fn knowledge_source(
        &self,
        guild_id: i64,
        id: i64,
    ) -> Result<Option<KnowledgeSource>> {
        let sql = concat!(
            "SELECT ",
            source_columns!(),
            " FROM knowledge_sources WHERE guild_id = $1 AND id = $2"
        );
        let row: Option<KnowledgeSourceRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(guild_id)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(KnowledgeSource::try_from).transpose()
    }

    /// A guild's sources, oldest first.
    pub async fn knowledge_sources(&self, guild_id: i64) -> Result<Vec<KnowledgeSource>> {
        let sql = concat!(
            "SELECT ",
            source_columns!(),
            " FROM knowledge_sources WHERE guild_id = $1 ORDER BY id"
        );
        let rows: Vec<KnowledgeSourceRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(guild_id)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(KnowledgeSource::try_from).collect()
    }

    /// Deletes a source row; returns whether it existed in this guild.
    pub async fn remove_knowledge_source(&self, guild_id: i64, id: i64) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "DELETE FROM knowledge_sources WHERE guild_id = $1 AND id = $2",
        )
        .bind(guild_id)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(affected > 0)
    }

    pub async fn mark_knowledge_source_indexed(
        &self,
        guild_id: i64,
        id: i64,
        content_hash: &str,
        chunk_count: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        on_pool!(self, pool => sqlx::query(
            "UPDATE knowledge_sources
             SET content_hash = $3, chunk_count = $4, status = 'indexed', indexed_at = $5,
                 last_error = NULL, updated_at = $5
             WHERE guild_id = $1 AND id = $2",
        )
        .bind(guild_id)
        .bind(id)
        .bind(content_hash)
        .bind(chunk_count)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Records a failed attempt. The content hash and chunk count of the last success stay, so
    /// they keep describing what is actually in the index.
    pub async fn mark_knowledge_source_failed(
        &self,
        guild_id: i64,
        id: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        on_pool!(self, pool => sqlx::query(
            "UPDATE knowledge_sources SET status = 'failed', last_error = $3, updated_at = $4
             WHERE guild_id = $1 AND id = $2",
        )
        .bind(guild_id)
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatabaseSettings;

    async fn sqlite_store(dir: &std::path::Path) -> Store {
        let url = format!("sqlite://{}", dir.join("t.db").display());
        Store::open(&DatabaseSettings::new(url))
            .await
            .expect("open sqlite")
    }

    #[tokio::test]
    async fn sources_are_upserted_marked_listed_and_removed_per_guild() {
        let dir = std::env::temp_dir().join(format!("ks-test-{}", std::process::id()));
        let store = sqlite_store(&dir).await;
        let now = Utc::now();
        let a = store
            .upsert_knowledge_source(1, "path", "/docs", now)
            .await
            .unwrap();
        let again = store
            .upsert_knowledge_source(1, "path", "/docs", now)
            .await
            .unwrap();
        assert_eq!(a.id, again.id, "re-adding the same source reuses its row");
        assert_eq!(a.status, KnowledgeSourceStatus::Pending);
        store
            .upsert_knowledge_source(2, "path", "/docs", now)
            .await
            .unwrap();

        store
            .mark_knowledge_source_indexed(1, a.id, "abc", 7, now)
            .await
            .unwrap();
        let got = store.knowledge_source(1, a.id).await.unwrap().unwrap();
        assert_eq!(got.status, KnowledgeSourceStatus::Indexed);
        assert_eq!(got.content_hash.as_deref(), Some("abc"));
        assert_eq!(got.chunk_count, 7);
        assert!(got.indexed_at.is_some());

        store
            .mark_knowledge_source_failed(1, a.id, "boom", now)
            .await
            .unwrap();
        let got = store.knowledge_source(1, a.id).await.unwrap().unwrap();
        assert_eq!(got.status, KnowledgeSourceStatus::Failed);
        assert_eq!(got.last_error.as_deref(), Some("boom"));
        assert_eq!(got.content_hash.as_deref(), Some("abc"));

        assert!(
            store.knowledge_source(2, a.id).await.unwrap().is_none(),
            "other guild"
        );
        assert!(
            !store.remove_knowledge_source(2, a.id).await.unwrap(),
            "other guild"
        );
        assert_eq!(store.knowledge_sources(1).await.unwrap().len(), 1);
        assert!(store.remove_knowledge_source(1, a.id).await.unwrap());
        assert!(store.knowledge_sources(1).await.unwrap().is_empty());
        assert_eq!(store.knowledge_sources(2).await.unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
