//! `supportbot eval …`: retrieval on BEIR datasets, the classifier on labelled messages, and
//! answers on real documentation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agent::classifier::semantic::Params;
use agent::classifier::{Semantic, SentenceEmbedder};
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
        /// Also time the classifier on typical ~200-character messages (one core; 200,000 of
        /// them, 2,000 with a full sentence model).
        #[arg(long)]
        bench: bool,
        /// Without the semantic stage even when `classifier.semantic` turns it on.
        #[arg(long)]
        no_semantic: bool,
        /// Instead of the labelled files: the semantic stage alone, k-fold on its own shipped
        /// examples (development figures for choosing its parameters), at these settings.
        #[arg(long)]
        semantic_kfold: Option<usize>,
        /// Semantic stage: neighbours that vote, similarity with no weight, with full weight,
        /// and the factor on its scores.
        #[arg(long, num_args = 4, value_names = ["K", "FLOOR", "FULL", "WEIGHT"])]
        semantic_params: Option<Vec<f32>>,
        /// Embed with the full sentence model instead of the static table (slow; to compare).
        #[arg(long)]
        semantic_full_model: bool,
        /// Embed with the multilingual sentence model (multilingual-e5-small) instead (slow; to
        /// compare).
        #[arg(long, conflicts_with = "semantic_full_model")]
        semantic_multilingual: bool,
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
            no_semantic,
            semantic_kfold,
            semantic_params,
            semantic_full_model,
            semantic_multilingual,
        } => {
            let embedder = if no_semantic {
                None
            } else if semantic_multilingual {
                match multilingual_embedder(config).await {
                    Ok(e) => Some(e),
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        return ExitCode::FAILURE;
                    }
                }
            } else if semantic_full_model {
                let Ok(Some(dir)) = config.classifier_model() else {
                    eprintln!("error: the full model comparison needs the local sentence model");
                    return ExitCode::FAILURE;
                };
                match knowledge::local_model::LocalEmbedder::load(
                    &knowledge::LocalModelConfig::new(dir),
                )
                .await
                {
                    Ok(e) => Some(Arc::new(crate::semantic::FullModelEmbedder(e))
                        as Arc<dyn SentenceEmbedder>),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                crate::semantic::static_table(config).await.map(|t| {
                    Arc::new(crate::semantic::TableEmbedder(t)) as Arc<dyn SentenceEmbedder>
                })
            };
            let params = match semantic_params.as_deref() {
                Some([k, floor, full, weight]) => Params {
                    k: *k as usize,
                    near_floor: *floor,
                    near_full: *full,
                    weight: *weight,
                },
                _ => Params::default(),
            };
            if let Some(k) = semantic_kfold {
                let Some(embedder) = embedder else {
                    eprintln!("error: the semantic stage needs the local sentence model");
                    return ExitCode::FAILURE;
                };
                let embedder: Arc<dyn SentenceEmbedder> =
                    Arc::new(agent::classifier::eval::CachedEmbedder::new(embedder));
                for threshold in [0.6, 0.75, 0.9] {
                    print!(
                        "{}",
                        agent::classifier::eval::semantic_kfold(
                            Arc::clone(&embedder),
                            k,
                            params,
                            threshold
                        )
                    );
                }
                return ExitCode::SUCCESS;
            }
            // A full model takes milliseconds a message where the rules take microseconds.
            let slow = embedder.is_some() && (semantic_full_model || semantic_multilingual);
            let bench = bench.then_some(if slow { 2_000 } else { 200_000 });
            let make =
                embedder.map(|e| move || Semantic::shipped(Arc::clone(&e)).with_params(params));
            classifier(
                &labels,
                json,
                kfold,
                no_model,
                bench,
                make.as_ref().map(|m| m as &dyn Fn() -> Semantic),
            )
        }
    }
}

/// The multilingual model, loaded on the blocking pool (it reads, hashes and dequantises
/// about 70 MB).
async fn multilingual_embedder(config: &Config) -> anyhow::Result<Arc<dyn SentenceEmbedder>> {
    use anyhow::Context as _;
    let file = config.multilingual_model()?.with_context(|| {
        format!(
            "the multilingual sentence model was not found; {}",
            knowledge::local_model::e5::INSTALL_HINT
        )
    })?;
    let model =
        tokio::task::spawn_blocking(move || knowledge::local_model::e5::E5Model::load(&file))
            .await??;
    Ok(Arc::new(crate::semantic::E5Embedder(model)))
}

fn classifier(
    labels: &[PathBuf],
    json: bool,
    kfold: Option<usize>,
    no_model: bool,
    bench_iterations: Option<usize>,
    semantic: Option<&dyn Fn() -> Semantic>,
) -> ExitCode {
    use agent::classifier::eval::{self, ModelMode};
    let mode = match (kfold, no_model) {
        (Some(k), _) => ModelMode::KFold(k),
        (None, true) => ModelMode::None,
        (None, false) => ModelMode::Embedded,
    };
    println!(
        "semantic stage: {}",
        if semantic.is_some() { "on" } else { "off" }
    );
    match eval::run_with_corpora(labels, &[], mode, semantic) {
        Ok(report) => {
            println!("{report}");
            let mut summary = report.to_json();
            summary["semantic"] = serde_json::json!(semantic.is_some());
            if let Some(iterations) = bench_iterations {
                let b = eval::bench_typical(iterations, semantic);
                println!(
                    "typical 200-character messages: {:.0} messages/s on one core, p50 {:.1} µs, p99 {:.1} µs",
                    b.messages_per_s, b.p50_us, b.p99_us
                );
                summary["bench_typical"] = serde_json::json!({
                    "messages_per_s": b.messages_per_s,
                    "p50_us": b.p50_us,
                    "p99_us": b.p99_us,
                });
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
