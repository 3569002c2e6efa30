//! `supportbot demo`: the whole pipeline on a fresh machine with no token, no servers and no
//! key. It indexes the bundled guide for guild admins (`docs/guide/`, compiled into the
//! binary) into a demo guild in a temporary directory, runs sample messages through the same
//! path a Discord message takes, prints each step, then the audit log, then how to connect a
//! real bot.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use console::style;
use knowledge::{Document, Format, NoProgress, SourceSpec};

use super::Session;
use super::ask::{print_turn, source_names};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::services::Services;

const DEMO_GUILD: u64 = 100_000_000_000_000_001;
const STAFF_CHANNEL: u64 = 100_000_000_000_000_002;
const SUPPORT_ROLE: u64 = 100_000_000_000_000_003;

/// The guide pages, compiled in so the demo needs no files beside the binary.
const GUIDE: &[(&str, &str)] = &[
    (
        "getting-started.md",
        include_str!("../../../docs/guide/getting-started.md"),
    ),
    (
        "how-answers-work.md",
        include_str!("../../../docs/guide/how-answers-work.md"),
    ),
    (
        "knowledge-base.md",
        include_str!("../../../docs/guide/knowledge-base.md"),
    ),
    (
        "handoff-and-escalation.md",
        include_str!("../../../docs/guide/handoff-and-escalation.md"),
    ),
    (
        "moderation.md",
        include_str!("../../../docs/guide/moderation.md"),
    ),
    (
        "audit-log.md",
        include_str!("../../../docs/guide/audit-log.md"),
    ),
    (
        "llm-providers.md",
        include_str!("../../../docs/guide/llm-providers.md"),
    ),
    (
        "privacy-and-data.md",
        include_str!("../../../docs/guide/privacy-and-data.md"),
    ),
    (
        "configuration.md",
        include_str!("../../../docs/guide/configuration.md"),
    ),
    (
        "troubleshooting.md",
        include_str!("../../../docs/guide/troubleshooting.md"),
    ),
];

/// What the demo shows, in order: `(what it shows, message, continues the previous thread)`.
const SCRIPT: &[(&str, &str, bool)] = &[
    (
        "a question answered from the docs, with citations",
        "how do I add our docs folder to the bot?",
        false,
    ),
    (
        "a follow-up in the same thread",
        "and can it read pdf files too?",
        true,
    ),
    (
        "a question the docs don't cover: handed off",
        "does it sync tickets with jira or zendesk?",
        false,
    ),
    (
        "a scam link: blocked and audited",
        "FREE NITRO for everyone!! claim yours in 24h at https://dlscord-nitro.gift/claim",
        false,
    ),
    (
        "a request for a person: handed off to the support role",
        "can I talk to a real person please",
        false,
    ),
    (
        "crisis language: answered with care and escalated to staff",
        "honestly i don't want to be alive anymore",
        false,
    ),
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub async fn run(config: &Config, _args: DemoArgs) -> ExitCode {
    match try_run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn try_run(config: &Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    // The demo's own storage: a SQLite file and Qdrant Edge in a temporary directory,
    // whatever the configuration names. A configured answer model is used.
    let mut demo = Config {
        data_dir: dir.path().to_path_buf(),
        llm: config.llm.clone(),
        agent: config.agent.clone(),
        ..Config::default()
    };
    demo.pipeline.per_member_per_minute = 60;
    // Nobody watches a Discord message grow here: answers print whole.
    demo.agent.stream = false;
    let services = Services::open(&demo, Arc::new(SystemClock)).await?;

    println!(
        "{}",
        style("supportbot demo — the whole pipeline, no Discord, no servers").bold()
    );
    println!(
        "{}",
        style(format!(
            "(data in {}, removed at the end)",
            dir.path().display()
        ))
        .dim()
    );
    let documents: Vec<Document> = GUIDE
        .iter()
        .map(|(name, body)| Document {
            location: (*name).to_string(),
            url: None,
            fallback_title: name.trim_end_matches(".md").replace('-', " "),
            format: Format::Markdown,
            body: (*body).to_string(),
        })
        .collect();
    let summary = services
        .knowledge
        .add(
            DEMO_GUILD as i64,
            SourceSpec::Documents {
                name: "docs/guide".into(),
                documents,
            },
            &NoProgress,
        )
        .await?;
    println!(
        "\n{} indexed the guide for guild admins: {} pages, {} chunks ({})",
        style("knowledge").bold(),
        summary.documents,
        summary.chunks,
        if services.agent.uses_model() {
            "answers written by the configured model"
        } else {
            "no model configured: answers quote the docs"
        }
    );
    services
        .pipeline
        .guild_settings()
        .update(DEMO_GUILD, |s| {
            s.staff_channel_id = Some(STAFF_CHANNEL);
            s.support_role_id = Some(SUPPORT_ROLE);
            Ok(())
        })
        .await?;
    println!(
        "{} staff channel {STAFF_CHANNEL}, support role {SUPPORT_ROLE}",
        style("settings").bold()
    );

    let sources = source_names(&services, DEMO_GUILD).await;
    let mut session: Option<Session> = None;
    for (i, (what, message, follow_up)) in SCRIPT.iter().enumerate() {
        println!(
            "\n{} {}",
            style(format!("{}.", i + 1)).bold(),
            style(what).bold().underlined()
        );
        println!("{} {}", style("member>").cyan().bold(), message);
        if !follow_up || session.is_none() {
            // Each scenario is another member.
            session = Some(Session::new(
                Arc::clone(&services.pipeline),
                DEMO_GUILD,
                200 + i as u64,
            ));
        }
        let s = session.as_mut().expect("a session was just made");
        let turn = s.say(message).await?;
        print_turn(&turn, &sources);
    }

    let audit = services
        .store
        .list_audit(
            DEMO_GUILD as i64,
            &store::AuditFilter {
                category: None,
                author_id: None,
                since: None,
                before_id: None,
                limit: 20,
            },
        )
        .await?;
    println!("\n{}", style("Audit log (what /audit shows admins)").bold());
    for e in audit.iter().rev() {
        println!(
            "  #{} {} {:<8} {:<15} rule {:<28} action {} ({})",
            e.id,
            e.created_at.format("%H:%M:%S"),
            e.verdict,
            e.category,
            e.rule,
            e.action,
            e.action_status
        );
    }
    println!(
        "\n{}\n  1. Create an application and bot in the Discord Developer Portal, turn on the Message Content intent, copy the token.\n  2. Invite it with the bot and applications.commands scopes (README: \"Setting up the Discord application\").\n  3. DISCORD_TOKEN=… cargo run --release -p supportbot -- run\n  4. Add your docs: supportbot knowledge add --guild YOUR_GUILD_ID ./docs\n  5. In your help channel: /support enable, /support role @Support, /policy staff-channel #staff",
        style("Connect a real Discord bot").bold()
    );
    println!(
        "{}",
        style(format!(
            "demo finished in {:.1} s",
            started.elapsed().as_secs_f64()
        ))
        .dim()
    );
    services.store.close().await;
    drop(services);
    Ok(())
}
