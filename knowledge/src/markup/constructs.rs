//! The block constructs of each dialect, recognised at a line: admonitions (MkDocs `!!!`/`???`,
//! Docusaurus `:::`), content tabs (`===`, Zulip `{tab|…}`, MDX `<TabItem>`), leftover include
//! directives, attribute lists, abbreviation and footnote definitions, headings, raw HTML
//! blocks and Zulip's UI-path macros.

use super::{Fence, dedent, indent_of, indented_body_end, inline, is_origin_mark, zulip};

/// What replaces the construct at a line.
pub(super) enum Construct {
    /// The line as written.
    Keep,
    /// Nothing (a blank line).
    Drop,
    /// One rewritten line, at the indentation of the original.
    Line(String),
    /// A bold label paragraph with nothing under it.
    Label(String),
    /// A bold label paragraph, then a body still to be rewritten.
    Labelled { label: String, body: Vec<String> },
    /// Finished lines.
    Lines(Vec<String>),
}

/// The construct starting at `lines[i]`, and the index of the first line after it.
pub(super) fn recognise(lines: &[String], i: usize) -> (Construct, usize) {
    let line = &lines[i];
    let t = line.trim();
    let indent = indent_of(line);
    if is_origin_mark(t) {
        return (Construct::Keep, i + 1);
    }
    if let Some(label) = admonition(t).or_else(|| content_tab(t)) {
        let end = indented_body_end(lines, i + 1, indent);
        let body = dedent(&lines[i + 1..end]);
        return (Construct::Labelled { label, body }, end);
    }
    if let Some(label) = docusaurus_open(t) {
        let close = docusaurus_close(lines, i + 1);
        let body = dedent(&lines[i + 1..close]);
        return (
            Construct::Labelled { label, body },
            (close + 1).min(lines.len()),
        );
    }
    match t {
        "{start_tabs}" | "{end_tabs}" => return (Construct::Drop, i + 1),
        // The block form of a snippet: file names between two scissors lines.
        "--8<--" => {
            let close = lines[i + 1..]
                .iter()
                .position(|l| l.trim() == "--8<--")
                .map_or(lines.len(), |p| i + 1 + p);
            return (Construct::Drop, (close + 1).min(lines.len()));
        }
        _ => {}
    }
    if let Some(name) = t.strip_prefix("{tab|").and_then(|r| r.strip_suffix('}')) {
        return (
            Construct::Label(format!("{}:", zulip::tab_label(name))),
            i + 1,
        );
    }
    if let Some(label) = tab_item(t) {
        return (Construct::Label(format!("{label}:")), i + 1);
    }
    let leftover_include =
        t.starts_with("--8<--") || (t.starts_with("{!") && t.ends_with("!}")) || is_mdx_import(t);
    // Abbreviation definitions (`*[DNS]: Domain Name System`) show only as tooltips.
    let abbreviation = t.starts_with("*[") && t.contains("]:");
    if leftover_include || abbreviation || (t.starts_with("{:") && t.ends_with('}')) {
        return (Construct::Drop, i + 1);
    }
    if let Some(text) = footnote_definition(t).filter(|_| indent <= 3) {
        return (Construct::Line(inline::rewrite(text)), i + 1);
    }
    if let Some(h) = heading(t).filter(|_| indent <= 3) {
        return (Construct::Line(h), i + 1);
    }
    if indent <= 3 && inline::tag_at(t).is_some_and(|tag| inline::is_block_tag(tag.name)) {
        return html_block(lines, i);
    }
    if let Some(step) = t
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .and_then(zulip::macro_step)
    {
        return (Construct::Line(step), i + 1);
    }
    if inline::has_unclosed_tag(t) {
        let mut joined = t.to_string();
        for (j, next) in lines.iter().enumerate().skip(i + 1).take(8) {
            if next.trim().is_empty() || Fence::opened_by(next).is_some() {
                break;
            }
            joined.push(' ');
            joined.push_str(next.trim());
            if !inline::has_unclosed_tag(&joined) {
                return (Construct::Line(inline::rewrite(&joined)), j + 1);
            }
        }
    }
    (Construct::Line(inline::rewrite(line.trim_start())), i + 1)
}

/// `!!! warning "Title"`, `??? note`, `???+ tip ""`: the label the reader sees.
fn admonition(t: &str) -> Option<String> {
    let rest = ["!!!", "???+", "???"]
        .iter()
        .find_map(|m| t.strip_prefix(m))?;
    if !rest.starts_with(' ') || rest.trim().is_empty() {
        return None;
    }
    let rest = rest.trim();
    let (words, title) = match rest.find('"') {
        Some(q) => {
            let quoted = &rest[q + 1..];
            let title = quoted.rfind('"').map_or(quoted, |e| &quoted[..e]);
            (&rest[..q], Some(title.trim()))
        }
        None => (rest, None),
    };
    // Python-Markdown reads every word as a CSS class and shows only the first as the title.
    let words: Vec<&str> = words.split_whitespace().collect();
    let plausible = words.iter().all(|w| {
        w.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    plausible.then(|| label(words.first().copied(), title))
}

/// "Warning: Title", "Tip:" (empty title), "Title:" (no kind).
fn label(kind: Option<&str>, title: Option<&str>) -> String {
    let title = title.filter(|t| !t.is_empty());
    match (kind.map(kind_name), title) {
        (Some(k), Some(t)) => format!("{k}: {t}"),
        (Some(k), None) => format!("{k}:"),
        (None, Some(t)) => format!("{t}:"),
        (None, None) => "Note:".to_string(),
    }
}

fn kind_name(kind: &str) -> String {
    match kind.to_ascii_lowercase().as_str() {
        "warn" => "Warning".to_string(),
        "tldr" => "TL;DR".to_string(),
        "faq" => "FAQ".to_string(),
        other => zulip::humanise(other),
    }
}

/// `=== "Docker Compose"` (also `===+`, `===!`).
fn content_tab(t: &str) -> Option<String> {
    let rest = t.strip_prefix("===")?.trim_start_matches(['+', '!']);
    let title = rest
        .strip_prefix(' ')?
        .trim()
        .strip_prefix('"')?
        .strip_suffix('"')?;
    Some(format!("{}:", title.trim()))
}

/// `:::note Title` or `:::tip[Title]` (three or more colons).
fn docusaurus_open(t: &str) -> Option<String> {
    let colons = t.chars().take_while(|c| *c == ':').count();
    let rest = &t[colons..];
    let kind_len = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .count();
    if colons < 3 || kind_len == 0 {
        return None;
    }
    let after = rest[kind_len..].trim();
    let title = match after.strip_prefix('[') {
        Some(b) => b.find(']').map_or(b, |e| &b[..e]),
        None => after.split('{').next().unwrap_or(""),
    };
    Some(label(Some(&rest[..kind_len]), Some(title.trim())))
}

/// The line closing the container opened just before `start`; nested containers close first.
fn docusaurus_close(lines: &[String], start: usize) -> usize {
    let mut depth = 0usize;
    let mut fence: Option<Fence> = None;
    for (j, line) in lines.iter().enumerate().skip(start) {
        if let Some(f) = &fence {
            if f.closed_by(line) {
                fence = None;
            }
            continue;
        }
        if let Some(f) = Fence::opened_by(line) {
            fence = Some(f);
            continue;
        }
        let t = line.trim();
        if docusaurus_open(t).is_some() {
            depth += 1;
        } else if t.len() >= 3 && t.chars().all(|c| c == ':') {
            if depth == 0 {
                return j;
            }
            depth -= 1;
        }
    }
    lines.len()
}

/// `<TabItem value="docker" label="Docker">`: the tab's label.
fn tab_item(t: &str) -> Option<String> {
    let tag = inline::tag_at(t).filter(|tag| tag.name == "TabItem" && !tag.closing)?;
    inline::attr(tag.attrs, "label")
        .map(str::to_string)
        .or_else(|| inline::attr(tag.attrs, "value").map(zulip::humanise))
}

/// `import Partial from './_partial.mdx';` (resolved ones were replaced at load time).
fn is_mdx_import(t: &str) -> bool {
    t.starts_with("import ") && (t.contains(" from '") || t.contains(" from \""))
}

/// `[^note]: text`: the text.
fn footnote_definition(t: &str) -> Option<&str> {
    let rest = t.strip_prefix("[^")?;
    let end = rest.find("]:")?;
    let label = &rest[..end];
    let is_label = !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    is_label.then(|| rest[end + 2..].trim())
}

/// An ATX heading with its inline markup rewritten; an attribute list's `#id` becomes the
/// `{#id}` the chunker takes as the anchor.
fn heading(t: &str) -> Option<String> {
    let hashes = t.chars().take_while(|c| *c == '#').count();
    let rest = &t[hashes..];
    if hashes == 0 || hashes > 6 || !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let (text, id) = match rest.rfind("{:") {
        Some(pos) if rest.trim_end().ends_with('}') => {
            let attrs = rest[pos + 2..].trim_end().trim_end_matches('}');
            let id = attrs
                .split_whitespace()
                .find_map(|a| a.strip_prefix('#'))
                .map(str::to_string);
            (&rest[..pos], id)
        }
        _ => (rest, None),
    };
    let mut out = format!("{} {}", &t[..hashes], inline::rewrite(text.trim()).trim());
    if let Some(id) = id {
        out.push_str(&format!(" {{#{id}}}"));
    }
    Some(out)
}

/// A raw HTML block (up to the next blank line) becomes the paragraph a browser would show.
fn html_block(lines: &[String], i: usize) -> (Construct, usize) {
    let end = lines[i..]
        .iter()
        .position(|l| l.trim().is_empty())
        .map_or(lines.len(), |p| i + p);
    let joined = lines[i..end]
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let text = inline::rewrite(&joined)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let out = if text.is_empty() { vec![] } else { vec![text] };
    (Construct::Lines(out), end)
}
