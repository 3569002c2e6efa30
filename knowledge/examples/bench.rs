//! Scale benchmark: one guild with N synthetic chunks (default 100k), ingest rate through the
//! real ingest path, then search latency. On Qdrant Edge, or on a Qdrant server when
//! `QDRANT_URL` is set (in a temporary collection, dropped at the end).
//! `cargo run --release -p knowledge --example bench -- [chunks] [queries]`

use std::time::Instant;

use knowledge::{Document, Format, KnowledgeBase, KnowledgeConfig, NoProgress, SourceSpec};

/// Deterministic xorshift, so runs are comparable without a randomness dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Roughly Zipf-distributed word index, like natural text.
    fn word(&mut self, vocab: usize) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((vocab as f64).powf(u) as usize)
            .saturating_sub(1)
            .min(vocab - 1)
    }
}

fn vocabulary(n: usize) -> Vec<String> {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vi", "zo", "be", "da", "fi", "go", "hu", "je", "po",
        "se",
    ];
    (0..n)
        .map(|i| {
            let mut w = String::new();
            let mut x = i + 17;
            while x > 0 {
                w.push_str(SYL[x % 16]);
                x /= 16;
            }
            w
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let chunks: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let queries: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2_000);
    let vocab = vocabulary(50_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let documents: Vec<Document> = (0..chunks)
        .map(|i| {
            let words: Vec<&str> = (0..150)
                .map(|_| vocab[rng.word(vocab.len())].as_str())
                .collect();
            Document {
                location: format!("doc-{i}"),
                url: None,
                fallback_title: format!("Document {i}"),
                format: Format::Text,
                body: words.join(" "),
            }
        })
        .collect();

    let tmp = tempfile::tempdir()?;
    let url = format!("sqlite://{}", tmp.path().join("bench.db").display());
    let store = store::Store::open(&store::DatabaseSettings::new(url)).await?;
    let mut config = KnowledgeConfig {
        data_dir: tmp.path().join("knowledge"),
        ..KnowledgeConfig::default()
    };
    let server = std::env::var("QDRANT_URL").ok().map(|url| {
        let collection = format!("bench_{}", std::process::id());
        config.backend = knowledge::BackendConfig::Server {
            url: url.clone(),
            api_key: None,
            collection: collection.clone(),
        };
        (url, collection)
    });
    let kb = KnowledgeBase::open(config, store).await?;

    let started = Instant::now();
    let summary = kb
        .add(
            1,
            SourceSpec::Documents {
                name: "bench".into(),
                documents,
            },
            &NoProgress,
        )
        .await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ingest         {} chunks in {secs:.1} s = {:.0} chunks/s (includes optimize)",
        summary.chunks,
        summary.chunks as f64 / secs
    );

    let mut lat = Vec::with_capacity(queries);
    for _ in 0..queries {
        let q: Vec<&str> = (0..4)
            .map(|_| vocab[rng.word(vocab.len())].as_str())
            .collect();
        let q = q.join(" ");
        let t = Instant::now();
        let hits = kb.search(1, &q, 10).await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(hits);
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "search         {} queries, top 10 with payload: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        queries,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    if let Some((url, collection)) = server {
        knowledge::index::ServerIndex::drop_collection(&url, None, &collection).await?;
    }
    Ok(())
}
