//! The agent's `Retriever` port over the knowledge base: search with term statistics, and the
//! guild's analyzer. Keeps Qdrant and the knowledge crate's types out of the agent.

use std::sync::Arc;

use agent::{Passage, RetrievalError, Retrieved, Retriever, RetrieverFuture, TermStat};
use knowledge::KnowledgeBase;

pub struct KnowledgeRetriever {
    kb: Arc<KnowledgeBase>,
}

impl KnowledgeRetriever {
    pub fn new(kb: Arc<KnowledgeBase>) -> Self {
        Self { kb }
    }
}

fn failed(e: knowledge::KnowledgeError) -> RetrievalError {
    // Knowledge errors name paths, URLs and index problems, never the query text.
    RetrievalError(e.to_string())
}

impl Retriever for KnowledgeRetriever {
    fn search<'a>(
        &'a self,
        guild: u64,
        query: &'a str,
        limit: usize,
    ) -> RetrieverFuture<'a, Retrieved> {
        Box::pin(async move {
            let found = self
                .kb
                .search_detailed(guild as i64, query, limit)
                .await
                .map_err(failed)?;
            Ok(Retrieved {
                passages: found
                    .hits
                    .into_iter()
                    .map(|h| Passage {
                        source_id: h.source_id,
                        location: h.location,
                        origins: h.origins,
                        title: h.title,
                        heading_path: h.heading_path,
                        url: h.url,
                        text: h.text,
                        score: h.score,
                        similarity: h.dense_score,
                    })
                    .collect(),
                terms: found
                    .terms
                    .into_iter()
                    .map(|(term, df)| TermStat { term, df })
                    .collect(),
                chunks: found.chunks,
            })
        })
    }

    fn analyze<'a>(
        &'a self,
        guild: u64,
        texts: &'a [&'a str],
    ) -> RetrieverFuture<'a, Vec<Vec<u32>>> {
        Box::pin(async move { self.kb.analyze(guild as i64, texts).await.map_err(failed) })
    }
}
