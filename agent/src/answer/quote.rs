//! Deciding without a model: retrieval, the relevance floor, and quotes of the best sections.

use crate::decision::{Decision, Trace};

use super::language::Phrases;
use super::{Agent, ask, evidence, extractive, is_vague, not_in_docs};

impl Agent {
    pub(super) async fn extractive(
        &self,
        guild: u64,
        query: &str,
        phrases: Phrases,
        trace: &mut Trace,
    ) -> Result<Decision, String> {
        let (retrieved, evidence) = self.retrieve(guild, query).await?;
        trace.retrieved = retrieved
            .passages
            .iter()
            .map(|p| (p.location.clone(), p.score))
            .collect();
        trace.evidence = evidence.max_relevance();
        trace.unknown = evidence.unknown_share;
        trace.coverage = evidence
            .docs
            .iter()
            .map(|d| (d.location.clone(), d.relevance))
            .collect();
        trace.detail = evidence.detail(&retrieved);
        if is_vague(&retrieved) {
            return Ok(ask(phrases));
        }
        let docs = extractive::pick_docs(&evidence, self.settings.relevance_floor);
        if docs.is_empty() {
            return Ok(not_in_docs(phrases));
        }
        // Score every unit of the chosen documents' passages with the guild's analyzer, then
        // quote each document from its best-matching passage (one section, read in order,
        // cited with that section's link).
        let candidates: Vec<(usize, Vec<extractive::Unit>)> = docs
            .iter()
            .flat_map(|doc| doc.passages.iter().take(evidence::DOC_PASSAGES))
            .map(|&i| (i, extractive::units(&retrieved.passages[i].text)))
            .collect();
        let texts: Vec<&str> = candidates
            .iter()
            .flat_map(|(_, units)| units.iter().map(|u| u.text()))
            .collect();
        let unit_terms = self
            .retriever
            .analyze(guild, &texts)
            .await
            .map_err(|e| e.to_string())?;
        let mut scores = unit_terms.iter().map(|t| evidence.score(t));
        let scored: Vec<(usize, Vec<(extractive::Unit, f32)>)> = candidates
            .into_iter()
            .map(|(i, units)| {
                let units = units
                    .into_iter()
                    .map(|u| (u, scores.next().unwrap_or(0.0)))
                    .collect();
                (i, units)
            })
            .collect();
        // Which documents answer was decided by their relevance (coverage and, when dense
        // vectors exist, similarity); the sentences' word matches only choose the section
        // of each to quote: its best passage, and the first document's second-best when that
        // is nearly as good and fewer than three documents are quoted. Quoted in the
        // documents' order. Ranking passages across documents by word matches alone would
        // drop a paraphrased answer for a page that merely repeats the question's words.
        let mut picked: Vec<(usize, usize)> = Vec::new();
        for (doc, evidence_doc) in docs.iter().enumerate() {
            let mut own: Vec<(usize, f32)> = scored
                .iter()
                .enumerate()
                .filter(|(_, (i, _))| evidence_doc.passages.contains(i))
                .map(|(k, (_, units))| (k, extractive::passage_score(units)))
                .collect();
            own.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let Some(&(best_k, best)) = own.first() else {
                continue;
            };
            picked.push((best_k, doc));
            if doc == 0
                && docs.len() < extractive::MAX_DOCS
                && let Some(&(k, score)) = own.get(1)
                && best > 0.0
                && score >= best * extractive::RUNNER_UP
            {
                picked.push((k, doc));
            }
        }
        picked.sort_by_key(|&(k, doc)| (doc, k));
        let mut quotes = Vec::new();
        let mut citations = Vec::new();
        for (k, _) in picked {
            let (passage, units) = &scored[k];
            let chosen = extractive::select(units, quotes.is_empty());
            if chosen.is_empty() {
                continue;
            }
            let number = citations.len() + 1;
            let passage = &retrieved.passages[*passage];
            quotes.push((
                number,
                extractive::label(passage),
                chosen.into_iter().map(|i| units[i].0.clone()).collect(),
            ));
            citations.push(extractive::cite(number, passage));
        }
        if citations.is_empty() {
            return Ok(not_in_docs(phrases));
        }
        Ok(Decision::Reply {
            text: extractive::render(phrases.lead, &quotes),
            citations,
        })
    }
}
