//! The knowledge base a guild's admins manage and the agent searches: it ties source rows in
//! the store to chunks in the vector index and runs ingest (load, chunk, embed, replace) and
//! search.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use store::{KnowledgeSource, KnowledgeSourceStatus, Store};

use crate::chunk::chunk_document;
use crate::config::{BackendConfig, KnowledgeConfig};
use crate::dense::DenseEmbedder;
use crate::document::{Document, Format};
use crate::error::{KnowledgeError, Result};
use crate::fetch::Fetcher;
use crate::index::{
    ChunkPayload, EdgeIndex, Fusion, GuildMeta, IndexPoint, IndexQuery, ServerIndex, VectorIndex,
};
use crate::lock::DirLock;
use crate::progress::{Progress, Stage};
use crate::source::{Loaded, Skipped, SourceSpec, inline_documents, load_path, load_upload};
use crate::sparse::{SparseEncoder, SparseVec};

/// Points are written to the index in batches of this size, so progress moves and a huge
/// source never builds one giant request.
const UPSERT_BATCH: usize = 512;
/// Chunks embedded between progress updates (remote endpoints batch their own requests, the
/// local model its own small batches).
const EMBED_STEP: usize = 64;
/// Points written between index optimizations during one ingest.
const OPTIMIZE_EVERY: usize = 8_192;
/// Bumped whenever chunking or payload layout changes, so re-adding re-indexes.
const PIPELINE_VERSION: &str = "knowledge-v3-compounds";

/// Which vectors a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Sparse,
    Dense,
    Hybrid,
}

/// One search result: a chunk and what is needed to cite it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub text: String,
    pub source_id: i64,
    /// The document inside the source (relative path, page URL, entry id).
    pub location: String,
    pub title: String,
    pub heading_path: Vec<String>,
    pub anchor: Option<String>,
    /// Link to cite: the page URL with `#anchor` for web sources, `None` for local files.
    pub url: Option<String>,
    /// Partial files (relative to the source folder) the page included this text from.
    pub origins: Vec<String>,
    /// The search's ranking score: BM25 for sparse searches, the fused score for hybrid ones
    /// (which orders hits and says little about how close they are).
    pub score: f32,
    /// Cosine similarity of the query and this chunk when the search embedded the query and
    /// the chunk has a dense vector (hybrid and dense searches); how well the chunk matches
    /// the question in meaning, comparable across queries.
    pub dense_score: Option<f32>,
}

/// A search with what the agent needs to judge it: the query's terms and how many of the
/// guild's chunks hold each.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    /// The query's distinct BM25 terms with their document frequency (capped at
    /// `DF_CAP`; `0` means no chunk of the guild uses the term).
    pub terms: Vec<(u32, usize)>,
    /// Chunks in the guild.
    pub chunks: usize,
}

/// Document frequencies are counted up to this; a term in more chunks is common anyway.
const DF_CAP: usize = 1_000;

/// What an `add` did.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSummary {
    pub source_id: i64,
    pub documents: usize,
    pub chunks: usize,
    pub skipped: Vec<Skipped>,
    /// The content hash matched the last successful ingest; nothing was re-indexed.
    pub unchanged: bool,
    /// Documents whose chunks were (re-)embedded: new or changed since the last ingest.
    /// Unchanged documents of a changed source keep their vectors.
    pub changed_documents: usize,
    /// Documents that were in the source last time and are gone now (their chunks too).
    pub removed_documents: usize,
}

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct KnowledgeBase {
    config: KnowledgeConfig,
    store: Store,
    index: Arc<dyn VectorIndex>,
    dense: Option<DenseEmbedder>,
    fetcher: Fetcher,
    clock: Clock,
    /// Ingests and removals in one process are serialised: they read-modify-write the guild's
    /// corpus statistics.
    writes: tokio::sync::Mutex<()>,
    /// Query encoders by language (query vectors do not depend on `avg_len`).
    encoders: Mutex<HashMap<String, Arc<SparseEncoder>>>,
    languages: Mutex<HashMap<i64, String>>,
    _lock: Option<DirLock>,
}

impl KnowledgeBase {
    /// Opens (creating if needed) the knowledge base. Fails clearly if another process holds
    /// the data directory or the index on disk is unreadable.
    pub async fn open(config: KnowledgeConfig, store: Store) -> Result<Self> {
        // Only Edge keeps vectors in the data directory; server deployments may run several
        // processes (Discord shards) on one machine.
        let lock = match config.backend {
            BackendConfig::Edge => Some(DirLock::acquire(&config.data_dir)?),
            BackendConfig::Server { .. } => None,
        };
        let dense = match &config.dense {
            Some(c) => Some(DenseEmbedder::open(c).await?),
            None => None,
        };
        let dims = dense.as_ref().map(DenseEmbedder::dimensions);
        let index: Arc<dyn VectorIndex> = match &config.backend {
            BackendConfig::Edge => Arc::new(EdgeIndex::open(&config.data_dir.join("edge"), dims)?),
            BackendConfig::Server {
                url,
                api_key,
                collection,
            } => Arc::new(ServerIndex::connect(url, api_key.as_ref(), collection, dims).await?),
        };
        let fetcher = Fetcher::new(config.fetch.clone(), config.files.parser.clone())?;
        // Fail now, not at the first ingest, if the BM25 settings are invalid.
        SparseEncoder::new(&config.bm25, 1.0)?;
        Ok(Self {
            config,
            store,
            index,
            dense,
            fetcher,
            clock: Arc::new(Utc::now),
            writes: tokio::sync::Mutex::new(()),
            encoders: Mutex::new(HashMap::new()),
            languages: Mutex::new(HashMap::new()),
            _lock: lock,
        })
    }

    /// Checks that a knowledge base could open with this configuration, without creating or
    /// changing anything (for `supportbot doctor`). Says which index it found.
    pub async fn probe(config: &KnowledgeConfig) -> Result<String> {
        SparseEncoder::new(&config.bm25, 1.0)?;
        match &config.backend {
            BackendConfig::Edge => {
                if config.data_dir.exists() {
                    // Held while a knowledge base is open; released when the probe returns.
                    DirLock::acquire(&config.data_dir)?;
                }
                Ok(format!(
                    "Qdrant Edge under {}",
                    config.data_dir.join("edge").display()
                ))
            }
            BackendConfig::Server {
                url,
                api_key,
                collection,
            } => {
                // The collection's dense size must match the model's.
                let dims = match &config.dense {
                    Some(crate::DenseConfig::Remote(r)) => Some(r.dimensions),
                    Some(local) => Some(DenseEmbedder::open(local).await?.dimensions()),
                    None => None,
                };
                let found = ServerIndex::probe(url, api_key.as_ref(), collection, dims).await?;
                Ok(format!("Qdrant server at {url}: {found}"))
            }
        }
    }

    /// Replaces the wall clock used for source timestamps (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn config(&self) -> &KnowledgeConfig {
        &self.config
    }

    /// A guild's sources, oldest first.
    pub async fn list(&self, guild: i64) -> Result<Vec<KnowledgeSource>> {
        Ok(self.store.knowledge_sources(guild).await?)
    }

    /// Adds a source, or re-indexes it if its content changed. Unchanged content is detected
    /// by hash and costs nothing beyond loading it.
    pub async fn add(
        &self,
        guild: i64,
        spec: SourceSpec,
        progress: &dyn Progress,
    ) -> Result<IngestSummary> {
        let (kind, location) = spec.identity()?;
        let _writes = self.writes.lock().await;
        let row = self
            .store
            .upsert_knowledge_source(guild, kind, &location, (self.clock)())
            .await?;
        match self.ingest(guild, &row, spec, progress).await {
            Ok(summary) => Ok(summary),
            Err(e) => {
                self.store
                    .mark_knowledge_source_failed(guild, row.id, &e.to_string(), (self.clock)())
                    .await?;
                Err(e)
            }
        }
    }

    async fn ingest(
        &self,
        guild: i64,
        row: &KnowledgeSource,
        spec: SourceSpec,
        progress: &dyn Progress,
    ) -> Result<IngestSummary> {
        progress.stage(Stage::Loading, None);
        let loaded = self.load(spec).await?;
        if loaded.documents.is_empty() && !loaded.skipped.is_empty() {
            // Name the most common reason: it is the one to fix.
            let mut by_reason: Vec<(&str, usize, &str)> = Vec::new();
            for k in &loaded.skipped {
                match by_reason.iter_mut().find(|(r, _, _)| *r == k.reason) {
                    Some(entry) => entry.1 += 1,
                    None => by_reason.push((&k.reason, 1, &k.location)),
                }
            }
            let (reason, count, example) = by_reason
                .iter()
                .max_by_key(|(_, n, _)| *n)
                .copied()
                .unwrap_or(("", 0, ""));
            return Err(KnowledgeError::InvalidSource(format!(
                "nothing readable ({} skipped; {count} of them: {reason}, e.g. {example})",
                loaded.skipped.len(),
            )));
        }
        let doc_hashes = self.document_hashes(&loaded.documents);
        let hash = source_hash(&loaded.documents, &doc_hashes);
        let mut summary = IngestSummary {
            source_id: row.id,
            documents: loaded.documents.len(),
            chunks: row.chunk_count.max(0) as usize,
            skipped: loaded.skipped,
            unchanged: false,
            changed_documents: 0,
            removed_documents: 0,
        };
        if row.status == KnowledgeSourceStatus::Indexed
            && row.content_hash.as_deref() == Some(hash.as_str())
        {
            summary.unchanged = true;
            return Ok(summary);
        }

        let mut meta = self.index.load_meta(guild).await?.unwrap_or_default();
        let language = meta
            .language
            .clone()
            .unwrap_or_else(|| self.config.bm25.language.clone());
        let previous_avg_len = meta.avg_len;
        // What the index holds for this source now, per document: its hash and chunk ids.
        let mut indexed: HashMap<String, (String, Vec<u64>)> = HashMap::new();
        for (id, p) in self.index.all_chunks(guild, Some(row.id)).await? {
            let entry = indexed
                .entry(p.location)
                .or_insert_with(|| (p.doc_hash.clone(), Vec::new()));
            if entry.0 != p.doc_hash {
                // Mixed hashes (an interrupted ingest): treat the document as changed.
                entry.0.clear();
            }
            entry.1.push(id);
        }
        let new_hashes: HashMap<String, String> = loaded
            .documents
            .iter()
            .map(|d| d.location.clone())
            .zip(doc_hashes.iter().cloned())
            .collect();
        let mut bm25 = self.config.bm25.clone();
        bm25.language = language.clone();
        let chunking = self.config.chunking.clone();
        let documents = loaded.documents;
        let source_id = row.id;
        let prepared = tokio::task::spawn_blocking(move || -> Result<Vec<Prepared>> {
            let counter = SparseEncoder::new(&bm25, 1.0)?;
            let mut out = Vec::new();
            for (doc, doc_hash) in documents.iter().zip(doc_hashes) {
                let (_, chunks) = chunk_document(doc, &chunking);
                for (i, chunk) in chunks.into_iter().enumerate() {
                    let embed_text = chunk.embed_text();
                    let tokens = counter.token_count(&embed_text);
                    out.push(Prepared {
                        id: point_id(guild, source_id, &doc.location, i),
                        embed_text,
                        tokens,
                        payload: ChunkPayload {
                            source_id,
                            location: doc.location.clone(),
                            url: doc.url.clone(),
                            title: chunk.title,
                            heading_path: chunk.heading_path,
                            anchor: chunk.anchor,
                            text: chunk.text,
                            doc_hash: doc_hash.clone(),
                            origins: chunk.origins,
                        },
                    });
                }
            }
            Ok(out)
        })
        .await??;

        let chunk_count = prepared.len() as u64;
        let tokens: u64 = prepared.iter().map(|p| p.tokens).sum();
        meta.sources.remove(&source_id);
        if (meta.sources.is_empty() && indexed.is_empty()) || meta.avg_len <= 0.0 {
            // First content in the guild: its real mean becomes the BM25 length norm. (A
            // source re-added over its own chunks keeps the norm they were built with;
            // `rebalance` re-embeds if the corpus has drifted too far from it.)
            meta.avg_len = if chunk_count > 0 {
                (tokens as f64 / chunk_count as f64).max(1.0)
            } else {
                0.0
            };
        }
        meta.language = Some(language.clone());

        // Only new and changed documents are embedded and written. That needs the vectors
        // already stored to have been built with the same `avg_len`; when it moved (the
        // source is the guild's only one and its size changed) everything is rebuilt.
        let keep_unchanged = meta.avg_len == previous_avg_len;
        let mut stale: Vec<u64> = Vec::new();
        for (location, (hash, ids)) in &indexed {
            match new_hashes.get(location) {
                Some(new) if keep_unchanged && new == hash => {}
                Some(_) => stale.extend(ids),
                None => {
                    stale.extend(ids);
                    summary.removed_documents += 1;
                }
            }
        }
        let is_changed = |location: &str, hash: &str| match indexed.get(location) {
            Some((old, _)) => !keep_unchanged || old != hash,
            None => true,
        };
        let changed: std::collections::HashSet<String> = new_hashes
            .iter()
            .filter(|(l, h)| is_changed(l, h))
            .map(|(l, _)| l.clone())
            .collect();
        let prepared: Vec<Prepared> = prepared
            .into_iter()
            .filter(|p| changed.contains(&p.payload.location))
            .collect();
        summary.changed_documents = changed.len();
        let to_embed = prepared.len() as u64;

        progress.stage(Stage::Embedding, Some(to_embed));
        let mut bm25 = self.config.bm25.clone();
        bm25.language = language;
        let avg_len = meta.avg_len.max(1.0);
        let (prepared, sparse) = tokio::task::spawn_blocking(move || -> Result<_> {
            let encoder = SparseEncoder::new(&bm25, avg_len)?;
            let sparse: Vec<SparseVec> = prepared
                .iter()
                .map(|p| encoder.document(&p.embed_text))
                .collect();
            Ok((prepared, sparse))
        })
        .await??;
        let dense = match &self.dense {
            Some(embedder) => {
                let texts: Vec<String> = prepared.iter().map(|p| p.embed_text.clone()).collect();
                let mut vectors = Vec::with_capacity(texts.len());
                for batch in texts.chunks(EMBED_STEP) {
                    vectors.extend(embedder.embed_documents(batch).await?);
                    progress.advance(batch.len() as u64);
                }
                Some(vectors)
            }
            None => {
                progress.advance(to_embed);
                None
            }
        };

        progress.stage(Stage::Indexing, Some(to_embed));
        for batch in stale.chunks(UPSERT_BATCH * 4) {
            self.index.delete_points(guild, batch.to_vec()).await?;
        }
        let mut dense = dense.map(Vec::into_iter);
        let mut points: Vec<IndexPoint> = prepared
            .into_iter()
            .zip(sparse)
            .map(|(p, sparse)| IndexPoint {
                id: p.id,
                sparse,
                dense: dense.as_mut().and_then(Iterator::next),
                payload: p.payload,
            })
            .collect();
        let mut since_optimize = 0;
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(UPSERT_BATCH));
            let batch = std::mem::replace(&mut points, rest);
            let n = batch.len();
            self.index.upsert(guild, batch).await?;
            progress.advance(n as u64);
            since_optimize += n;
            // Keeps the index's mutable segment small during big ingests (see EdgeIndex).
            if since_optimize >= OPTIMIZE_EVERY && !points.is_empty() {
                self.index.optimize(guild).await?;
                since_optimize = 0;
            }
        }
        meta.sources.insert(source_id, (chunk_count, tokens));
        self.rebalance(guild, &mut meta).await?;
        self.index.optimize(guild).await?;
        self.index.store_meta(guild, meta).await?;
        self.store
            .mark_knowledge_source_indexed(
                guild,
                source_id,
                &hash,
                chunk_count as i64,
                (self.clock)(),
            )
            .await?;
        summary.chunks = chunk_count as usize;
        Ok(summary)
    }

    /// Re-embeds the guild's sparse vectors when the real mean chunk length has drifted too
    /// far from the `avg_len` they were built with (e.g. a small first source followed by a
    /// large one), so length normalisation stays meaningful.
    async fn rebalance(&self, guild: i64, meta: &mut GuildMeta) -> Result<()> {
        let Some(mean) = meta.mean_len() else {
            return Ok(());
        };
        let used = meta.avg_len.max(1.0);
        if ((mean - used) / used).abs() <= self.config.avg_len_drift {
            return Ok(());
        }
        tracing::info!(guild, from = used, to = mean, "re-embedding sparse vectors");
        meta.avg_len = mean.max(1.0);
        self.reembed(guild, meta).await
    }

    async fn reembed(&self, guild: i64, meta: &GuildMeta) -> Result<()> {
        let chunks = self.index.all_chunks(guild, None).await?;
        let mut bm25 = self.config.bm25.clone();
        if let Some(l) = &meta.language {
            bm25.language = l.clone();
        }
        let avg_len = meta.avg_len.max(1.0);
        let vectors = tokio::task::spawn_blocking(move || -> Result<Vec<(u64, SparseVec)>> {
            let encoder = SparseEncoder::new(&bm25, avg_len)?;
            Ok(chunks
                .into_iter()
                .map(|(id, p)| {
                    let text = crate::chunk::Chunk {
                        title: p.title,
                        heading_path: p.heading_path,
                        anchor: p.anchor,
                        text: p.text,
                        origins: p.origins,
                    }
                    .embed_text();
                    (id, encoder.document(&text))
                })
                .collect())
        })
        .await??;
        for batch in vectors.chunks(UPSERT_BATCH) {
            self.index.update_sparse(guild, batch.to_vec()).await?;
        }
        Ok(())
    }

    /// Changes the Snowball language of a guild's knowledge and re-embeds what it has.
    pub async fn set_language(&self, guild: i64, language: &str) -> Result<()> {
        let mut bm25 = self.config.bm25.clone();
        bm25.language = language.to_string();
        SparseEncoder::new(&bm25, 1.0)?;
        let _writes = self.writes.lock().await;
        let mut meta = self.index.load_meta(guild).await?.unwrap_or_default();
        meta.language = Some(language.to_string());
        self.reembed(guild, &meta).await?;
        self.index.store_meta(guild, meta).await?;
        self.languages
            .lock()
            .map_err(|_| KnowledgeError::Task("language cache poisoned".into()))?
            .insert(guild, language.to_string());
        Ok(())
    }

    /// Removes a source and its chunks; its text stops being findable at once.
    pub async fn remove(&self, guild: i64, source_id: i64) -> Result<()> {
        let _writes = self.writes.lock().await;
        if self
            .store
            .knowledge_source(guild, source_id)
            .await?
            .is_none()
        {
            return Err(KnowledgeError::UnknownSource { id: source_id });
        }
        self.index.delete_source(guild, source_id).await?;
        let mut meta = self.index.load_meta(guild).await?.unwrap_or_default();
        meta.sources.remove(&source_id);
        self.rebalance(guild, &mut meta).await?;
        // Rebuilding segments drops deleted points from the IDF statistics.
        self.index.optimize(guild).await?;
        self.index.store_meta(guild, meta).await?;
        self.store.remove_knowledge_source(guild, source_id).await?;
        Ok(())
    }

    /// Removes every vector of a guild (its source rows go with the guild's store purge).
    pub async fn purge_guild(&self, guild: i64) -> Result<()> {
        let _writes = self.writes.lock().await;
        self.index.delete_guild(guild).await?;
        self.languages
            .lock()
            .map_err(|_| KnowledgeError::Task("language cache poisoned".into()))?
            .remove(&guild);
        Ok(())
    }

    /// Number of chunks a guild has indexed.
    pub async fn chunk_count(&self, guild: i64) -> Result<usize> {
        self.index.count(guild, None).await
    }

    /// The best chunks for a query in one guild, best first: hybrid when dense vectors are
    /// configured, BM25 otherwise.
    pub async fn search(&self, guild: i64, query: &str, limit: usize) -> Result<Vec<Hit>> {
        let mode = if self.dense.is_some() {
            SearchMode::Hybrid
        } else {
            SearchMode::Sparse
        };
        self.search_with(guild, query, limit, mode).await
    }

    /// A search plus the statistics of the query's terms in the guild (hybrid when dense
    /// vectors are configured, BM25 otherwise).
    pub async fn search_detailed(
        &self,
        guild: i64,
        query: &str,
        limit: usize,
    ) -> Result<SearchOutcome> {
        let mode = if self.dense.is_some() {
            SearchMode::Hybrid
        } else {
            SearchMode::Sparse
        };
        let terms = self.query_encoder(guild).await?.query(query).indices;
        let (hits, (chunks, dfs)) = futures::future::try_join(
            self.search_with(guild, query, limit, mode),
            self.index.doc_freq(guild, terms.clone(), DF_CAP),
        )
        .await?;
        if chunks == 0 {
            self.check_not_lost(guild).await?;
        }
        Ok(SearchOutcome {
            hits,
            terms: terms.into_iter().zip(dfs).collect(),
            chunks,
        })
    }

    /// An empty index for a guild whose sources were indexed means the index was lost (its
    /// directory deleted or replaced), not that the docs lack the answer: say so, so questions
    /// get an honest handoff instead of "not in the docs".
    async fn check_not_lost(&self, guild: i64) -> Result<()> {
        let sources = self.store.knowledge_sources(guild).await?;
        let indexed: i64 = sources
            .iter()
            .filter(|s| s.status == KnowledgeSourceStatus::Indexed)
            .map(|s| s.chunk_count)
            .sum();
        if indexed > 0 {
            return Err(KnowledgeError::Index(format!(
                "the guild's index is empty but its sources hold {indexed} chunks: the index \
                 directory was lost or replaced; remove and re-add its sources (`supportbot \
                 knowledge remove` and `add`)"
            )));
        }
        Ok(())
    }

    /// Each text's distinct BM25 terms under the guild's analyzer (language, stopwords,
    /// stemming): the ids `SearchOutcome::terms` uses.
    pub async fn analyze(&self, guild: i64, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encoder = self.query_encoder(guild).await?;
        Ok(texts.iter().map(|t| encoder.query(t).indices).collect())
    }

    pub async fn search_with(
        &self,
        guild: i64,
        query: &str,
        limit: usize,
        mode: SearchMode,
    ) -> Result<Vec<Hit>> {
        self.search_fused(guild, query, limit, mode, self.config.fusion)
            .await
    }

    /// How hybrid searches fuse.
    pub fn fusion(&self) -> Fusion {
        self.config.fusion
    }

    /// The query's dense vector, as a search computes it (`None` without dense vectors).
    pub async fn query_vector(&self, query: &str) -> Result<Option<Vec<f32>>> {
        match &self.dense {
            Some(embedder) => Ok(Some(embedder.embed_query(query).await?)),
            None => Ok(None),
        }
    }

    /// `search_with`, fusing a hybrid search with `fusion` instead of the configured one: for
    /// evaluations comparing fusions on one index.
    pub async fn search_fused(
        &self,
        guild: i64,
        query: &str,
        limit: usize,
        mode: SearchMode,
        fusion: Fusion,
    ) -> Result<Vec<Hit>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sparse = match mode {
            SearchMode::Sparse | SearchMode::Hybrid => {
                Some(self.query_encoder(guild).await?.query(query))
            }
            SearchMode::Dense => None,
        };
        let dense = match (mode, &self.dense) {
            (SearchMode::Sparse, _) => None,
            (_, Some(embedder)) => Some(embedder.embed_query(query).await?),
            (_, None) => {
                return Err(KnowledgeError::Embeddings(
                    "dense and hybrid search need an embeddings endpoint or the local sentence \
                     model in the configuration"
                        .into(),
                ));
            }
        };
        let hits = self
            .index
            .search(
                guild,
                IndexQuery {
                    sparse,
                    dense: dense.clone(),
                    limit,
                    prefetch: limit.max(50),
                    fusion,
                },
            )
            .await?;
        Ok(hits
            .into_iter()
            .map(|h| {
                let url = h.payload.url.as_ref().map(|u| match &h.payload.anchor {
                    Some(a) => format!("{u}#{a}"),
                    None => u.clone(),
                });
                Hit {
                    text: h.payload.text,
                    source_id: h.payload.source_id,
                    location: h.payload.location,
                    title: h.payload.title,
                    heading_path: h.payload.heading_path,
                    anchor: h.payload.anchor,
                    url,
                    origins: h.payload.origins,
                    score: h.score,
                    dense_score: dense.as_deref().zip(h.dense.as_deref()).map(cosine),
                }
            })
            .collect())
    }

    async fn query_encoder(&self, guild: i64) -> Result<Arc<SparseEncoder>> {
        let poisoned = || KnowledgeError::Task("encoder cache poisoned".into());
        let cached = self
            .languages
            .lock()
            .map_err(|_| poisoned())?
            .get(&guild)
            .cloned();
        let language = match cached {
            Some(l) => l,
            None => {
                let meta = self.index.load_meta(guild).await?;
                let l = meta
                    .and_then(|m| m.language)
                    .unwrap_or_else(|| self.config.bm25.language.clone());
                self.languages
                    .lock()
                    .map_err(|_| poisoned())?
                    .insert(guild, l.clone());
                l
            }
        };
        let mut encoders = self.encoders.lock().map_err(|_| poisoned())?;
        if let Some(e) = encoders.get(&language) {
            return Ok(Arc::clone(e));
        }
        let mut bm25 = self.config.bm25.clone();
        bm25.language = language.clone();
        let e = Arc::new(SparseEncoder::new(&bm25, 1.0)?);
        encoders.insert(language, Arc::clone(&e));
        Ok(e)
    }

    async fn load(&self, spec: SourceSpec) -> Result<Loaded> {
        match spec {
            SourceSpec::Path(p) => {
                let limits = self.config.files.clone();
                tokio::task::spawn_blocking(move || load_path(&p, &limits)).await?
            }
            SourceSpec::Upload { name, bytes } => {
                let limits = self.config.files.clone();
                Ok(tokio::task::spawn_blocking(move || load_upload(&name, bytes, &limits)).await?)
            }
            SourceSpec::Inline { name, entries } => Ok(Loaded {
                documents: inline_documents(&name, &entries),
                skipped: Vec::new(),
            }),
            SourceSpec::Documents { documents, .. } => Ok(Loaded {
                documents,
                skipped: Vec::new(),
            }),
            SourceSpec::Url(url) => Ok(Loaded {
                documents: vec![self.fetcher.page(&url).await?],
                skipped: Vec::new(),
            }),
            SourceSpec::Sitemap(url) => self.fetcher.sitemap(&url).await,
        }
    }

    /// One hash per document, covering its text and every setting baked into its vectors, so
    /// a settings change re-indexes on the next add. The settings are hashed once.
    fn document_hashes(&self, docs: &[Document]) -> Vec<String> {
        let mut settings = Sha256::new();
        settings.update(PIPELINE_VERSION);
        settings.update(format!("{:?}{:?}", self.config.bm25, self.config.chunking));
        if let Some(d) = &self.dense {
            settings.update(d.settings_key());
        }
        docs.iter()
            .map(|d| {
                let mut h = settings.clone();
                for part in [
                    d.location.as_str(),
                    d.url.as_deref().unwrap_or(""),
                    d.fallback_title.as_str(),
                    format_tag(d.format),
                    d.body.as_str(),
                ] {
                    h.update((part.len() as u64).to_le_bytes());
                    h.update(part);
                }
                hex(&h.finalize())
            })
            .collect()
    }
}

/// Cosine similarity. Stored vectors come back unit-length (the index normalises them for its
/// cosine distance) and the local model's queries are too, but an endpoint's may not be.
fn cosine((a, b): (&[f32], &[f32])) -> f32 {
    let (mut dot, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    dot / (aa.sqrt() * bb.sqrt()).max(f32::MIN_POSITIVE)
}

/// A source's hash: its documents' hashes in location order, so any document changed, added
/// or removed changes it.
fn source_hash(docs: &[Document], doc_hashes: &[String]) -> String {
    let mut pairs: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| d.location.as_str())
        .zip(doc_hashes.iter().map(String::as_str))
        .collect();
    pairs.sort_unstable();
    let mut h = Sha256::new();
    for (location, doc_hash) in pairs {
        h.update((location.len() as u64).to_le_bytes());
        h.update(location);
        h.update(doc_hash);
    }
    hex(&h.finalize())
}

struct Prepared {
    id: u64,
    embed_text: String,
    tokens: u64,
    payload: ChunkPayload,
}

fn format_tag(f: Format) -> &'static str {
    match f {
        Format::Markdown => "md",
        Format::Html => "html",
        Format::Text => "txt",
        Format::Pdf => "pdf",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stable ids: the same chunk of the same document gets the same id, in every backend (the
/// server keeps all guilds in one collection, hence the guild in the hash).
fn point_id(guild: i64, source_id: i64, location: &str, index: usize) -> u64 {
    let mut h = Sha256::new();
    h.update(guild.to_le_bytes());
    h.update(source_id.to_le_bytes());
    h.update((index as u64).to_le_bytes());
    h.update(location);
    let d = h.finalize();
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    u64::from_le_bytes(id)
}
