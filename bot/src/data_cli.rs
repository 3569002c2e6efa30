//! `supportbot data …`: export, erase and purge on request, the retention pass on demand, a
//! guild's own retention periods, and the secrets a guild gives us. Erase and purge are
//! immediate and irreversible, so without `--yes` they only say what they would delete.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;
use knowledge::{KnowledgeBase, KnowledgeError};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use store::{LLM_API_KEY, MasterKey, MemberErasure, Store, TableCount};

use crate::config::Config;
use crate::guild_settings::{GuildSettings, RetentionOverrides};
use crate::retention::{self, Mode};

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Everything stored about a guild, or about one member of it, as JSON on standard output.
    Export {
        #[arg(long)]
        guild: u64,
        #[arg(long)]
        member: Option<u64>,
    },
    /// Erase a member: their messages, the conversations they started (with the bot's replies
    /// and traces), their feedback, and the text of audit entries about them (the entries keep
    /// IDs and verdicts).
    Erase {
        #[arg(long)]
        guild: u64,
        #[arg(long)]
        member: u64,
        /// Erase now; without it, only say what would be erased.
        #[arg(long)]
        yes: bool,
    },
    /// Purge a guild: every row, its settings, its stored secrets, its knowledge sources and
    /// their vectors.
    Purge {
        #[arg(long)]
        guild: u64,
        /// Purge now; without it, only say what would be deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Run the retention pass now (the bot runs it hourly).
    Retention {
        /// Only count what the pass would zero, delete and purge.
        #[arg(long)]
        dry_run: bool,
    },
    /// Set a guild's own LLM API key, read from standard input (never from the command line),
    /// sealed under SUPPORTBOT_MASTER_KEY. It replaces any earlier key at once.
    SetLlmKey {
        #[arg(long)]
        guild: u64,
    },
    /// Delete a guild's own LLM API key.
    ClearLlmKey {
        #[arg(long)]
        guild: u64,
    },
    /// Re-seal every guild's secrets from SUPPORTBOT_MASTER_KEY_OLD to SUPPORTBOT_MASTER_KEY,
    /// all or none; run again after an interruption.
    RotateMasterKey,
    /// Show or set a guild's own retention periods: shorter than this instance's, never longer.
    Periods {
        #[arg(long)]
        guild: u64,
        /// Days message text (and audit excerpts) are kept.
        #[arg(long)]
        message_days: Option<u32>,
        /// Days agent traces are kept.
        #[arg(long)]
        trace_days: Option<u32>,
        /// Days audit entries are kept.
        #[arg(long)]
        audit_days: Option<u32>,
        /// Go back to the instance's periods.
        #[arg(long, conflicts_with_all = ["message_days", "trace_days", "audit_days"])]
        reset: bool,
    },
}

type BoxError = Box<dyn std::error::Error>;

/// Exit status of an erase or purge refused for want of `--yes`.
const REFUSED: u8 = 2;

pub async fn run(config: &Config, command: DataCommand) -> ExitCode {
    match try_run(config, command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the knowledge index, which `command` needs. The embedded index belongs to one process
/// at a time: while `supportbot run` holds it, say so rather than only that it is locked.
async fn open_knowledge(
    config: &Config,
    store: &Store,
    command: &str,
) -> Result<KnowledgeBase, BoxError> {
    match KnowledgeBase::open(config.knowledge_config()?, store.clone()).await {
        Ok(kb) => Ok(kb),
        Err(e @ KnowledgeError::Locked { .. }) => Err(format!(
            "`supportbot data {command}` needs the knowledge index, and another process holds              it, most likely `supportbot run`: stop the bot and run the command again (the              running bot makes its own retention pass every hour). {e}"
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// The master key, or why a secret cannot be sealed without one.
fn master_key(config: &Config) -> Result<MasterKey, BoxError> {
    config.master_key()?.ok_or_else(|| {
        format!(
            "guild secrets are sealed under SUPPORTBOT_MASTER_KEY, which is not set; set it to {} \
             and keep it safe: without it no stored secret can be read",
            crate::config::MASTER_KEY_FORMAT
        )
        .into()
    })
}

/// Reads a secret from standard input: typed without echo at a terminal, else the first line
/// of what is piped in.
fn read_secret(prompt: &str) -> Result<SecretString, BoxError> {
    let term = console::Term::stderr();
    let mut line = if term.is_term() && std::io::stdin().is_terminal() {
        term.write_str(prompt)?;
        term.read_secure_line()?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    let secret = SecretString::from(line.trim().to_string());
    line.zeroize();
    if secret.expose_secret().is_empty() {
        return Err("no key given on standard input; nothing was stored".into());
    }
    Ok(secret)
}

async fn try_run(config: &Config, command: DataCommand) -> Result<ExitCode, BoxError> {
    let store = Store::open(&config.database_settings()).await?;
    let code = match command {
        DataCommand::Export { guild, member } => {
            let json = match member {
                Some(member) => serde_json::to_string_pretty(
                    &store
                        .export_member(guild as i64, member as i64, Utc::now())
                        .await?,
                )?,
                None => serde_json::to_string_pretty(
                    &store.export_guild(guild as i64, Utc::now()).await?,
                )?,
            };
            writeln!(std::io::stdout().lock(), "{json}")?;
            ExitCode::SUCCESS
        }
        DataCommand::Erase { guild, member, yes } => {
            if yes {
                let erased = store.erase_member(guild as i64, member as i64).await?;
                print!(
                    "erased member {member} from guild {guild}:\n{}",
                    erasure(&erased)
                );
                ExitCode::SUCCESS
            } else {
                let due = store
                    .member_erasure_preview(guild as i64, member as i64)
                    .await?;
                eprint!(
                    "not erasing without --yes; erasing member {member} from guild {guild} would remove, irreversibly:\n{}",
                    erasure(&due)
                );
                ExitCode::from(REFUSED)
            }
        }
        DataCommand::Purge { guild, yes } => {
            let knowledge = open_knowledge(config, &store, "purge").await?;
            if yes {
                let removed = crate::data::purge_guild(&store, &knowledge, guild as i64).await?;
                print!(
                    "purged guild {guild}: its knowledge index and\n{}",
                    tables(&removed)
                );
                ExitCode::SUCCESS
            } else {
                let rows = store.guild_row_counts(guild as i64).await?;
                let chunks = knowledge.chunk_count(guild as i64).await?;
                eprint!(
                    "not purging without --yes; purging guild {guild} would delete, irreversibly, \
                     {chunks} indexed knowledge chunks and\n{}",
                    tables(&rows)
                );
                ExitCode::from(REFUSED)
            }
        }
        DataCommand::Retention { dry_run } => {
            let now = Utc::now();
            let run = if dry_run {
                retention::pass(&store, &config.retention, now, Mode::DryRun).await?
            } else {
                let knowledge = open_knowledge(config, &store, "retention").await?;
                retention::pass(
                    &store,
                    &config.retention,
                    now,
                    Mode::Apply {
                        knowledge: &knowledge,
                    },
                )
                .await?
            };
            let (verb, purge) = if dry_run {
                ("would", "be purged")
            } else {
                ("did", "purged")
            };
            let r = &run.report;
            println!("retention ({verb}):");
            println!("  message texts zeroed    {}", r.message_contents_zeroed);
            println!("  audit excerpts cleared  {}", r.audit_excerpts_cleared);
            println!("  audit entries deleted   {}", r.audit_entries_deleted);
            println!("  traces deleted          {}", r.traces_deleted);
            println!(
                "  guilds that removed the bot over {} days ago, to {purge}: {}",
                config.retention.left_guild_grace_days,
                run.left_guilds.len()
            );
            for g in &run.left_guilds {
                println!("    {g}");
            }
            println!(
                "  guilds with their own shorter periods: {}",
                run.guilds_with_own_periods
            );
            ExitCode::SUCCESS
        }
        DataCommand::SetLlmKey { guild } => {
            let key = master_key(config)?;
            let value = read_secret(&format!("LLM API key for guild {guild} (not shown): "))?;
            store
                .set_guild_secret(guild as i64, LLM_API_KEY, &value, &key, Utc::now())
                .await?;
            println!(
                "stored guild {guild}'s LLM API key, sealed under master key {}",
                key.id()
            );
            ExitCode::SUCCESS
        }
        DataCommand::ClearLlmKey { guild } => {
            if store.delete_guild_secret(guild as i64, LLM_API_KEY).await? {
                println!("deleted guild {guild}'s LLM API key");
            } else {
                println!("guild {guild} has no LLM API key stored");
            }
            ExitCode::SUCCESS
        }
        DataCommand::RotateMasterKey => {
            let new = master_key(config)?;
            let old = config.master_key_old()?.ok_or(
                "set SUPPORTBOT_MASTER_KEY_OLD to the key the secrets are sealed under now, and \
                 SUPPORTBOT_MASTER_KEY to the new one",
            )?;
            if old.id() == new.id() {
                return Err(
                    "SUPPORTBOT_MASTER_KEY_OLD and SUPPORTBOT_MASTER_KEY are the same key".into(),
                );
            }
            let rotation = store.rotate_master_key(&old, &new).await?;
            println!(
                "re-sealed {} secrets from master key {} to {}; {} were already under the new key",
                rotation.resealed,
                old.id(),
                new.id(),
                rotation.already_current
            );
            println!("the old key can now be destroyed; unset SUPPORTBOT_MASTER_KEY_OLD");
            ExitCode::SUCCESS
        }
        DataCommand::Periods {
            guild,
            message_days,
            trace_days,
            audit_days,
            reset,
        } => {
            let stored = store.guild_settings(guild as i64).await?;
            let mut settings: GuildSettings = serde_json::from_value(stored)?;
            let asked = RetentionOverrides {
                message_days,
                trace_days,
                audit_days,
            };
            if reset || !asked.is_empty() {
                let mut own = if reset {
                    RetentionOverrides::default()
                } else {
                    settings.retention
                };
                own.message_days = message_days.or(own.message_days);
                own.trace_days = trace_days.or(own.trace_days);
                own.audit_days = audit_days.or(own.audit_days);
                own.check(&config.retention)?;
                settings.retention = own;
                store
                    .set_guild_settings(guild as i64, &serde_json::to_value(&settings)?, Utc::now())
                    .await?;
            }
            let applied = settings.retention.apply_to(&config.retention);
            println!("guild {guild} keeps:");
            println!(
                "  message text and audit excerpts  {} days",
                applied.message_days
            );
            println!(
                "  agent traces                     {} days",
                applied.trace_days
            );
            println!(
                "  audit entries                    {} days",
                applied.audit_days
            );
            ExitCode::SUCCESS
        }
    };
    store.close().await;
    Ok(code)
}

fn erasure(e: &MemberErasure) -> String {
    [
        ("conversations they started", e.conversations_deleted),
        ("messages", e.messages_deleted),
        ("agent traces", e.traces_deleted),
        ("feedback", e.feedback_deleted),
        (
            "audit excerpts (entries kept, without text)",
            e.audit_excerpts_cleared,
        ),
        (
            "channel settings they changed (who changed them is forgotten)",
            e.channel_settings_unattributed,
        ),
    ]
    .iter()
    .map(|(what, n)| format!("  {n:>8}  {what}\n"))
    .collect()
}

fn tables(counts: &[TableCount]) -> String {
    counts
        .iter()
        .map(|c| format!("  {:>8}  rows of {}\n", c.rows, c.table))
        .collect()
}
