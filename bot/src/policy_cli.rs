//! `supportbot policy show|import|example`: a guild's moderation settings from the command line.
//! These are the settings `/policy` edits in Discord, validated the same way: nothing is saved
//! unless the whole result is valid, and a refusal says why.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use agent::classifier::semantic::Label;
use clap::Subcommand;
use figment::Figment;
use figment::providers::{Format, Toml};
use store::Store;

use crate::config::Config;
use crate::guild_settings::{
    GuildSettings, GuildSettingsCache, IdStyle, RetentionOverrides, SettingsError,
};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The guild's moderation settings.
    Show {
        /// The guild's ID.
        #[arg(long)]
        guild: u64,
        /// Print them as JSON, the shape `policy import` reads back.
        #[arg(long)]
        json: bool,
    },
    /// Replace the guild's settings with a file: TOML, or JSON as `policy show --json` prints.
    /// Settings the file leaves out take their defaults. Nothing changes unless all of it is
    /// valid.
    Import {
        /// The guild's ID.
        #[arg(long)]
        guild: u64,
        /// A `.toml` or `.json` file.
        file: PathBuf,
    },
    /// Example messages that teach the semantic stage what a category means in this guild.
    Example {
        #[command(subcommand)]
        command: ExampleCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExampleCommand {
    /// Add an example to a category (`custom`, `scam`, …), or to `benign` for messages that are
    /// ordinary here and should not be flagged.
    Add {
        /// The guild's ID.
        #[arg(long)]
        guild: u64,
        category: String,
        /// The example message (up to 500 characters).
        text: String,
    },
    /// Remove one example, given exactly as it was added.
    Remove {
        /// The guild's ID.
        #[arg(long)]
        guild: u64,
        category: String,
        text: String,
    },
    /// The guild's examples, one per line as `category<TAB>text`.
    List {
        /// The guild's ID.
        #[arg(long)]
        guild: u64,
        /// Only this category's examples.
        #[arg(long)]
        category: Option<String>,
    },
}

pub async fn run(config: &Config, command: PolicyCommand) -> ExitCode {
    match try_run(config, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliError = Box<dyn std::error::Error>;

async fn try_run(config: &Config, command: PolicyCommand) -> Result<(), CliError> {
    let store = Store::open(&config.database_settings()).await?;
    let settings = GuildSettingsCache::new(store.clone(), Duration::ZERO);
    let result = dispatch(config, &settings, command).await;
    store.close().await;
    result
}

async fn dispatch(
    config: &Config,
    settings: &GuildSettingsCache,
    command: PolicyCommand,
) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match command {
        PolicyCommand::Show { guild, json } => {
            let context = settings.get(guild).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&context.settings)?)?;
            } else {
                for line in context.settings.describe(&context.policy, IdStyle::Plain) {
                    writeln!(out, "{line}")?;
                }
                if !context.settings.policy.examples.is_empty() && !config.classifier.semantic {
                    writeln!(
                        out,
                        "The examples take effect when the semantic stage is on \
                         (classifier.semantic = true)."
                    )?;
                }
            }
        }
        PolicyCommand::Import { guild, file } => {
            let imported = read_settings(&file)?;
            imported
                .retention
                .check(&config.retention)
                .map_err(|e| format!("not saved: {e}"))?;
            save(settings, guild, move |s| {
                *s = imported;
                Ok(())
            })
            .await?;
            writeln!(out, "imported {} into guild {guild}", file.display())?;
        }
        PolicyCommand::Example { command } => example(config, settings, command, &mut out).await?,
    }
    Ok(())
}

async fn example(
    config: &Config,
    settings: &GuildSettingsCache,
    command: ExampleCommand,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match command {
        ExampleCommand::Add {
            guild,
            category,
            text,
        } => {
            let label = label(&category)?;
            let mut added = false;
            save(settings, guild, |s| {
                added = s.add_example(&label, &text);
                Ok(())
            })
            .await?;
            if added {
                writeln!(out, "added an example to {label}")?;
                if !config.classifier.semantic {
                    writeln!(
                        out,
                        "It takes effect when the semantic stage is on (classifier.semantic = true)."
                    )?;
                }
            } else {
                writeln!(out, "{label} already has this example; nothing changed")?;
            }
        }
        ExampleCommand::Remove {
            guild,
            category,
            text,
        } => {
            let label = label(&category)?;
            let mut found = false;
            save(settings, guild, |s| {
                found = s.remove_example(&label, &text);
                Ok(())
            })
            .await?;
            if !found {
                return Err(format!("{label} has no such example; nothing changed").into());
            }
            writeln!(out, "removed the example from {label}")?;
        }
        ExampleCommand::List { guild, category } => {
            let only = category.as_deref().map(label).transpose()?;
            let context = settings.get(guild).await?;
            let mut listed = 0;
            for (label, texts) in &context.settings.policy.examples {
                if only.as_ref().is_some_and(|o| o != label) {
                    continue;
                }
                for text in texts {
                    // One example per line: line breaks inside one are shown escaped.
                    writeln!(out, "{label}\t{}", text.replace('\n', "\\n"))?;
                    listed += 1;
                }
            }
            if listed == 0 {
                writeln!(out, "no examples")?;
            }
        }
    }
    Ok(())
}

/// A category name or `benign`, as examples are stored; anything else is refused with the list.
fn label(category: &str) -> Result<String, CliError> {
    let name = category.trim().to_lowercase();
    if Label::parse(&name).is_some() {
        return Ok(name);
    }
    let known: Vec<&str> = agent::classifier::Category::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    Err(format!(
        "unknown category {category:?}: use benign or one of {}",
        known.join(", ")
    )
    .into())
}

async fn save(
    settings: &GuildSettingsCache,
    guild: u64,
    change: impl FnOnce(&mut GuildSettings) -> Result<(), SettingsError>,
) -> Result<(), CliError> {
    match settings.update(guild, change).await {
        Ok(_) => Ok(()),
        Err(SettingsError::Store(e)) => Err(e.into()),
        Err(e) => Err(format!("not saved: {e}").into()),
    }
}

/// Guild settings from a TOML or JSON file (by extension; JSON when there is none). Unknown
/// keys are refused, so a misspelt setting is not silently dropped.
fn read_settings(path: &Path) -> Result<GuildSettings, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let invalid = |e: String| format!("{} is not valid guild settings: {e}", path.display());
    let parsed: serde_json::Value = if is_toml {
        Figment::from(Toml::string(&text))
            .extract()
            .map_err(|e| invalid(e.to_string()))?
    } else {
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?
    };
    let Some(keys) = parsed.as_object() else {
        return Err(invalid("expected a table of settings".into()).into());
    };
    // The known keys are the ones the settings themselves serialise to, every one set.
    let sample = GuildSettings {
        retention: RetentionOverrides {
            message_days: Some(1),
            ..RetentionOverrides::default()
        },
        ..GuildSettings::default()
    };
    let known = serde_json::to_value(sample)?;
    let known: Vec<&String> = known
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    if let Some(unknown) = keys.keys().find(|k| !known.contains(k)) {
        let names: Vec<&str> = known.iter().map(|k| k.as_str()).collect();
        return Err(invalid(format!(
            "unknown setting {unknown:?} (known: {})",
            names.join(", ")
        ))
        .into());
    }
    Ok(serde_json::from_value(parsed).map_err(|e| invalid(e.to_string()))?)
}
