//! Slash commands, one module per group. Admin commands check permissions on our side too
//! (`required_permissions` reads the member's permissions from the interaction), not only by
//! Discord's default permissions, and deny privately. Commands any member can run, and those
//! that cost real work, carry a per-member cooldown; an admin changing settings in a row does
//! not wait.

mod ask;
mod audit;
mod channel;
mod confirm;
mod knowledge;
mod knowledge_ingest;
mod policy;
mod privacy;
mod setup;
mod stats;
mod support;

use std::sync::Arc;

use poise::CreateReply;
use tracing::warn;

pub use audit::handle_audit_button;

use super::{AppState, Error};

pub fn commands() -> Vec<poise::Command<Arc<AppState>, Error>> {
    vec![
        support::support(),
        channel::channel(),
        audit::audit(),
        policy::policy(),
        ask::ask(),
        privacy::privacy(),
        setup::setup(),
        knowledge::knowledge(),
        stats::stats(),
        channel::resume_here(),
    ]
}

/// Turns command errors into a private reply; logs the rest with IDs only.
pub async fn on_error(error: poise::FrameworkError<'_, Arc<AppState>, Error>) {
    let reply = |text: &str| CreateReply::default().content(text).ephemeral(true);
    match error {
        poise::FrameworkError::MissingUserPermissions { ctx, .. } => {
            let _ = ctx
                .send(reply(
                    "You need the **Manage Server** permission to do that.",
                ))
                .await;
        }
        poise::FrameworkError::CooldownHit {
            remaining_cooldown,
            ctx,
            ..
        } => {
            let _ = ctx
                .send(reply(&format!(
                    "Slow down a little: try `/{}` again in {} s.",
                    ctx.command().qualified_name,
                    remaining_cooldown.as_secs().max(1)
                )))
                .await;
        }
        poise::FrameworkError::GuildOnly { ctx, .. } => {
            let _ = ctx
                .send(reply("This command works only in a server."))
                .await;
        }
        poise::FrameworkError::Command { error, ctx, .. } => {
            warn!(
                command = %ctx.command().qualified_name,
                guild_id = ctx.guild_id().map(|g| g.get()),
                error = %error,
                "command failed"
            );
            let _ = ctx
                .send(reply("Something went wrong on our side; please try again."))
                .await;
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                warn!(error = %e, "could not report a command error");
            }
        }
    }
}
