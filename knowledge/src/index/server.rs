//! Qdrant server backend over gRPC: one collection for all guilds, `guild_id` a keyword
//! payload indexed as the tenant, and every request filtered by it. The server computes IDF
//! over the whole collection, so guilds share those statistics here (Edge keeps them apart).

use std::collections::HashMap;

use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder, KeywordIndexParamsBuilder,
    Modifier, NamedVectors, PointId, PointStruct, PointVectors, PrefetchQueryBuilder, Query,
    QueryPointsBuilder, RrfBuilder, ScrollPointsBuilder, SparseVectorParamsBuilder,
    SparseVectorsConfigBuilder, UpdatePointVectorsBuilder, UpsertPointsBuilder, Vector,
    VectorInput, VectorParamsBuilder, VectorsConfigBuilder, point_id::PointIdOptions,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{
    BoxFuture, ChunkPayload, DENSE_VECTOR, GuildMeta, IndexPoint, IndexQuery, SPARSE_VECTOR,
    ScoredChunk, VectorIndex, stable_order,
};
use crate::error::{KnowledgeError, Result};
use crate::sparse::SparseVec;

/// Payload key marking the per-guild statistics point, which has no vectors and is never a
/// search result.
const META_KIND: &str = "knowledge_meta";

pub struct ServerIndex {
    client: Qdrant,
    collection: String,
}

fn err(e: impl std::fmt::Display) -> KnowledgeError {
    KnowledgeError::Index(format!("qdrant server: {e}"))
}

fn guild_key(guild: i64) -> String {
    guild.to_string()
}

fn chunks_filter(guild: i64, source_id: Option<i64>) -> Filter {
    let mut must = vec![Condition::matches("guild_id", guild_key(guild))];
    if let Some(s) = source_id {
        must.push(Condition::matches("source_id", s));
    }
    Filter {
        must,
        must_not: vec![Condition::matches("kind", META_KIND.to_string())],
        ..Filter::default()
    }
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

fn payload_of(map: HashMap<String, qdrant_client::qdrant::Value>) -> Result<ChunkPayload> {
    qdrant_client::Payload::from(map).deserialize().map_err(err)
}

impl ServerIndex {
    /// Connects and creates the collection (and its payload indexes) if it does not exist.
    pub async fn connect(
        url: &str,
        api_key: Option<&SecretString>,
        collection: &str,
        dense_dim: Option<usize>,
    ) -> Result<Self> {
        let mut builder = Qdrant::from_url(url);
        if let Some(key) = api_key {
            builder = builder.api_key(key.expose_secret().to_string());
        }
        let client = builder.build().map_err(err)?;
        let index = Self {
            client,
            collection: collection.to_string(),
        };
        if !index
            .client
            .collection_exists(collection)
            .await
            .map_err(err)?
        {
            let mut sparse = SparseVectorsConfigBuilder::default();
            sparse.add_named_vector_params(
                SPARSE_VECTOR,
                SparseVectorParamsBuilder::default().modifier(Modifier::Idf as i32),
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
            index.client.create_collection(create).await.map_err(err)?;
            index
                .client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(
                        collection,
                        "guild_id",
                        FieldType::Keyword,
                    )
                    .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true))
                    .wait(true),
                )
                .await
                .map_err(err)?;
            index
                .client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(
                        collection,
                        "source_id",
                        FieldType::Integer,
                    )
                    .wait(true),
                )
                .await
                .map_err(err)?;
        }
        Ok(index)
    }

    fn payload(guild: i64, p: &ChunkPayload) -> Result<qdrant_client::Payload> {
        let mut value = serde_json::to_value(p).map_err(err)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("guild_id".into(), guild_key(guild).into());
        }
        qdrant_client::Payload::try_from(value).map_err(err)
    }
}

impl VectorIndex for ServerIndex {
    fn upsert(&self, guild: i64, points: Vec<IndexPoint>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut structs = Vec::with_capacity(points.len());
            for p in points {
                let mut vectors = NamedVectors::default().add_vector(
                    SPARSE_VECTOR,
                    Vector::new_sparse(p.sparse.indices, p.sparse.values),
                );
                if let Some(d) = p.dense {
                    vectors = vectors.add_vector(DENSE_VECTOR, Vector::new_dense(d));
                }
                structs.push(PointStruct::new(
                    p.id,
                    vectors,
                    Self::payload(guild, &p.payload)?,
                ));
            }
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, structs).wait(true))
                .await
                .map_err(err)?;
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
                            guild_key(guild),
                        )]))
                        .wait(true),
                )
                .await
                .map_err(err)?;
            Ok(())
        })
    }

    fn count(&self, guild: i64, source_id: Option<i64>) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let r = self
                .client
                .count(
                    CountPointsBuilder::new(&self.collection)
                        .filter(chunks_filter(guild, source_id))
                        .exact(true),
                )
                .await
                .map_err(err)?;
            Ok(r.result.map_or(0, |c| c.count as usize))
        })
    }

    fn search(&self, guild: i64, query: IndexQuery) -> BoxFuture<'_, Vec<ScoredChunk>> {
        Box::pin(async move {
            let filter = chunks_filter(guild, None);
            let sparse = query.sparse.filter(|s| !s.is_empty()).map(|s| {
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
                .limit(query.limit as u64)
                .with_payload(true);
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
                    .query(Query::new_rrf(RrfBuilder::with_k(query.rrf_k as u32))),
            };
            let found = self.client.query(request).await.map_err(err)?;
            let mut hits = found
                .result
                .into_iter()
                .map(|p| {
                    Ok(ScoredChunk {
                        id: num_id(p.id),
                        score: p.score,
                        payload: payload_of(p.payload)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            stable_order(&mut hits);
            Ok(hits)
        })
    }

    fn update_sparse(&self, _guild: i64, vectors: Vec<(u64, SparseVec)>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let points: Vec<PointVectors> = vectors
                .into_iter()
                .map(|(id, v)| PointVectors {
                    id: Some(id.into()),
                    vectors: Some(
                        NamedVectors::default()
                            .add_vector(SPARSE_VECTOR, Vector::new_sparse(v.indices, v.values))
                            .into(),
                    ),
                })
                .collect();
            // Ids come from `all_chunks` for this guild, and are hashes that include the guild.
            self.client
                .update_vectors(UpdatePointVectorsBuilder::new(&self.collection, points).wait(true))
                .await
                .map_err(err)?;
            Ok(())
        })
    }

    fn all_chunks(&self, guild: i64) -> BoxFuture<'_, Vec<(u64, ChunkPayload)>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut offset: Option<PointId> = None;
            loop {
                let mut req = ScrollPointsBuilder::new(&self.collection)
                    .filter(chunks_filter(guild, None))
                    .limit(1000)
                    .with_payload(true);
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
            if owner != Some(guild_key(guild).as_str()) {
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
                "guild_id": guild_key(guild),
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
