//! `supportbot knowledge …` and `supportbot eval retrieval`: a guild's knowledge base from the
//! command line, with a progress bar on long ingests.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use knowledge::{IngestSummary, KnowledgeBase, Progress, QaEntry, SearchMode, SourceSpec, Stage};
use store::Store;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KnowledgeCommand {
    /// Add a file, folder, web page or sitemap (re-adding re-indexes only what changed).
    Add {
        #[arg(long)]
        guild: u64,
        /// A path (Markdown, HTML, PDF or text files), an http(s) URL, or a sitemap URL
        /// (`.xml` or `.xml.gz`); with --qa, a name for the entries.
        source: String,
        /// Treat the URL as a sitemap and crawl its pages (implied by `.xml` and `.xml.gz`).
        #[arg(long)]
        sitemap: bool,
        /// Q&A entries written by an admin: a JSONL file of {"question", "answer"} lines.
        #[arg(long, value_name = "FILE")]
        qa: Option<PathBuf>,
    },
    /// The guild's sources with their status and chunk counts.
    List {
        #[arg(long)]
        guild: u64,
    },
    /// Remove a source and its chunks.
    Remove {
        #[arg(long)]
        guild: u64,
        /// The source ID from `knowledge list`.
        source: i64,
    },
    /// Ranked chunks for a query, with source, heading, score and (with dense vectors) the
    /// cosine similarity of the query and the chunk.
    Search {
        #[arg(long)]
        guild: u64,
        query: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Sparse,
    Dense,
    Hybrid,
}

type BoxError = Box<dyn std::error::Error>;

impl From<ModeArg> for SearchMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Sparse => SearchMode::Sparse,
            ModeArg::Dense => SearchMode::Dense,
            ModeArg::Hybrid => SearchMode::Hybrid,
        }
    }
}

/// An indicatif bar per ingest stage, drawn on stderr (hidden when it is not a terminal).
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn stage(&self, stage: Stage, total: Option<u64>) {
        let label = match stage {
            Stage::Loading => "loading",
            Stage::Embedding => "embedding",
            Stage::Indexing => "indexing",
        };
        self.0.reset();
        match total {
            Some(total) => {
                self.0.set_length(total);
                self.0.set_style(
                    ProgressStyle::with_template(
                        "{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
                    )
                    .expect("the template is valid")
                    .progress_chars("=> "),
                );
            }
            None => self.0.set_style(
                ProgressStyle::with_template("{msg:>10} {spinner} {pos}")
                    .expect("the template is valid"),
            ),
        }
        self.0.set_message(label);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

pub async fn open(config: &Config) -> Result<KnowledgeBase, BoxError> {
    let store = Store::open(&config.database_settings()).await?;
    Ok(KnowledgeBase::open(config.knowledge_config()?, store).await?)
}

fn spec(source: &str, sitemap: bool, qa: Option<PathBuf>) -> Result<SourceSpec, BoxError> {
    if let Some(path) = qa {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut entries = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            #[derive(serde::Deserialize)]
            struct Line {
                question: String,
                answer: String,
            }
            let l: Line = serde_json::from_str(line).map_err(|e| {
                format!(
                    "{}:{}: expected {{\"question\": …, \"answer\": …}}: {e}",
                    path.display(),
                    i + 1
                )
            })?;
            entries.push(QaEntry {
                question: l.question,
                answer: l.answer,
            });
        }
        return Ok(SourceSpec::Inline {
            name: source.to_string(),
            entries,
        });
    }
    let is_web = source.starts_with("http://") || source.starts_with("https://");
    let looks_like_sitemap = source.ends_with(".xml") || source.ends_with(".xml.gz");
    Ok(if is_web && (sitemap || looks_like_sitemap) {
        SourceSpec::Sitemap(source.to_string())
    } else if is_web {
        SourceSpec::Url(source.to_string())
    } else {
        SourceSpec::Path(PathBuf::from(source))
    })
}

fn print_summary(s: &IngestSummary) {
    if s.unchanged {
        println!(
            "source {}: unchanged since the last ingest; nothing to do",
            s.source_id
        );
    } else {
        println!(
            "source {}: {} documents ({} new or changed, {} removed), {} chunks indexed, {} skipped",
            s.source_id,
            s.documents,
            s.changed_documents,
            s.removed_documents,
            s.chunks,
            s.skipped.len()
        );
    }
    for skip in &s.skipped {
        println!("  skipped {}: {}", skip.location, skip.reason);
    }
}

pub async fn run(config: &Config, command: KnowledgeCommand) -> ExitCode {
    match try_run(config, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn try_run(config: &Config, command: KnowledgeCommand) -> Result<(), BoxError> {
    let kb = open(config).await?;
    match command {
        KnowledgeCommand::Add {
            guild,
            source,
            sitemap,
            qa,
        } => {
            let spec = spec(&source, sitemap, qa)?;
            let bar = Bar::new();
            let result = kb.add(guild as i64, spec, &bar).await;
            bar.0.finish_and_clear();
            print_summary(&result?);
        }
        KnowledgeCommand::List { guild } => {
            let sources = kb.list(guild as i64).await?;
            if sources.is_empty() {
                println!("no knowledge sources for guild {guild}");
            }
            for s in sources {
                println!(
                    "{:>5}  {:<8} {:<8} {:>6} chunks  {}  {}{}",
                    s.id,
                    s.kind,
                    format!("{:?}", s.status).to_lowercase(),
                    s.chunk_count,
                    s.indexed_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into()),
                    s.location,
                    s.last_error
                        .map(|e| format!("  (last error: {e})"))
                        .unwrap_or_default()
                );
            }
        }
        KnowledgeCommand::Remove { guild, source } => {
            kb.remove(guild as i64, source).await?;
            println!("removed source {source} and its chunks");
        }
        KnowledgeCommand::Search {
            guild,
            query,
            limit,
            mode,
        } => {
            let hits = match mode {
                Some(mode) => {
                    kb.search_with(guild as i64, &query, limit, mode.into())
                        .await?
                }
                None => kb.search(guild as i64, &query, limit).await?,
            };
            if hits.is_empty() {
                println!("no matches");
            }
            for (i, h) in hits.iter().enumerate() {
                let heading = if h.heading_path.is_empty() {
                    String::new()
                } else {
                    format!(" › {}", h.heading_path.join(" › "))
                };
                let cosine = h
                    .dense_score
                    .map(|c| format!(", cosine {c:.2}"))
                    .unwrap_or_default();
                println!(
                    "{}. [{:.3}{cosine}] {}{}  (source {}, {})",
                    i + 1,
                    h.score,
                    h.title,
                    heading,
                    h.source_id,
                    h.url.as_deref().unwrap_or(&h.location)
                );
                if !h.origins.is_empty() {
                    println!("   included from {}", h.origins.join(", "));
                }
                let preview: String = h.text.chars().take(240).collect();
                println!("   {}", preview.replace('\n', " "));
            }
        }
    }
    Ok(())
}

pub async fn eval_retrieval(config: &Config, beir: PathBuf, mode: ModeArg, json: bool) -> ExitCode {
    let base = match config.knowledge_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bar = Bar::new();
    let result = knowledge::eval::retrieval(&beir, mode.into(), &base, &bar).await;
    bar.0.finish_and_clear();
    match result {
        Ok(report) => {
            println!("{report}");
            if json {
                println!("{}", report.to_json());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
