//! What an admin can add as knowledge, and the documents each kind of source yields.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::document::{Document, Format};
use crate::error::{KnowledgeError, Result};
use crate::markup::include::{self, Expander};
use crate::pdf::ParserConfig;

/// A question and its answer, written by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaEntry {
    pub question: String,
    pub answer: String,
}

/// A source to add to a guild's knowledge base.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    /// A local file or folder (Markdown, HTML, PDF, plain text), walked recursively.
    Path(PathBuf),
    /// One web page.
    Url(String),
    /// A `sitemap.xml` whose pages are fetched (bounded by the fetch limits).
    Sitemap(String),
    /// Q&A entries written by an admin; `name` identifies the set so it can be replaced.
    Inline { name: String, entries: Vec<QaEntry> },
    /// One file's bytes, uploaded rather than on disk (a Discord attachment); parsed like a
    /// file in a folder, by its name's extension. `name` identifies it: uploading a file of
    /// the same name again replaces it.
    Upload { name: String, bytes: Vec<u8> },
    /// Documents already in memory (imports, evaluation corpora); `name` identifies the set.
    Documents {
        name: String,
        documents: Vec<Document>,
    },
}

impl SourceSpec {
    /// `(kind, location)` as stored in the source row. Paths are made absolute so the same
    /// folder added from two working directories is one source.
    pub fn identity(&self) -> Result<(&'static str, String)> {
        Ok(match self {
            SourceSpec::Path(p) => {
                let abs = std::fs::canonicalize(p).map_err(|source| KnowledgeError::Io {
                    path: p.clone(),
                    source,
                })?;
                ("path", abs.display().to_string())
            }
            SourceSpec::Url(u) => ("url", u.clone()),
            SourceSpec::Sitemap(u) => ("sitemap", u.clone()),
            SourceSpec::Inline { name, .. } => ("inline", name.clone()),
            SourceSpec::Upload { name, .. } => ("upload", name.clone()),
            SourceSpec::Documents { name, .. } => ("documents", name.clone()),
        })
    }
}

/// Something in a source that was not indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub location: String,
    pub reason: String,
}

/// What loading a source produced.
#[derive(Debug, Default)]
pub struct Loaded {
    pub documents: Vec<Document>,
    pub skipped: Vec<Skipped>,
}

/// Caps that keep one source from exhausting memory or time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLimits {
    /// Files larger than this are skipped.
    pub max_file_bytes: u64,
    /// A folder stops being walked after this many files.
    pub max_files: usize,
    /// How PDFs (in folders and at URLs) are parsed: in a worker process, under limits.
    pub parser: ParserConfig,
}

impl Default for FileLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 * 1024 * 1024,
            max_files: 10_000,
            parser: ParserConfig::default(),
        }
    }
}

pub fn inline_documents(name: &str, entries: &[QaEntry]) -> Vec<Document> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| Document {
            location: format!("{name}#{}", i + 1),
            url: None,
            fallback_title: e.question.clone(),
            format: Format::Markdown,
            body: e.answer.clone(),
        })
        .collect()
}

/// The format a file's extension says it has; `None` for files that are not indexed.
pub(crate) fn format_of(path: &Path) -> Option<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("md" | "markdown" | "mdx") => Some(Format::Markdown),
        Some("html" | "htm" | "xhtml") => Some(Format::Html),
        Some("pdf") => Some(Format::Pdf),
        Some("txt" | "text" | "rst" | "adoc") | None => Some(Format::Text),
        Some(_) => None,
    }
}

/// Loads a file or a folder. Unreadable, binary or unsupported files are reported in
/// `skipped` and the rest still loads; symlinks are followed only while they stay inside
/// the folder that was given. In a folder, Markdown includes are resolved and partial files
/// are indexed only where they are included.
pub fn load_path(path: &Path, limits: &FileLimits) -> Result<Loaded> {
    let root = std::fs::canonicalize(path).map_err(|source| KnowledgeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut loaded = Loaded::default();
    if root.is_file() {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        load_file(&root, name, limits, &mut loaded);
        return Ok(loaded);
    }
    let mut stack = vec![root.clone()];
    let mut seen_dirs = vec![root.clone()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| KnowledgeError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            // Dot-files and dot-folders (.git, .DS_Store) are tooling, not documentation.
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let p = entry.path();
            let rel = relative(&root, &p);
            let Ok(meta) = entry.file_type() else {
                continue;
            };
            let target = if meta.is_symlink() {
                match std::fs::canonicalize(&p) {
                    Ok(t) if t.starts_with(&root) => t,
                    Ok(_) => {
                        loaded.skipped.push(Skipped {
                            location: rel,
                            reason: "symlink leads outside the folder; not followed".into(),
                        });
                        continue;
                    }
                    Err(e) => {
                        loaded.skipped.push(Skipped {
                            location: rel,
                            reason: format!("broken symlink: {e}"),
                        });
                        continue;
                    }
                }
            } else {
                p.clone()
            };
            if target.is_dir() {
                if !seen_dirs.contains(&target) {
                    seen_dirs.push(target.clone());
                    stack.push(target);
                }
            } else if target.is_file() {
                files.push((target, rel));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    for (i, (file, rel)) in files.into_iter().enumerate() {
        if i >= limits.max_files {
            loaded.skipped.push(Skipped {
                location: rel,
                reason: format!("more than {} files in the folder", limits.max_files),
            });
            continue;
        }
        load_file(&file, rel, limits, &mut loaded);
    }
    resolve_includes(&root, limits, &mut loaded);
    Ok(loaded)
}

/// Replaces the include directives of the folder's Markdown pages with the text they name,
/// and takes partial files out of the pages: their text is indexed where it is included.
fn resolve_includes(root: &Path, limits: &FileLimits, loaded: &mut Loaded) {
    let read = |path: &Path| read_partial(path, limits);
    let mut expander = Expander::new(root, &read);
    let mut included = HashSet::new();
    let mut problems = Vec::new();
    for doc in &mut loaded.documents {
        if doc.format != Format::Markdown || include::is_partial(&doc.location) {
            continue;
        }
        let expanded = expander.expand(&doc.location, &doc.body);
        doc.body = expanded.body;
        included.extend(expanded.included);
        problems.extend(expanded.problems.into_iter().map(|reason| Skipped {
            location: doc.location.clone(),
            reason,
        }));
    }
    // A file another page includes is a partial: its problems were reported on that page.
    problems.retain(|p| !included.contains(&p.location));
    loaded.skipped.extend(problems);
    for doc in std::mem::take(&mut loaded.documents) {
        if included.contains(&doc.location) {
            continue;
        }
        if include::is_partial(&doc.location) {
            loaded.skipped.push(Skipped {
                location: doc.location,
                reason: "partial file (include folder or leading `_`) that no page includes; \
                         not indexed as a page"
                    .into(),
            });
            continue;
        }
        loaded.documents.push(doc);
    }
}

fn read_partial(path: &Path, limits: &FileLimits) -> std::result::Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > limits.max_file_bytes {
        return Err(format!(
            "file is larger than {} bytes",
            limits.max_file_bytes
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    decode_text(bytes)
}

fn relative(root: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(root).unwrap_or(p);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn load_file(path: &Path, location: String, limits: &FileLimits, loaded: &mut Loaded) {
    let skip = |reason: String| Skipped {
        location: location.clone(),
        reason,
    };
    let Some(format) = format_of(path) else {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        loaded.skipped.push(skip(format!(
            "unsupported file type .{ext} (Markdown, HTML, PDF and plain text are indexed)"
        )));
        return;
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > limits.max_file_bytes => {
            loaded.skipped.push(skip(format!(
                "file is larger than {} bytes",
                limits.max_file_bytes
            )));
            return;
        }
        Ok(_) => {}
        Err(e) => {
            loaded.skipped.push(skip(format!("cannot read: {e}")));
            return;
        }
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            loaded.skipped.push(skip(format!("cannot read: {e}")));
            return;
        }
    };
    let fallback_title = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| location.clone());
    parse_file(format, bytes, location, fallback_title, limits, loaded);
}

/// Loads one uploaded file: the same formats, size limit and parsers as a file on disk.
pub fn load_upload(name: &str, bytes: Vec<u8>, limits: &FileLimits) -> Loaded {
    let mut loaded = Loaded::default();
    let path = Path::new(name);
    let Some(format) = format_of(path) else {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        loaded.skipped.push(Skipped {
            location: name.to_string(),
            reason: format!(
                "unsupported file type .{ext} (Markdown, HTML, PDF and plain text are indexed)"
            ),
        });
        return loaded;
    };
    if bytes.len() as u64 > limits.max_file_bytes {
        loaded.skipped.push(Skipped {
            location: name.to_string(),
            reason: format!("file is larger than {} bytes", limits.max_file_bytes),
        });
        return loaded;
    }
    let fallback_title = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    parse_file(
        format,
        bytes,
        name.to_string(),
        fallback_title,
        limits,
        &mut loaded,
    );
    loaded
}

fn parse_file(
    format: Format,
    bytes: Vec<u8>,
    location: String,
    fallback_title: String,
    limits: &FileLimits,
    loaded: &mut Loaded,
) {
    let body = match format {
        Format::Pdf => crate::pdf::pdf_text(&bytes, &limits.parser),
        _ => decode_text(bytes),
    }
    .and_then(|body| crate::chunk::check_nesting(format, &body).map(|()| body));
    match body {
        Ok(body) => loaded.documents.push(Document {
            location,
            url: None,
            fallback_title,
            format,
            body,
        }),
        Err(reason) => loaded.skipped.push(Skipped { location, reason }),
    }
}

/// Accepts UTF-8 text only; a NUL byte means a binary file even when it happens to decode.
pub(crate) fn decode_text(bytes: Vec<u8>) -> std::result::Result<String, String> {
    if bytes.contains(&0) {
        return Err("binary file (contains NUL bytes); not indexed".into());
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 text (invalid byte at offset {}); not indexed",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_loads_text_and_reports_binary_unsupported_and_escaping_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "# Secret\n\nhunter2").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("guide/deep")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), "x").unwrap();
        std::fs::write(root.join("guide/a.md"), "# A\n\nalpha").unwrap();
        std::fs::write(root.join("guide/deep/b.html"), "<h1>B</h1><p>beta</p>").unwrap();
        std::fs::write(root.join("notes.txt"), "gamma").unwrap();
        std::fs::write(root.join("logo.md"), [0x89, b'P', b'N', b'G', 0, 1, 2]).unwrap();
        std::fs::write(root.join("latin1.txt"), [b'c', b'a', b'f', 0xe9]).unwrap();
        std::fs::write(root.join("doc.docx"), "zip").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("leak.md")).unwrap();
        std::os::unix::fs::symlink(root.join("notes.txt"), root.join("alias.txt")).unwrap();

        let loaded = load_path(root, &FileLimits::default()).unwrap();
        let locs: Vec<&str> = loaded
            .documents
            .iter()
            .map(|d| d.location.as_str())
            .collect();
        assert_eq!(
            locs,
            vec!["alias.txt", "guide/a.md", "guide/deep/b.html", "notes.txt"]
        );
        assert!(!loaded.documents.iter().any(|d| d.body.contains("hunter2")));
        let reason = |loc: &str| {
            loaded
                .skipped
                .iter()
                .find(|s| s.location == loc)
                .map(|s| s.reason.clone())
                .unwrap_or_default()
        };
        assert!(reason("logo.md").contains("binary"));
        assert!(reason("latin1.txt").contains("UTF-8"));
        assert!(reason("doc.docx").contains("unsupported"));
        assert!(reason("leak.md").contains("outside the folder"));
        assert!(
            !loaded
                .skipped
                .iter()
                .any(|s| s.location.starts_with(".git"))
        );
    }

    #[test]
    fn an_upload_is_parsed_by_its_name_and_held_to_the_file_limits() {
        let limits = FileLimits {
            max_file_bytes: 64,
            ..FileLimits::default()
        };
        let loaded = load_upload("guide.md", b"# Guide\n\nalpha".to_vec(), &limits);
        assert_eq!(loaded.documents.len(), 1);
        assert_eq!(loaded.documents[0].location, "guide.md");
        assert_eq!(loaded.documents[0].format, Format::Markdown);
        let reason = |l: Loaded| {
            l.skipped
                .first()
                .map(|s| s.reason.clone())
                .unwrap_or_default()
        };
        assert!(reason(load_upload("a.docx", b"zip".to_vec(), &limits)).contains("unsupported"));
        assert!(reason(load_upload("a.txt", vec![b'a'; 65], &limits)).contains("larger than 64"));
        assert!(reason(load_upload("a.pdf", b"no pdf".to_vec(), &limits)).contains("not a PDF"));
    }
}
