//! The Discord adapter: one serenity client (gateway + REST; one connection per shard this
//! process runs), poise for slash commands, and the
//! glue that turns gateway events into pipeline `Inbound`s. Kept thin: decisions live in the
//! pipeline.

pub mod commands;
mod delivery;
mod events;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use serenity::all::{CreateAllowedMentions, GatewayIntents, Http, HttpBuilder};

pub use commands::commands;
pub use delivery::{BucketGate, DiscordDelivery};
pub use events::Handler;

use crate::ops::Health;
use crate::pipeline::Pipeline;

/// Shared by the event handler and the slash commands.
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    /// The guilds' knowledge bases, for `/knowledge` and `/privacy purge-guild`.
    pub knowledge: Arc<knowledge::KnowledgeBase>,
    /// Downloads the files admins attach to `/knowledge add` from Discord's CDN.
    pub cdn: serenity_reqwest::Client,
    pub archive_minutes: u16,
    /// Shared by every delivery, so requests to one rate-limit bucket go one at a time.
    pub gate: BucketGate,
    /// The gateway's state, for `/readyz`.
    pub health: Arc<Health>,
    /// Shards that have had their first READY: any later READY or RESUMED is a reconnect.
    pub connected_once: Mutex<HashSet<u32>>,
}

impl AppState {
    /// The pipeline's way out to Discord, over this context's HTTP client.
    pub fn delivery(&self, ctx: &serenity::all::Context) -> DiscordDelivery {
        DiscordDelivery {
            http: ctx.http.clone(),
            bot_user_id: ctx.cache.current_user().id.get(),
            archive_minutes: self.archive_minutes,
            metrics: Arc::clone(self.pipeline.metrics()),
            gate: self.gate.clone(),
        }
    }
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Context<'a> = poise::Context<'a, Arc<AppState>, Error>;

pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT
}

/// serenity's HTTP client with empty allowed mentions: nothing the bot writes can ping.
/// `client` replaces serenity's own HTTPS client (tests hand in one that reaches their fake as
/// discord.com); serenity's rate limiter stays on with it. `api_proxy` sends REST to another
/// base URL, which serenity honours only with its rate limiter off (`doctor` against a fake).
pub fn http_client(
    token: &SecretString,
    api_proxy: Option<&str>,
    client: Option<serenity_reqwest::Client>,
) -> Http {
    let mut builder = HttpBuilder::new(token.expose_secret())
        .default_allowed_mentions(CreateAllowedMentions::new());
    if let Some(client) = client {
        builder = builder.client(client);
    }
    if let Some(proxy) = api_proxy {
        builder = builder.proxy(proxy).ratelimiter_disabled(true);
    }
    builder.build()
}

/// The client that downloads attachments from Discord's CDN: it follows no redirects, so a
/// download cannot be sent anywhere but the CDN URL Discord gave. `client` is the one tests
/// hand in (it reaches their fake as Discord); production builds its own.
pub fn cdn_client(
    client: Option<serenity_reqwest::Client>,
) -> Result<serenity_reqwest::Client, serenity_reqwest::Error> {
    match client {
        Some(client) => Ok(client),
        None => serenity_reqwest::Client::builder()
            .redirect(serenity_reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build(),
    }
}

/// Why the gateway would not let the bot in, said so an admin knows what to change.
#[derive(Debug, thiserror::Error)]
pub enum GatewayRefused {
    #[error(
        "Discord rejected the bot token (gateway close 4004): set DISCORD_TOKEN to the token \
         shown under Developer Portal → your application → Bot → Reset Token"
    )]
    Token,
    #[error(
        "Discord refused the Message Content intent (gateway close 4014): turn on \"Message \
         Content Intent\" under Developer Portal → your application → Bot → Privileged Gateway \
         Intents, then start the bot again"
    )]
    Intents,
}

impl GatewayRefused {
    /// The admin-facing reason for a gateway error that no reconnect can fix.
    pub fn from_gateway(e: &serenity::Error) -> Option<GatewayRefused> {
        use serenity::gateway::GatewayError;
        match e {
            serenity::Error::Gateway(GatewayError::InvalidAuthentication) => {
                Some(GatewayRefused::Token)
            }
            serenity::Error::Gateway(
                GatewayError::DisallowedGatewayIntents | GatewayError::InvalidGatewayIntents,
            ) => Some(GatewayRefused::Intents),
            _ => None,
        }
    }
}
