//! Documentation sites write Markdown in their generator's dialect (MkDocs-Material, Zulip's
//! help centre, Docusaurus, MDX, Jinja templates). This module rewrites a page into the plain
//! Markdown a reader would see rendered, so the index holds their words rather than the markup.
//! Includes are resolved earlier, where the folder is at hand ([`include`]); the text they
//! bring is fenced by origin markers that the chunker turns into citations.

mod constructs;
pub(crate) mod include;
mod inline;
mod zulip;

use constructs::{Construct, recognise};

/// A page rewritten for chunking.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub body: String,
    /// The front matter's `title`, for pages without a `# ` heading of their own.
    pub title: Option<String>,
}

const ORIGIN_OPEN: &str = "<!-- supportbot-origin ";
const ORIGIN_CLOSE: &str = "<!-- /supportbot-origin -->";

/// The line that starts text included from `path`; [`origin_close`] ends it.
pub(crate) fn origin_open(path: &str) -> String {
    format!("{ORIGIN_OPEN}{path} -->")
}

pub(crate) fn origin_close() -> &'static str {
    ORIGIN_CLOSE
}

/// A boundary of included text, as found in raw HTML.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OriginMark<'a> {
    Open(&'a str),
    Close,
}

/// The origin markers in a piece of raw HTML, in order.
pub(crate) fn origin_marks(html: &str) -> Vec<OriginMark<'_>> {
    let mut marks = Vec::new();
    let mut rest = html;
    while let Some(pos) = rest.find("<!-- ") {
        rest = &rest[pos..];
        if rest.starts_with(ORIGIN_CLOSE) {
            marks.push(OriginMark::Close);
            rest = &rest[ORIGIN_CLOSE.len()..];
        } else if let Some(after) = rest.strip_prefix(ORIGIN_OPEN)
            && let Some(end) = after.find(" -->")
        {
            marks.push(OriginMark::Open(&after[..end]));
            rest = &after[end..];
        } else {
            rest = &rest[1..];
        }
    }
    marks
}

/// Takes origin markers out of text that was parsed as code (a marker indented like code is
/// still a marker), returning the text without them and the markers in order.
pub(crate) fn split_origin_marks(text: &str) -> (String, Vec<OriginMark<'_>>) {
    let mut kept = String::with_capacity(text.len());
    let mut marks = Vec::new();
    for line in text.split_inclusive('\n') {
        let found = origin_marks(line);
        if found.is_empty() {
            kept.push_str(line);
            continue;
        }
        marks.extend(found);
        let mut rest = line;
        let mut left = String::new();
        while let Some(start) = rest.find("<!-- ") {
            left.push_str(&rest[..start]);
            let tail = &rest[start..];
            let is_mark = tail.starts_with(ORIGIN_CLOSE) || tail.starts_with(ORIGIN_OPEN);
            match tail.find("-->").filter(|_| is_mark) {
                Some(end) => rest = &tail[end + 3..],
                None => {
                    left.push_str("<!-- ");
                    rest = &tail[5..];
                }
            }
        }
        left.push_str(rest);
        if !left.trim().is_empty() {
            kept.push_str(&left);
        }
    }
    (kept, marks)
}

fn is_origin_mark(line: &str) -> bool {
    let t = line.trim();
    t == ORIGIN_CLOSE || (t.starts_with(ORIGIN_OPEN) && t.ends_with("-->"))
}

/// Rewrites a Markdown page into plain Markdown: front matter, comments, admonitions, tabs,
/// attribute lists, template variables, icons and macros become readable text or nothing.
pub(crate) fn render(body: &str) -> Rendered {
    let (title, body) = front_matter(body);
    let lines: Vec<String> = strip_comments(body)
        .lines()
        .map(expand_leading_tabs)
        .collect();
    let mut out = blocks(&lines).join("\n");
    out.push('\n');
    Rendered { body: out, title }
}

fn expand_leading_tabs(line: &str) -> String {
    let ws = line.len() - line.trim_start_matches([' ', '\t']).len();
    if !line[..ws].contains('\t') {
        return line.to_string();
    }
    let spaces: usize = line[..ws]
        .chars()
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum();
    format!("{}{}", " ".repeat(spaces), &line[ws..])
}

/// YAML (`---`) or TOML (`+++`) front matter: removed, its `title` returned.
fn front_matter(body: &str) -> (Option<String>, &str) {
    let first = body.lines().next().unwrap_or("").trim_end();
    let (sep, closers): (char, &[&str]) = match first {
        "---" => (':', &["---", "..."]),
        "+++" => ('=', &["+++"]),
        _ => return (None, body),
    };
    let mut offset = body.find('\n').map_or(body.len(), |n| n + 1);
    let mut title = None;
    let mut saw_key = false;
    for line in body[offset..].split_inclusive('\n') {
        offset += line.len();
        let t = line.trim_end();
        if closers.contains(&t) {
            return if saw_key {
                (title, &body[offset..])
            } else {
                (None, body)
            };
        }
        if let Some((key, value)) = t.split_once(sep)
            && !key.starts_with([' ', '-', '#'])
            && !key.trim().is_empty()
            && key
                .trim()
                .chars()
                .all(|c| c.is_alphanumeric() || "_-".contains(c))
        {
            saw_key = true;
            if key.trim() == "title" {
                let v = value.trim().trim_matches(['"', '\'']).trim();
                title = (!v.is_empty()).then(|| v.to_string());
            }
        } else if !saw_key && !t.trim().is_empty() {
            // Prose after a thematic break, not metadata.
            return (None, body);
        }
    }
    (None, body)
}

struct Fence {
    ch: char,
    len: usize,
}

impl Fence {
    fn opened_by(line: &str) -> Option<Fence> {
        let t = line.trim_start();
        let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let len = t.chars().take_while(|c| *c == ch).count();
        let info = &t[len..];
        (len >= 3 && !(ch == '`' && info.contains('`'))).then_some(Fence { ch, len })
    }

    fn closed_by(&self, line: &str) -> bool {
        let t = line.trim();
        t.len() >= self.len && t.chars().all(|c| c == self.ch)
    }
}

/// HTML comments are the author's notes to themselves (lint switches, drafts); origin markers
/// are kept for the chunker. Code blocks are left alone.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<Fence> = None;
    let mut in_comment = false;
    for line in text.lines() {
        if let Some(f) = &fence {
            if f.closed_by(line) {
                fence = None;
            }
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if !in_comment && is_origin_mark(line) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if !in_comment && let Some(f) = Fence::opened_by(line) {
            fence = Some(f);
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut rest = line;
        loop {
            if in_comment {
                match rest.find("-->") {
                    Some(end) => {
                        in_comment = false;
                        rest = &rest[end + 3..];
                    }
                    None => break,
                }
            } else {
                match rest.find("<!--") {
                    Some(start) => {
                        out.push_str(&rest[..start]);
                        rest = &rest[start..];
                        // A marker after a list marker (`1. <!-- … -->`) is kept too.
                        let mark = [ORIGIN_CLOSE, ORIGIN_OPEN]
                            .iter()
                            .find(|m| rest.starts_with(**m))
                            .and_then(|_| rest.find("-->"));
                        match mark {
                            Some(end) => {
                                out.push_str(&rest[..end + 3]);
                                rest = &rest[end + 3..];
                            }
                            None => {
                                in_comment = true;
                                rest = &rest[4..];
                            }
                        }
                    }
                    None => {
                        out.push_str(rest);
                        break;
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The end (exclusive) of the body indented under a marker at `indent`; trailing blank lines
/// are not part of it.
fn indented_body_end(lines: &[String], start: usize, indent: usize) -> usize {
    let mut end = start;
    for (j, line) in lines.iter().enumerate().skip(start) {
        if line.trim().is_empty() {
            continue;
        }
        if indent_of(line) <= indent {
            break;
        }
        end = j + 1;
    }
    end
}

/// Removes the common indentation, so code indented inside the body stays code.
fn dedent(lines: &[String]) -> Vec<String> {
    let min = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                l[min..].to_string()
            }
        })
        .collect()
}

/// A bold label paragraph, then the body, at the indentation of the construct they replace.
fn emit_labelled(out: &mut Vec<String>, pad: &str, label: &str, body: &[String]) {
    if out.last().is_some_and(|l| !l.trim().is_empty()) {
        out.push(String::new());
    }
    out.push(format!("{pad}**{label}**"));
    out.push(String::new());
    let first = body.iter().position(|l| !l.trim().is_empty());
    let last = body.iter().rposition(|l| !l.trim().is_empty());
    let body = match (first, last) {
        (Some(f), Some(l)) => &body[f..=l],
        _ => &[],
    };
    for line in body {
        if line.is_empty() {
            out.push(String::new());
        } else {
            out.push(format!("{pad}{line}"));
        }
    }
    out.push(String::new());
}

/// Rewrites a run of lines; constructs with bodies recurse into them.
fn blocks(lines: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    let mut fence: Option<Fence> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if let Some(f) = &fence {
            if f.closed_by(line) {
                fence = None;
            }
            out.push(line.clone());
            i += 1;
            continue;
        }
        if let Some(f) = Fence::opened_by(line) {
            fence = Some(f);
            out.push(line.clone());
            i += 1;
            continue;
        }
        let indent = indent_of(line);
        let pad = &line[..indent];
        let (construct, next) = recognise(lines, i);
        i = next;
        match construct {
            Construct::Keep => out.push(line.clone()),
            Construct::Drop => out.push(String::new()),
            Construct::Line(text) => out.push(format!("{pad}{text}")),
            Construct::Label(label) => emit_labelled(&mut out, pad, &label, &[]),
            Construct::Labelled { label, body } => {
                emit_labelled(&mut out, pad, &label, &blocks(&body));
            }
            Construct::Lines(texts) => out.extend(texts),
        }
    }
    out
}

#[cfg(test)]
mod tests;
