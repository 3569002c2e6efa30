//! A document is one readable unit of a source (a file, a web page, a Q&A entry) before
//! chunking.

/// How a document's body is marked up, which decides how it is split into sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Text,
    /// Page texts joined by form feeds (see [`crate::pdf`]).
    Pdf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it came from inside its source: a path relative to the folder, a page URL, an
    /// entry id. Unique within a source.
    pub location: String,
    /// Link to cite, for documents that have one (web pages).
    pub url: Option<String>,
    /// Title to use when the body has none of its own (file name, question).
    pub fallback_title: String,
    pub format: Format,
    pub body: String,
}
