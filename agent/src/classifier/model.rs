//! A small learned model: logistic regression over hashed word unigrams, word bigrams and byte
//! 3/4-grams of the normalised text, one binary head per category it knows (spam, prompt
//! injection). Training is deterministic (fixed seed, fixed order); the shipped weights are
//! produced by `classifier-tool train` (see `agent/data/README.md`) and embedded quantised.
//!
//! A text is a set of distinct features scaled to unit L2 norm: repeating a sentence, pasting a
//! long log or writing at length adds no evidence by itself, only what the features are does.

use std::fmt;

use super::verdict::Category;

/// Weights shipped with the crate (see `agent/data/README.md` for the command that makes them).
const EMBEDDED: &[u8] = include_bytes!("../../data/classifier-model.bin");
/// Version 3: binary (distinct) features; version 2 weights counted repeats and would misscore.
const MAGIC: &[u8; 6] = b"SBCLF3";
/// Texts longer than this are scored on their first part only, which bounds the cost per message.
const MAX_SCORED_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("model file is truncated or not a classifier model")]
    Malformed,
    #[error("model file names unknown category `{0}`")]
    UnknownCategory(String),
}

/// Hyper-parameters of the deterministic trainer.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub dim_bits: u8,
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            dim_bits: 16,
            epochs: 12,
            learning_rate: 0.5,
            l2: 1e-6,
            seed: 0x5eed_c1a5,
        }
    }
}

#[derive(Clone)]
struct Head {
    category: Category,
    bias: f32,
    /// Value of one quantisation step of this head's weights.
    step: f32,
}

/// Hashed-feature logistic regression with one head per category. Weights are quantised to one
/// signed byte and interleaved by feature (`weights[feature * heads + head]`), so scoring a
/// feature touches one cache line for all heads.
#[derive(Clone)]
pub struct Model {
    dim_bits: u8,
    heads: Vec<Head>,
    weights: Vec<i8>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("dim_bits", &self.dim_bits)
            .field(
                "heads",
                &self.heads.iter().map(|h| h.category).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One labelled example for training: normalised text and the category it belongs to (`None`
/// for an ordinary message).
pub struct Example<'a> {
    pub text: &'a str,
    pub category: Option<Category>,
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Multiply-shift: the high bits of the product are well mixed, so they pick the bucket.
fn bucket(key: u64, bits: u8) -> usize {
    ((key ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> (64 - u32::from(bits)))
        as usize
}

const TAG_WORD: u64 = 1 << 56;
const TAG_BIGRAM: u64 = 2 << 56;
const TAG_GRAM3: u64 = 3 << 56;
const TAG_GRAM4: u64 = 4 << 56;

/// Token shape for words with digits, so phone numbers and codes generalise: `87121` -> `#5`,
/// `4u` stays a word, `150p` -> `0p`.
fn word_key(word: &str, buf: &mut String) {
    buf.clear();
    if word.bytes().all(|b| b.is_ascii_digit()) {
        buf.push('#');
        buf.push(char::from(b'0' + word.len().min(9) as u8));
    } else if word.bytes().filter(u8::is_ascii_digit).count() >= 2 {
        buf.extend(
            word.chars()
                .map(|c| if c.is_ascii_digit() { '0' } else { c }),
        );
    } else {
        buf.push_str(word);
    }
}

/// Calls `f` with each hashed feature of `text`, repeats included.
fn features(text: &str, bits: u8, mut f: impl FnMut(usize)) {
    let text = if text.len() > MAX_SCORED_BYTES {
        let mut end = MAX_SCORED_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    } else {
        text
    };
    let mut buf = String::new();
    let mut prev: Option<u64> = None;
    for word in text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
    {
        let h = if word.bytes().any(|b| b.is_ascii_digit()) {
            word_key(word, &mut buf);
            fnv(buf.as_bytes())
        } else {
            fnv(word.as_bytes())
        } >> 8;
        f(bucket(h | TAG_WORD, bits));
        if let Some(p) = prev {
            f(bucket((p.rotate_left(17) ^ h) >> 8 | TAG_BIGRAM, bits));
        }
        prev = Some(h);
    }
    let bytes = text.as_bytes();
    for i in 0..bytes.len().saturating_sub(2) {
        let g3 = u64::from(bytes[i]) | u64::from(bytes[i + 1]) << 8 | u64::from(bytes[i + 2]) << 16;
        f(bucket(g3 | TAG_GRAM3, bits));
        if let Some(&b4) = bytes.get(i + 3) {
            f(bucket(g3 | u64::from(b4) << 24 | TAG_GRAM4, bits));
        }
    }
}

/// The distinct features of `text`, sorted, for training. Each counts once, so the vector's L2
/// norm is the square root of its length.
fn distinct_features(text: &str, bits: u8) -> Vec<u32> {
    let mut idx = Vec::with_capacity(text.len().min(MAX_SCORED_BYTES) * 2 + 8);
    features(text, bits, |i| idx.push(i as u32));
    idx.sort_unstable();
    idx.dedup();
    idx
}

/// Factor that gives a binary vector of `n` features unit L2 norm.
fn unit_scale(n: usize) -> f32 {
    1.0 / (n.max(1) as f32).sqrt()
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Model {
    /// The weights shipped with the crate.
    pub fn embedded() -> Result<Model, ModelError> {
        Model::from_bytes(EMBEDDED)
    }

    pub fn categories(&self) -> impl Iterator<Item = Category> + '_ {
        self.heads.iter().map(|h| h.category)
    }

    /// Deterministic training: the same examples and config always give the same weights.
    pub fn train(examples: &[Example<'_>], heads: &[Category], cfg: &TrainConfig) -> Model {
        let dim = 1usize << cfg.dim_bits;
        let featurised: Vec<(Vec<u32>, f32)> = examples
            .iter()
            .map(|e| {
                let idx = distinct_features(e.text, cfg.dim_bits);
                let scale = unit_scale(idx.len());
                (idx, scale)
            })
            .collect();
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = XorShift(cfg.seed | 1);
        let mut trained: Vec<(Category, f32, Vec<f32>)> = Vec::new();
        for &category in heads {
            let mut bias = 0f32;
            let mut weights = vec![0f32; dim];
            let positives = examples
                .iter()
                .filter(|e| e.category == Some(category))
                .count()
                .max(1);
            // Balance the classes so a rare category still moves the weights.
            let pos_weight = (examples.len() - positives) as f32 / positives as f32;
            for epoch in 0..cfg.epochs {
                for i in (1..order.len()).rev() {
                    let j = (rng.next() % (i as u64 + 1)) as usize;
                    order.swap(i, j);
                }
                let lr = cfg.learning_rate / (1.0 + epoch as f32 * 0.5);
                for &k in &order {
                    let (idx, scale) = &featurised[k];
                    let positive = examples[k].category == Some(category);
                    let z = bias + idx.iter().map(|&i| weights[i as usize]).sum::<f32>() * scale;
                    let y = if positive { 1.0 } else { 0.0 };
                    let g = (sigmoid(z) - y) * if positive { pos_weight } else { 1.0 };
                    bias -= lr * g * 0.1;
                    for &i in idx {
                        let w = &mut weights[i as usize];
                        *w -= lr * (g * scale + cfg.l2 * *w);
                    }
                }
            }
            trained.push((category, bias, weights));
        }
        Model::quantise(cfg.dim_bits, trained)
    }

    fn quantise(dim_bits: u8, trained: Vec<(Category, f32, Vec<f32>)>) -> Model {
        let dim = 1usize << dim_bits;
        let n = trained.len();
        let mut weights = vec![0i8; dim * n];
        let mut heads = Vec::new();
        for (h, (category, bias, w)) in trained.into_iter().enumerate() {
            let step = w.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-9) / 127.0;
            for (i, x) in w.iter().enumerate() {
                weights[i * n + h] = (x / step).round().clamp(-127.0, 127.0) as i8;
            }
            heads.push(Head {
                category,
                bias,
                step,
            });
        }
        Model {
            dim_bits,
            heads,
            weights,
        }
    }

    /// Probability per head for a normalised text.
    pub fn score(&self, text: &str) -> ModelScores {
        let nh = self.heads.len().min(MAX_HEADS);
        let stride = self.heads.len();
        let mut sums = [0i32; MAX_HEADS];
        // One bit per bucket marks the features already counted: the same set as
        // `distinct_features` gives the trainer, without sorting on the hot path.
        let mut seen = vec![0u64; (1usize << self.dim_bits).div_ceil(64)];
        let mut n = 0;
        features(text, self.dim_bits, |i| {
            let (slot, bit) = (i / 64, 1u64 << (i % 64));
            if seen[slot] & bit != 0 {
                return;
            }
            seen[slot] |= bit;
            n += 1;
            let row = &self.weights[i * stride..i * stride + nh];
            for (s, &w) in sums.iter_mut().zip(row) {
                *s += i32::from(w);
            }
        });
        let scale = unit_scale(n);
        let mut out = ModelScores::default();
        for (s, h) in sums.iter().zip(&self.heads) {
            out.set(h.category, sigmoid(h.bias + *s as f32 * h.step * scale));
        }
        out
    }

    /// Compact form: header, per head its bias and step, then the interleaved weight bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.weights.len() + 64);
        out.extend_from_slice(MAGIC);
        out.push(self.dim_bits);
        out.push(self.heads.len() as u8);
        for h in &self.heads {
            let name = h.category.as_str().as_bytes();
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            out.extend_from_slice(&h.bias.to_le_bytes());
            out.extend_from_slice(&h.step.to_le_bytes());
        }
        out.extend(self.weights.iter().map(|&w| w as u8));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return Err(ModelError::Malformed);
        }
        let dim_bits = r.byte()?;
        if !(8..=24).contains(&dim_bits) {
            return Err(ModelError::Malformed);
        }
        let n_heads = usize::from(r.byte()?);
        let mut heads = Vec::new();
        for _ in 0..n_heads {
            let len = usize::from(r.byte()?);
            let name = String::from_utf8_lossy(r.take(len)?).into_owned();
            let category = Category::parse(&name).ok_or(ModelError::UnknownCategory(name))?;
            let bias = r.f32()?;
            let step = r.f32()?;
            heads.push(Head {
                category,
                bias,
                step,
            });
        }
        let weights = r
            .take(n_heads << dim_bits)?
            .iter()
            .map(|&b| b as i8)
            .collect();
        Ok(Model {
            dim_bits,
            heads,
            weights,
        })
    }
}

const MAX_HEADS: usize = 4;

/// Model probabilities for the categories it has heads for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelScores {
    pub spam: Option<f32>,
    pub prompt_injection: Option<f32>,
}

impl ModelScores {
    fn set(&mut self, c: Category, p: f32) {
        match c {
            Category::Spam => self.spam = Some(p),
            Category::PromptInjection => self.prompt_injection = Some(p),
            _ => {}
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        if self.0.len() < n {
            return Err(ModelError::Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn byte(&mut self) -> Result<u8, ModelError> {
        Ok(self.take(1)?[0])
    }
    fn f32(&mut self) -> Result<f32, ModelError> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vec<Example<'static>> {
        let spam = [
            "win a free prize call now",
            "urgent you have won cash claim now",
            "free entry txt win to 87121",
        ];
        let ham = [
            "how do i install the bot",
            "thanks that fixed it",
            "the config file is not loading",
        ];
        spam.iter()
            .map(|t| Example {
                text: t,
                category: Some(Category::Spam),
            })
            .chain(ham.iter().map(|t| Example {
                text: t,
                category: None,
            }))
            .collect()
    }

    #[test]
    fn training_is_deterministic_and_survives_serialisation() {
        let cfg = TrainConfig {
            dim_bits: 12,
            ..TrainConfig::default()
        };
        let a = Model::train(&toy(), &[Category::Spam], &cfg);
        let b = Model::train(&toy(), &[Category::Spam], &cfg);
        assert_eq!(a.to_bytes(), b.to_bytes());
        let loaded = Model::from_bytes(&a.to_bytes()).expect("round trip");
        let p_spam = loaded
            .score("claim your free prize now")
            .spam
            .unwrap_or(0.0);
        let p_ham = loaded.score("how do i fix the config").spam.unwrap_or(1.0);
        assert!(p_spam > p_ham, "{p_spam} vs {p_ham}");
    }

    #[test]
    fn repeating_a_text_does_not_change_its_score() {
        let m = Model::embedded().expect("embedded model is valid");
        let once = "my bot keeps restarting, the logs say the database is unreachable. ";
        let a = m.score(once);
        let b = m.score(&once.repeat(40));
        let close =
            |x: Option<f32>, y: Option<f32>| (x.unwrap_or(0.0) - y.unwrap_or(0.0)).abs() < 0.02;
        assert!(
            close(a.spam, b.spam) && close(a.prompt_injection, b.prompt_injection),
            "{a:?} vs {b:?}"
        );
    }

    #[test]
    fn malformed_model_bytes_are_an_error() {
        assert_eq!(
            Model::from_bytes(b"nope").unwrap_err(),
            ModelError::Malformed
        );
        assert!(Model::from_bytes(&MAGIC[..]).is_err());
    }

    #[test]
    fn the_embedded_model_loads() {
        let m = Model::embedded().expect("embedded model is valid");
        assert_eq!(
            m.categories().collect::<Vec<_>>(),
            [Category::Spam, Category::PromptInjection]
        );
    }
}
