//! Slash commands, one module per group. Admin commands check permissions on our side too
//! (`required_permissions` reads the member's permissions from the interaction), not only by
//! Discord's default permissions, and deny privately.

mod audit;
mod channel;
mod policy;
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
        stats::stats(),
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
