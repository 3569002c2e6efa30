//! Retrieval evaluation on BEIR-format datasets (`corpus.jsonl`, `queries.jsonl`,
//! `qrels/test.tsv`). The corpus goes through the same ingest (chunking included) and search
//! code as a guild's knowledge, into a throwaway knowledge base; a document's rank is that of
//! its best chunk. Documents whose id names a Markdown file are read as Markdown, as they
//! would be from a folder (without includes, which need the folder).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;

use crate::config::KnowledgeConfig;
use crate::document::{Document, Format};
use crate::error::{KnowledgeError, Result};
use crate::index::Fusion;
use crate::kb::{KnowledgeBase, SearchMode};
use crate::progress::Progress;
use crate::source::{SourceSpec, format_of};

const EVAL_GUILD: i64 = 1;
/// Chunks fetched per query: enough to fill the top 100 documents when documents span
/// several chunks.
const CHUNK_DEPTH: usize = 300;

#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    pub dataset: String,
    pub mode: SearchMode,
    /// The fusion a hybrid search used.
    pub fusion: Option<Fusion>,
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    pub queries: usize,
    pub documents: usize,
    pub chunks: usize,
    pub docs_per_s: f64,
    /// Chunks indexed per second (with dense vectors, mostly embedding time).
    pub chunks_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Query embedding alone, p50 and p99 in ms, when the search used dense vectors.
    pub embed_ms: Option<(f64, f64)>,
    /// The same index searched the other ways (sparse, dense, the other fusions), when the
    /// search used dense vectors.
    pub comparison: Vec<Variant>,
}

/// One other way of searching the same index, and its quality.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub label: String,
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
}

impl EvalReport {
    /// One JSON object, for scripts comparing runs.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ndcg_at_10": self.ndcg_at_10,
            "recall_at_100": self.recall_at_100,
            "mrr_at_10": self.mrr_at_10,
            "queries": self.queries,
            "docs_per_s": self.docs_per_s,
            "chunks_per_s": self.chunks_per_s,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "fusion": self.fusion.map(|f| f.to_string()),
            "embed_p50_ms": self.embed_ms.map(|e| e.0),
            "embed_p99_ms": self.embed_ms.map(|e| e.1),
            "comparison": self.comparison.iter().map(|v| serde_json::json!({
                "search": v.label,
                "ndcg_at_10": v.ndcg_at_10,
                "recall_at_100": v.recall_at_100,
                "mrr_at_10": v.mrr_at_10,
            })).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fusion {
            Some(fusion) => writeln!(
                f,
                "dataset        {} ({:?}, {fusion})",
                self.dataset, self.mode
            )?,
            None => writeln!(f, "dataset        {} ({:?})", self.dataset, self.mode)?,
        }
        writeln!(f, "nDCG@10        {:.4}", self.ndcg_at_10)?;
        writeln!(f, "Recall@100     {:.4}", self.recall_at_100)?;
        writeln!(f, "MRR@10         {:.4}", self.mrr_at_10)?;
        writeln!(f, "queries        {}", self.queries)?;
        writeln!(
            f,
            "indexed        {} docs, {} chunks, {:.0} docs/s, {:.0} chunks/s",
            self.documents, self.chunks, self.docs_per_s, self.chunks_per_s
        )?;
        write!(
            f,
            "query latency  p50 {:.2} ms, p99 {:.2} ms",
            self.p50_ms, self.p99_ms
        )?;
        if let Some((p50, p99)) = self.embed_ms {
            write!(
                f,
                "\nof which the query's embedding alone: p50 {p50:.2} ms, p99 {p99:.2} ms"
            )?;
        }
        if !self.comparison.is_empty() {
            write!(f, "\nthe same index searched otherwise:")?;
            for v in &self.comparison {
                write!(
                    f,
                    "\n  {:<22} nDCG@10 {:.4}  Recall@100 {:.4}  MRR@10 {:.4}",
                    v.label, v.ndcg_at_10, v.recall_at_100, v.mrr_at_10
                )?;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct CorpusLine {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

fn open_lines(path: &Path) -> Result<impl Iterator<Item = Result<String>>> {
    let file = std::fs::File::open(path).map_err(|source| KnowledgeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let owned: PathBuf = path.to_path_buf();
    Ok(BufReader::new(file).lines().map(move |l| {
        l.map_err(|source| KnowledgeError::Io {
            path: owned.clone(),
            source,
        })
    }))
}

fn bad_data(path: &Path, line: usize, reason: impl fmt::Display) -> KnowledgeError {
    KnowledgeError::InvalidSource(format!("{}:{}: {reason}", path.display(), line + 1))
}

fn load_corpus(dir: &Path) -> Result<Vec<Document>> {
    let path = dir.join("corpus.jsonl");
    let mut docs = Vec::new();
    for (n, line) in open_lines(&path)?.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let c: CorpusLine = serde_json::from_str(&line).map_err(|e| bad_data(&path, n, e))?;
        // Corpora exported from documentation folders name documents by file: their Markdown
        // is chunked and cleaned as it would be when the folder is added.
        let format = match format_of(Path::new(&c.id)) {
            Some(Format::Markdown) => Format::Markdown,
            _ => Format::Text,
        };
        docs.push(Document {
            location: c.id,
            url: None,
            fallback_title: c.title,
            format,
            body: c.text,
        });
    }
    Ok(docs)
}

fn load_queries(dir: &Path) -> Result<HashMap<String, String>> {
    let path = dir.join("queries.jsonl");
    let mut out = HashMap::new();
    for (n, line) in open_lines(&path)?.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let q: QueryLine = serde_json::from_str(&line).map_err(|e| bad_data(&path, n, e))?;
        out.insert(q.id, q.text);
    }
    Ok(out)
}

/// query id -> (doc id -> graded relevance)
fn load_qrels(dir: &Path) -> Result<HashMap<String, HashMap<String, i32>>> {
    let path = dir.join("qrels").join("test.tsv");
    let mut out: HashMap<String, HashMap<String, i32>> = HashMap::new();
    for (n, line) in open_lines(&path)?.enumerate() {
        let line = line?;
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 || (n == 0 && cols[2].trim().parse::<i32>().is_err()) {
            continue;
        }
        let rel: i32 = cols[2].trim().parse().map_err(|e| bad_data(&path, n, e))?;
        out.entry(cols[0].to_string())
            .or_default()
            .insert(cols[1].to_string(), rel);
    }
    Ok(out)
}

/// nDCG with linear gains, as trec_eval (and so BEIR) computes it.
fn ndcg_at(ranked: &[String], rels: &HashMap<String, i32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| f64::from(rels.get(d).copied().unwrap_or(0).max(0)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<i32> = rels.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &r)| f64::from(r) / (i as f64 + 2.0).log2())
        .sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

fn recall_at(ranked: &[String], rels: &HashMap<String, i32>, k: usize) -> f64 {
    let relevant: HashSet<&String> = rels
        .iter()
        .filter(|(_, r)| **r > 0)
        .map(|(d, _)| d)
        .collect();
    if relevant.is_empty() {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| relevant.contains(d))
        .count();
    found as f64 / relevant.len() as f64
}

fn mrr_at(ranked: &[String], rels: &HashMap<String, i32>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| rels.get(d).is_some_and(|&r| r > 0))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Indexes a BEIR dataset into a temporary knowledge base built from `base` (its data
/// directory is replaced by a temporary one) and scores the test queries.
pub async fn retrieval(
    beir_dir: &Path,
    mode: SearchMode,
    base: &KnowledgeConfig,
    progress: &dyn Progress,
) -> Result<EvalReport> {
    let corpus = load_corpus(beir_dir)?;
    let queries = load_queries(beir_dir)?;
    let qrels = load_qrels(beir_dir)?;
    let tmp = tempfile::tempdir().map_err(|source| KnowledgeError::DataDir {
        path: std::env::temp_dir(),
        source,
    })?;
    let db = format!("sqlite://{}", tmp.path().join("eval.db").display());
    let store = store::Store::open(&store::DatabaseSettings::new(db)).await?;
    let mut config = base.clone();
    config.data_dir = tmp.path().join("knowledge");
    // On a Qdrant server the eval gets a collection of its own, dropped afterwards, so it
    // never writes into the collection the bot serves from.
    let server = match &mut config.backend {
        crate::BackendConfig::Server {
            url,
            api_key,
            collection,
        } => {
            *collection = format!("{collection}_eval_{}", std::process::id());
            Some((url.clone(), api_key.clone(), collection.clone()))
        }
        crate::BackendConfig::Edge => None,
    };
    let kb = KnowledgeBase::open(config, store).await?;
    let dataset = beir_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let report = score(&kb, dataset, corpus, &queries, &qrels, mode, progress).await;
    drop(kb);
    if let Some((url, key, collection)) = server {
        crate::index::ServerIndex::drop_collection(&url, key.as_ref(), &collection).await?;
    }
    report
}

async fn score(
    kb: &KnowledgeBase,
    dataset: String,
    corpus: Vec<Document>,
    queries: &HashMap<String, String>,
    qrels: &HashMap<String, HashMap<String, i32>>,
    mode: SearchMode,
    progress: &dyn Progress,
) -> Result<EvalReport> {
    let documents = corpus.len();
    let started = Instant::now();
    let summary = kb
        .add(
            EVAL_GUILD,
            SourceSpec::Documents {
                name: "beir".into(),
                documents: corpus,
            },
            progress,
        )
        .await?;
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let docs_per_s = documents as f64 / seconds;
    let chunks_per_s = summary.chunks as f64 / seconds;

    let mut qids: Vec<&String> = qrels.keys().filter(|q| queries.contains_key(*q)).collect();
    qids.sort();
    let run = Run {
        kb,
        qids: &qids,
        queries,
        qrels,
    };
    let fusion = kb.fusion();
    let main = run.scores(mode, fusion).await?;
    // With dense vectors, the same index searched each other way: what hybrid adds over either
    // side alone, and how the fusions compare, without embedding the corpus again.
    let mut comparison = Vec::new();
    let mut embed_ms = None;
    if mode != SearchMode::Sparse {
        let mut variants = vec![
            ("sparse".to_string(), SearchMode::Sparse, fusion),
            ("dense".to_string(), SearchMode::Dense, fusion),
        ];
        for other in [Fusion::Rrf { k: 60 }, Fusion::Dbsf] {
            variants.push((format!("hybrid, {other}"), SearchMode::Hybrid, other));
        }
        for (label, m, f) in variants {
            if m == mode && (m != SearchMode::Hybrid || f == fusion) {
                continue;
            }
            let scores = run.scores(m, f).await?;
            comparison.push(Variant {
                label,
                ndcg_at_10: scores.ndcg,
                recall_at_100: scores.recall,
                mrr_at_10: scores.mrr,
            });
        }
        let mut times = Vec::with_capacity(qids.len());
        for qid in &qids {
            let t = Instant::now();
            kb.query_vector(&queries[*qid]).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        embed_ms = Some((percentile(&times, 0.50), percentile(&times, 0.99)));
    }
    Ok(EvalReport {
        dataset,
        mode,
        fusion: (mode == SearchMode::Hybrid).then_some(fusion),
        ndcg_at_10: main.ndcg,
        recall_at_100: main.recall,
        mrr_at_10: main.mrr,
        queries: qids.len(),
        documents,
        chunks: summary.chunks,
        docs_per_s,
        chunks_per_s,
        p50_ms: percentile(&main.latencies, 0.50),
        p99_ms: percentile(&main.latencies, 0.99),
        embed_ms,
        comparison,
    })
}

/// The test queries against one index.
struct Run<'a> {
    kb: &'a KnowledgeBase,
    qids: &'a [&'a String],
    queries: &'a HashMap<String, String>,
    qrels: &'a HashMap<String, HashMap<String, i32>>,
}

/// Mean metrics over the queries, and each query's latency (sorted).
struct Scores {
    ndcg: f64,
    recall: f64,
    mrr: f64,
    latencies: Vec<f64>,
}

impl Run<'_> {
    async fn scores(&self, mode: SearchMode, fusion: Fusion) -> Result<Scores> {
        let (mut ndcg, mut recall, mut mrr) = (0.0, 0.0, 0.0);
        let mut latencies = Vec::with_capacity(self.qids.len());
        for qid in self.qids {
            let text = &self.queries[*qid];
            let t = Instant::now();
            let hits = self
                .kb
                .search_fused(EVAL_GUILD, text, CHUNK_DEPTH, mode, fusion)
                .await?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            let mut seen = HashSet::new();
            // BEIR drops a document that is the query itself (ArguAna, Quora).
            let ranked: Vec<String> = hits
                .into_iter()
                .map(|h| h.location)
                .filter(|d| d != *qid && seen.insert(d.clone()))
                .take(100)
                .collect();
            let rels = &self.qrels[*qid];
            ndcg += ndcg_at(&ranked, rels, 10);
            recall += recall_at(&ranked, rels, 100);
            mrr += mrr_at(&ranked, rels, 10);
        }
        latencies.sort_by(f64::total_cmp);
        let n = self.qids.len().max(1) as f64;
        Ok(Scores {
            ndcg: ndcg / n,
            recall: recall / n,
            mrr: mrr / n,
            latencies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rels(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    fn ranked(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        let r = rels(&[("a", 2), ("b", 1)]);
        assert!((ndcg_at(&ranked(&["a", "b"]), &r, 10) - 1.0).abs() < 1e-12);
        let swapped = (1.0 + 2.0 / 3f64.log2()) / (2.0 + 1.0 / 3f64.log2());
        assert!((ndcg_at(&ranked(&["b", "a"]), &r, 10) - swapped).abs() < 1e-12);
        assert!((recall_at(&ranked(&["x", "a"]), &r, 100) - 0.5).abs() < 1e-12);
        assert!((mrr_at(&ranked(&["x", "y", "b"]), &r, 10) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(mrr_at(&ranked(&["x"]), &r, 10), 0.0);
    }

    #[test]
    fn corpus_documents_named_like_markdown_files_are_read_as_markdown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("corpus.jsonl"),
            concat!(
                r#"{"_id":"guide/install.md","title":"install","text":"!!! tip \"\"\n    Hi."}"#,
                "\n",
                r#"{"_id":"d2","text":"Plain passage."}"#,
                "\n",
            ),
        )
        .unwrap();
        let formats: Vec<Format> = load_corpus(dir.path())
            .unwrap()
            .iter()
            .map(|d| d.format)
            .collect();
        assert_eq!(formats, vec![Format::Markdown, Format::Text]);
    }
}
