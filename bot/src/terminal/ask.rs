//! `supportbot ask`: one question through the same classifier → gate → agent path a Discord
//! message takes, printed readably or as one JSON object.

use std::process::ExitCode;
use std::sync::Arc;

use console::style;
use serde_json::json;

use super::{Session, TurnResult, action, answer_text, citations, citations_json, verdict};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::pipeline::Outcome;
use crate::services::Services;

#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// The guild whose knowledge answers (and whose store records the turn).
    #[arg(long)]
    pub guild: u64,
    /// The member the terminal stands in for.
    #[arg(long, default_value_t = 1)]
    pub member: u64,
    /// Print one JSON object: action, answer, citations, verdict, latency_ms.
    #[arg(long)]
    pub json: bool,
    /// The question, as a member would write it.
    pub question: String,
}

pub async fn run(config: &Config, args: AskArgs) -> ExitCode {
    // Answers print whole in a terminal.
    let mut config = config.clone();
    config.agent.stream = false;
    let services = match Services::open(&config, Arc::new(SystemClock)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut session = Session::new(Arc::clone(&services.pipeline), args.guild, args.member);
    let result = session.say(&args.question).await;
    let code = match result {
        Ok(turn) => {
            let sources = source_names(&services, args.guild).await;
            if args.json {
                println!("{}", turn_json(&turn, &sources));
            } else {
                print_turn(&turn, &sources);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    };
    services.store.close().await;
    code
}

/// `(id, location)` of the guild's knowledge sources, to name cited sources.
pub async fn source_names(services: &Services, guild: u64) -> Vec<(i64, String)> {
    services
        .knowledge
        .list(guild as i64)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.id, s.location))
        .collect()
}

pub fn turn_json(turn: &TurnResult, sources: &[(i64, String)]) -> serde_json::Value {
    json!({
        "action": action(&turn.outcome),
        "answer": answer_text(turn),
        "citations": citations_json(citations(&turn.outcome), sources),
        "verdict": verdict(&turn.outcome),
        "latency_ms": turn.latency.as_secs_f64() * 1000.0,
    })
}

/// A turn for people: the verdict, the decision, the answer and its sources. Colour only on a
/// terminal.
pub fn print_turn(turn: &TurnResult, sources: &[(i64, String)]) {
    let act = action(&turn.outcome);
    let coloured = match act {
        "reply" => style(act).green().bold(),
        "ask" => style(act).cyan().bold(),
        "handoff" | "escalate" => style(act).yellow().bold(),
        "blocked" => style(act).red().bold(),
        _ => style(act).dim(),
    };
    println!(
        "  {} {}   {} {}   {}",
        style("verdict").dim(),
        verdict(&turn.outcome),
        style("decision").dim(),
        coloured,
        style(format!("{:.0} ms", turn.latency.as_secs_f64() * 1000.0)).dim()
    );
    if let Outcome::Skipped(skip) = &turn.outcome {
        println!(
            "  {}",
            style(format!("(no answer: {})", skip.as_str())).dim()
        );
    }
    if let Some(text) = answer_text(turn) {
        for line in text.lines() {
            println!("  {line}");
        }
    }
    let cited = citations(&turn.outcome);
    if !cited.is_empty() {
        println!("  {}", style("Sources").bold());
        for c in cited {
            let place = c.url.clone().unwrap_or_else(|| {
                let source = sources
                    .iter()
                    .find(|(id, _)| *id == c.source_id)
                    .map(|(_, l)| l.as_str())
                    .unwrap_or("");
                format!("{source}/{}", c.location)
            });
            println!(
                "  [{}] {} — {}",
                c.number,
                c.title,
                style(place).underlined()
            );
        }
    }
    for p in &turn.posted {
        if p.channel_id != turn.asked_in && Some(p.channel_id) != thread_of(&turn.outcome) {
            println!(
                "  {} {}",
                style(format!("→ posted in channel {}:", p.channel_id)).dim(),
                p.message.joined().lines().next().unwrap_or("")
            );
        }
    }
}

fn thread_of(outcome: &Outcome) -> Option<u64> {
    match outcome {
        Outcome::Responded { thread_id, .. } => Some(*thread_id),
        _ => None,
    }
}
