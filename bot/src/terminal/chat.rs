//! `supportbot chat`: a conversation with the bot in the terminal. Follow-ups continue the
//! thread the first question opened, as they would on Discord; `/new` starts over.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

use console::style;

use super::Session;
use super::ask::{print_turn, source_names};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::services::Services;

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The guild whose knowledge answers (and whose store records the conversation).
    #[arg(long)]
    pub guild: u64,
    /// The member the terminal stands in for.
    #[arg(long, default_value_t = 1)]
    pub member: u64,
}

pub async fn run(config: &Config, args: ChatArgs) -> ExitCode {
    // One person at a keyboard, trying their docs: the per-member limit meant for a crowd
    // would only get in the way.
    let mut config = config.clone();
    config.pipeline.per_member_per_minute = config.pipeline.per_member_per_minute.max(60);
    // Answers print whole in a terminal.
    config.agent.stream = false;
    let config = &config;
    let services = match Services::open(config, Arc::new(SystemClock)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let sources = source_names(&services, args.guild).await;
    let mut session = Session::new(Arc::clone(&services.pipeline), args.guild, args.member);
    println!(
        "{}",
        style(format!(
            "Chatting with supportbot as member {} of guild {} ({} knowledge sources). /new starts a new conversation, /quit or Ctrl-D ends.",
            args.member,
            args.guild,
            sources.len()
        ))
        .dim()
    );
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let code = loop {
        print!("{} ", style("you>").bold());
        let _ = std::io::stdout().flush();
        let Some(line) = lines.next() else {
            println!();
            break ExitCode::SUCCESS;
        };
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot read the terminal: {e}");
                break ExitCode::FAILURE;
            }
        };
        match line.trim() {
            "" => continue,
            "/quit" | "/exit" => break ExitCode::SUCCESS,
            "/new" => {
                session.new_conversation();
                println!("{}", style("(new conversation)").dim());
                continue;
            }
            _ => {}
        }
        match session.say(&line).await {
            Ok(turn) => print_turn(&turn, &sources),
            Err(e) => {
                eprintln!("error: {e}");
                break ExitCode::FAILURE;
            }
        }
    };
    services.store.close().await;
    code
}
