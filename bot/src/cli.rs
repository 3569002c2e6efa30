//! The `supportbot` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::audit_cli::{self, AuditCommand};
use crate::config::Config;
use crate::data_cli::{self, DataCommand};
use crate::eval_cli::{self, EvalCommand};
use crate::knowledge_cli::{self, KnowledgeCommand};
use crate::models_cli::{self, ModelsCommand};
use crate::policy_cli::{self, PolicyCommand};
use crate::terminal::{self, ask::AskArgs, chat::ChatArgs, demo::DemoArgs};
use crate::{app, doctor, telemetry};

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
    /// The whole pipeline on bundled example docs, in seconds: no token, no servers, no key.
    Demo(DemoArgs),
    /// Ask one question as a member of a guild would, through the same pipeline as Discord.
    Ask(AskArgs),
    /// Talk with the bot in the terminal; follow-ups continue the conversation.
    Chat(ChatArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check configuration, database, data directory, knowledge index, answer models and the
    /// Discord token.
    Doctor,
    /// Manage a guild's knowledge base: the docs the bot answers from.
    Knowledge {
        #[command(subcommand)]
        command: KnowledgeCommand,
    },
    /// Show, import or change a guild's moderation settings, and teach the semantic stage by
    /// example.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Read a guild's audit log of blocked and escalated messages.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Export, erase or purge stored data; run the retention pass; set a guild's retention.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Measure the classifier, retrieval or answers on labelled data.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Download the local sentence model (all-MiniLM-L6-v2) for hybrid search.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

pub fn main() -> ExitCode {
    // This binary is also its own PDF parse worker (see `knowledge::pdf`).
    if let Some(exit) = knowledge::pdf::worker_if_asked() {
        return exit;
    }
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
        Command::Policy { command } => policy_cli::run(&config, command).await,
        Command::Audit { command } => audit_cli::run(&config, command).await,
        Command::Knowledge { command } => knowledge_cli::run(&config, command).await,
        Command::Data { command } => data_cli::run(&config, command).await,
        Command::Eval { command } => eval_cli::run(&config, command).await,
        Command::Models { command } => models_cli::run(&config, command).await,
        Command::Ask(args) => terminal::ask::run(&config, args).await,
        Command::Chat(args) => terminal::chat::run(&config, args).await,
        Command::Demo(args) => terminal::demo::run(&config, args).await,
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
