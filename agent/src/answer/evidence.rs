//! How well the retrieved documents cover a question. Search ranks chunks; it does not say
//! whether the best one is about the question at all. Coverage does: the share of the
//! question's information (its terms weighted by IDF) that a document contains. A term the
//! guild's knowledge never uses carries the highest weight, so a question about something the
//! docs never mention ("does it block ads in the spotify app?") is covered poorly even when
//! its common words match well.

use std::collections::{HashMap, HashSet};

use crate::retriever::{Passage, Retrieved};

/// One document's retrieved chunks and how well they cover the question.
#[derive(Debug, Clone, PartialEq)]
pub struct DocEvidence {
    pub location: String,
    /// Indexes into `Retrieved::passages`, best first.
    pub passages: Vec<usize>,
    /// Share of the question's weight found in the document's best chunks (at most
    /// `DOC_PASSAGES` of them), 0 to 1. Bounded so a huge reference page, many of whose
    /// chunks match one word each, does not look like it answers everything.
    pub coverage: f32,
    /// Rank of its best chunk in the search results (0 = top).
    pub rank: usize,
    /// The question's terms found in those chunks.
    pub matched: Vec<u32>,
    /// The highest cosine similarity of the question and one of those chunks, when dense
    /// vectors exist.
    pub similarity: Option<f32>,
    /// What decides whether the document answers: its coverage, blended with its similarity
    /// (`DENSE_WEIGHT` of it) when dense vectors exist. Coverage alone misses paraphrase ("my login
    /// code never shows up" against "two-factor token not received"); similarity alone
    /// rates a page on the right topic that lacks the asked-for detail too well.
    pub relevance: f32,
}

/// Share of a document's relevance that comes from its cosine similarity to the question,
/// when dense vectors exist. On the Pi-hole dev set 0.5 and 0.7 separate answerable from
/// unanswerable questions equally well (ROC AUC 0.88) and 0.7 reaches a higher citation hit
/// at the same false-answer rate; on sets written by others 0.7 separates better
/// (docs/benchmarks.md).
pub const DENSE_WEIGHT: f32 = 0.7;

/// Chunks of one document that count toward its coverage.
pub const DOC_PASSAGES: usize = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Weight of each query term (its IDF in the guild).
    pub weights: HashMap<u32, f32>,
    /// Sum of `weights`.
    pub total: f32,
    /// Query terms no chunk of the guild contains.
    pub unknown: usize,
    /// Their share of the question's weight.
    pub unknown_share: f32,
    /// Documents in the order of their best chunk's rank.
    pub docs: Vec<DocEvidence>,
}

impl Evidence {
    /// `passage_terms[i]` are the analyzer's terms of passage `i` (its title, headings and
    /// text, as search saw them).
    pub fn new(retrieved: &Retrieved, passage_terms: &[Vec<u32>]) -> Evidence {
        // A term the corpus never uses weighs as much as its rarest possible term (in one
        // chunk), no more: in a small corpus the formula's value for "absent" would drown out
        // everything the question and the docs share.
        let weights: HashMap<u32, f32> = retrieved
            .terms
            .iter()
            .map(|t| (t.term, retrieved.idf(t.df.max(1))))
            .collect();
        let total: f32 = weights.values().sum();
        let unknown = retrieved.terms.iter().filter(|t| t.df == 0).count();
        let mut docs: Vec<DocEvidence> = Vec::new();
        let mut found: Vec<HashSet<u32>> = Vec::new();
        for (i, passage) in retrieved.passages.iter().enumerate() {
            let terms = passage_terms.get(i).map(Vec::as_slice).unwrap_or(&[]);
            let at = match docs.iter().position(|d| d.location == passage.location) {
                Some(at) => at,
                None => {
                    docs.push(DocEvidence {
                        location: passage.location.clone(),
                        passages: Vec::new(),
                        coverage: 0.0,
                        rank: i,
                        matched: Vec::new(),
                        similarity: None,
                        relevance: 0.0,
                    });
                    found.push(HashSet::new());
                    docs.len() - 1
                }
            };
            docs[at].passages.push(i);
            if docs[at].passages.len() <= DOC_PASSAGES {
                found[at].extend(terms.iter().filter(|t| weights.contains_key(t)));
                if let Some(sim) = passage.similarity {
                    let best = docs[at].similarity.get_or_insert(sim);
                    *best = best.max(sim);
                }
            }
        }
        for (doc, terms) in docs.iter_mut().zip(&found) {
            doc.matched = terms.iter().copied().collect();
            doc.matched.sort_unstable();
            doc.coverage = if total > 0.0 {
                terms.iter().map(|t| weights[t]).sum::<f32>() / total
            } else {
                0.0
            };
            doc.relevance = match doc.similarity {
                Some(sim) => (1.0 - DENSE_WEIGHT) * doc.coverage + DENSE_WEIGHT * sim.max(0.0),
                None => doc.coverage,
            };
        }
        let unknown_share = if total > 0.0 {
            retrieved
                .terms
                .iter()
                .filter(|t| t.df == 0)
                .map(|t| weights[&t.term])
                .sum::<f32>()
                / total
        } else {
            0.0
        };
        Evidence {
            weights,
            total,
            unknown,
            unknown_share,
            docs,
        }
    }

    /// Relevance of the best-ranked document (0 when nothing was found).
    pub fn best(&self) -> f32 {
        self.docs.first().map_or(0.0, |d| d.relevance)
    }

    /// The highest relevance of any retrieved document.
    pub fn max_relevance(&self) -> f32 {
        self.docs.iter().map(|d| d.relevance).fold(0.0, f32::max)
    }

    /// The numbers behind the decision, for the trace: each query term's weight and whether
    /// the corpus knows it, and which of them the first documents hold. Term ids only, never
    /// text.
    pub fn detail(&self, retrieved: &Retrieved) -> serde_json::Value {
        let terms: Vec<u32> = retrieved.terms.iter().map(|t| t.term).collect();
        serde_json::json!({
            "terms": retrieved.terms.iter().map(|t| serde_json::json!([t.df, self.weights[&t.term]])).collect::<Vec<_>>(),
            "docs": self.docs.iter().take(6).map(|d| serde_json::json!({
                "location": d.location,
                "rank": d.rank,
                "matched": terms.iter().map(|t| d.matched.contains(t)).collect::<Vec<_>>(),
                "score": retrieved.passages[d.passages[0]].score,
                "coverage": d.coverage,
                "similarity": d.similarity,
            })).collect::<Vec<_>>(),
            "chunks": retrieved.chunks,
        })
    }

    /// Weight of the terms of `unit` that the question asks about.
    pub fn score(&self, unit_terms: &[u32]) -> f32 {
        let mut seen = HashSet::new();
        unit_terms
            .iter()
            .filter(|t| seen.insert(**t))
            .filter_map(|t| self.weights.get(t))
            .sum()
    }
}

/// What search and the answer see of a passage: its title and headings give short chunks
/// their context.
pub fn passage_text(p: &Passage) -> String {
    let mut s = String::with_capacity(p.title.len() + p.text.len() + 64);
    s.push_str(&p.title);
    for h in &p.heading_path {
        s.push('\n');
        s.push_str(h);
    }
    s.push('\n');
    s.push_str(&p.text);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retriever::TermStat;

    fn passage(location: &str) -> Passage {
        Passage {
            source_id: 1,
            location: location.into(),
            origins: Vec::new(),
            title: location.into(),
            heading_path: Vec::new(),
            url: None,
            text: String::new(),
            score: 1.0,
            similarity: None,
        }
    }

    #[test]
    fn unknown_terms_weigh_most_and_chunks_of_one_document_merge() {
        let retrieved = Retrieved {
            passages: vec![passage("a.md"), passage("b.md"), passage("a.md")],
            terms: vec![
                TermStat { term: 1, df: 50 },
                TermStat { term: 2, df: 2 },
                TermStat { term: 3, df: 0 },
            ],
            chunks: 100,
        };
        let e = Evidence::new(&retrieved, &[vec![1], vec![1, 2], vec![2]]);
        assert_eq!(e.unknown, 1);
        assert!(e.weights[&3] > e.weights[&2] && e.weights[&2] > e.weights[&1]);
        assert_eq!(
            e.weights[&3],
            retrieved.idf(1),
            "absent weighs as a term in one chunk"
        );
        assert_eq!(e.docs.len(), 2);
        assert_eq!(e.docs[0].passages, vec![0, 2]);
        let expected = (e.weights[&1] + e.weights[&2]) / e.total;
        assert!((e.docs[0].coverage - expected).abs() < 1e-6);
        assert!(e.best() < 0.7, "the unknown term keeps coverage down");
    }

    #[test]
    fn similarity_lifts_a_paraphrase_that_shares_few_words() {
        let mut paraphrased = passage("2fa.md");
        paraphrased.similarity = Some(0.72);
        let mut off_topic = passage("dns.md");
        off_topic.similarity = Some(0.05);
        let retrieved = Retrieved {
            passages: vec![off_topic, paraphrased],
            terms: vec![TermStat { term: 1, df: 3 }, TermStat { term: 2, df: 3 }],
            chunks: 100,
        };
        // The off-topic page shares both words, the paraphrase one of them.
        let e = Evidence::new(&retrieved, &[vec![1, 2], vec![1]]);
        assert_eq!(e.docs[0].coverage, 1.0);
        assert!((e.docs[1].coverage - 0.5).abs() < 1e-6);
        assert!(e.docs[1].relevance > e.docs[0].relevance, "{:?}", e.docs);
        assert_eq!(e.max_relevance(), e.docs[1].relevance);
    }

    #[test]
    fn without_dense_vectors_relevance_is_coverage() {
        let retrieved = Retrieved {
            passages: vec![passage("a.md")],
            terms: vec![TermStat { term: 1, df: 3 }, TermStat { term: 2, df: 9 }],
            chunks: 100,
        };
        let e = Evidence::new(&retrieved, &[vec![1]]);
        assert_eq!(e.docs[0].relevance, e.docs[0].coverage);
    }
}
