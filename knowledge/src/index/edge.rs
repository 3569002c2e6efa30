//! Qdrant Edge backend: one on-disk shard per guild under `<data>/edge/<guild_id>/`, so each
//! guild's BM25 IDF comes from its own corpus only and purging a guild removes a directory.
//! Shard calls block, so they all run on tokio's blocking pool.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeOptimizersConfig, EdgeShard,
    EdgeSparseVectorParams, EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, Fusion,
    JsonPath, Match, Modifier, NamedQuery, Payload, PayloadFieldSchema, PayloadSchemaType, PointId,
    PointInsertOperations, PointOperations, PointStructPersisted, PointVectorsPersisted, Prefetch,
    QueryEnum, QueryRequest, ScoringQuery, ScrollRequest, SparseVector, UpdateOperation,
    UpdateVectorsOp, VectorInternal, VectorOperations, VectorPersisted, VectorStructInternal,
    VectorStructPersisted, WithPayloadInterface, WithVector,
};

use super::{
    BoxFuture, ChunkPayload, DENSE_VECTOR, GuildMeta, IndexPoint, IndexQuery, SPARSE_VECTOR,
    ScoredChunk, TIE_SLACK, VectorIndex, cut,
};
use crate::error::{KnowledgeError, Result};
use crate::sparse::SparseVec;

const META_FILE: &str = "meta.json";
const SHARD_DIR: &str = "shard";
/// Where a shard sits while it is rebuilt with another vector layout.
const OLD_SHARD_DIR: &str = "shard.old";

pub struct EdgeIndex {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    dense_dim: Option<usize>,
    shards: Mutex<HashMap<i64, Arc<EdgeShard>>>,
}

impl EdgeIndex {
    /// `root` is the directory holding one sub-directory per guild. The caller holds the data
    /// directory's lock: Edge shards must not be opened by two processes.
    pub fn open(root: &Path, dense_dim: Option<usize>) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|source| KnowledgeError::DataDir {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                dense_dim,
                shards: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn run<T, F>(&self, f: F) -> BoxFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&inner))
                .await
                .map_err(|e| KnowledgeError::Index(format!("vector index task failed: {e}")))?
        })
    }
}

fn index_err(e: impl std::fmt::Display) -> KnowledgeError {
    KnowledgeError::Index(e.to_string())
}

impl Inner {
    fn guild_dir(&self, guild: i64) -> PathBuf {
        self.root.join(guild.to_string())
    }

    /// The guild's shard, opened on first use. With `create == false` a guild without a
    /// shard yields `None` (nothing indexed yet) instead of creating an empty one.
    fn shard(&self, guild: i64, create: bool) -> Result<Option<Arc<EdgeShard>>> {
        let mut shards = self
            .shards
            .lock()
            .map_err(|_| index_err("shard table poisoned by an earlier panic"))?;
        if let Some(s) = shards.get(&guild) {
            return Ok(Some(Arc::clone(s)));
        }
        let path = self.guild_dir(guild).join(SHARD_DIR);
        let old = self.guild_dir(guild).join(OLD_SHARD_DIR);
        if old.exists() {
            // A re-layout was interrupted: the old shard is complete, the new one may not be.
            self.restore_old_shard(&path, &old)?;
        }
        if path.exists() && !path.is_dir() {
            return Err(KnowledgeError::Corrupt {
                path: path.clone(),
                reason: "the guild's index is not a directory".into(),
            });
        }
        let exists = path.join("edge_config.json").exists() || path.join("segments").exists();
        if !exists && !create {
            return Ok(None);
        }
        let corrupt = |reason: String| KnowledgeError::Corrupt {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(&path).map_err(|source| KnowledgeError::DataDir {
            path: path.clone(),
            source,
        })?;
        // A damaged shard may panic inside qdrant-edge rather than return an error; either
        // way the operator gets one clear message naming the directory.
        let opened = std::panic::catch_unwind(|| {
            if exists {
                EdgeShard::load(&path, None)
            } else {
                EdgeShard::new(&path, self.config())
            }
        })
        .map_err(|panic| corrupt(panic_message(&panic)))?
        .map_err(|e| corrupt(e.to_string()))?;
        let opened = if !exists {
            create_indexes(&opened)?;
            opened
        } else {
            let (have, in_ram) = {
                let config = opened.config();
                let dense = config.vectors.get(DENSE_VECTOR);
                (
                    dense.map(|p| p.size),
                    dense.is_some_and(|p| p.on_disk != Some(true)),
                )
            };
            if have != self.dense_dim || in_ram {
                self.relayout(guild, opened, have)?
            } else if opened.config().optimizers != self.config().optimizers {
                // A shard made by an earlier version: same vectors, older optimizer settings.
                drop(opened);
                EdgeShard::load(&path, Some(self.config())).map_err(|e| corrupt(e.to_string()))?
            } else {
                opened
            }
        };
        let shard = Arc::new(opened);
        shards.insert(guild, Arc::clone(&shard));
        Ok(Some(shard))
    }

    /// Rebuilds a guild's shard whose dense vectors do not match the configured embeddings
    /// (they were switched on, off, or to a model of another size), or are kept in RAM as
    /// earlier versions kept them. Chunks and their BM25 vectors carry over, so search keeps
    /// working; dense vectors of the same size carry over too, those of another size cannot
    /// and come back as sources are re-added (their content hash covers the embeddings model).
    fn relayout(&self, guild: i64, old: EdgeShard, have: Option<usize>) -> Result<EdgeShard> {
        let keep_dense = have.is_some() && have == self.dense_dim;
        if keep_dense {
            tracing::info!(guild, "moving the guild's dense vectors from RAM to disk");
        } else {
            tracing::warn!(
                guild,
                from = ?have,
                to = ?self.dense_dim,
                "dense vector size changed; rebuilding the guild's index (re-add its sources to embed them)"
            );
        }
        let mut wanted = vec![SPARSE_VECTOR.to_string()];
        if keep_dense {
            wanted.push(DENSE_VECTOR.to_string());
        }
        let mut records = Vec::new();
        let mut offset = None;
        loop {
            let (page, next) = old
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(1000),
                    filter: None,
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Selector(wanted.clone()),
                    order_by: None,
                })
                .map_err(index_err)?;
            records.extend(page);
            match next {
                Some(n) => offset = Some(n),
                None => break,
            }
        }
        drop(old);
        let path = self.guild_dir(guild).join(SHARD_DIR);
        let old_path = self.guild_dir(guild).join(OLD_SHARD_DIR);
        std::fs::rename(&path, &old_path).map_err(|source| KnowledgeError::DataDir {
            path: path.clone(),
            source,
        })?;
        std::fs::create_dir_all(&path).map_err(|source| KnowledgeError::DataDir {
            path: path.clone(),
            source,
        })?;
        let shard = EdgeShard::new(&path, self.config()).map_err(index_err)?;
        create_indexes(&shard)?;
        let mut points = Vec::with_capacity(records.len());
        for r in records {
            let (sparse_vector, dense_vector) = match r.vector {
                Some(VectorStructInternal::Named(mut named)) => {
                    (named.remove(SPARSE_VECTOR), named.remove(DENSE_VECTOR))
                }
                _ => (None, None),
            };
            let mut vectors = HashMap::new();
            if let Some(VectorInternal::Sparse(v)) = sparse_vector {
                vectors.insert(SPARSE_VECTOR.into(), VectorPersisted::Sparse(v));
            }
            if let Some(VectorInternal::Dense(v)) = dense_vector {
                vectors.insert(DENSE_VECTOR.into(), VectorPersisted::Dense(v));
            }
            points.push(PointStructPersisted {
                id: r.id,
                vector: VectorStructPersisted::Named(vectors),
                payload: r.payload,
            });
        }
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(1000));
            let batch = std::mem::replace(&mut points, rest);
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(batch)),
                ))
                .map_err(index_err)?;
        }
        shard.optimize().map_err(index_err)?;
        shard.flush();
        std::fs::remove_dir_all(&old_path).map_err(|source| KnowledgeError::DataDir {
            path: old_path,
            source,
        })?;
        Ok(shard)
    }

    fn restore_old_shard(&self, path: &Path, old: &Path) -> Result<()> {
        let data_dir = |source| KnowledgeError::DataDir {
            path: path.to_path_buf(),
            source,
        };
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(data_dir)?;
        }
        std::fs::rename(old, path).map_err(data_dir)
    }

    fn config(&self) -> EdgeConfig {
        // The appendable segment's in-RAM sparse index pays O(posting length) per inserted
        // term, so large ingests slow down quadratically unless it is kept small. A low
        // indexing threshold lets the periodic `optimize()` during ingest turn it into an
        // immutable indexed segment early, and more target segments keep those optimizations
        // from re-merging everything each time (100k chunks: ~365/s -> ~2,500/s upserted).
        //
        // Deleted points keep counting toward IDF until their segment is vacuumed, and the
        // default vacuum waits for 1,000 deletions and 20 % of a segment. A guild that removes
        // a source would rank with the removed text's statistics indefinitely. So any deletion
        // makes `optimize()` (run after every removal and re-ingest) rewrite that segment.
        let optimizers = EdgeOptimizersConfig {
            indexing_threshold: Some(1_000),
            default_segment_number: Some(8),
            deleted_threshold: Some(0.0),
            vacuum_min_vector_number: Some(1),
            ..EdgeOptimizersConfig::default()
        };
        let mut builder = EdgeConfig::builder().optimizers(optimizers).sparse_vector(
            SPARSE_VECTOR,
            EdgeSparseVectorParams::builder()
                .modifier(Modifier::Idf)
                .build(),
        );
        // Dense vectors on disk (memory-mapped): in RAM, each shard's appendable segment
        // reserves and touches a whole storage chunk however few chunks the guild has, about
        // 28 MB a guild (20 guilds took the bot from 140 MB to 710 MB in the soak). Mapped, a
        // guild costs the pages its searches touch, and the page cache keeps them warm.
        if let Some(dim) = self.dense_dim {
            builder = builder.vector(
                DENSE_VECTOR,
                EdgeVectorParams::builder(dim, Distance::Cosine)
                    .on_disk(true)
                    .build(),
            );
        }
        builder.build()
    }
}

/// Payload indexes every new shard gets.
fn create_indexes(shard: &EdgeShard) -> Result<()> {
    for field in ["guild_id", "source_id"] {
        shard
            .update(UpdateOperation::FieldIndexOperation(
                FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: json_path(field),
                    field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Integer)),
                }),
            ))
            .map_err(index_err)?;
    }
    Ok(())
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "qdrant-edge panicked while loading".into())
}

fn json_path(field: &'static str) -> JsonPath {
    field
        .parse()
        .expect("a plain field name is a valid JSON path")
}

fn int_match(field: &'static str, value: i64) -> Condition {
    Condition::Field(FieldCondition::new_match(
        json_path(field),
        Match::from(value),
    ))
}

fn guild_filter(guild: i64, source_id: Option<i64>) -> Filter {
    let mut must = vec![int_match("guild_id", guild)];
    if let Some(s) = source_id {
        must.push(int_match("source_id", s));
    }
    Filter {
        must: Some(must),
        ..Filter::default()
    }
}

fn sparse(v: SparseVec) -> SparseVector {
    SparseVector {
        indices: v.indices,
        values: v.values,
    }
}

fn to_payload(guild: i64, p: &ChunkPayload) -> Result<Payload> {
    let serde_json::Value::Object(mut map) = serde_json::to_value(p).map_err(index_err)? else {
        return Err(index_err("chunk payload did not serialise to an object"));
    };
    map.insert("guild_id".into(), guild.into());
    Ok(Payload(map))
}

fn from_payload(p: Option<Payload>) -> Result<ChunkPayload> {
    let map = p.map(|p| p.0).unwrap_or_default();
    serde_json::from_value(serde_json::Value::Object(map)).map_err(index_err)
}

fn point_id(id: PointId) -> u64 {
    match id {
        PointId::NumId(n) => n,
        // We only ever write numeric ids; a UUID would be someone else's point.
        PointId::Uuid(u) => u.as_u64_pair().0,
    }
}

fn nearest(vector: VectorInternal, using: &str) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
        query: vector,
        using: Some(using.into()),
    }))
}

impl VectorIndex for EdgeIndex {
    fn upsert(&self, guild: i64, points: Vec<IndexPoint>) -> BoxFuture<'_, ()> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, true)? else {
                return Err(index_err("shard was not created"));
            };
            let mut list = Vec::with_capacity(points.len());
            for p in points {
                let mut vectors = HashMap::new();
                vectors.insert(
                    SPARSE_VECTOR.into(),
                    VectorPersisted::Sparse(sparse(p.sparse)),
                );
                if let Some(d) = p.dense {
                    vectors.insert(DENSE_VECTOR.into(), VectorPersisted::Dense(d));
                }
                list.push(PointStructPersisted {
                    id: PointId::NumId(p.id),
                    vector: VectorStructPersisted::Named(vectors),
                    payload: Some(to_payload(guild, &p.payload)?),
                });
            }
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(list)),
                ))
                .map_err(index_err)
        })
    }

    fn delete_source(&self, guild: i64, source_id: i64) -> BoxFuture<'_, ()> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, false)? else {
                return Ok(());
            };
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePointsByFilter(guild_filter(guild, Some(source_id))),
                ))
                .map_err(index_err)
        })
    }

    fn delete_points(&self, guild: i64, ids: Vec<u64>) -> BoxFuture<'_, ()> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, false)? else {
                return Ok(());
            };
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePoints {
                        ids: ids.into_iter().map(PointId::NumId).collect(),
                    },
                ))
                .map_err(index_err)
        })
    }

    fn delete_guild(&self, guild: i64) -> BoxFuture<'_, ()> {
        self.run(move |inner| {
            let shard = inner
                .shards
                .lock()
                .map_err(|_| index_err("shard table poisoned by an earlier panic"))?
                .remove(&guild);
            if let Some(mut shard) = shard {
                // The shard flushes on drop, so it must be gone before its directory is; wait
                // briefly for in-flight searches to release their handles.
                let mut waited = 0;
                loop {
                    match Arc::try_unwrap(shard) {
                        Ok(s) => {
                            drop(s);
                            break;
                        }
                        Err(still_shared) if waited < 100 => {
                            shard = still_shared;
                            waited += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => return Err(index_err("guild shard is still in use")),
                    }
                }
            }
            let dir = inner.guild_dir(guild);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(KnowledgeError::DataDir { path: dir, source }),
            }
        })
    }

    fn count(&self, guild: i64, source_id: Option<i64>) -> BoxFuture<'_, usize> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, false)? else {
                return Ok(0);
            };
            shard
                .count(CountRequest {
                    filter: Some(guild_filter(guild, source_id)),
                    exact: true,
                })
                .map_err(index_err)
        })
    }

    fn search(&self, guild: i64, query: IndexQuery) -> BoxFuture<'_, Vec<ScoredChunk>> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, false)? else {
                return Ok(Vec::new());
            };
            let filter = Some(guild_filter(guild, None));
            let sparse_q = query
                .sparse
                .filter(|s| !s.is_empty())
                .map(|s| nearest(VectorInternal::Sparse(sparse(s)), SPARSE_VECTOR));
            let with_vector = if query.dense.is_some() {
                WithVector::Selector(vec![DENSE_VECTOR.into()])
            } else {
                WithVector::Bool(false)
            };
            let dense_q = query
                .dense
                .map(|d| nearest(VectorInternal::Dense(d), DENSE_VECTOR));
            let (prefetches, scoring) = match (sparse_q, dense_q) {
                (None, None) => return Ok(Vec::new()),
                (Some(q), None) | (None, Some(q)) => (Vec::new(), q),
                (Some(s), Some(d)) => {
                    let prefetch = |q| Prefetch {
                        prefetches: Vec::new(),
                        query: Some(q),
                        limit: query.prefetch,
                        params: None,
                        filter: filter.clone(),
                        score_threshold: None,
                    };
                    (
                        vec![prefetch(s), prefetch(d)],
                        ScoringQuery::Fusion(match query.fusion {
                            super::Fusion::Rrf { k } => Fusion::Rrf { k, weights: None },
                            super::Fusion::Dbsf => Fusion::Dbsf,
                        }),
                    )
                }
            };
            let found = shard
                .query(QueryRequest {
                    prefetches,
                    query: Some(scoring),
                    filter,
                    score_threshold: None,
                    limit: query.limit + TIE_SLACK,
                    offset: 0,
                    params: None,
                    with_vector,
                    with_payload: WithPayloadInterface::Bool(true),
                })
                .map_err(index_err)?;
            let hits = found
                .into_iter()
                .map(|p| {
                    let dense = match p.vector {
                        Some(VectorStructInternal::Named(mut named)) => {
                            match named.remove(DENSE_VECTOR) {
                                Some(VectorInternal::Dense(v)) => Some(v),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    Ok(ScoredChunk {
                        id: point_id(p.id),
                        score: p.score,
                        payload: from_payload(p.payload)?,
                        dense,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(cut(hits, query.limit))
        })
    }

    fn doc_freq(
        &self,
        guild: i64,
        terms: Vec<u32>,
        cap: usize,
    ) -> BoxFuture<'_, (usize, Vec<usize>)> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, false)? else {
                return Ok((0, vec![0; terms.len()]));
            };
            let filter = Some(guild_filter(guild, None));
            let total = shard
                .count(CountRequest {
                    filter: filter.clone(),
                    exact: true,
                })
                .map_err(index_err)?;
            // A sparse query only reaches points sharing one of its terms, so a one-term
            // query returns exactly the chunks holding that term.
            let counts = terms
                .into_iter()
                .map(|term| {
                    let found = shard
                        .query(QueryRequest {
                            prefetches: Vec::new(),
                            query: Some(nearest(
                                VectorInternal::Sparse(sparse(SparseVec {
                                    indices: vec![term],
                                    values: vec![1.0],
                                })),
                                SPARSE_VECTOR,
                            )),
                            filter: filter.clone(),
                            score_threshold: None,
                            limit: cap,
                            offset: 0,
                            params: None,
                            with_vector: WithVector::Bool(false),
                            with_payload: WithPayloadInterface::Bool(false),
                        })
                        .map_err(index_err)?;
                    Ok(found.len())
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((total, counts))
        })
    }

    fn update_sparse(&self, guild: i64, vectors: Vec<(u64, SparseVec)>) -> BoxFuture<'_, ()> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, false)? else {
                return Ok(());
            };
            let points = vectors
                .into_iter()
                .map(|(id, v)| PointVectorsPersisted {
                    id: PointId::NumId(id),
                    vector: VectorStructPersisted::Named(HashMap::from([(
                        SPARSE_VECTOR.into(),
                        VectorPersisted::Sparse(sparse(v)),
                    )])),
                })
                .collect();
            shard
                .update(UpdateOperation::VectorOperation(
                    VectorOperations::UpdateVectors(UpdateVectorsOp {
                        points,
                        update_filter: Some(guild_filter(guild, None)),
                    }),
                ))
                .map_err(index_err)
        })
    }

    fn all_chunks(
        &self,
        guild: i64,
        source_id: Option<i64>,
    ) -> BoxFuture<'_, Vec<(u64, ChunkPayload)>> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, false)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            let mut offset = None;
            loop {
                let (records, next) = shard
                    .scroll(ScrollRequest {
                        offset,
                        limit: Some(1000),
                        filter: Some(guild_filter(guild, source_id)),
                        with_payload: Some(WithPayloadInterface::Bool(true)),
                        with_vector: WithVector::Bool(false),
                        order_by: None,
                    })
                    .map_err(index_err)?;
                for r in records {
                    out.push((point_id(r.id), from_payload(r.payload)?));
                }
                match next {
                    Some(n) => offset = Some(n),
                    None => return Ok(out),
                }
            }
        })
    }

    fn optimize(&self, guild: i64) -> BoxFuture<'_, ()> {
        self.run(move |inner| {
            let Some(shard) = inner.shard(guild, false)? else {
                return Ok(());
            };
            shard.optimize().map_err(index_err)?;
            shard.flush();
            Ok(())
        })
    }

    fn load_meta(&self, guild: i64) -> BoxFuture<'_, Option<GuildMeta>> {
        self.run(move |inner| {
            let path = inner.guild_dir(guild).join(META_FILE);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    serde_json::from_slice(&bytes)
                        .map(Some)
                        .map_err(|e| KnowledgeError::Corrupt {
                            path,
                            reason: e.to_string(),
                        })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(KnowledgeError::Io { path, source }),
            }
        })
    }

    fn store_meta(&self, guild: i64, meta: GuildMeta) -> BoxFuture<'_, ()> {
        self.run(move |inner| {
            let dir = inner.guild_dir(guild);
            std::fs::create_dir_all(&dir).map_err(|source| KnowledgeError::DataDir {
                path: dir.clone(),
                source,
            })?;
            let bytes = serde_json::to_vec_pretty(&meta).map_err(index_err)?;
            // Write then rename, so a crash never leaves a half-written file behind.
            let tmp = dir.join(format!("{META_FILE}.tmp"));
            let path = dir.join(META_FILE);
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|source| KnowledgeError::Io { path, source })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_keeping_dense_vectors_in_ram_moves_them_to_disk_without_losing_any() {
        let dir = tempfile::tempdir().unwrap();
        let index = EdgeIndex::open(dir.path(), Some(4)).unwrap();
        let inner = &index.inner;
        // A shard as earlier versions made it: dense vectors in RAM.
        let path = inner.guild_dir(7).join(SHARD_DIR);
        std::fs::create_dir_all(&path).unwrap();
        let mut earlier = inner.config();
        earlier.vectors.get_mut(DENSE_VECTOR).unwrap().on_disk = None;
        let shard = EdgeShard::new(&path, earlier).unwrap();
        create_indexes(&shard).unwrap();
        let mut vectors = HashMap::new();
        vectors.insert(
            SPARSE_VECTOR.into(),
            VectorPersisted::Sparse(SparseVector {
                indices: vec![3],
                values: vec![1.0],
            }),
        );
        vectors.insert(
            DENSE_VECTOR.into(),
            VectorPersisted::Dense(vec![0.5, 0.5, 0.5, 0.5]),
        );
        shard
            .update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(vec![
                    PointStructPersisted {
                        id: PointId::NumId(42),
                        vector: VectorStructPersisted::Named(vectors),
                        payload: None,
                    },
                ])),
            ))
            .unwrap();
        shard.flush();
        drop(shard);

        let reopened = inner.shard(7, false).unwrap().unwrap();
        assert_eq!(reopened.config().vectors[DENSE_VECTOR].on_disk, Some(true));
        let (points, _) = reopened
            .scroll(ScrollRequest {
                offset: None,
                limit: Some(10),
                filter: None,
                with_payload: Some(WithPayloadInterface::Bool(false)),
                with_vector: WithVector::Bool(true),
                order_by: None,
            })
            .unwrap();
        assert_eq!(points.len(), 1);
        let Some(VectorStructInternal::Named(named)) = &points[0].vector else {
            panic!("named vectors expected: {:?}", points[0].vector);
        };
        assert!(
            matches!(named.get(DENSE_VECTOR), Some(VectorInternal::Dense(v)) if v.len() == 4),
            "the dense vector came along: {named:?}"
        );
        assert!(matches!(
            named.get(SPARSE_VECTOR),
            Some(VectorInternal::Sparse(_))
        ));
        assert!(!inner.guild_dir(7).join(OLD_SHARD_DIR).exists());
    }
}
