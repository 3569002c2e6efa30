//! The Discord adapter: one serenity client (gateway + REST), poise for slash commands, and the
//! glue that turns gateway events into pipeline `Inbound`s. Kept thin: decisions live in the
//! pipeline.

pub mod commands;
mod delivery;
mod events;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use secrecy::{ExposeSecret, SecretString};
use serenity::all::{CreateAllowedMentions, GatewayIntents, Http, HttpBuilder};

pub use commands::commands;
pub use delivery::DiscordDelivery;
pub use events::Handler;

use crate::ops::Health;
use crate::pipeline::Pipeline;

/// Shared by the event handler and the slash commands.
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub archive_minutes: u16,
    /// The gateway's state, for `/readyz`.
    pub health: Arc<Health>,
    /// Set at the first READY: any later READY or RESUMED is a reconnect.
    pub connected_once: AtomicBool,
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Context<'a> = poise::Context<'a, Arc<AppState>, Error>;

pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT
}

/// serenity's HTTP client with empty allowed mentions: nothing the bot writes can ping.
/// `api_proxy` points REST at a local fake; serenity honours it only without its rate limiter.
pub fn http_client(token: &SecretString, api_proxy: Option<&str>) -> Http {
    let mut builder = HttpBuilder::new(token.expose_secret())
        .default_allowed_mentions(CreateAllowedMentions::new());
    if let Some(proxy) = api_proxy {
        builder = builder.proxy(proxy).ratelimiter_disabled(true);
    }
    builder.build()
}
