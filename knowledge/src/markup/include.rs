//! Includes: `{!file.md!}` (Zulip), `--8<-- "file"` (MkDocs snippets), `{% include "file" %}`
//! (Jinja) and MDX `import X from './_partial.mdx'` + `<X />`. Each is replaced by the text it
//! names, fenced by origin markers so citations can name the partial. Targets resolve only
//! inside the folder that was added; cycles, deep nesting and missing files are reported and
//! the page is kept without them.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::{Fence, front_matter, is_origin_mark, origin_close, origin_open};

/// How deep includes may nest (a page counts as the first level).
const MAX_DEPTH: usize = 8;

/// Folders whose files exist to be included, by the conventions of common generators.
const PARTIAL_DIRS: &[&str] = &[
    "include",
    "includes",
    "_includes",
    "partials",
    "_partials",
    "snippets",
    "_snippets",
];

/// Whether a file, by its place in the folder, is a partial rather than a page: it sits under
/// an include folder, or its name starts with `_` (the MDX convention). Hugo's `_index.md` is
/// a section's page, not a partial.
pub(crate) fn is_partial(location: &str) -> bool {
    let mut parts: Vec<&str> = location.split('/').collect();
    let name = parts.pop().unwrap_or("");
    let underscored = name.starts_with('_') && !name.starts_with("_index.");
    underscored || parts.iter().any(|p| PARTIAL_DIRS.contains(p))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zulip,
    Snippet,
    Jinja,
    Mdx,
}

/// A page with its includes replaced.
#[derive(Debug, Default)]
pub(crate) struct Expanded {
    pub body: String,
    /// Files whose text was included, relative to the folder.
    pub included: Vec<String>,
    /// Includes left out, and why.
    pub problems: Vec<String>,
}

/// Reads a file's text, or says why it cannot be included.
pub(crate) type Reader<'a> = dyn Fn(&Path) -> Result<String, String> + 'a;

/// Expands includes for the pages of one folder, reading each partial once.
pub(crate) struct Expander<'a> {
    root: PathBuf,
    read: &'a Reader<'a>,
    cache: HashMap<PathBuf, Result<String, String>>,
}

impl<'a> Expander<'a> {
    /// `root` is the folder that was added, already canonical.
    pub(crate) fn new(root: &Path, read: &'a Reader<'a>) -> Self {
        Self {
            root: root.to_path_buf(),
            read,
            cache: HashMap::new(),
        }
    }

    pub(crate) fn expand(&mut self, location: &str, body: &str) -> Expanded {
        let mut out = Expanded::default();
        let mut stack = vec![location.to_string()];
        out.body = self.expand_text(body, &mut stack, &mut out);
        out
    }

    fn expand_text(&mut self, body: &str, stack: &mut Vec<String>, out: &mut Expanded) -> String {
        let from = stack.last().cloned().unwrap_or_default();
        let imports = mdx_imports(body);
        let lines: Vec<&str> = body.lines().collect();
        let mut text = String::with_capacity(body.len());
        let mut fence: Option<Fence> = None;
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            i += 1;
            if let Some(f) = &fence {
                if f.closed_by(line) {
                    fence = None;
                }
                push_line(&mut text, line);
                continue;
            }
            if let Some(f) = Fence::opened_by(line) {
                fence = Some(f);
                push_line(&mut text, line);
                continue;
            }
            // Markers come only from this expansion; one written into a file is not trusted.
            if is_origin_mark(line) {
                continue;
            }
            let (prefix, targets) = if line.trim() == "--8<--" {
                let names: Vec<&str> = lines[i..]
                    .iter()
                    .take_while(|l| l.trim() != "--8<--")
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty())
                    .collect();
                i = (i + names.len() + 1).min(lines.len());
                let targets = names
                    .into_iter()
                    .map(|n| (Kind::Snippet, n.to_string()))
                    .collect();
                ("", targets)
            } else {
                match directive(line, &imports) {
                    Some((prefix, kind, target)) => (prefix, vec![(kind, target)]),
                    None => {
                        push_line(&mut text, line);
                        continue;
                    }
                }
            };
            let cont: String = prefix
                .chars()
                .map(|c| if c == '>' { '>' } else { ' ' })
                .collect();
            let mut lead = prefix.to_string();
            for (kind, target) in targets {
                let Some((rel, partial)) = self.include(&from, kind, &target, stack, out) else {
                    continue;
                };
                stack.push(rel.clone());
                let inner = self.expand_text(&partial, stack, out);
                stack.pop();
                push_line(&mut text, &format!("{lead}{}", origin_open(&rel)));
                for l in inner.trim_end().lines() {
                    if l.trim().is_empty() {
                        push_line(&mut text, cont.trim_end());
                    } else {
                        push_line(&mut text, &format!("{cont}{l}"));
                    }
                }
                push_line(&mut text, &format!("{cont}{}", origin_close()));
                out.included.push(rel);
                lead.clone_from(&cont);
            }
        }
        text
    }

    /// Resolves one include; `None` (with the reason recorded) when it is left out.
    fn include(
        &mut self,
        from: &str,
        kind: Kind,
        target: &str,
        stack: &[String],
        out: &mut Expanded,
    ) -> Option<(String, String)> {
        let shown = format!("include \"{target}\" in {from}");
        let (rel, file) = match self.resolve(from, kind, target) {
            Ok(found) => found,
            Err(reason) => {
                out.problems.push(format!("{shown} {reason}; left out"));
                return None;
            }
        };
        if stack.contains(&rel) {
            let chain = [stack, &[rel]].concat().join(" → ");
            out.problems
                .push(format!("{shown} makes a cycle ({chain}); left out"));
            return None;
        }
        if stack.len() >= MAX_DEPTH {
            out.problems.push(format!(
                "{shown} nests includes more than {MAX_DEPTH} deep; left out"
            ));
            return None;
        }
        let text = self
            .cache
            .entry(file.clone())
            .or_insert_with(|| (self.read)(&file));
        match text {
            Ok(t) => Some((rel, front_matter(t).1.to_string())),
            Err(reason) => {
                out.problems.push(format!("{shown}: {reason}; left out"));
                None
            }
        }
    }

    /// The first candidate that exists, as (location, canonical path).
    fn resolve(&self, from: &str, kind: Kind, target: &str) -> Result<(String, PathBuf), String> {
        if target.is_empty() || target.contains("-->") {
            return Err("is not a file name".into());
        }
        if target.contains("://") {
            return Err("is a URL (only files inside the folder are included)".into());
        }
        // A snippet may name lines or a section (`file.md:3:9`); the whole file is included.
        let target = match kind {
            Kind::Snippet => target.split(':').next().unwrap_or(target),
            _ => target,
        };
        let drive = target.as_bytes().get(1) == Some(&b':');
        if Path::new(target).is_absolute() || target.starts_with('~') || drive {
            return Err("is an absolute path (only files inside the folder are included)".into());
        }
        let dir = match from.rfind('/') {
            Some(p) => &from[..p],
            None => "",
        };
        let candidates: Vec<String> = match kind {
            Kind::Zulip => vec![
                join(dir, &format!("include/{target}")),
                join(dir, target),
                target.to_string(),
            ],
            Kind::Snippet | Kind::Jinja => vec![join(dir, target), target.to_string()],
            Kind::Mdx => vec![join(dir, target)],
        };
        let mut looked: Vec<String> = Vec::new();
        let mut outside: Vec<String> = Vec::new();
        for candidate in candidates {
            let Some(rel) = normalise(&candidate) else {
                outside.push(candidate);
                continue;
            };
            if looked.contains(&rel) || outside.contains(&rel) {
                continue;
            }
            match std::fs::canonicalize(self.root.join(&rel)) {
                // A symlink out of the folder.
                Ok(real) if !real.starts_with(&self.root) => outside.push(rel),
                Ok(real) if real.is_file() => return Ok((rel, real)),
                _ => looked.push(rel),
            }
        }
        Err(match (looked.is_empty(), outside.is_empty()) {
            (true, _) => "leads outside the folder".to_string(),
            (false, true) => format!("was not found (looked for {})", looked.join(", ")),
            (false, false) => format!(
                "was not found inside the folder (looked for {}; {} leads outside it)",
                looked.join(", "),
                outside.join(", ")
            ),
        })
    }
}

fn push_line(text: &mut String, line: &str) {
    text.push_str(line);
    text.push('\n');
}

fn join(dir: &str, target: &str) -> String {
    if dir.is_empty() {
        target.to_string()
    } else {
        format!("{dir}/{target}")
    }
}

/// `a/./b/../c` → `a/c`; `None` if the path climbs out of the folder.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The include directive a line consists of: (what precedes it — indentation, a list marker
/// or a quote marker —, its kind, its target).
fn directive<'l>(
    line: &'l str,
    imports: &HashMap<String, String>,
) -> Option<(&'l str, Kind, String)> {
    let body = strip_block_prefix(line);
    let prefix = &line[..line.len() - body.len()];
    let t = body.trim_end();
    if let Some(name) = t.strip_prefix("{!").and_then(|r| r.strip_suffix("!}")) {
        return Some((prefix, Kind::Zulip, name.trim().to_string()));
    }
    if let Some(rest) = t.strip_prefix("--8<--") {
        return quoted(rest.trim()).map(|p| (prefix, Kind::Snippet, p));
    }
    if let Some(inner) = t
        .strip_prefix("{%")
        .and_then(|r| r.strip_suffix("%}"))
        .map(|r| r.trim_matches('-').trim())
        && let Some(rest) = inner.strip_prefix("include ")
    {
        return quoted(rest.trim()).map(|p| (prefix, Kind::Jinja, p));
    }
    let component = t.strip_prefix('<')?.strip_suffix("/>")?.trim();
    imports
        .get(component)
        .map(|path| (prefix, Kind::Mdx, path.clone()))
}

/// Leading indentation and list or quote markers (`1. `, `- `, `> `).
fn strip_block_prefix(line: &str) -> &str {
    let mut rest = line.trim_start();
    loop {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let bullet = ["> ", "- ", "* ", "+ "].iter().any(|m| rest.starts_with(m));
        let next = if bullet {
            Some(&rest[2..])
        } else if digits > 0
            && (rest[digits..].starts_with(". ") || rest[digits..].starts_with(") "))
        {
            Some(&rest[digits + 2..])
        } else {
            None
        };
        match next {
            Some(r) => rest = r.trim_start(),
            None => return rest,
        }
    }
}

fn quoted(s: &str) -> Option<String> {
    let q = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = &s[1..];
    let end = inner.find(q)?;
    Some(inner[..end].to_string())
}

/// `import Name from './_partial.mdx'`: component names bound to local Markdown partials.
fn mdx_imports(body: &str) -> HashMap<String, String> {
    let mut imports = HashMap::new();
    for line in body.lines() {
        let Some(rest) = line.trim().strip_prefix("import ") else {
            continue;
        };
        let Some((name, from)) = rest.split_once(" from ") else {
            continue;
        };
        let Some(path) = quoted(from.trim()) else {
            continue;
        };
        let local = path.starts_with("./") || path.starts_with("../");
        let markdown = path.ends_with(".md") || path.ends_with(".mdx");
        let name = name.trim();
        if local && markdown && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            imports.insert(name.to_string(), path);
        }
    }
    imports
}
