//! Splitting a message into Discord-sized parts: at paragraph boundaries, never inside a code
//! fence (a fence longer than a message is closed and reopened), never through a character.

use super::deliver::MESSAGE_LIMIT;

/// A paragraph or a whole fenced code block.
fn blocks(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut fence: Option<String> = None;
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        if let Some(open) = &fence {
            cur.push('\n');
            cur.push_str(line);
            if trimmed.starts_with(open.as_str())
                && trimmed.trim_end().trim_start_matches('`').is_empty()
            {
                fence = None;
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if trimmed.starts_with("```") {
            if !cur.trim().is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
            cur.push_str(line);
            let ticks: String = trimmed.chars().take_while(|&c| c == '`').collect();
            fence = Some(ticks);
            continue;
        }
        if line.trim().is_empty() {
            if !cur.trim().is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
            continue;
        }
        if !cur.is_empty() {
            cur.push('\n');
        }
        cur.push_str(line);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// The longest fence opening line (backticks and language tag) repeated on every part of a
/// code block that spans several messages.
const MAX_OPENER: usize = 100;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Splits text into Discord-sized messages at paragraph boundaries, keeping code fences
/// whole; a fence longer than a message is closed and reopened across parts.
pub fn split_for_discord(text: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    for block in blocks(text) {
        for piece in fit_block(&block) {
            let joined = if cur.is_empty() {
                chars(&piece)
            } else {
                chars(&cur) + 2 + chars(&piece)
            };
            if joined > MESSAGE_LIMIT && !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push_str("\n\n");
            }
            cur.push_str(&piece);
        }
    }
    if !cur.is_empty() || parts.is_empty() {
        parts.push(cur);
    }
    parts
}

/// One block cut into pieces of at most `MESSAGE_LIMIT` characters.
fn fit_block(block: &str) -> Vec<String> {
    if chars(block) <= MESSAGE_LIMIT {
        return vec![block.to_string()];
    }
    let first = block.lines().next().unwrap_or("");
    let ticks: String = first
        .trim_start()
        .chars()
        .take_while(|&c| c == '`')
        .collect();
    if ticks.len() >= 3 && ticks.len() <= MAX_OPENER {
        // An opening line is backticks and a short language tag. A longer one (a model can
        // write anything there) is content: reopening each part with it would leave no room.
        let long_opener = chars(first) > MAX_OPENER;
        let spill = first.trim_start()[ticks.len()..].to_string();
        let first = if long_opener { ticks.as_str() } else { first };
        let body: Vec<&str> = long_opener
            .then_some(spill.as_str())
            .into_iter()
            .chain(block.lines().skip(1))
            .collect();
        let body = if body
            .last()
            .is_some_and(|l| l.trim().trim_start_matches('`').is_empty() && l.contains('`'))
        {
            &body[..body.len() - 1]
        } else {
            &body[..]
        };
        let room = MESSAGE_LIMIT - chars(first) - chars(&ticks) - 2;
        let mut pieces = Vec::new();
        let mut cur: Vec<String> = Vec::new();
        let mut used = 0;
        for line in body {
            for chunk in hard_wrap(line, room) {
                let cost = chars(&chunk) + 1;
                if used + cost > room && !cur.is_empty() {
                    pieces.push(format!("{first}\n{}\n{ticks}", cur.join("\n")));
                    cur.clear();
                    used = 0;
                }
                used += cost;
                cur.push(chunk);
            }
        }
        if !cur.is_empty() {
            pieces.push(format!("{first}\n{}\n{ticks}", cur.join("\n")));
        }
        return pieces;
    }
    // A long paragraph: at line breaks, then spaces, never through a character.
    let mut pieces = Vec::new();
    let mut rest = block;
    while chars(rest) > MESSAGE_LIMIT {
        let limit = rest
            .char_indices()
            .nth(MESSAGE_LIMIT)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let window = &rest[..limit];
        let cut = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .filter(|&i| i > 0)
            .unwrap_or(limit);
        pieces.push(rest[..cut].to_string());
        rest = rest[cut..].trim_start_matches(['\n', ' ']);
    }
    if !rest.is_empty() {
        pieces.push(rest.to_string());
    }
    pieces
}

fn hard_wrap(line: &str, room: usize) -> Vec<String> {
    if chars(line) <= room {
        return vec![line.to_string()];
    }
    line.chars()
        .collect::<Vec<_>>()
        .chunks(room)
        .map(|c| c.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_are_split_within_the_limit_without_losing_text() {
        let text = "word ".repeat(1000) + "\n\n" + &"é".repeat(2500);
        let parts = split_for_discord(&text);
        assert!(parts.iter().all(|p| chars(p) <= MESSAGE_LIMIT));
        let joined: String = parts.concat();
        assert_eq!(
            joined.chars().filter(|c| !c.is_whitespace()).count(),
            text.chars().filter(|c| !c.is_whitespace()).count()
        );
    }

    #[test]
    fn splits_fall_between_paragraphs_and_never_inside_a_code_fence() {
        let para = "a sentence of prose. ".repeat(40);
        let code = format!("```sh\n{}```", "echo line\n".repeat(60));
        let text = format!("{para}\n\n{code}\n\n{para}");
        let parts = split_for_discord(&text);
        assert!(parts.len() >= 2);
        for p in &parts {
            assert!(chars(p) <= MESSAGE_LIMIT);
            assert_eq!(p.matches("```").count() % 2, 0, "unbalanced fence in {p:?}");
        }
        let huge = format!("```\n{}{}\n```", "x".repeat(80), "\nline".repeat(900));
        for p in split_for_discord(&huge) {
            assert!(chars(&p) <= MESSAGE_LIMIT);
            assert!(p.starts_with("```") && p.ends_with("```"), "{p:?}");
        }
    }

    #[test]
    fn a_fence_with_a_huge_opening_line_still_splits_within_the_limit() {
        // Found by the property tests: the opening line was repeated on every part, leaving
        // less than no room (an arithmetic overflow).
        let text = format!("```{}\n{}\n```", "x".repeat(2_500), "line\n".repeat(600));
        let parts = split_for_discord(&text);
        assert!(parts.len() >= 2);
        for p in &parts {
            assert!(chars(p) <= MESSAGE_LIMIT, "{} chars", chars(p));
            assert!(p.starts_with("```\n") && p.ends_with("```"), "{p:?}");
        }
    }
}
