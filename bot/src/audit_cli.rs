//! `supportbot audit list|export`: the audit log from the command line.

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;
use store::Store;

use crate::audit_view::{AuditQuery, parse_since};
use crate::config::Config;

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

pub async fn run(config: &Config, command: AuditCommand) -> ExitCode {
    match try_run(config, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn query(args: &AuditArgs) -> Result<AuditQuery, String> {
    if let Some(c) = &args.category
        && agent::classifier::Category::parse(c).is_none()
    {
        return Err(format!("unknown category {c:?}"));
    }
    let since = args
        .since
        .as_deref()
        .map(parse_since)
        .transpose()?
        .map(|d| Utc::now() - d);
    Ok(AuditQuery {
        guild_id: args.guild,
        category: args.category.clone(),
        author_id: args.member,
        since,
    })
}

async fn try_run(config: &Config, command: AuditCommand) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(&config.database_settings()).await?;
    match command {
        AuditCommand::List { args, limit } => {
            let q = query(&args)?;
            let entries = store
                .list_audit(q.guild_id as i64, &q.filter(None, limit))
                .await?;
            let mut out = std::io::stdout().lock();
            if entries.is_empty() {
                writeln!(out, "no audit entries match")?;
            }
            for e in entries {
                writeln!(
                    out,
                    "#{:<6} {}  {:<8} {:<16} {:<28} {:.2}  author {}  channel {}  message {}  {}: {}{}",
                    e.id,
                    e.created_at.format("%Y-%m-%d %H:%M:%S"),
                    e.verdict,
                    e.category,
                    e.rule,
                    e.score,
                    e.author_id,
                    e.channel_id,
                    e.message_id,
                    e.action,
                    e.action_status,
                    e.action_error
                        .map(|x| format!(" ({x})"))
                        .unwrap_or_default()
                )?;
            }
        }
        AuditCommand::Export { args, format } => {
            let q = query(&args)?;
            let mut entries = Vec::new();
            let mut before = None;
            loop {
                let page = store
                    .list_audit(q.guild_id as i64, &q.filter(before, 1000))
                    .await?;
                let Some(last) = page.last() else { break };
                before = Some(last.id);
                entries.extend(page);
            }
            match format {
                ExportFormat::Jsonl => {
                    let mut out = std::io::stdout().lock();
                    for e in &entries {
                        writeln!(out, "{}", serde_json::to_string(e)?)?;
                    }
                }
                ExportFormat::Csv => {
                    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
                    for e in &entries {
                        w.serialize(e)?;
                    }
                    w.flush()?;
                }
            }
        }
    }
    store.close().await;
    Ok(())
}
