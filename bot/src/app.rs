//! `supportbot run`: the services (store, knowledge base, agent, pipeline), the Discord
//! client, background maintenance and graceful shutdown. The shutdown trigger is a parameter, so tests supply their own.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use serenity::all::{ClientBuilder, GuildId};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Sharding};
use crate::discord::{self, AppState, GatewayRefused};
use crate::ops::{self, Health, OpsState};
use crate::pipeline::Handled;
use crate::retention;
use crate::services::Services;

/// The one-line message for `run` without a token.
pub const MISSING_TOKEN: &str = "DISCORD_TOKEN is not set: set it to your bot's token (Discord Developer Portal → your application → Bot → Reset Token)";

#[derive(Debug, thiserror::Error)]
#[error("{MISSING_TOKEN}")]
pub struct MissingToken;

/// A process that runs only some of the shards shares the bot with other processes: they
/// need one database between them.
#[derive(Debug, thiserror::Error)]
#[error(
    "SUPPORTBOT_DISCORD__SHARD_RANGE runs shards {first}-{last} of {total}, so other processes \
     run the rest and all of them need the same database: set DATABASE_URL to a shared \
     postgres://… server (an SQLite file belongs to one process)"
)]
pub struct ShardsNeedSharedDatabase {
    first: u32,
    last: u32,
    total: u32,
}

/// What `run` is wired to besides its configuration. The default is production's: serenity's
/// own HTTPS client, and nobody watching outcomes.
#[derive(Default)]
pub struct Wiring {
    /// serenity's REST client; tests pass one that reaches their fake Discord.
    pub discord_http: Option<serenity_reqwest::Client>,
    /// Told about every message the pipeline has finished with.
    pub outcomes: Option<tokio::sync::mpsc::UnboundedSender<Handled>>,
}

/// Connects to Discord and serves until `shutdown` fires, then finishes in-flight messages
/// and disconnects.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_wired(config, shutdown, Wiring::default()).await
}

/// `run`, wired as the caller says.
pub async fn run_wired(
    config: Config,
    shutdown: CancellationToken,
    wiring: Wiring,
) -> anyhow::Result<()> {
    let token = config.discord.token.clone().ok_or(MissingToken)?;
    let sharding = config.discord.sharding()?;
    if let Sharding::Shards { first, last, total } = sharding
        && sharding.is_partial()
        && config
            .database_settings()
            .url
            .expose_secret()
            .starts_with("sqlite:")
    {
        return Err(ShardsNeedSharedDatabase { first, last, total }.into());
    }
    if sharding.is_partial() && config.knowledge.qdrant_url.is_none() {
        warn!(
            "this process runs some of the shards on the embedded knowledge index: it answers \
             only from documents added to its own data directory; share a Qdrant server \
             (QDRANT_URL) between the processes instead"
        );
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let services = Services::open(&config, Arc::clone(&clock)).await?;
    let store = services.store.clone();
    let pipeline = Arc::clone(&services.pipeline);
    if let Some(outcomes) = wiring.outcomes {
        pipeline.report_outcomes_to(outcomes);
    }
    let health = Arc::new(Health::for_shards(sharding.ids()));
    let state = Arc::new(AppState {
        pipeline: Arc::clone(&pipeline),
        knowledge: Arc::clone(&services.knowledge),
        cdn: discord::cdn_client(wiring.discord_http.clone())
            .context("building the HTTPS client for Discord's CDN")?,
        archive_minutes: config.discord.thread_archive_minutes,
        gate: discord::BucketGate::default(),
        health: Arc::clone(&health),
        connected_once: Mutex::new(HashSet::new()),
    });
    if let Some(addr) = config.ops.listen {
        let ops = OpsState {
            pipeline: Arc::clone(&pipeline),
            knowledge: Arc::clone(&services.knowledge),
            health,
        };
        let (bound, _server) = ops::start(addr, ops, shutdown.clone())
            .await
            .with_context(|| format!("starting the ops endpoint on {addr}"))?;
        info!(address = %bound, "ops endpoint: /healthz, /readyz, /metrics");
    }

    let http = discord::http_client(
        &token,
        config.discord.api_proxy.as_deref(),
        wiring.discord_http,
    );
    let setup_state = Arc::clone(&state);
    let dev_guild = config.discord.dev_guild;
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: discord::commands(),
            on_error: |error| Box::pin(discord::commands::on_error(error)),
            // Nothing a command answers may ping anyone (poise's default allows users).
            allowed_mentions: Some(serenity::all::CreateAllowedMentions::new()),
            // Slash commands only: a mention is a question for the pipeline, not a command.
            prefix_options: poise::PrefixFrameworkOptions {
                mention_as_prefix: false,
                ..Default::default()
            },
            ..Default::default()
        })
        .setup(move |ctx, _ready, framework| {
            Box::pin(async move {
                let commands = &framework.options().commands;
                // Each registration replaces the whole set: with several processes, only the
                // one running shard 0 sends it, so they never race.
                match dev_guild {
                    _ if !sharding.runs_shard_zero() => {
                        info!("slash commands are registered by the process running shard 0");
                    }
                    Some(guild) => {
                        poise::builtins::register_in_guild(ctx, commands, GuildId::new(guild))
                            .await?;
                        info!(
                            commands = commands.len(),
                            guild, "slash commands registered in the development guild only"
                        );
                    }
                    None => {
                        poise::builtins::register_globally(ctx, commands).await?;
                        info!(commands = commands.len(), "slash commands registered");
                    }
                }
                Ok(setup_state)
            })
        })
        .build();

    let mut client = ClientBuilder::new_with_http(http, discord::intents())
        .event_handler(discord::Handler {
            state: Arc::clone(&state),
        })
        .framework(framework)
        .await
        .context("building the Discord client")?;

    let shard_manager = client.shard_manager.clone();
    let grace = Duration::from_secs(config.pipeline.shutdown_grace_secs);
    let maintenance = tokio::spawn({
        let pipeline = Arc::clone(&pipeline);
        let shutdown = shutdown.clone();
        let store = store.clone();
        let knowledge = Arc::clone(&services.knowledge);
        let retention = config.retention.clone();
        let clock = Arc::clone(&clock);
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            let mut outbox_tick = tokio::time::interval(Duration::from_secs(5));
            let mut ticks: u64 = 0;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = outbox_tick.tick() => flush_audit_outbox(&store).await,
                    _ = tick.tick() => {
                        pipeline.maintain();
                        // Retention hourly, and once at start.
                        if ticks.is_multiple_of(60) {
                            retention::run_once(&store, &knowledge, &retention, clock.now()).await;
                        }
                        ticks += 1;
                    }
                }
            }
        }
    });
    let stopper = tokio::spawn({
        let pipeline = Arc::clone(&pipeline);
        async move {
            shutdown.cancelled().await;
            info!("shutting down: finishing messages in flight");
            if tokio::time::timeout(grace, pipeline.drain()).await.is_err() {
                warn!(
                    grace_secs = grace.as_secs(),
                    "messages still in flight after the grace period"
                );
            }
            shard_manager.shutdown_all().await;
        }
    });

    let started = match sharding {
        Sharding::Unsharded => client.start().await,
        Sharding::Shards { first, last, total } => {
            info!(
                first,
                last, total, "starting shards {first}-{last} of {total}"
            );
            // serenity reads this range's end as inclusive: `first..last` runs `last` too.
            client.start_shard_range(first..last, total).await
        }
    };
    // A rejected token or intent is the admin's to fix: say that in one line, nothing more.
    let result = started.map_err(|e| match GatewayRefused::from_gateway(&e) {
        Some(refused) => anyhow::Error::new(refused),
        None => anyhow::Error::new(e).context("Discord gateway connection"),
    });
    stopper.abort();
    maintenance.abort();
    pipeline.drain().await;
    flush_audit_outbox(&store).await;
    store.close().await;
    info!("stopped");
    result
}

/// Writes audit rows that waited out a database outage in memory; what still cannot be
/// written is said in one line (it stays for the next try while the process runs).
async fn flush_audit_outbox(store: &store::Store) {
    if store.audit_outbox_len().0 == 0 {
        return;
    }
    match store.flush_audit_outbox().await {
        Ok(n) => info!(
            written = n,
            "audit rows kept during a database outage were written"
        ),
        Err(e) => {
            let (pending, dropped) = store.audit_outbox_len();
            warn!(pending, dropped, error = %e, "audit rows still wait for the database");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
