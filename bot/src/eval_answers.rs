//! `supportbot eval answers`: answer quality on real documentation. The docs are indexed into
//! a temporary guild and every question goes through the same pipeline a Discord message
//! takes (classifier, gate, agent), each from its own member; a follow-up is asked in the
//! thread its `previous` turn opened. Scores answerable questions (answered, citation hit,
//! citation precision, fact recall), unanswerable ones (false answers), handoff requests,
//! chit-chat and follow-ups, with latency and tokens; then how citation hit and false answers
//! move with the relevance floor.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use agent::{Agent, AgentSettings, Decision, Question, Speaker, Turn};
use anyhow::Context as _;
use knowledge::{NoProgress, SourceSpec};
use serde::Deserialize;
use serde_json::json;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::retriever::KnowledgeRetriever;
use crate::services::Services;
use crate::terminal::{Session, action, citations};

const EVAL_GUILD: u64 = 900_000_000_000_000_001;

#[derive(Debug, clap::Args)]
pub struct AnswersArgs {
    /// The documentation folder (Markdown, HTML, PDF, text).
    #[arg(long, value_name = "DIR")]
    pub docs: PathBuf,
    /// JSONL questions: {"id", "question", "kind", "answerable", "gold", "facts", "previous"}.
    #[arg(long, value_name = "FILE")]
    pub questions: PathBuf,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
    /// One line per question: action, evidence, cited documents, hit.
    #[arg(long)]
    pub verbose: bool,
    /// Write each question's evidence (term weights and which documents hold them, ids and
    /// numbers only) as JSON lines, for calibrating the decision.
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
struct Previous {
    question: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Item {
    id: String,
    question: String,
    kind: String,
    #[serde(default)]
    gold: Vec<String>,
    #[serde(default)]
    facts: Vec<String>,
    #[serde(default)]
    previous: Option<Previous>,
}

impl Item {
    fn answerable(&self) -> bool {
        matches!(self.kind.as_str(), "howto" | "troubleshoot")
    }
}

/// What happened to one question.
struct Scored {
    item: Item,
    action: &'static str,
    answer: String,
    /// Documents cited, with the partial files their passages include.
    cited: Vec<HashSet<String>>,
    latency_ms: f64,
    prompt_tokens: u64,
    completion_tokens: u64,
    evidence: f64,
    unknown: f64,
    coverage: Vec<(String, f64)>,
}

impl Scored {
    fn hit(&self) -> bool {
        self.cited
            .iter()
            .any(|c| self.item.gold.iter().any(|g| c.contains(g)))
    }

    fn precision(&self) -> Option<f64> {
        if self.cited.is_empty() {
            return None;
        }
        let good = self
            .cited
            .iter()
            .filter(|c| self.item.gold.iter().any(|g| c.contains(g)))
            .count();
        Some(good as f64 / self.cited.len() as f64)
    }

    fn fact_recall(&self) -> f64 {
        if self.item.facts.is_empty() {
            return 0.0;
        }
        let answer = self.answer.to_lowercase();
        let found = self
            .item
            .facts
            .iter()
            .filter(|f| answer.contains(&f.to_lowercase()))
            .count();
        found as f64 / self.item.facts.len() as f64
    }
}

fn load(path: &Path) -> anyhow::Result<Vec<Item>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a question line", path.display(), i + 1))
        })
        .collect()
}

pub async fn run(config: &Config, args: AnswersArgs) -> ExitCode {
    match try_run(config, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn rate(hits: usize, n: usize) -> f64 {
    if n == 0 { 0.0 } else { hits as f64 / n as f64 }
}

async fn try_run(config: &Config, args: AnswersArgs) -> anyhow::Result<()> {
    let items = load(&args.questions)?;
    let dir = tempfile::tempdir()?;
    let mut eval = Config {
        data_dir: dir.path().to_path_buf(),
        llm: config.llm.clone(),
        agent: config.agent.clone(),
        ..Config::default()
    };
    eval.knowledge = config.knowledge.clone();
    eval.knowledge.qdrant_url = None;
    eval.pipeline.per_member_per_minute = 1_000;
    // Latency is measured to the whole answer, which streaming's paced edits would delay.
    eval.agent.stream = false;
    let services = Services::open(&eval, Arc::new(SystemClock)).await?;
    let summary = services
        .knowledge
        .add(
            EVAL_GUILD as i64,
            SourceSpec::Path(args.docs.clone()),
            &NoProgress,
        )
        .await
        .with_context(|| format!("indexing {}", args.docs.display()))?;
    println!(
        "indexed {}: {} documents, {} chunks, {} skipped; {} questions; mode {}",
        args.docs.display(),
        summary.documents,
        summary.chunks,
        summary.skipped.len(),
        items.len(),
        if services.agent.uses_model() {
            "model"
        } else {
            "extractive"
        }
    );

    let mut scored = Vec::new();
    let mut last_trace = None;
    for (i, item) in items.iter().enumerate() {
        let mut session = Session::new(
            Arc::clone(&services.pipeline),
            EVAL_GUILD,
            10_000 + i as u64,
        );
        if let Some(previous) = &item.previous {
            session.say(&previous.question).await?;
            last_trace = services
                .store
                .traces(EVAL_GUILD as i64, 1)
                .await?
                .first()
                .map(|t| t.id);
        }
        let turn = session.say(&item.question).await?;
        let trace = services
            .store
            .traces(EVAL_GUILD as i64, 1)
            .await?
            .into_iter()
            .next()
            .filter(|t| Some(t.id) != last_trace);
        last_trace = trace.as_ref().map(|t| t.id).or(last_trace);
        let cited = citations(&turn.outcome)
            .iter()
            .map(|c| {
                let mut docs: HashSet<String> = c.origins.iter().cloned().collect();
                docs.insert(c.location.clone());
                docs
            })
            .collect();
        let answer = turn
            .outcome
            .decision()
            .and_then(Decision::text)
            .unwrap_or("")
            .to_string();
        let s = Scored {
            item: item.clone(),
            action: action(&turn.outcome),
            answer,
            cited,
            latency_ms: turn.latency.as_secs_f64() * 1000.0,
            prompt_tokens: trace.as_ref().and_then(|t| t.tokens_in).unwrap_or(0) as u64,
            completion_tokens: trace.as_ref().and_then(|t| t.tokens_out).unwrap_or(0) as u64,
            evidence: trace
                .as_ref()
                .and_then(|t| t.payload.get("evidence").and_then(|e| e.as_f64()))
                .unwrap_or(0.0),
            unknown: trace
                .as_ref()
                .and_then(|t| t.payload.get("unknown").and_then(|e| e.as_f64()))
                .unwrap_or(0.0),
            coverage: trace
                .as_ref()
                .and_then(|t| serde_json::from_value(t.payload["coverage"].clone()).ok())
                .unwrap_or_default(),
        };
        if let Some(path) = &args.dump {
            use std::io::Write as _;
            let line = json!({
                "id": item.id, "kind": item.kind, "gold": item.gold,
                "detail": trace.as_ref().map(|t| t.payload["detail"].clone()),
            });
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            writeln!(f, "{line}")?;
        }
        if args.verbose {
            let cited: Vec<String> = citations(&turn.outcome)
                .iter()
                .map(|c| c.location.clone())
                .collect();
            let top: Vec<String> = s
                .coverage
                .iter()
                .take(4)
                .map(|(l, c)| {
                    let mark = if s.item.gold.contains(l) { "*" } else { "" };
                    format!("{mark}{l}:{c:.2}")
                })
                .collect();
            println!(
                "{:<7} {:<12} {:<9} ev {:.2} unk {:.2} [{}] {:>6.1} ms  {} {}  gold {:?}  cited {:?}",
                s.item.id,
                s.item.kind,
                s.action,
                s.evidence,
                s.unknown,
                top.join(" "),
                s.latency_ms,
                if s.item.answerable() || s.item.kind == "followup" {
                    if s.hit() { "HIT " } else { "miss" }
                } else {
                    "    "
                },
                if s.item.facts.is_empty() {
                    String::new()
                } else {
                    format!("facts {:.2}", s.fact_recall())
                },
                s.item.gold,
                cited
            );
        }
        scored.push(s);
    }

    let of = |kinds: &[&str]| -> Vec<&Scored> {
        scored
            .iter()
            .filter(|s| kinds.contains(&s.item.kind.as_str()))
            .collect()
    };
    let answerable = of(&["howto", "troubleshoot"]);
    let unanswerable = of(&["unanswerable"]);
    let handoff = of(&["handoff"]);
    let chitchat = of(&["chitchat"]);
    let followup = of(&["followup"]);
    let replied = |s: &&&Scored| s.action == "reply";
    let mut latencies: Vec<f64> = scored.iter().map(|s| s.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let report = json!({
        "answerable": {
            "n": answerable.len(),
            "answered": rate(answerable.iter().filter(replied).count(), answerable.len()),
            "citation_hit": rate(answerable.iter().filter(|s| s.hit()).count(), answerable.len()),
            "citation_precision": mean(answerable.iter().filter_map(|s| s.precision())),
            "fact_recall": mean(answerable.iter().map(|s| s.fact_recall())),
        },
        "unanswerable": {
            "n": unanswerable.len(),
            "false_answers": rate(unanswerable.iter().filter(replied).count(), unanswerable.len()),
        },
        "handoff": {
            "n": handoff.len(),
            "handed_off": rate(
                handoff.iter().filter(|s| matches!(s.action, "handoff" | "escalate")).count(),
                handoff.len()
            ),
        },
        "chitchat": {
            "n": chitchat.len(),
            "silent": rate(chitchat.iter().filter(|s| s.action == "silent").count(), chitchat.len()),
        },
        "followup": {
            "n": followup.len(),
            "citation_hit": rate(followup.iter().filter(|s| s.hit()).count(), followup.len()),
        },
        "latency_ms": {
            "p50": percentile(&latencies, 50.0),
            "p99": percentile(&latencies, 99.0),
        },
        "tokens": {
            "prompt_mean": mean(scored.iter().map(|s| s.prompt_tokens as f64)),
            "completion_mean": mean(scored.iter().map(|s| s.completion_tokens as f64)),
        },
    });
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    println!(
        "answerable   n={:<3} answered {:.3}  citation hit {:.3}  citation precision {:.3}  fact recall {:.3}",
        report["answerable"]["n"],
        f(&report["answerable"]["answered"]),
        f(&report["answerable"]["citation_hit"]),
        f(&report["answerable"]["citation_precision"]),
        f(&report["answerable"]["fact_recall"]),
    );
    println!(
        "unanswerable n={:<3} false answers {:.3}",
        report["unanswerable"]["n"],
        f(&report["unanswerable"]["false_answers"])
    );
    println!(
        "handoff      n={:<3} handed off {:.3}",
        report["handoff"]["n"],
        f(&report["handoff"]["handed_off"])
    );
    println!(
        "chitchat     n={:<3} silent {:.3}",
        report["chitchat"]["n"],
        f(&report["chitchat"]["silent"])
    );
    println!(
        "followup     n={:<3} citation hit {:.3}",
        report["followup"]["n"],
        f(&report["followup"]["citation_hit"])
    );
    println!(
        "latency      p50 {:.1} ms  p99 {:.1} ms (whole pipeline, in process)",
        f(&report["latency_ms"]["p50"]),
        f(&report["latency_ms"]["p99"])
    );
    println!(
        "tokens       prompt {:.0}  completion {:.0} per question",
        f(&report["tokens"]["prompt_mean"]),
        f(&report["tokens"]["completion_mean"])
    );

    sweep(&services, &eval, &items, &scored).await?;
    if args.json {
        println!("{report}");
    }
    services.store.close().await;
    Ok(())
}

/// How citation hit (answerable and follow-up questions) and false answers (unanswerable
/// ones) move with the relevance floor. Extractive decisions are re-run through the agent at
/// each floor; with a model, the recorded evidence decides whether the model would have been
/// asked, and its recorded answer stands.
async fn sweep(
    services: &Services,
    config: &Config,
    items: &[Item],
    scored: &[Scored],
) -> anyhow::Result<()> {
    let with_model = services.agent.uses_model();
    let current = if with_model {
        config.agent.model_floor
    } else {
        config.agent.relevance_floor
    };
    println!(
        "\n{} floor sweep (agent only, classifier not applied):",
        if with_model { "model" } else { "relevance" }
    );
    println!("  floor  citation hit  false answers");
    let retriever = Arc::new(KnowledgeRetriever::new(Arc::clone(&services.knowledge)));
    for step in 0..=16 {
        let floor = 0.3 + 0.025 * step as f32;
        let (mut hits, mut n_hit, mut false_answers, mut n_false) = (0, 0, 0, 0);
        if with_model {
            for s in scored {
                let asked = s.evidence >= f64::from(floor);
                if s.item.answerable() || s.item.kind == "followup" {
                    n_hit += 1;
                    hits += usize::from(asked && s.hit());
                } else if s.item.kind == "unanswerable" {
                    n_false += 1;
                    false_answers += usize::from(asked && s.action == "reply");
                }
            }
        } else {
            let agent = Agent::new(
                Arc::clone(&retriever) as Arc<dyn agent::Retriever>,
                None,
                AgentSettings {
                    relevance_floor: floor,
                    ..config.agent_settings()
                },
            );
            for item in items {
                let scored_kind = item.answerable() || item.kind == "followup";
                if !scored_kind && item.kind != "unanswerable" {
                    continue;
                }
                let history: Vec<Turn> = item
                    .previous
                    .iter()
                    .map(|p| Turn {
                        speaker: Speaker::Member,
                        text: p.question.clone(),
                    })
                    .collect();
                let answer = agent
                    .answer(&Question {
                        guild_id: EVAL_GUILD,
                        text: &item.question,
                        history: &history,
                        tokens_left: None,
                        api_key: None,
                        language: None,
                    })
                    .await;
                let cited: Vec<HashSet<String>> = answer
                    .decision
                    .citations()
                    .iter()
                    .map(|c| {
                        let mut d: HashSet<String> = c.origins.iter().cloned().collect();
                        d.insert(c.location.clone());
                        d
                    })
                    .collect();
                let replied = matches!(answer.decision, Decision::Reply { .. });
                if scored_kind {
                    n_hit += 1;
                    hits += usize::from(
                        cited
                            .iter()
                            .any(|c| item.gold.iter().any(|g| c.contains(g))),
                    );
                } else {
                    n_false += 1;
                    false_answers += usize::from(replied);
                }
            }
        }
        let marker = if (floor - current).abs() < 0.001 {
            "  ← current"
        } else {
            ""
        };
        println!(
            "  {floor:.3}  {:.3}         {:.3}{marker}",
            rate(hits, n_hit),
            rate(false_answers, n_false)
        );
    }
    Ok(())
}
