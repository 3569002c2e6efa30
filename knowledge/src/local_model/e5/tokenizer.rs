//! The model's SentencePiece unigram tokenizer, from the file's own tables: each code point
//! through the normalisation map, runs of spaces collapsed, spaces as the metaspace `▁` (one
//! in front), then the most probable split into pieces (Viterbi over piece scores), a
//! character no piece covers becoming `<unk>`. Ties resolve as in the reference engine, so
//! ids match it exactly.

use std::collections::HashMap;

use super::file::Vocabulary;

const METASPACE: char = '\u{2581}';
/// A character no piece covers costs this much more than the rarest piece.
const UNKNOWN_PENALTY: f32 = 10.0;

pub struct Tokenizer {
    pieces: HashMap<Vec<u8>, u32>,
    scores: Vec<f32>,
    longest_piece: usize,
    unknown_score: f32,
    bos: u32,
    eos: u32,
    unk: u32,
    normalisation: Vec<(char, Vec<char>)>,
}

impl Tokenizer {
    pub fn new(v: Vocabulary) -> Tokenizer {
        let mut pieces = HashMap::with_capacity(v.scores.len());
        for (id, span) in v.offsets.windows(2).enumerate() {
            let bytes = &v.blob[span[0]..span[1]];
            // The first of two equal pieces wins, as in the reference.
            if !bytes.is_empty() && id as u32 != v.unk {
                pieces.entry(bytes.to_vec()).or_insert(id as u32);
            }
        }
        let rarest = v.scores.iter().copied().fold(f32::INFINITY, f32::min);
        Tokenizer {
            pieces,
            longest_piece: v.offsets.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(1),
            unknown_score: rarest - UNKNOWN_PENALTY,
            scores: v.scores,
            bos: v.bos,
            eos: v.eos,
            unk: v.unk,
            normalisation: v.normalisation,
        }
    }

    /// `<s>`, at most `max_pieces` pieces of `text` (the first ones), `</s>`.
    pub fn encode(&self, text: &str, max_pieces: usize) -> Vec<u32> {
        let mut ids = Vec::with_capacity(max_pieces.min(text.len() + 1) + 2);
        ids.push(self.bos);
        ids.extend(self.pieces_of(text).into_iter().take(max_pieces));
        ids.push(self.eos);
        ids
    }

    fn pieces_of(&self, text: &str) -> Vec<u32> {
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            match self
                .normalisation
                .binary_search_by_key(&c, |(from, _)| *from)
            {
                Ok(i) => chars.extend(&self.normalisation[i].1),
                Err(_) => chars.push(c),
            }
        }
        chars.dedup_by(|next, kept| *next == ' ' && *kept == ' ');
        if chars.first() != Some(&' ') {
            chars.insert(0, METASPACE);
        }
        // The normalised text and where each character starts in it.
        let mut normalised = String::with_capacity(chars.len() * 3);
        let mut starts = Vec::with_capacity(chars.len() + 1);
        for c in chars {
            starts.push(normalised.len());
            normalised.push(if c == ' ' { METASPACE } else { c });
        }
        starts.push(normalised.len());
        let bytes = normalised.as_bytes();
        let n = starts.len() - 1;

        // best[e]: the highest total score of a split of the first e characters, and the
        // piece (None: unknown character) and start of its last piece.
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut last: Vec<(Option<u32>, usize)> = vec![(None, 0); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            for e in i + 1..=n {
                let span = &bytes[starts[i]..starts[e]];
                if span.len() > self.longest_piece {
                    break;
                }
                if let Some(&id) = self.pieces.get(span) {
                    let score = best[i] + self.scores[id as usize];
                    if score > best[e] {
                        best[e] = score;
                        last[e] = (Some(id), i);
                    }
                }
            }
            let score = best[i] + self.unknown_score;
            if score > best[i + 1] {
                best[i + 1] = score;
                last[i + 1] = (None, i);
            }
        }
        let mut out = Vec::new();
        let mut e = n;
        while e > 0 {
            let (id, start) = last[e];
            out.push(id.unwrap_or(self.unk));
            e = start;
        }
        out.reverse();
        out
    }
}
