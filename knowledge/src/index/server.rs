//! Qdrant server backend over gRPC: one collection for all guilds, `guild_id` a keyword
//! payload indexed as the tenant, and every request filtered by it.
//!
//! IDF is per guild here too. The server's IDF modifier would count document frequencies over
//! the whole collection, so one large guild would skew every other guild's ranking. Instead
//! each chunk carries its BM25 term ids in an indexed `terms` payload; a search counts, inside
//! the guild, how many chunks hold each query term and weights the query vector with the same
//! IDF formula Qdrant uses (`ln(1 + (N - df + 0.5) / (df + 0.5))`). The stored vectors have no
//! modifier. Counts are exact and ignore deleted points, so removals take effect at once.

use std::collections::HashMap;

use qdrant_client::Qdrant;
use qdrant_client::qdrant::with_payload_selector::SelectorOptions;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder, IntegerIndexParamsBuilder,
    KeywordIndexParamsBuilder, Modifier, NamedVectors, PayloadExcludeSelector, PointId,
    PointStruct, PointVectors, PointsSelector, PointsUpdateOperation, PrefetchQueryBuilder, Query,
    QueryPointsBuilder, RrfBuilder, ScrollPointsBuilder, SparseVectorParamsBuilder,
    SparseVectorsConfigBuilder, UpdateBatchPointsBuilder, UpsertPointsBuilder, Vector, VectorInput,
    VectorParamsBuilder, VectorsConfigBuilder, VectorsSelector, point_id::PointIdOptions,
    points_update_operation, vector_output, vectors_config,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{
    BoxFuture, ChunkPayload, DENSE_VECTOR, GuildMeta, IndexPoint, IndexQuery, SPARSE_VECTOR,
    ScoredChunk, TIE_SLACK, VectorIndex, cut,
};
use crate::error::{KnowledgeError, Result};
use crate::sparse::SparseVec;

/// Names the per-guild statistics point. It has no vectors and its tenant key is
/// `<guild>:meta`, so filters on a guild's chunks never see it (no unindexed `must_not`, which
/// would make the server read every chunk's payload).
const META_KIND: &str = "knowledge_meta";
/// Payload key holding a chunk's BM25 term ids (for per-guild document frequencies).
const TERMS: &str = "terms";

pub struct ServerIndex {
    client: Qdrant,
    collection: String,
    df: DfCache,
}

/// How long counted document frequencies are reused. Writes through this process drop a
/// guild's entry at once; writes by another process (a second Discord shard) are seen within
/// this time. IDF moves slowly with corpus size, so a short lag does not change rankings.
const DF_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Terms remembered per guild before its entry starts over.
const DF_MAX_TERMS: usize = 100_000;

/// Per guild: chunk count and the document frequency of terms seen in queries.
#[derive(Default)]
struct DfCache(std::sync::Mutex<HashMap<i64, GuildDf>>);

struct GuildDf {
    counted_at: std::time::Instant,
    total: usize,
    df: HashMap<u32, usize>,
}

impl DfCache {
    /// The cached total and the frequencies known for `terms` (`None` where unknown), or
    /// `None` when the guild has no fresh entry.
    fn get(&self, guild: i64, terms: &[u32]) -> Option<(usize, Vec<Option<usize>>)> {
        let map = self.0.lock().ok()?;
        let entry = map.get(&guild)?;
        if entry.counted_at.elapsed() > DF_TTL {
            return None;
        }
        Some((
            entry.total,
            terms.iter().map(|t| entry.df.get(t).copied()).collect(),
        ))
    }

    fn put(&self, guild: i64, total: usize, fresh: bool, counted: &[(u32, usize)]) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        let entry = map.entry(guild).or_insert_with(|| GuildDf {
            counted_at: std::time::Instant::now(),
            total,
            df: HashMap::new(),
        });
        if fresh || entry.df.len() + counted.len() > DF_MAX_TERMS {
            entry.counted_at = std::time::Instant::now();
            entry.total = total;
            entry.df.clear();
        }
        entry.df.extend(counted.iter().copied());
    }

    fn forget(&self, guild: i64) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&guild);
        }
    }
}

fn err(e: impl std::fmt::Display) -> KnowledgeError {
    KnowledgeError::Index(format!("qdrant server: {e}"))
}

fn guild_key(guild: i64) -> String {
    guild.to_string()
}

fn meta_key(guild: i64) -> String {
    format!("{guild}:meta")
}

fn chunks_filter(guild: i64, source_id: Option<i64>) -> Filter {
    let mut must = vec![Condition::matches("guild_id", guild_key(guild))];
    if let Some(s) = source_id {
        must.push(Condition::matches("source_id", s));
    }
    Filter::must(must)
}

fn meta_id(guild: i64) -> u64 {
    let d = Sha256::digest(format!("{META_KIND}:{guild}"));
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    u64::from_le_bytes(id)
}

fn num_id(id: Option<PointId>) -> u64 {
    match id.and_then(|p| p.point_id_options) {
        Some(PointIdOptions::Num(n)) => n,
        _ => 0,
    }
}

/// Search and scroll results carry the chunk, not its term list.
fn without_terms() -> SelectorOptions {
    SelectorOptions::Exclude(PayloadExcludeSelector {
        fields: vec![TERMS.to_string()],
    })
}

fn payload_of(map: HashMap<String, qdrant_client::qdrant::Value>) -> Result<ChunkPayload> {
    qdrant_client::Payload::from(map).deserialize().map_err(err)
}

impl ServerIndex {
    /// Connects and creates the collection (and its payload indexes) if it does not exist. An
    /// existing collection must have the layout this backend writes; if not, the error says
    /// what differs rather than mixing incompatible vectors.
    pub async fn connect(
        url: &str,
        api_key: Option<&SecretString>,
        collection: &str,
        dense_dim: Option<usize>,
    ) -> Result<Self> {
        let index = Self::client(url, api_key, collection)?;
        if index.exists().await? {
            index.check_layout(dense_dim).await?;
            return Ok(index);
        }
        let mut sparse = SparseVectorsConfigBuilder::default();
        // No IDF modifier: IDF is applied per guild by weighting the query (see the module docs).
        sparse.add_named_vector_params(
            SPARSE_VECTOR,
            SparseVectorParamsBuilder::default().modifier(Modifier::None as i32),
        );
        let mut create = CreateCollectionBuilder::new(collection).sparse_vectors_config(sparse);
        if let Some(dim) = dense_dim {
            let mut dense = VectorsConfigBuilder::default();
            dense.add_named_vector_params(
                DENSE_VECTOR,
                VectorParamsBuilder::new(dim as u64, Distance::Cosine),
            );
            create = create.vectors_config(dense);
        }
        // Another process (a second Discord shard) may create it first; then its layout is
        // checked once the indexes below exist (creating an existing index changes nothing).
        let raced = match index.client.create_collection(create).await {
            Ok(_) => false,
            Err(e) if e.to_string().contains("already exists") => true,
            Err(e) => return Err(err(e)),
        };
        let indexes = [
            CreateFieldIndexCollectionBuilder::new(collection, "guild_id", FieldType::Keyword)
                .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true)),
            CreateFieldIndexCollectionBuilder::new(collection, "source_id", FieldType::Integer),
            CreateFieldIndexCollectionBuilder::new(collection, TERMS, FieldType::Integer)
                .field_index_params(IntegerIndexParamsBuilder::new(true, false)),
        ];
        for request in indexes {
            index
                .client
                .create_field_index(request.wait(true))
                .await
                .map_err(err)?;
        }
        if raced {
            index.check_layout(dense_dim).await?;
        }
        Ok(index)
    }

    /// Checks, without creating or changing anything, that the server answers and that the
    /// collection, if it exists, has the layout this backend writes. Says what it found.
    pub async fn probe(
        url: &str,
        api_key: Option<&SecretString>,
        collection: &str,
        dense_dim: Option<usize>,
    ) -> Result<String> {
        let index = Self::client(url, api_key, collection)?;
        if index.exists().await? {
            index.check_layout(dense_dim).await?;
            Ok(format!("collection `{collection}` is ready"))
        } else {
            Ok(format!(
                "collection `{collection}` does not exist yet; it is created at first use"
            ))
        }
    }

    /// Deletes a whole collection (the eval's temporary one). Gone already is fine.
    pub async fn drop_collection(
        url: &str,
        api_key: Option<&SecretString>,
        collection: &str,
    ) -> Result<()> {
        let index = Self::client(url, api_key, collection)?;
        if index.exists().await? {
            index
                .client
                .delete_collection(collection)
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    /// A client for `collection`; nothing is sent until the first request.
    fn client(url: &str, api_key: Option<&SecretString>, collection: &str) -> Result<Self> {
        let mut builder = Qdrant::from_url(url).skip_compatibility_check();
        if let Some(key) = api_key {
            builder = builder.api_key(key.expose_secret().to_string());
        }
        Ok(Self {
            client: builder.build().map_err(err)?,
            collection: collection.to_string(),
            df: DfCache::default(),
        })
    }

    async fn exists(&self) -> Result<bool> {
        self.client
            .collection_exists(&self.collection)
            .await
            .map_err(err)
    }

    /// Refuses a collection made for other settings: a dense size that differs from the
    /// configured embeddings, or a sparse vector with the server's IDF modifier (which would
    /// apply IDF twice).
    async fn check_layout(&self, dense_dim: Option<usize>) -> Result<()> {
        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(err)?
            .result
            .ok_or_else(|| err("collection info missing"))?;
        let params = info
            .config
            .and_then(|c| c.params)
            .ok_or_else(|| err("collection parameters missing"))?;
        let modifier = params
            .sparse_vectors_config
            .as_ref()
            .and_then(|c| c.map.get(SPARSE_VECTOR))
            .map(|p| p.modifier.unwrap_or(Modifier::None as i32));
        match modifier {
            None => {
                return Err(self.layout_error(format!("it has no `{SPARSE_VECTOR}` sparse vector")));
            }
            Some(m) if m != Modifier::None as i32 => {
                return Err(self.layout_error(format!(
                    "its `{SPARSE_VECTOR}` vector has a modifier (IDF is applied per guild by supportbot)"
                )));
            }
            Some(_) => {}
        }
        let existing_dim = match params.vectors_config.and_then(|v| v.config) {
            Some(vectors_config::Config::ParamsMap(m)) => m.map.get(DENSE_VECTOR).map(|p| p.size),
            _ => None,
        };
        if let Some(want) = dense_dim {
            match existing_dim {
                Some(have) if have == want as u64 => {}
                Some(have) => {
                    return Err(self.layout_error(format!(
                        "its dense vectors have {have} dimensions but the embeddings model gives {want}"
                    )));
                }
                None => {
                    return Err(self.layout_error(
                        "it has no dense vector but embeddings are configured".into(),
                    ));
                }
            }
        }
        if !info.payload_schema.contains_key(TERMS) {
            return Err(self.layout_error(format!("its `{TERMS}` payload is not indexed")));
        }
        Ok(())
    }

    fn layout_error(&self, what: String) -> KnowledgeError {
        KnowledgeError::Index(format!(
            "qdrant server: collection `{}` was made for other settings: {what}; point \
             knowledge.qdrant_collection at a new collection and re-add the sources",
            self.collection
        ))
    }

    /// The guild's IDF for each query term, applied to the query weights. Terms no chunk of
    /// the guild contains are dropped: they cannot match. Frequencies are counted on the
    /// server (exactly, concurrently) and reused for a short while (see [`DF_TTL`]).
    /// The guild's chunk count and the exact document frequency of each term, from the cache
    /// where fresh, else counted (concurrently) and cached.
    async fn doc_freqs(&self, guild: i64, terms: &[u32]) -> Result<(usize, Vec<usize>)> {
        let (total, known, fresh) = match self.df.get(guild, terms) {
            Some((total, known)) => (total, known, false),
            None => {
                let total = self.count_filtered(chunks_filter(guild, None)).await?;
                (total, vec![None; terms.len()], true)
            }
        };
        let missing: Vec<u32> = terms
            .iter()
            .zip(&known)
            .filter(|(_, k)| k.is_none())
            .map(|(&t, _)| t)
            .collect();
        let counts = futures::future::try_join_all(missing.iter().map(|&term| {
            let mut filter = chunks_filter(guild, None);
            filter.must.push(Condition::matches(TERMS, i64::from(term)));
            self.count_filtered(filter)
        }))
        .await?;
        let counted: Vec<(u32, usize)> = missing.into_iter().zip(counts).collect();
        if fresh || !counted.is_empty() {
            self.df.put(guild, total, fresh, &counted);
        }
        let lookup: HashMap<u32, usize> = counted.into_iter().collect();
        let dfs = terms
            .iter()
            .zip(known)
            .map(|(term, k)| k.or_else(|| lookup.get(term).copied()).unwrap_or(0))
            .collect();
        Ok((total, dfs))
    }

    async fn idf_weighted(&self, guild: i64, query: SparseVec) -> Result<SparseVec> {
        let (total, dfs) = self.doc_freqs(guild, &query.indices).await?;
        let total = total as f32;
        let mut out = SparseVec::default();
        for ((term, weight), df) in query.indices.into_iter().zip(query.values).zip(dfs) {
            if df == 0 {
                continue;
            }
            let df = df as f32;
            out.indices.push(term);
            out.values
                .push(weight * ((total - df + 0.5) / (df + 0.5) + 1.0).ln());
        }
        Ok(out)
    }

    async fn count_filtered(&self, filter: Filter) -> Result<usize> {
        let r = self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(filter)
                    .exact(true),
            )
            .await
            .map_err(err)?;
        Ok(r.result.map_or(0, |c| c.count as usize))
    }

    fn payload(guild: i64, p: &ChunkPayload, terms: &[u32]) -> Result<qdrant_client::Payload> {
        let mut value = serde_json::to_value(p).map_err(err)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("guild_id".into(), guild_key(guild).into());
            map.insert(TERMS.into(), terms.into());
        }
        qdrant_client::Payload::try_from(value).map_err(err)
    }
}

impl VectorIndex for ServerIndex {
    fn upsert(&self, guild: i64, points: Vec<IndexPoint>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut structs = Vec::with_capacity(points.len());
            for p in points {
                let payload = Self::payload(guild, &p.payload, &p.sparse.indices)?;
                let mut vectors = NamedVectors::default().add_vector(
                    SPARSE_VECTOR,
                    Vector::new_sparse(p.sparse.indices, p.sparse.values),
                );
                if let Some(d) = p.dense {
                    vectors = vectors.add_vector(DENSE_VECTOR, Vector::new_dense(d));
                }
                structs.push(PointStruct::new(p.id, vectors, payload));
            }
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, structs).wait(true))
                .await
                .map_err(err)?;
            // After the write, so a search racing it cannot re-cache old counts.
            self.df.forget(guild);
            Ok(())
        })
    }

    fn delete_source(&self, guild: i64, source_id: i64) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(chunks_filter(guild, Some(source_id)))
                        .wait(true),
                )
                .await
                .map_err(err)?;
            // After the write, so a search racing it cannot re-cache old counts.
            self.df.forget(guild);
            Ok(())
        })
    }

    fn delete_points(&self, guild: i64, ids: Vec<u64>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            // Filtered by guild as well as by id: a stray id can never reach another tenant.
            let mut filter = chunks_filter(guild, None);
            filter.must.push(Condition::has_id(ids));
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(filter)
                        .wait(true),
                )
                .await
                .map_err(err)?;
            // After the write, so a search racing it cannot re-cache old counts.
            self.df.forget(guild);
            Ok(())
        })
    }

    fn delete_guild(&self, guild: i64) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(Filter::must([Condition::matches(
                            "guild_id",
                            vec![guild_key(guild), meta_key(guild)],
                        )]))
                        .wait(true),
                )
                .await
                .map_err(err)?;
            // After the write, so a search racing it cannot re-cache old counts.
            self.df.forget(guild);
            Ok(())
        })
    }

    fn count(&self, guild: i64, source_id: Option<i64>) -> BoxFuture<'_, usize> {
        Box::pin(self.count_filtered(chunks_filter(guild, source_id)))
    }

    fn search(&self, guild: i64, query: IndexQuery) -> BoxFuture<'_, Vec<ScoredChunk>> {
        Box::pin(async move {
            let filter = chunks_filter(guild, None);
            let sparse = match query.sparse.filter(|s| !s.is_empty()) {
                Some(s) => Some(self.idf_weighted(guild, s).await?),
                None => None,
            };
            let sparse = sparse.filter(|s| !s.is_empty()).map(|s| {
                (
                    Query::new_nearest(VectorInput::new_sparse(s.indices, s.values)),
                    SPARSE_VECTOR,
                )
            });
            let dense = query
                .dense
                .map(|d| (Query::new_nearest(VectorInput::new_dense(d)), DENSE_VECTOR));
            let mut request = QueryPointsBuilder::new(&self.collection)
                .filter(filter.clone())
                .limit((query.limit + TIE_SLACK) as u64)
                .with_payload(without_terms());
            if dense.is_some() {
                request = request.with_vectors(VectorsSelector {
                    names: vec![DENSE_VECTOR.to_string()],
                });
            }
            request = match (sparse, dense) {
                (None, None) => return Ok(Vec::new()),
                (Some((q, using)), None) | (None, Some((q, using))) => {
                    request.query(q).using(using)
                }
                (Some((sq, su)), Some((dq, du))) => request
                    .add_prefetch(
                        PrefetchQueryBuilder::default()
                            .query(sq)
                            .using(su)
                            .filter(filter.clone())
                            .limit(query.prefetch as u64),
                    )
                    .add_prefetch(
                        PrefetchQueryBuilder::default()
                            .query(dq)
                            .using(du)
                            .filter(filter)
                            .limit(query.prefetch as u64),
                    )
                    .query(match query.fusion {
                        super::Fusion::Rrf { k } => Query::new_rrf(RrfBuilder::with_k(k as u32)),
                        super::Fusion::Dbsf => {
                            Query::new_fusion(qdrant_client::qdrant::Fusion::Dbsf)
                        }
                    }),
            };
            let found = self.client.query(request).await.map_err(err)?;
            let hits = found
                .result
                .into_iter()
                .map(|p| {
                    let dense = match p.vectors.and_then(|v| v.get_vector_by_name(DENSE_VECTOR)) {
                        Some(vector_output::Vector::Dense(v)) => Some(v.data),
                        _ => None,
                    };
                    Ok(ScoredChunk {
                        id: num_id(p.id),
                        score: p.score,
                        payload: payload_of(p.payload)?,
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
        Box::pin(async move {
            let (total, dfs) = self.doc_freqs(guild, &terms).await?;
            Ok((total, dfs.into_iter().map(|d| d.min(cap)).collect()))
        })
    }

    fn update_sparse(&self, guild: i64, vectors: Vec<(u64, SparseVec)>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Ids come from `all_chunks` for this guild, and are hashes that include the guild;
            // still, every write here is also filtered by guild, so an id from elsewhere
            // cannot touch another guild's point. The vector and the term list change
            // together, in one request.
            let mut operations = Vec::with_capacity(vectors.len() + 1);
            let mut points = Vec::with_capacity(vectors.len());
            for (id, v) in vectors {
                let terms = qdrant_client::qdrant::Value::from(
                    v.indices.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
                );
                operations.push(PointsUpdateOperation {
                    operation: Some(points_update_operation::Operation::SetPayload(
                        points_update_operation::SetPayload {
                            payload: HashMap::from([(TERMS.to_string(), terms)]),
                            points_selector: Some(PointsSelector::from(Filter::must([
                                Condition::has_id([id]),
                                Condition::matches("guild_id", guild_key(guild)),
                            ]))),
                            ..Default::default()
                        },
                    )),
                });
                points.push(PointVectors {
                    id: Some(id.into()),
                    vectors: Some(
                        NamedVectors::default()
                            .add_vector(SPARSE_VECTOR, Vector::new_sparse(v.indices, v.values))
                            .into(),
                    ),
                });
            }
            operations.push(PointsUpdateOperation {
                operation: Some(points_update_operation::Operation::UpdateVectors(
                    points_update_operation::UpdateVectors {
                        points,
                        update_filter: Some(chunks_filter(guild, None)),
                        ..Default::default()
                    },
                )),
            });
            self.client
                .update_points_batch(
                    UpdateBatchPointsBuilder::new(&self.collection, operations).wait(true),
                )
                .await
                .map_err(err)?;
            // After the write, so a search racing it cannot re-cache old counts.
            self.df.forget(guild);
            Ok(())
        })
    }

    fn all_chunks(
        &self,
        guild: i64,
        source_id: Option<i64>,
    ) -> BoxFuture<'_, Vec<(u64, ChunkPayload)>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut offset: Option<PointId> = None;
            loop {
                let mut req = ScrollPointsBuilder::new(&self.collection)
                    .filter(chunks_filter(guild, source_id))
                    .limit(1000)
                    .with_payload(without_terms());
                if let Some(o) = offset.take() {
                    req = req.offset(o);
                }
                let page = self.client.scroll(req).await.map_err(err)?;
                for p in page.result {
                    out.push((num_id(p.id), payload_of(p.payload)?));
                }
                match page.next_page_offset {
                    Some(next) => offset = Some(next),
                    None => return Ok(out),
                }
            }
        })
    }

    fn optimize(&self, _guild: i64) -> BoxFuture<'_, ()> {
        // The server runs its optimizers on its own schedule.
        Box::pin(async { Ok(()) })
    }

    fn load_meta(&self, guild: i64) -> BoxFuture<'_, Option<GuildMeta>> {
        Box::pin(async move {
            let got = self
                .client
                .get_points(
                    GetPointsBuilder::new(&self.collection, vec![meta_id(guild).into()])
                        .with_payload(true),
                )
                .await
                .map_err(err)?;
            let Some(point) = got.result.into_iter().next() else {
                return Ok(None);
            };
            let map = serde_json::Map::from(qdrant_client::Payload::from(point.payload));
            let owner = map.get("guild_id").and_then(|v| v.as_str());
            if owner != Some(meta_key(guild).as_str()) {
                return Ok(None);
            }
            let meta = map
                .get("meta")
                .and_then(|v| v.as_str())
                .ok_or_else(|| err("statistics point without meta"))?;
            serde_json::from_str(meta).map(Some).map_err(err)
        })
    }

    fn store_meta(&self, guild: i64, meta: GuildMeta) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let json = serde_json::to_string(&meta).map_err(err)?;
            let payload = qdrant_client::Payload::try_from(serde_json::json!({
                "guild_id": meta_key(guild),
                "kind": META_KIND,
                "meta": json,
            }))
            .map_err(err)?;
            let point = PointStruct::new(meta_id(guild), NamedVectors::default(), payload);
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, vec![point]).wait(true))
                .await
                .map_err(err)?;
            Ok(())
        })
    }
}
