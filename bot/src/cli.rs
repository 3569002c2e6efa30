//! The `supportbot` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::{app, audit_cli, doctor, knowledge_cli, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "supportbot",
    version,
    about = "A self-hosted Discord support agent"
)]
pub struct Cli {
    /// Configuration file (default: ./supportbot.toml if present).
    #[arg(long, global = true, env = "SUPPORTBOT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to Discord and answer questions until stopped (SIGINT/SIGTERM).
    Run,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check configuration, database, data directory and the Discord token.
    Doctor,
    /// Manage a guild's knowledge base: the docs the bot answers from.
    Knowledge {
        #[command(subcommand)]
        command: KnowledgeCommand,
    },
    /// Read a guild's audit log of blocked and escalated messages.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Measure the classifier or retrieval on labelled data.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The guild's ID.
    #[arg(long)]
    pub guild: u64,
    /// Only entries from the last 30m, 12h, 7d, 2w…
    #[arg(long)]
    pub since: Option<String>,
    /// Only this category (spam, scam, self_harm, …).
    #[arg(long)]
    pub category: Option<String>,
    /// Only this member's messages.
    #[arg(long)]
    pub member: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Newest entries first, one per line.
    List {
        #[command(flatten)]
        args: AuditArgs,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Every matching entry, to standard output.
    Export {
        #[command(flatten)]
        args: AuditArgs,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

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
    /// Ranked chunks for a query, with source, heading and score.
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

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Load a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/test.tsv) into a temporary index
    /// through the bot's own ingest and search, and print nDCG@10, Recall@100, MRR@10,
    /// indexing throughput and query latency.
    Retrieval {
        #[arg(long, value_name = "DIR")]
        beir: PathBuf,
        #[arg(long, value_enum, default_value_t = ModeArg::Sparse)]
        mode: ModeArg,
        /// Print one JSON object as the last line.
        #[arg(long)]
        json: bool,
    },
    /// Classify labelled JSONL lines ({"text", "expect": allow|block|escalate, "category"}) and
    /// print per-category precision/recall, the false-positive rate, a confusion matrix and
    /// throughput.
    Classifier {
        /// Labelled files.
        #[arg(long = "labels", required = true, num_args = 1..)]
        labels: Vec<PathBuf>,
        /// Print one JSON object as the last line.
        #[arg(long)]
        json: bool,
        /// Retrain the model on k-1 folds and score the held-out fold (honest figures on the
        /// model's own training data).
        #[arg(long, conflicts_with = "no_model")]
        kfold: Option<usize>,
        /// Rules only, without the learned model.
        #[arg(long)]
        no_model: bool,
        /// Also time the rule stage on typical ~200-character messages (one core).
        #[arg(long)]
        bench: bool,
    },
}

pub fn main() -> ExitCode {
    agent::tls::install_crypto_provider();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Run) && config.discord.token.is_none() {
        eprintln!("error: {}", app::MISSING_TOKEN);
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(dispatch(cli.command, config))
}

async fn dispatch(command: Command, config: Config) -> ExitCode {
    match command {
        Command::Run => {
            telemetry::init(&config.log);
            let shutdown = CancellationToken::new();
            tokio::spawn({
                let shutdown = shutdown.clone();
                async move {
                    app::shutdown_signal().await;
                    shutdown.cancel();
                }
            });
            match app::run(config, shutdown).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate => match store::Store::connect(&config.database_settings()).await {
            Ok(store) => {
                let result = store.migrate().await;
                store.close().await;
                match result {
                    Ok(n) => {
                        println!("database up to date ({n} migrations applied now)");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Audit { command } => audit_cli::run(&config, command).await,
        Command::Knowledge { command } => knowledge_cli::run(&config, command).await,
        Command::Eval {
            command: EvalCommand::Retrieval { beir, mode, json },
        } => knowledge_cli::eval_retrieval(&config, beir, mode, json).await,
        Command::Eval {
            command:
                EvalCommand::Classifier {
                    labels,
                    json,
                    kfold,
                    no_model,
                    bench,
                },
        } => {
            use agent::classifier::eval::{self, ModelMode};
            let mode = match (kfold, no_model) {
                (Some(k), _) => ModelMode::KFold(k),
                (None, true) => ModelMode::None,
                (None, false) => ModelMode::Embedded,
            };
            match eval::run(&labels, mode) {
                Ok(report) => {
                    println!("{report}");
                    let mut summary = report.to_json();
                    if bench {
                        let (rate, p99) = eval::bench_typical(200_000);
                        println!(
                            "typical 200-character messages: {rate:.0} messages/s on one core, p99 {p99:.1} µs"
                        );
                        summary["bench_typical"] =
                            serde_json::json!({"messages_per_s": rate, "p99_us": p99});
                    }
                    if json {
                        println!("{summary}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Doctor => {
            let checks = doctor::run(&config).await;
            for check in &checks {
                println!("{check}");
            }
            if checks.iter().any(|c| c.level == doctor::Level::Fail) {
                println!("doctor found problems; fix the FAIL lines above");
                ExitCode::FAILURE
            } else {
                println!("all checks passed");
                ExitCode::SUCCESS
            }
        }
    }
}
