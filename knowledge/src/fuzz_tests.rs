//! Property tests for the paths untrusted documents take: Markdown rendering (with the dialects
//! real documentation sites use), HTML, plain text and PDF text through the chunker. Inputs are
//! built from the constructs those formats have, mixed with hostile Unicode, so the generators
//! reach the parsers' corners rather than only their plain-text paths. Every case must finish,
//! never panic, and give chunks a search index can take.

use proptest::prelude::*;

use crate::chunk::{ChunkSettings, MAX_HTML_NESTING, chunk_document, html_nesting};
use crate::document::{Document, Format};
use crate::markup;

fn doc(format: Format, body: String) -> Document {
    Document {
        location: "fuzz.md".into(),
        url: None,
        fallback_title: "fallback".into(),
        format,
        body,
    }
}

/// Text a member or a docs author could write: words, punctuation, and the characters that
/// break naive code (zero-width, bidi controls, combining marks, astral symbols, NUL).
fn prose() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z]{1,12}",
        1 => "[A-Z][a-z]{0,8}[.,;:!?]",
        1 => Just("\u{200B}".to_string()),
        1 => Just("\u{202E}gnp.exe".to_string()),
        1 => Just("e\u{0301}\u{0301}\u{0301}".to_string()),
        1 => Just("🦀".to_string()),
        1 => Just("\u{0000}".to_string()),
        1 => Just("\r".to_string()),
        1 => "\\PC{1,8}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.join(" "))
}

/// One Markdown construct, including MkDocs, Docusaurus and Zulip dialect syntax.
fn markdown_block() -> impl Strategy<Value = String> {
    let heading = (1usize..=7, prose()).prop_map(|(n, t)| format!("{} {t}", "#".repeat(n)));
    let setext = prose().prop_map(|t| format!("{t}\n===="));
    let fenced = ("[a-z]{0,6}", prose(), any::<bool>()).prop_map(|(lang, body, closed)| {
        let close = if closed { "\n```" } else { "" };
        format!("```{lang}\n{body}{close}")
    });
    let list = prop::collection::vec((0usize..6, prose()), 1..6).prop_map(|items| {
        items
            .into_iter()
            .map(|(indent, t)| format!("{}- {t}", "  ".repeat(indent)))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let table = (prose(), prose()).prop_map(|(a, b)| format!("| {a} | x |\n|---|:-:|\n| {b} |"));
    let admonition = (
        prop_oneof![Just("!!!"), Just("???"), Just("???+"), Just(":::")],
        "[a-z]{1,8}",
        prose(),
        0usize..4,
    )
        .prop_map(|(mark, kind, body, indent)| {
            format!("{mark} {kind} \"T\"\n{}{body}", " ".repeat(indent * 2))
        });
    let tabs = (prose(), prose())
        .prop_map(|(a, b)| format!("=== \"One\"\n\n    {a}\n\n=== \"Two\"\n    {b}"));
    let zulip = prop_oneof![
        Just("{start_tabs}".to_string()),
        Just("{end_tabs}".to_string()),
        "[a-z-]{1,12}".prop_map(|t| format!("{{tab|{t}}}")),
        "[a-z-]{1,12}".prop_map(|t| format!("{{!{t}.md!}}")),
        "[a-z_]{1,12}".prop_map(|t| format!("{{settings_tab|{t}}}")),
        Just("{!".to_string()),
    ];
    let include = prop_oneof![
        "[a-z/.]{0,12}".prop_map(|p| format!("--8<-- \"{p}\"")),
        "[a-z/.]{0,12}".prop_map(|p| format!("import X from '{p}';")),
        Just("<X />".to_string()),
    ];
    let html = prop_oneof![
        prose().prop_map(|t| format!("<div class=\"x\">\n{t}\n</div>")),
        prose().prop_map(|t| format!("<details><summary>{t}</summary>")),
        Just("<!-- unterminated comment".to_string()),
        Just("-->".to_string()),
        Just("<script>alert(1)</script>".to_string()),
    ];
    let front_matter = prose().prop_map(|t| format!("---\ntitle: \"{t}\"\n---"));
    // Headings that collide once slugged, as real pages' do.
    let twin = prop_oneof![Just("## Setup"), Just("## Setup 1"), Just("### setup-1")]
        .prop_map(String::from);
    prop_oneof![
        3 => prose(),
        2 => heading,
        1 => twin,
        1 => setext,
        2 => fenced,
        1 => list,
        1 => table,
        2 => admonition,
        1 => tabs,
        2 => zulip,
        1 => include,
        1 => html,
        1 => front_matter,
        1 => prose().prop_map(|t| format!("\t{t}")),
        1 => prose().prop_map(|t| format!("> {t}")),
    ]
}

fn markdown() -> impl Strategy<Value = String> {
    let separator = prop_oneof![Just("\n\n"), Just("\n"), Just("\r\n\r\n")];
    prop::collection::vec((markdown_block(), separator), 0..24).prop_map(|blocks| {
        blocks
            .into_iter()
            .map(|(b, sep)| b + sep)
            .collect::<String>()
    })
}

/// Tag soup: balanced and unbalanced elements, attributes, comments, raw-text elements and
/// entities, nested up to a little past the accepted depth.
fn html() -> impl Strategy<Value = String> {
    let tag = prop_oneof![
        Just("div"),
        Just("p"),
        Just("h1"),
        Just("h2"),
        Just("h4"),
        Just("ul"),
        Just("li"),
        Just("pre"),
        Just("code"),
        Just("nav"),
        Just("table"),
        Just("td"),
        Just("span"),
        Just("a"),
        Just("section"),
    ];
    let piece = prop_oneof![
        3 => prose(),
        2 => (tag.clone(), "[a-z-]{0,10}").prop_map(|(t, id)| format!("<{t} id=\"{id}\">")),
        2 => tag.prop_map(|t| format!("</{t}>")),
        1 => Just("<br/>".to_string()),
        1 => Just("<!-- c -->".to_string()),
        1 => Just("<!--".to_string()),
        1 => Just("<script>var a = '</div>';</script>".to_string()),
        1 => Just("<style>p { }".to_string()),
        1 => Just("&amp;&#x1F980;&#0;&#xD800;&bogus;".to_string()),
        1 => Just("<![CDATA[ x ]]>".to_string()),
        1 => Just("<".to_string()),
        1 => (1usize..MAX_HTML_NESTING + 40)
            .prop_map(|d| "<div>".repeat(d) + "deep" + &"</div>".repeat(d)),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// What settings an admin could choose, including the degenerate ones.
fn settings() -> impl Strategy<Value = ChunkSettings> {
    (1usize..120, 0usize..60, 0usize..200).prop_map(|(max_words, overlap, code)| ChunkSettings {
        max_words,
        overlap_words: overlap,
        max_code_words: code,
    })
}

/// Chunks a search index can take: text present, within the size settings, headings non-empty.
fn check_chunks(
    format: Format,
    body: String,
    settings: &ChunkSettings,
) -> Result<Vec<crate::chunk::Chunk>, TestCaseError> {
    let (title, chunks) = chunk_document(&doc(format, body), settings);
    prop_assert!(!title.trim().is_empty() || title.is_empty());
    let ceiling = settings.max_words.max(settings.max_code_words);
    for c in &chunks {
        prop_assert!(!c.text.trim().is_empty(), "an empty chunk: {c:?}");
        let words = c.text.split_whitespace().count();
        prop_assert!(words <= ceiling, "{words} words over {ceiling}: {c:?}");
        prop_assert!(c.heading_path.iter().all(|h| !h.trim().is_empty()));
    }
    Ok(chunks)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn markdown_in_any_dialect_renders_and_chunks(body in markdown(), s in settings()) {
        let rendered = markup::render(&body);
        prop_assert!(rendered.body.ends_with('\n'));
        check_chunks(Format::Markdown, body, &s)?;
    }

    #[test]
    fn every_section_of_a_page_gets_its_own_anchor(body in markdown()) {
        let (_, chunks) = chunk_document(&doc(Format::Markdown, body), &ChunkSettings::default());
        // Chunks of one section share its anchor; two sections never do.
        let mut sections: Vec<(&Option<String>, &Vec<String>)> = Vec::new();
        for c in &chunks {
            if sections.last() != Some(&(&c.anchor, &c.heading_path)) {
                sections.push((&c.anchor, &c.heading_path));
            }
        }
        let mut anchors: Vec<&String> = sections.iter().filter_map(|(a, _)| a.as_ref()).collect();
        let n = anchors.len();
        anchors.sort();
        anchors.dedup();
        prop_assert_eq!(anchors.len(), n, "two sections share an anchor: {:?}", sections);
    }

    #[test]
    fn html_tag_soup_is_measured_then_chunked(body in html(), s in settings()) {
        let depth = html_nesting(&body, MAX_HTML_NESTING);
        prop_assert!(depth <= MAX_HTML_NESTING + 1);
        // The ingest path refuses what nests deeper; what it accepts must chunk.
        if depth <= MAX_HTML_NESTING {
            check_chunks(Format::Html, body, &s)?;
        }
    }

    #[test]
    fn plain_text_and_pdf_text_lose_no_word(
        paragraphs in prop::collection::vec(prose(), 0..12),
        s in settings(),
        pdf in any::<bool>(),
    ) {
        let (format, joiner) = if pdf {
            (Format::Pdf, "\u{c}")
        } else {
            (Format::Text, "\n\n")
        };
        let body = paragraphs.join(joiner);
        let chunks = check_chunks(format, body.clone(), &s)?;
        let words: std::collections::HashSet<&str> =
            chunks.iter().flat_map(|c| c.text.split_whitespace()).collect();
        for word in body.split_whitespace() {
            prop_assert!(words.contains(word), "{word:?} was lost");
        }
    }
}

#[test]
fn one_deeply_nested_page_is_measured_without_recursion() {
    // Far past what a recursive walk could survive; the measure stops at the limit.
    let body = "<section>".repeat(1_000_000);
    assert_eq!(html_nesting(&body, MAX_HTML_NESTING), MAX_HTML_NESTING + 1);
}

#[test]
fn a_heading_named_like_a_numbered_duplicate_gets_its_own_anchor() {
    let md = "# T\n\n## Setup\n\na\n\n## Setup\n\nb\n\n## Setup 1\n\nc\n\n## x {#setup-2}\n\nd\n";
    let (_, chunks) = chunk_document(&doc(Format::Markdown, md.into()), &ChunkSettings::default());
    let mut anchors: Vec<_> = chunks.iter().filter_map(|c| c.anchor.clone()).collect();
    assert_eq!(anchors.len(), 4, "{chunks:?}");
    anchors.sort();
    anchors.dedup();
    assert_eq!(anchors.len(), 4, "{chunks:?}");
}
