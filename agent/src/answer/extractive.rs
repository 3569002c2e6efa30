//! Answers without a model: the sentences of the best one to three documents that carry the
//! most of the question's weight, quoted in reading order with the command or code block they
//! introduce, each document cited. Not a dump of search results: a document is quoted only
//! when it covers the question nearly as well as the best one, and from it only what
//! matches.

use crate::decision::Citation;
use crate::retriever::Passage;

use super::evidence::{DocEvidence, Evidence};

/// A piece of a passage that can be quoted on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit {
    Sentence(String),
    /// A fenced or indented code block, kept whole.
    Code(String),
}

impl Unit {
    pub fn text(&self) -> &str {
        match self {
            Unit::Sentence(s) | Unit::Code(s) => s,
        }
    }
}

/// Abbreviations whose period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "cf", "approx", "mr", "mrs", "dr", "no", "fig", "incl", "z.b",
    "bzw", "ca", "resp",
];

/// Splits a chunk's text into sentences and code blocks, in reading order.
pub fn units(text: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let trimmed = block.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("```") || looks_like_code(block) {
            out.push(Unit::Code(trimmed.to_string()));
            continue;
        }
        for sentence in sentences(trimmed) {
            out.push(Unit::Sentence(sentence));
        }
    }
    out
}

/// An indented code block (its lines kept their layout) or a shell session.
fn looks_like_code(block: &str) -> bool {
    let lines: Vec<&str> = block.lines().collect();
    lines.len() > 1 && !block.trim_start().starts_with("- ") && !block.contains(" | ")
}

fn sentences(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = block.char_indices().collect();
    let mut start = 0;
    let mut in_code = false;
    for (k, &(i, c)) in chars.iter().enumerate() {
        if c == '`' {
            in_code = !in_code;
        }
        if in_code || !matches!(c, '.' | '?' | '!' | '。' | '？' | '！') {
            continue;
        }
        let Some(&(j, next)) = chars.get(k + 1) else {
            continue;
        };
        if !next.is_whitespace() {
            continue;
        }
        let after = chars.get(k + 2).map(|&(_, a)| a);
        let starts_sentence = after.is_some_and(|a| {
            a.is_uppercase() || a.is_ascii_digit() || matches!(a, '`' | '*' | '"' | '(' | '[')
        });
        if !starts_sentence {
            continue;
        }
        let word = block[start..i]
            .rsplit(|ch: char| ch.is_whitespace() || ch == '(')
            .next()
            .unwrap_or("")
            .to_lowercase();
        if c == '.' && ABBREVIATIONS.contains(&word.as_str()) {
            continue;
        }
        let s = block[start..=i].trim();
        if !s.is_empty() {
            out.push(s.to_string());
        }
        start = j;
    }
    let rest = block[start..].trim();
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// How much of a document is quoted, in characters of prose.
const FIRST_DOC_CHARS: usize = 700;
const OTHER_DOC_CHARS: usize = 350;
/// Longest code block quoted, in lines.
const CODE_LINES: usize = 14;
/// At most this many documents are quoted.
pub const MAX_DOCS: usize = 3;
/// A further document is quoted only when it is nearly as relevant as the best.
pub const RUNNER_UP: f32 = 0.8;

/// The documents worth quoting, in search order: those relevant to the question at least to
/// the floor and nearly as relevant as the best of them.
pub fn pick_docs(evidence: &Evidence, floor: f32) -> Vec<&DocEvidence> {
    let best = evidence
        .docs
        .iter()
        .map(|d| d.relevance)
        .filter(|&c| c >= floor)
        .fold(f32::NAN, f32::max);
    if best.is_nan() {
        return Vec::new();
    }
    evidence
        .docs
        .iter()
        .filter(|d| d.relevance >= floor && d.relevance >= best * RUNNER_UP)
        .take(MAX_DOCS)
        .collect()
}

/// How well a passage's sentences answer: its best sentence, plus a little for a second one.
pub fn passage_score(units: &[(Unit, f32)]) -> f32 {
    let mut best = 0.0f32;
    let mut second = 0.0f32;
    for (_, s) in units {
        if *s > best {
            second = best;
            best = *s;
        } else if *s > second {
            second = *s;
        }
    }
    best + 0.3 * second
}

/// Chooses the units of one document to quote, keeping reading order: the best-scoring
/// sentences within a character budget, each with the code block it introduces, and any
/// chosen code block with the sentence that introduces it.
pub fn select(units: &[(Unit, f32)], first: bool) -> Vec<usize> {
    let budget = if first {
        FIRST_DOC_CHARS
    } else {
        OTHER_DOC_CHARS
    };
    let best = units.iter().map(|(_, s)| *s).fold(0.0, f32::max);
    if best <= 0.0 {
        // Only the title or headings matched: the section's opening says what it is about.
        return units
            .iter()
            .position(|(u, _)| matches!(u, Unit::Sentence(_)))
            .into_iter()
            .collect();
    }
    let mut order: Vec<usize> = (0..units.len()).filter(|&i| units[i].1 > 0.0).collect();
    order.sort_by(|&a, &b| units[b].1.total_cmp(&units[a].1).then(a.cmp(&b)));
    let mut chosen: Vec<usize> = Vec::new();
    let mut used = 0;
    for i in order {
        if units[i].1 < best * 0.5 || chosen.len() >= 4 {
            break;
        }
        let len = match &units[i].0 {
            Unit::Sentence(s) => s.chars().count(),
            Unit::Code(_) => 0,
        };
        if used + len > budget && !chosen.is_empty() {
            continue;
        }
        used += len;
        chosen.push(i);
    }
    let mut extra = Vec::new();
    for &i in &chosen {
        match &units[i].0 {
            Unit::Sentence(s) => {
                // A sentence that introduces a command is useless without it.
                if let Some((Unit::Code(_), _)) = units.get(i + 1)
                    && (s.ends_with(':') || units[i + 1].1 > 0.0 || s.len() < 160)
                {
                    extra.push(i + 1);
                }
            }
            Unit::Code(_) => {
                if i > 0
                    && let Unit::Sentence(_) = units[i - 1].0
                {
                    extra.push(i - 1);
                }
            }
        }
    }
    chosen.extend(extra);
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// A code block cut to a readable length, its fence kept closed.
fn quote_code(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let fenced = code.starts_with("```");
    let body: Vec<&str> = if fenced {
        lines[1..lines.len().saturating_sub(1).max(1)].to_vec()
    } else {
        lines.clone()
    };
    let lang = if fenced {
        lines[0].trim_start_matches('`')
    } else {
        ""
    };
    let mut kept: Vec<&str> = body.iter().take(CODE_LINES).copied().collect();
    if body.len() > CODE_LINES {
        kept.push("…");
    }
    let body = if fenced {
        kept.join("\n")
    } else {
        // Indented blocks lose their common indent once outside the document.
        let indent = kept
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        kept.iter()
            .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!("```{lang}\n{body}\n```")
}

/// Heading shown above a document's quote: its title and the section it comes from.
pub fn label(p: &Passage) -> String {
    match p.heading_path.last() {
        Some(h) if *h != p.title => format!("{} › {}", p.title, h),
        _ => p.title.clone(),
    }
}

/// Renders the quotes, one block per document with its footnote number, under `lead`.
pub fn render(lead: &str, quotes: &[(usize, String, Vec<Unit>)]) -> String {
    let mut out = String::from(lead);
    for (number, label, units) in quotes {
        out.push_str("\n\n");
        out.push_str(&format!("**{label}** [{number}]"));
        let mut quoting = false;
        for unit in units {
            match unit {
                Unit::Sentence(s) => {
                    out.push_str(if quoting { " " } else { "\n> " });
                    out.push_str(s);
                    quoting = true;
                }
                Unit::Code(c) => {
                    out.push('\n');
                    out.push_str(&quote_code(c));
                    quoting = false;
                }
            }
        }
    }
    out
}

/// A citation for a passage, numbered as it appears in the answer.
pub fn cite(number: usize, p: &Passage) -> Citation {
    Citation {
        number,
        title: label(p),
        location: p.location.clone(),
        url: p.url.clone(),
        source_id: p.source_id,
        origins: p.origins.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_splits_into_sentences_and_code_blocks() {
        let text = "Run the updater, e.g. after a release. It keeps your settings.\n\n\
                    To update:\n\n```bash\npihole -up\n```\n\n- Docker users pull the image instead.";
        let u = units(text);
        assert_eq!(
            u,
            vec![
                Unit::Sentence("Run the updater, e.g. after a release.".into()),
                Unit::Sentence("It keeps your settings.".into()),
                Unit::Sentence("To update:".into()),
                Unit::Code("```bash\npihole -up\n```".into()),
                Unit::Sentence("- Docker users pull the image instead.".into()),
            ]
        );
    }

    #[test]
    fn versions_and_addresses_do_not_end_sentences() {
        let u = units("Set the upstream to 127.0.0.1#5335 in v5.0 or later. Then restart.");
        assert_eq!(u.len(), 2, "{u:?}");
    }

    #[test]
    fn a_chosen_sentence_brings_the_command_it_introduces() {
        let units = vec![
            (Unit::Sentence("Something unrelated.".into()), 0.0),
            (Unit::Sentence("Update Pi-hole with:".into()), 3.0),
            (Unit::Code("```\npihole -up\n```".into()), 0.0),
            (Unit::Sentence("Another matching line.".into()), 1.0),
        ];
        assert_eq!(select(&units, true), vec![1, 2]);
    }

    #[test]
    fn quoted_code_stays_fenced_and_bounded() {
        let long: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let q = quote_code(&format!("```sh\n{long}```"));
        assert!(q.starts_with("```sh\n") && q.ends_with("\n```"));
        assert!(q.lines().count() <= CODE_LINES + 3);
        let indented = quote_code("    docker pull x\n    docker up");
        assert_eq!(indented, "```\ndocker pull x\ndocker up\n```");
    }
}
