//! The semantic stage: a message's sentence vector compared with labelled examples of every
//! category (`examples.jsonl`, written for this project) and with ordinary messages, so a
//! paraphrase the rules never saw ("I don't see the point anymore") still lands near the
//! examples that mean the same thing. Guilds can add examples of their own to a category: a
//! custom rule by meaning rather than by keyword.
//!
//! The vectors come from a [`SentenceEmbedder`] the caller provides (the bot uses a static
//! table distilled from the local sentence model, fast enough for every message); this module
//! only compares them. A message's score for a category is the share of its nearest examples
//! that carry the category, damped when even the closest of them is far away.

use std::sync::Arc;

use serde::Deserialize;

use super::verdict::Category;

/// The shipped examples: `{"category": "...", "text": "..."}` per line, `benign` for ordinary
/// messages (provenance in `README.md` beside this file).
pub const EXAMPLES: &str = include_str!("examples.jsonl");

/// Turns text into a unit-length vector. Implementations must be cheap enough to run on every
/// message (tens of microseconds) and must not panic on any input.
pub trait SentenceEmbedder: Send + Sync {
    fn dimensions(&self) -> usize;
    /// A unit-length vector, or all zeros when the text has nothing to embed.
    fn embed(&self, text: &str) -> Vec<f32>;
}

/// What an example is an example of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Benign,
    Flag(Category),
}

impl Label {
    pub fn parse(s: &str) -> Option<Label> {
        if s == "benign" {
            Some(Label::Benign)
        } else {
            Category::parse(s).map(Label::Flag)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub label: Label,
    pub text: String,
}

/// Reads examples in the shipped format; errors name the line.
pub fn parse_examples(jsonl: &str) -> Result<Vec<Example>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        category: String,
        text: String,
        #[serde(default)]
        #[allow(dead_code)]
        lang: Option<String>,
    }
    let mut out = Vec::new();
    for (i, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Row =
            serde_json::from_str(line).map_err(|e| format!("examples line {}: {e}", i + 1))?;
        let label = Label::parse(&row.category).ok_or_else(|| {
            format!(
                "examples line {}: unknown category `{}`",
                i + 1,
                row.category
            )
        })?;
        out.push(Example {
            label,
            text: row.text,
        });
    }
    Ok(out)
}

/// How neighbours turn into a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Nearest examples that vote.
    pub k: usize,
    /// Similarity to a category's closest example at which it gets no weight at all...
    pub near_floor: f32,
    /// ...and at which it gets full weight.
    pub near_full: f32,
    /// Factor on the final scores: the stage is coarse (a static table, word order gone), so on
    /// its own it must be very sure before a category's threshold is reached.
    pub weight: f32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            k: 7,
            near_floor: 0.45,
            near_full: 0.75,
            weight: 0.85,
        }
    }
}

/// Per category, 0..=1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores([f32; Category::ALL.len()]);

impl Scores {
    pub fn get(&self, category: Category) -> f32 {
        self.0[category as usize]
    }

    /// Categories with a score above zero, strongest first.
    pub fn ranked(&self) -> Vec<(Category, f32)> {
        let mut out: Vec<(Category, f32)> = Category::ALL
            .into_iter()
            .map(|c| (c, self.get(c)))
            .filter(|&(_, s)| s > 0.0)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

/// A guild's own example, already embedded (see `Policy::semantic_examples`).
#[derive(Debug, Clone, PartialEq)]
pub struct GuildExample {
    pub label: Label,
    pub vector: Vec<f32>,
}

pub struct Semantic {
    embedder: Arc<dyn SentenceEmbedder>,
    dims: usize,
    labels: Vec<Label>,
    /// Row-major, one unit vector per example.
    matrix: Vec<f32>,
    params: Params,
    head: Head,
}

/// A softmax regression over the example vectors (benign and every category with examples),
/// trained when the stage is built: it learns which directions of the vector space mark a
/// category, where nearest neighbours only see whole examples.
struct Head {
    classes: Vec<Label>,
    /// classes × dims.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

const HEAD_EPOCHS: usize = 200;
/// A category needs this many examples before the regression learns it; fewer (a guild's
/// handful) are matched by nearest neighbours only.
const HEAD_MIN_EXAMPLES: usize = 10;
const HEAD_RATE: f32 = 0.05;
const HEAD_L2: f32 = 1e-4;

impl Head {
    fn train(matrix: &[f32], labels: &[Label], dims: usize) -> Head {
        let mut classes: Vec<Label> = vec![Label::Benign];
        for l in labels {
            if !classes.contains(l)
                && labels.iter().filter(|x| *x == l).count() >= HEAD_MIN_EXAMPLES
            {
                classes.push(*l);
            }
        }
        if classes.len() < 2 || !labels.contains(&Label::Benign) {
            return Head {
                classes: Vec::new(),
                weights: Vec::new(),
                bias: Vec::new(),
            };
        }
        let c = classes.len();
        let rows: Vec<(&[f32], usize)> = matrix
            .chunks_exact(dims)
            .zip(labels)
            .filter_map(|(x, l)| classes.iter().position(|k| k == l).map(|k| (x, k)))
            .collect();
        let y: Vec<usize> = rows.iter().map(|(_, k)| *k).collect();
        let n = y.len();
        // Each class weighs the same in the loss, however many examples it has.
        let mut counts = vec![0usize; c];
        for &k in &y {
            counts[k] += 1;
        }
        let sample_weight: Vec<f32> = y
            .iter()
            .map(|&k| n as f32 / (c as f32 * counts[k].max(1) as f32))
            .collect();
        let mut w = vec![0.0f32; c * dims];
        let mut b = vec![0.0f32; c];
        // Adam moments.
        let (mut mw, mut vw) = (vec![0.0f32; c * dims], vec![0.0f32; c * dims]);
        let (mut mb, mut vb) = (vec![0.0f32; c], vec![0.0f32; c]);
        let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let mut gw = vec![0.0f32; c * dims];
        let mut gb = vec![0.0f32; c];
        let mut probs = vec![0.0f32; c];
        for epoch in 1..=HEAD_EPOCHS {
            gw.iter_mut().for_each(|g| *g = 0.0);
            gb.iter_mut().for_each(|g| *g = 0.0);
            for (i, (x, _)) in rows.iter().enumerate() {
                softmax_into(&w, &b, x, dims, &mut probs);
                for k in 0..c {
                    let err = (probs[k] - f32::from(u8::from(k == y[i]))) * sample_weight[i];
                    gb[k] += err;
                    let row = &mut gw[k * dims..(k + 1) * dims];
                    for (g, xi) in row.iter_mut().zip(x.iter()) {
                        *g += err * xi;
                    }
                }
            }
            let scale = 1.0 / n.max(1) as f32;
            let t = epoch as i32;
            let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
            for j in 0..c * dims {
                let g = gw[j] * scale + HEAD_L2 * w[j];
                mw[j] = beta1 * mw[j] + (1.0 - beta1) * g;
                vw[j] = beta2 * vw[j] + (1.0 - beta2) * g * g;
                w[j] -= HEAD_RATE * (mw[j] / c1) / ((vw[j] / c2).sqrt() + eps);
            }
            for k in 0..c {
                let g = gb[k] * scale;
                mb[k] = beta1 * mb[k] + (1.0 - beta1) * g;
                vb[k] = beta2 * vb[k] + (1.0 - beta2) * g * g;
                b[k] -= HEAD_RATE * (mb[k] / c1) / ((vb[k] / c2).sqrt() + eps);
            }
        }
        Head {
            classes,
            weights: w,
            bias: b,
        }
    }

    fn scores(&self, x: &[f32], dims: usize, out: &mut Scores) {
        if self.classes.is_empty() {
            return;
        }
        let mut probs = vec![0.0f32; self.classes.len()];
        softmax_into(&self.weights, &self.bias, x, dims, &mut probs);
        for (label, p) in self.classes.iter().zip(probs) {
            if let Label::Flag(c) = label {
                let slot = &mut out.0[*c as usize];
                *slot = slot.max(p);
            }
        }
    }
}

fn softmax_into(w: &[f32], b: &[f32], x: &[f32], dims: usize, out: &mut [f32]) {
    let mut max = f32::MIN;
    for (k, o) in out.iter_mut().enumerate() {
        *o = dot(&w[k * dims..(k + 1) * dims], x) + b[k];
        max = max.max(*o);
    }
    let mut sum = 0.0;
    for o in out.iter_mut() {
        *o = (*o - max).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

impl Semantic {
    /// The shipped examples.
    pub fn shipped(embedder: Arc<dyn SentenceEmbedder>) -> Semantic {
        let examples = parse_examples(EXAMPLES).expect("the shipped examples are valid");
        Semantic::new(embedder, &examples, Params::default())
    }

    pub fn new(embedder: Arc<dyn SentenceEmbedder>, examples: &[Example], params: Params) -> Self {
        let dims = embedder.dimensions();
        let mut labels = Vec::with_capacity(examples.len());
        let mut matrix = Vec::with_capacity(examples.len() * dims);
        for e in examples {
            let v = embedder.embed(&e.text);
            if v.len() != dims || v.iter().all(|x| *x == 0.0) {
                continue;
            }
            labels.push(e.label);
            matrix.extend_from_slice(&v);
        }
        let head = Head::train(&matrix, &labels, dims);
        Semantic {
            embedder,
            dims,
            labels,
            matrix,
            params,
            head,
        }
    }

    pub fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn embed(&self, text: &str) -> Vec<f32> {
        self.embedder.embed(text)
    }

    /// Scores for a text, with the guild's own examples voting alongside the shipped ones.
    pub fn score(&self, text: &str, guild: &[GuildExample]) -> Scores {
        let v = self.embedder.embed(text);
        self.score_vector(&v, guild)
    }

    pub fn score_vector(&self, v: &[f32], guild: &[GuildExample]) -> Scores {
        let mut scores = Scores::default();
        if v.len() != self.dims || v.iter().all(|x| *x == 0.0) {
            return scores;
        }
        let k = self.params.k.max(1);
        // The k nearest, kept sorted by similarity (k is small: insertion beats a heap).
        let mut nearest: Vec<(f32, Label)> = Vec::with_capacity(k + 1);
        let mut closest = [f32::MIN; Category::ALL.len()];
        let mut consider = |sim: f32, label: Label| {
            if let Label::Flag(c) = label {
                let slot = &mut closest[c as usize];
                *slot = slot.max(sim);
            }
            if nearest.len() < k || sim > nearest[nearest.len() - 1].0 {
                let at = nearest.partition_point(|(s, _)| *s >= sim);
                nearest.insert(at, (sim, label));
                nearest.truncate(k);
            }
        };
        for (row, label) in self.matrix.chunks_exact(self.dims).zip(&self.labels) {
            consider(dot(row, v), *label);
        }

        // A neighbour votes with how far it is above the floor: distant examples say nothing.
        let floor = self.params.near_floor;
        let total: f32 = nearest.iter().map(|(s, _)| (s - floor).max(0.0)).sum();
        let span = (self.params.near_full - floor).max(1e-3);
        for (sim, label) in &nearest {
            if let Label::Flag(c) = label
                && total > 0.0
            {
                scores.0[*c as usize] += (sim - floor).max(0.0) / total;
            }
        }
        // The regression's view, then both damped by how near the closest example of the
        // category is: text unlike anything in the examples (another domain, another language
        // the examples lack) does not get a confident score by extrapolation.
        self.head.scores(v, self.dims, &mut scores);
        for c in Category::ALL {
            let near = ((closest[c as usize] - self.params.near_floor) / span).clamp(0.0, 1.0);
            scores.0[c as usize] *= near * self.params.weight;
        }
        self.apply_guild(v, guild, &mut scores);
        scores
    }
}

impl Semantic {
    /// A guild's examples are precise "looks like this" rules rather than votes among hundreds
    /// of shipped examples: a category scores by how near its closest guild example is, and a
    /// near `benign` example of the guild damps every category.
    fn apply_guild(&self, v: &[f32], guild: &[GuildExample], scores: &mut Scores) {
        let span = (self.params.near_full - self.params.near_floor).max(1e-3);
        let near = |sim: f32| ((sim - self.params.near_floor) / span).clamp(0.0, 1.0);
        let mut benign = 0.0f32;
        for g in guild.iter().filter(|g| g.vector.len() == self.dims) {
            let n = near(dot(&g.vector, v));
            match g.label {
                Label::Benign => benign = benign.max(n),
                Label::Flag(c) => {
                    let slot = &mut scores.0[c as usize];
                    *slot = slot.max(n);
                }
            }
        }
        if benign > 0.0 {
            for x in &mut scores.0 {
                *x *= 1.0 - benign;
            }
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums let the compiler vectorise without reordering concerns.
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests;
