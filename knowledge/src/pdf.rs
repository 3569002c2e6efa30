//! Text out of PDF files, page by page, through `pdf-extract`. A PDF's body is kept as its
//! pages' text joined by form feeds, so chunking can give every chunk its page number and a
//! `#page=N` anchor, which PDF viewers open at that page.

/// Separates pages in a PDF document's body.
pub const PAGE_BREAK: char = '\u{c}';

/// The text of every page, joined by [`PAGE_BREAK`]. A PDF that cannot be parsed, is
/// encrypted, or has no text layer (scanned pages) gives a reason instead; so does one that
/// makes the parser panic, which malformed files can.
pub fn pdf_text(bytes: &[u8]) -> Result<String, String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err("not a PDF file (no %PDF- header); not indexed".into());
    }
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| "the PDF is malformed (the parser gave up); not indexed".to_string())?
        .map_err(|e| describe(&e))?;
    let pages: Vec<String> = pages
        .into_iter()
        .map(|p| p.replace(PAGE_BREAK, " ").replace('\0', ""))
        .collect();
    if pages.iter().all(|p| p.trim().is_empty()) {
        return Err(
            "the PDF has no text layer (scanned pages?); not indexed — run OCR on it first".into(),
        );
    }
    Ok(pages.join(&PAGE_BREAK.to_string()))
}

fn describe(e: &pdf_extract::OutputError) -> String {
    match e {
        pdf_extract::OutputError::PdfError(pdf_extract::Error::Decryption(_)) => {
            "the PDF is password-protected; not indexed — save an unprotected copy".into()
        }
        other => format!("cannot read the PDF ({other}); not indexed"),
    }
}
