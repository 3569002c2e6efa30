//! Inline markup inside a line of prose: HTML a browser would render (icons, `<kbd>`, images),
//! template variables, attribute lists, footnote references and Zulip macros become the words
//! a reader sees, or nothing. Code spans are left exactly as written.

use super::zulip;

/// HTML elements whose tags are dropped and whose content is kept.
const TEXT_TAGS: &[&str] = &[
    "a", "abbr", "b", "big", "center", "cite", "code", "del", "details", "em", "font", "i", "ins",
    "kbd", "mark", "s", "samp", "small", "span", "strike", "strong", "sub", "summary", "sup",
    "time", "tt", "u", "var",
];
/// HTML elements that separate words when dropped.
const SPACING_TAGS: &[&str] = &[
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hr",
    "li",
    "ol",
    "p",
    "section",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
    "wbr",
];

/// Rewrites the inline markup of one line (or of a few joined lines), leaving code spans as
/// they are.
pub(super) fn rewrite(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&prose(&rest[..start]));
        let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
        let after = &rest[start + ticks..];
        match closing_ticks(after, ticks) {
            Some(end) => {
                out.push_str(&rest[start..start + ticks + end + ticks]);
                rest = &after[end + ticks..];
            }
            None => {
                out.push_str(&rest[start..start + ticks]);
                rest = after;
            }
        }
    }
    out.push_str(&prose(rest));
    out
}

/// Where a run of exactly `n` backticks starts in `s`.
fn closing_ticks(s: &str, n: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
            if run == n {
                return Some(i);
            }
            i += run;
        } else {
            i += 1;
        }
    }
    None
}

/// Elements that start a raw HTML block when they open a line.
pub(super) fn is_block_tag(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SPACING_TAGS.contains(&lower.as_str())
        || matches!(lower.as_str(), "center" | "details" | "summary")
}

/// Whether the line opens an HTML tag it does not close (an `<img` whose attributes wrap onto
/// the next lines), so the caller can join lines before rewriting.
pub(super) fn has_unclosed_tag(line: &str) -> bool {
    let Some(pos) = line.rfind('<') else {
        return false;
    };
    let after = &line[pos + 1..];
    let name: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let known = TEXT_TAGS.contains(&name.to_ascii_lowercase().as_str())
        || SPACING_TAGS.contains(&name.to_ascii_lowercase().as_str())
        || name.eq_ignore_ascii_case("img");
    known && !after.contains('>')
}

fn prose(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let Some(c) = rest.chars().next() else {
            break;
        };
        let consumed = match c {
            '{' => braces(rest, &mut out),
            '<' => html(rest, &mut out),
            '(' => icon_in_parens(rest, &mut out),
            '[' => footnote_ref(rest),
            _ => None,
        };
        match consumed {
            Some(n) => i += n,
            None => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// `{{ var }}`, `{% tag %}`, `{# comment #}`, `{: attrs }`, `{!include!}` and Zulip's
/// `{name|arg}` macros. Returns the bytes consumed, or `None` to keep the brace.
fn braces(s: &str, out: &mut String) -> Option<usize> {
    let pair = |open: &str, close: &str| -> Option<(usize, &str)> {
        let inner = s.strip_prefix(open)?;
        let end = inner.find(close)?;
        Some((open.len() + end + close.len(), &inner[..end]))
    };
    if let Some((n, inner)) = pair("{{", "}}") {
        out.push_str(&template_variable(inner));
        return Some(n);
    }
    for (open, close) in [("{%", "%}"), ("{#", "#}"), ("{:", "}"), ("{!", "!}")] {
        if let Some((n, _)) = pair(open, close) {
            return Some(n);
        }
    }
    let (n, inner) = pair("{", "}")?;
    let words = zulip::macro_words(inner)?;
    out.push_str(&words);
    Some(n)
}

/// `{{ support_email }}` reads as "support email"; an expression reads as nothing.
fn template_variable(inner: &str) -> String {
    let name = inner.split('|').next().unwrap_or("").trim();
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if is_name {
        name.replace(['_', '.'], " ")
    } else {
        String::new()
    }
}

/// `[^note]` where it is a reference (not a definition): dropped.
fn footnote_ref(s: &str) -> Option<usize> {
    let inner = s.strip_prefix("[^")?;
    let end = inner.find(']')?;
    let label = &inner[..end];
    let is_label = !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    let after = &inner[end + 1..];
    (is_label && !after.starts_with(':')).then_some(2 + end + 1)
}

/// An HTML tag as written: its name, whether it closes, its attribute text and its length.
pub(super) struct TagSpan<'a> {
    pub name: &'a str,
    pub closing: bool,
    pub attrs: &'a str,
    pub len: usize,
}

pub(super) fn tag_at(s: &str) -> Option<TagSpan<'_>> {
    let inner = s.strip_prefix('<')?;
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, inner),
    };
    let name_len = inner
        .char_indices()
        .take_while(|(i, c)| {
            if *i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric() || *c == '-' || *c == '.'
            }
        })
        .count();
    if name_len == 0 {
        return None;
    }
    let mut quote = None;
    for (i, c) in inner[name_len..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => {
                let attrs = &inner[name_len..name_len + i];
                return Some(TagSpan {
                    name: &inner[..name_len],
                    closing,
                    attrs,
                    len: 1 + usize::from(closing) + name_len + i + 1,
                });
            }
            (None, '<' | '\n') => return None,
            (None, _) => {}
        }
    }
    None
}

pub(super) fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = attrs;
    while let Some(pos) = rest.find(name) {
        let before_ok = pos == 0 || rest[..pos].ends_with(char::is_whitespace);
        let after = rest[pos + name.len()..].trim_start();
        if let (true, Some(value)) = (before_ok, after.strip_prefix('=')) {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let v = &value[1..];
                return v.find(quote).map(|end| &v[..end]);
            }
            return value.split_whitespace().next();
        }
        rest = &rest[pos + name.len()..];
    }
    None
}

fn is_icon(tag: &TagSpan<'_>) -> bool {
    matches!(tag.name, "i" | "span")
        && attr(tag.attrs, "class").is_some_and(|c| {
            c.split_whitespace()
                .any(|k| k == "fa" || k.starts_with("fa-") || k.contains("icon"))
        })
}

/// An icon element (`<i class="fa fa-star"></i>`) through its closing tag.
fn icon_len(s: &str) -> Option<usize> {
    let tag = tag_at(s)?;
    if tag.closing || !is_icon(&tag) {
        return None;
    }
    let close = format!("</{}>", tag.name);
    let end = s[tag.len..].find(&close)?;
    Some(tag.len + end + close.len())
}

/// "the **star** (<i class=…></i>) icon": the icon and its parentheses go together.
fn icon_in_parens(s: &str, out: &mut String) -> Option<usize> {
    let inner = s.strip_prefix('(')?;
    let lead = inner.len() - inner.trim_start().len();
    let n = icon_len(&inner[lead..])?;
    let after = &inner[lead + n..];
    let trail = after.len() - after.trim_start().len();
    after[trail..].starts_with(')').then(|| {
        let kept = out.trim_end().len();
        out.truncate(kept);
        1 + lead + n + trail + 1
    })
}

fn html(s: &str, out: &mut String) -> Option<usize> {
    if let Some(n) = icon_len(s) {
        return Some(n);
    }
    let tag = tag_at(s)?;
    let lower = tag.name.to_ascii_lowercase();
    if lower == "img" {
        if let Some(alt) = attr(tag.attrs, "alt") {
            out.push_str(alt);
        }
        return Some(tag.len);
    }
    if SPACING_TAGS.contains(&lower.as_str()) {
        out.push(' ');
        return Some(tag.len);
    }
    // JSX components (`<Note />`, `<Tabs>`) are the site's machinery, not its words.
    let component = tag.name.starts_with(|c: char| c.is_ascii_uppercase());
    (TEXT_TAGS.contains(&lower.as_str()) || component).then_some(tag.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_a_browser_renders_becomes_its_words() {
        assert_eq!(
            rewrite(r#"Click the **star** (<i class="fa fa-star-o"></i>) icon."#),
            "Click the **star** icon."
        );
        assert_eq!(
            rewrite("Press <kbd>Ctrl</kbd> + <kbd>K</kbd>."),
            "Press Ctrl + K."
        );
        assert_eq!(
            rewrite(r#"React with <img alt=":thumbs_up:" class="emoji" src="x.png"> now"#),
            "React with :thumbs_up: now"
        );
        assert_eq!(
            rewrite("Use https://<subdomain>.example.com"),
            "Use https://<subdomain>.example.com"
        );
    }

    #[test]
    fn variables_attributes_and_footnotes_are_cleaned_but_code_spans_are_not() {
        assert_eq!(
            rewrite("contact ({{ support_email }}) now"),
            "contact (support email) now"
        );
        assert_eq!(rewrite("Text {: .note } here"), "Text  here");
        assert_eq!(rewrite("Why DoH? [^guide]"), "Why DoH? ");
        assert_eq!(
            rewrite("Keep `{{ sid }}` and ``<kbd>`` as code"),
            "Keep `{{ sid }}` and ``<kbd>`` as code"
        );
        assert_eq!(
            rewrite("See {settings_tab|notifications} for more."),
            "See Personal settings → Notifications for more."
        );
        assert_eq!(rewrite("Use `[^[:digit:]]`"), "Use `[^[:digit:]]`");
    }
}
