//! `supportbot eval …`: retrieval on BEIR datasets, the classifier on labelled messages, and
//! answers on real documentation.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::eval_answers::{self, AnswersArgs};
use crate::knowledge_cli::{self, ModeArg};

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
    /// Index a documentation folder into a temporary guild, run questions through the whole
    /// pipeline and score the answers (citation hit, false answers, handoffs, chit-chat,
    /// follow-ups, latency, tokens), with a relevance-floor sweep.
    Answers(AnswersArgs),
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

pub async fn run(config: &Config, command: EvalCommand) -> ExitCode {
    match command {
        EvalCommand::Retrieval { beir, mode, json } => {
            knowledge_cli::eval_retrieval(config, beir, mode, json).await
        }
        EvalCommand::Answers(args) => eval_answers::run(config, args).await,
        EvalCommand::Classifier {
            labels,
            json,
            kfold,
            no_model,
            bench,
        } => classifier(&labels, json, kfold, no_model, bench),
    }
}

fn classifier(
    labels: &[PathBuf],
    json: bool,
    kfold: Option<usize>,
    no_model: bool,
    bench: bool,
) -> ExitCode {
    use agent::classifier::eval::{self, ModelMode};
    let mode = match (kfold, no_model) {
        (Some(k), _) => ModelMode::KFold(k),
        (None, true) => ModelMode::None,
        (None, false) => ModelMode::Embedded,
    };
    match eval::run(labels, mode) {
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
