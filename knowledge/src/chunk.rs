//! Heading-aware chunking: a document is split into sections at its headings (Markdown via
//! pulldown-cmark, HTML via scraper), and each section is packed into chunks of a few hundred
//! words with a small overlap. Every chunk keeps its document title, heading path and an anchor
//! so answers can cite the exact section, and names the partial files its text was included
//! from. Markdown is first rewritten into what a reader sees (see [`crate::markup`]).

use std::collections::{HashMap, HashSet};

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use scraper::{ElementRef, Html, Node, Selector};

use crate::document::{Document, Format};
use crate::markup::{self, OriginMark};

/// Size limits for chunks, in whitespace-separated words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSettings {
    /// A chunk is closed before it would grow beyond this.
    pub max_words: usize,
    /// Words carried over from the end of one chunk to the start of the next in the same
    /// section, so a sentence cut at the boundary is still findable.
    pub overlap_words: usize,
    /// A code block up to this size stays whole even if it exceeds `max_words`.
    pub max_code_words: usize,
}

impl Default for ChunkSettings {
    fn default() -> Self {
        Self {
            max_words: 400,
            overlap_words: 40,
            max_code_words: 800,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub title: String,
    /// Headings from the outermost to the one this chunk sits under.
    pub heading_path: Vec<String>,
    /// Slug of the innermost heading (or its explicit id), for `url#anchor` citations.
    pub anchor: Option<String>,
    pub text: String,
    /// Files, relative to the source folder, whose included text is part of this chunk.
    pub origins: Vec<String>,
}

impl Chunk {
    /// The text BM25 and dense embeddings see: title and headings give short chunks context.
    pub fn embed_text(&self) -> String {
        let mut s = String::with_capacity(self.title.len() + self.text.len() + 64);
        s.push_str(&self.title);
        for h in &self.heading_path {
            s.push('\n');
            s.push_str(h);
        }
        s.push('\n');
        s.push_str(&self.text);
        s
    }
}

#[derive(Debug, Default)]
struct Block {
    text: String,
    code: bool,
    origins: Vec<String>,
}

#[derive(Debug, Default)]
struct Section {
    heading_path: Vec<String>,
    anchor: Option<String>,
    blocks: Vec<Block>,
}

/// Collects blocks into sections while a parser walks a document.
#[derive(Default)]
struct Outline {
    title: Option<String>,
    headings: Vec<(u8, String)>,
    slugs: HashMap<String, usize>,
    /// Every anchor given to a section so far.
    anchors: HashSet<String>,
    sections: Vec<Section>,
    inline: String,
    /// Partial files whose included text is being read, innermost last.
    including: Vec<String>,
    /// Origins of the text in `inline`.
    inline_origins: Vec<String>,
}

impl Outline {
    fn new() -> Self {
        Self {
            sections: vec![Section::default()],
            ..Self::default()
        }
    }

    fn text(&mut self, t: &str) {
        self.inline.push_str(t);
        if !t.trim().is_empty()
            && let Some(origin) = self.including.last()
            && !self.inline_origins.contains(origin)
        {
            self.inline_origins.push(origin.clone());
        }
    }

    /// Follows the boundaries of included text found in raw HTML.
    fn marks(&mut self, marks: Vec<OriginMark<'_>>) {
        for mark in marks {
            match mark {
                OriginMark::Open(path) => self.including.push(path.to_string()),
                OriginMark::Close => {
                    self.including.pop();
                }
            }
        }
    }

    fn flush(&mut self) {
        let text = collapse_ws(&self.inline);
        self.inline.clear();
        let origins = std::mem::take(&mut self.inline_origins);
        if !text.is_empty() {
            self.current().blocks.push(Block {
                text,
                code: false,
                origins,
            });
        }
    }

    fn code(&mut self, code: &str) {
        self.flush();
        let text = code.trim_matches('\n').to_string();
        let origins = self.including.last().cloned().into_iter().collect();
        if !text.trim().is_empty() {
            self.current().blocks.push(Block {
                text,
                code: true,
                origins,
            });
        }
    }

    fn heading(&mut self, level: u8, text: &str, id: Option<&str>) {
        self.flush();
        let text = collapse_ws(text);
        if text.is_empty() {
            return;
        }
        if level == 1 && self.title.is_none() {
            // The first top-level heading names the document rather than a section of it.
            self.title = Some(text);
            return;
        }
        self.headings.retain(|(l, _)| *l < level);
        self.headings.push((level, text.clone()));
        let anchor = match id {
            Some(id) if !id.is_empty() => {
                self.anchors.insert(id.to_string());
                id.to_string()
            }
            _ => self.unique_slug(&text),
        };
        self.sections.push(Section {
            heading_path: self.headings.iter().map(|(_, h)| h.clone()).collect(),
            anchor: Some(anchor),
            blocks: Vec::new(),
        });
    }

    /// GitHub-style: the second "Setup" heading becomes `setup-1`, skipping anchors already
    /// taken (by a heading called "Setup 1", say), so no two sections share one.
    fn unique_slug(&mut self, text: &str) -> String {
        let base = slug(text);
        let n = self.slugs.entry(base.clone()).or_insert(0);
        loop {
            let s = if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            *n += 1;
            if self.anchors.insert(s.clone()) {
                return s;
            }
        }
    }

    fn current(&mut self) -> &mut Section {
        if self.sections.is_empty() {
            self.sections.push(Section::default());
        }
        let last = self.sections.len() - 1;
        &mut self.sections[last]
    }

    fn finish(mut self) -> (Option<String>, Vec<Section>) {
        self.flush();
        (self.title, self.sections)
    }
}

/// Lowercase, words joined by `-`, punctuation dropped: the anchor GitHub and most static site
/// generators give a heading.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            out.extend(c.to_lowercase());
        } else if c.is_whitespace() {
            out.push('-');
        }
    }
    out
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

fn parse_markdown(body: &str) -> (Option<String>, Vec<Section>) {
    let mut out = Outline::new();
    let mut heading: Option<(u8, String, Option<String>)> = None;
    let mut code: Option<String> = None;
    let opts = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES;
    for event in Parser::new_ext(body, opts) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                out.flush();
                heading = Some((
                    heading_level(level),
                    String::new(),
                    id.map(|i| i.to_string()),
                ));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text, id)) = heading.take() {
                    out.heading(level, &text, id.as_deref());
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                out.flush();
                let mut fence = String::new();
                if let CodeBlockKind::Fenced(lang) = kind {
                    fence.push_str("```");
                    fence.push_str(&lang);
                    fence.push('\n');
                }
                code = Some(fence);
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some(c) = code.take() {
                    // A marker indented like code is still a marker, not code.
                    let (mut c, marks) = markup::split_origin_marks(&c);
                    if c.starts_with("```") {
                        if !c.ends_with('\n') {
                            c.push('\n');
                        }
                        c.push_str("```");
                    }
                    out.code(&c);
                    out.marks(marks);
                }
            }
            Event::Html(h) | Event::InlineHtml(h) => out.marks(markup::origin_marks(&h)),
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                if let Some((_, h, _)) = heading.as_mut() {
                    h.push_str(&t);
                } else if let Some(c) = code.as_mut() {
                    c.push_str(&t);
                } else {
                    out.text(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, h, _)) = heading.as_mut() {
                    h.push(' ');
                } else {
                    out.text(" ");
                }
            }
            Event::Start(Tag::Item) => {
                out.flush();
                out.text("- ");
            }
            Event::End(TagEnd::TableCell) => out.text(" | "),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::BlockQuote(_),
            ) => out.flush(),
            _ => {}
        }
    }
    out.finish()
}

const SKIPPED_HTML: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "nav", "footer", "iframe", "form", "button",
];
const BLOCK_HTML: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "aside",
    "header",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tr",
    "blockquote",
    "figure",
    "figcaption",
    "caption",
    "details",
    "summary",
    "hr",
    "body",
];

fn parse_html(body: &str) -> (Option<String>, Vec<Section>) {
    let html = Html::parse_document(body);
    let mut out = Outline::new();
    let page_title = Selector::parse("title").ok().and_then(|sel| {
        html.select(&sel)
            .next()
            .map(|t| collapse_ws(&t.text().collect::<String>()))
            .filter(|t| !t.is_empty())
    });
    let root = Selector::parse("body")
        .ok()
        .and_then(|sel| html.select(&sel).next())
        .unwrap_or_else(|| html.root_element());
    walk_html(root, &mut out);
    let (h1, sections) = out.finish();
    (page_title.or(h1), sections)
}

/// One step of the walk over an HTML tree.
enum Step<'a> {
    Element(ElementRef<'a>),
    Text(&'a str),
    Flush,
}

/// Walks the tree in document order with an explicit stack, so nesting depth costs heap, not
/// call stack: a hostile page of deeply nested elements cannot overflow it.
fn walk_html(root: ElementRef<'_>, out: &mut Outline) {
    let mut stack = Vec::new();
    push_children(&mut stack, root);
    while let Some(step) = stack.pop() {
        let el = match step {
            Step::Text(t) => {
                out.text(t);
                continue;
            }
            Step::Flush => {
                out.flush();
                continue;
            }
            Step::Element(el) => el,
        };
        let name = el.value().name();
        if SKIPPED_HTML.contains(&name) {
            continue;
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name.as_bytes()[1] - b'0';
                let text: String = el.text().collect();
                out.heading(level, &text, el.value().attr("id"));
            }
            "pre" => out.code(&el.text().collect::<String>()),
            "br" | "td" | "th" => {
                stack.push(Step::Text(" "));
                push_children(&mut stack, el);
            }
            _ if BLOCK_HTML.contains(&name) => {
                out.flush();
                if name == "li" {
                    out.text("- ");
                }
                stack.push(Step::Flush);
                push_children(&mut stack, el);
            }
            _ => push_children(&mut stack, el),
        }
    }
}

/// Queues an element's children so that the first is taken next.
fn push_children<'a>(stack: &mut Vec<Step<'a>>, el: ElementRef<'a>) {
    for child in el.children().rev() {
        match child.value() {
            Node::Text(t) => stack.push(Step::Text(t)),
            Node::Element(_) => stack.extend(ElementRef::wrap(child).map(Step::Element)),
            _ => {}
        }
    }
}

/// Deepest element nesting accepted in an HTML page; real pages stay far below it.
pub const MAX_HTML_NESTING: usize = 512;

/// Refuses, with a reason, an HTML body nested deeper than [`MAX_HTML_NESTING`]: parsing such a
/// page costs time quadratic in its depth. Other formats pass.
pub(crate) fn check_nesting(format: Format, body: &str) -> Result<(), String> {
    if format == Format::Html && html_nesting(body, MAX_HTML_NESTING) > MAX_HTML_NESTING {
        return Err(format!(
            "the HTML nests elements more than {MAX_HTML_NESTING} deep; not indexed"
        ));
    }
    Ok(())
}

/// The deepest element nesting an HTML page asks for, counted in one linear pass over its tags
/// before any parser sees it, and stopping once it passes `limit`. Void elements, self-closed
/// tags and elements whose end tag is optional (`p`, `li`, `td`, …) are not counted, so ordinary
/// pages stay far below what they really nest; raw text (`script`, `style`) and comments are
/// skipped.
pub fn html_nesting(body: &str, limit: usize) -> usize {
    const UNCOUNTED: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup",
        "thead", "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
        "!doctype",
    ];
    const RAW: &[&str] = &["script", "style", "textarea", "title", "xmp", "noscript"];
    let bytes = body.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        i += offset + 1;
        if bytes[i..].starts_with(b"!--") {
            i = find(bytes, i, b"-->").map_or(bytes.len(), |e| e + 3);
            continue;
        }
        let closing = bytes.get(i) == Some(&b'/');
        let start = i + usize::from(closing);
        let name_len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'!'))
            .count();
        if name_len == 0 {
            continue;
        }
        let name = body[start..start + name_len].to_ascii_lowercase();
        let end = find(bytes, start, b">").unwrap_or(bytes.len());
        let self_closed = end > start && bytes[end - 1] == b'/';
        i = (end + 1).min(bytes.len());
        if UNCOUNTED.contains(&name.as_str()) || self_closed {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else if RAW.contains(&name.as_str()) {
            let close = format!("</{name}");
            i = find_ignore_case(bytes, i, close.as_bytes()).unwrap_or(bytes.len());
        } else {
            depth += 1;
            deepest = deepest.max(depth);
            if deepest > limit {
                break;
            }
        }
    }
    deepest
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn find_ignore_case(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| from + p)
}

fn parse_text(body: &str) -> (Option<String>, Vec<Section>) {
    let mut out = Outline::new();
    for para in body.split("\n\n") {
        out.text(para);
        out.flush();
    }
    out.finish()
}

/// A PDF's pages become its sections: "Page N" is the heading, `page=N` the anchor (PDF
/// viewers open `file.pdf#page=N` at that page). Paragraphs are blank-line separated, as
/// the text extractor lays them out.
fn parse_pdf(body: &str) -> (Option<String>, Vec<Section>) {
    let mut sections = Vec::new();
    for (i, page) in body.split(crate::pdf::PAGE_BREAK).enumerate() {
        let mut out = Outline::new();
        for para in page.split("\n\n") {
            out.text(para);
            out.flush();
        }
        let (_, mut page_sections) = out.finish();
        let blocks: Vec<Block> = page_sections
            .iter_mut()
            .flat_map(|s| std::mem::take(&mut s.blocks))
            .collect();
        if blocks.is_empty() {
            continue;
        }
        sections.push(Section {
            heading_path: vec![format!("Page {}", i + 1)],
            anchor: Some(format!("page={}", i + 1)),
            blocks,
        });
    }
    (None, sections)
}

/// Splits a document into chunks. Returns the document title (from the body, else the
/// fallback) and the chunks in reading order.
pub fn chunk_document(doc: &Document, settings: &ChunkSettings) -> (String, Vec<Chunk>) {
    let (title, sections) = match doc.format {
        Format::Markdown => {
            let rendered = markup::render(&doc.body);
            let (h1, sections) = parse_markdown(&rendered.body);
            (h1.or(rendered.title), sections)
        }
        Format::Html => parse_html(&doc.body),
        Format::Text => parse_text(&doc.body),
        Format::Pdf => parse_pdf(&doc.body),
    };
    let title = title.unwrap_or_else(|| doc.fallback_title.clone());
    let mut chunks = Vec::new();
    for section in sections {
        for (text, origins) in pack(&section.blocks, settings) {
            chunks.push(Chunk {
                title: title.clone(),
                heading_path: section.heading_path.clone(),
                anchor: section.anchor.clone(),
                text,
                origins,
            });
        }
    }
    (title, chunks)
}

/// Packs a section's blocks into chunks of at most `max_words` (code blocks up to
/// `max_code_words` stay whole), carrying `overlap_words` of prose into the next chunk. Each
/// chunk comes with the origins of the blocks whose text it holds.
fn pack(blocks: &[Block], s: &ChunkSettings) -> Vec<(String, Vec<String>)> {
    let mut chunks = Vec::new();
    let mut cur = String::new();
    let mut cur_words = 0;
    let mut cur_origins: Vec<String> = Vec::new();
    let mut last_was_code = false;
    let mut last_origins: &[String] = &[];

    for block in blocks {
        let words = block.text.split_whitespace().count();
        if cur_words + words > s.max_words && cur_words > 0 {
            let overlap = if last_was_code || block.code {
                String::new()
            } else {
                tail_words(&cur, s.overlap_words)
            };
            let carried = if overlap.is_empty() {
                Vec::new()
            } else {
                last_origins.to_vec()
            };
            chunks.push((
                std::mem::replace(&mut cur, overlap),
                std::mem::replace(&mut cur_origins, carried),
            ));
            cur_words = cur.split_whitespace().count();
        }
        let fits_whole = words <= s.max_words || (block.code && words <= s.max_code_words);
        if fits_whole {
            if cur_words + words > s.max_words.max(words) {
                cur.clear();
                cur_origins.clear();
                cur_words = 0;
            }
            append(&mut cur, &block.text);
            cur_words += words;
        } else {
            // A single block too long for one chunk: cut it into overlapping windows.
            let all: Vec<&str> = block.text.split_whitespace().collect();
            let step = s.max_words.saturating_sub(s.overlap_words).max(1);
            let mut start = 0;
            cur.clear();
            cur_origins.clear();
            loop {
                let end = (start + s.max_words).min(all.len());
                let window = all[start..end].join(" ");
                if end == all.len() {
                    cur = window;
                    cur_words = end - start;
                    break;
                }
                chunks.push((window, block.origins.clone()));
                start += step;
            }
        }
        for origin in &block.origins {
            if !cur_origins.contains(origin) {
                cur_origins.push(origin.clone());
            }
        }
        last_was_code = block.code;
        last_origins = &block.origins;
    }
    if !cur.trim().is_empty() {
        chunks.push((cur, cur_origins));
    }
    chunks
}

fn append(cur: &mut String, text: &str) {
    if !cur.is_empty() {
        cur.push_str("\n\n");
    }
    cur.push_str(text);
}

fn tail_words(text: &str, n: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    words[words.len().saturating_sub(n)..].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(format: Format, body: &str) -> Document {
        Document {
            location: "x".into(),
            url: None,
            fallback_title: "fallback".into(),
            format,
            body: body.into(),
        }
    }

    #[test]
    fn markdown_chunks_carry_title_heading_path_and_anchor() {
        let md = "# Bot Guide\n\nIntro text.\n\n## Setup\n\nRun the installer.\n\n### On Linux\n\nUse the tarball.\n\n```sh\nmake install\n```\n\n## Setup\n\nAgain.\n";
        let (title, chunks) = chunk_document(&doc(Format::Markdown, md), &ChunkSettings::default());
        assert_eq!(title, "Bot Guide");
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0].heading_path, Vec::<String>::new());
        assert_eq!(chunks[2].heading_path, vec!["Setup", "On Linux"]);
        assert_eq!(chunks[2].anchor.as_deref(), Some("on-linux"));
        assert!(
            chunks[2].text.contains("```sh\nmake install\n```"),
            "{}",
            chunks[2].text
        );
        assert_eq!(chunks[3].anchor.as_deref(), Some("setup-1"));
    }

    #[test]
    fn html_sections_follow_headings_and_skip_scripts() {
        let html = "<html><head><title>Help Centre</title><script>var x=1;</script></head><body>\
            <nav>Home | About</nav><h2 id=\"billing\">Billing</h2><p>Refunds take <b>5 days</b>.</p>\
            <h3>Cards</h3><ul><li>Visa</li><li>Mastercard</li></ul><pre>  code\n  block</pre></body></html>";
        let (title, chunks) = chunk_document(&doc(Format::Html, html), &ChunkSettings::default());
        assert_eq!(title, "Help Centre");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].anchor.as_deref(), Some("billing"));
        assert_eq!(chunks[0].text, "Refunds take 5 days .".replace(" .", "."));
        assert_eq!(chunks[1].heading_path, vec!["Billing", "Cards"]);
        assert!(chunks[1].text.contains("- Visa"));
        assert!(chunks[1].text.contains("  code\n  block"));
        assert!(
            !chunks
                .iter()
                .any(|c| c.text.contains("About") || c.text.contains("var x"))
        );
    }

    #[test]
    fn html_nesting_counts_what_a_parser_would_nest_and_stops_past_the_limit() {
        let page = "<!doctype html><html><head><title>T</title><script>if (a<b) { x = '<div>'; }\
            </script></head><body><div class=\"a>b\"><ul><li>one<li>two</ul><p>text<br>more<img \
            src=x><p>again</div><!-- <div><div><div> --></body></html>";
        assert_eq!(html_nesting(page, 512), 2, "div and ul");
        let deep = "<div>".repeat(600) + &"</div>".repeat(600);
        assert_eq!(html_nesting(&deep, 512), 513, "stops once past the limit");
        assert_eq!(html_nesting("<section><span/></section>", 512), 1);
        assert_eq!(html_nesting("a < b and </ c <", 512), 0, "stray brackets");
        assert!(
            check_nesting(Format::Html, &deep)
                .unwrap_err()
                .contains("512 deep")
        );
        assert!(
            check_nesting(Format::Markdown, &deep).is_ok(),
            "only HTML is checked"
        );
    }

    #[test]
    fn nesting_just_under_the_limit_is_walked_in_document_order() {
        let depth = MAX_HTML_NESTING - 10;
        let html = "<div>".repeat(depth)
            + "<h2>Deep</h2><p>first</p><p>second</p>"
            + &"</div>".repeat(depth)
            + "<p>third</p>";
        assert!(check_nesting(Format::Html, &html).is_ok());
        let (_, chunks) = chunk_document(&doc(Format::Html, &html), &ChunkSettings::default());
        let text: String = chunks
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let at = |w: &str| {
            text.find(w)
                .unwrap_or_else(|| panic!("{w} missing: {text}"))
        };
        assert!(
            at("first") < at("second") && at("second") < at("third"),
            "{text}"
        );
        assert_eq!(chunks[0].heading_path, vec!["Deep"]);
    }

    #[test]
    fn long_text_is_split_with_overlap_and_short_text_is_one_chunk() {
        let settings = ChunkSettings {
            max_words: 10,
            overlap_words: 2,
            max_code_words: 20,
        };
        let words: Vec<String> = (0..25).map(|i| format!("w{i}")).collect();
        let (_, chunks) = chunk_document(&doc(Format::Text, &words.join(" ")), &settings);
        assert_eq!(chunks.len(), 3);
        assert!(chunks[0].text.ends_with("w9"));
        assert!(chunks[1].text.starts_with("w8 w9"));
        assert!(chunks[2].text.ends_with("w24"));
        let (_, one) = chunk_document(&doc(Format::Text, "just a few words"), &settings);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].title, "fallback");
    }

    #[test]
    fn code_blocks_stay_whole_when_they_fit() {
        let settings = ChunkSettings {
            max_words: 10,
            overlap_words: 2,
            max_code_words: 20,
        };
        let code: Vec<String> = (0..15).map(|i| format!("c{i}")).collect();
        let md = format!(
            "Some intro words here.\n\n```\n{}\n```\n\nAfter.",
            code.join("\n")
        );
        let (_, chunks) = chunk_document(&doc(Format::Markdown, &md), &settings);
        assert!(
            chunks
                .iter()
                .any(|c| c.text.contains("c0\nc1") && c.text.contains("c14"))
        );
    }
}
