//! `supportbot audit list|export`: the audit log from the command line.

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;
use store::{AuditEntry, Store};

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
                ExportFormat::Csv => write_csv(&entries, std::io::stdout().lock())?,
            }
        }
    }
    store.close().await;
    Ok(())
}

/// The entries as CSV that a spreadsheet opens as text: excerpts are what members wrote, and a
/// cell such as `=HYPERLINK(…)` would otherwise run as a formula. Following OWASP's advice on
/// CSV injection, a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
/// leading `'`, and every cell is quoted (quotes inside doubled).
fn write_csv(entries: &[AuditEntry], out: impl Write) -> Result<(), Box<dyn std::error::Error>> {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(out);
    w.write_record([
        "id",
        "guild_id",
        "channel_id",
        "message_id",
        "author_id",
        "verdict",
        "category",
        "rule",
        "model",
        "model_verdict",
        "score",
        "action",
        "action_status",
        "action_error",
        "excerpt",
        "created_at",
    ])?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    for e in entries {
        let record = [
            e.id.to_string(),
            e.guild_id.to_string(),
            e.channel_id.to_string(),
            e.message_id.to_string(),
            e.author_id.to_string(),
            e.verdict.clone(),
            e.category.clone(),
            e.rule.clone(),
            text(&e.model),
            text(&e.model_verdict),
            e.score.to_string(),
            e.action.clone(),
            e.action_status.clone(),
            text(&e.action_error),
            text(&e.excerpt),
            e.created_at.to_rfc3339(),
        ];
        w.write_record(record.iter().map(|cell| spreadsheet_safe(cell)))?;
    }
    w.flush()?;
    Ok(())
}

fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(excerpt: &str) -> AuditEntry {
        AuditEntry {
            id: 1,
            guild_id: 2,
            channel_id: 3,
            message_id: 4,
            author_id: 5,
            verdict: "block".into(),
            category: "spam".into(),
            rule: "spam.link".into(),
            model: None,
            model_verdict: None,
            score: 0.5,
            action: "delete".into(),
            action_status: "ok".into(),
            action_error: None,
            excerpt: Some(excerpt.into()),
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn csv_cells_cannot_become_spreadsheet_formulas() {
        let formulas = [
            r#"=HYPERLINK("http://evil.example","click")"#,
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ];
        let entries: Vec<AuditEntry> = formulas.iter().map(|f| entry(f)).collect();
        let mut out = Vec::new();
        write_csv(&entries, &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let excerpt = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "excerpt")
            .unwrap();
        let cells: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[excerpt].to_string())
            .collect();
        let expected: Vec<String> = formulas.iter().map(|f| format!("'{f}")).collect();
        assert_eq!(cells, expected, "each formula is text, its content intact");
        let raw = String::from_utf8(out).unwrap();
        assert!(
            raw.contains(r#""'=HYPERLINK(""http://evil.example"",""click"")""#),
            "{raw}"
        );
        assert!(raw.lines().all(|l| l.starts_with('"')), "{raw}");

        let mut plain = Vec::new();
        write_csv(&[entry("how do I reset it?")], &mut plain).unwrap();
        assert!(
            String::from_utf8(plain)
                .unwrap()
                .contains(r#""how do I reset it?""#)
        );
    }
}
