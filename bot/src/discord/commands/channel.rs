//! `/channel`: where and when the bot answers in a channel (its mode and human-first delay),
//! and bringing it back in a thread where staff took over or it handed off.

use chrono::Utc;
use poise::CreateReply;
use serenity::all::{ChannelId, GuildId};
use store::{ChannelMode, ConversationStatus, HumanFirstDelay};

use crate::discord::{Context, Error};

/// Choose where and when supportbot answers in a channel.
#[poise::command(
    slash_command,
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD",
    subcommands("mode", "resume"),
    subcommand_required
)]
pub async fn channel(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// The answer modes as Discord offers them.
#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum ModeChoice {
    #[name = "off"]
    Off,
    #[name = "mention"]
    Mention,
    #[name = "auto"]
    Auto,
    #[name = "forum"]
    Forum,
}

impl From<ModeChoice> for ChannelMode {
    fn from(choice: ModeChoice) -> Self {
        match choice {
            ModeChoice::Off => ChannelMode::Off,
            ModeChoice::Mention => ChannelMode::Mention,
            ModeChoice::Auto => ChannelMode::Auto,
            ModeChoice::Forum => ChannelMode::Forum,
        }
    }
}

async fn reply(ctx: Context<'_>, text: impl Into<String>) -> Result<(), Error> {
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}

/// Set the answer mode of a channel, and how long to leave questions to people first.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn mode(
    ctx: Context<'_>,
    #[description = "off, mention, auto, or forum (a forum channel's every new post)"]
    mode: ModeChoice,
    #[description = "Seconds to wait for a person to answer first (0 to 3600; default: keep)"]
    #[min = 0]
    #[max = 3600]
    human_first_seconds: Option<u32>,
    #[description = "The channel (default: this one)"] channel: Option<ChannelId>,
) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let human_first = match human_first_seconds.map(HumanFirstDelay::from_secs) {
        None => None,
        Some(Some(delay)) => Some(delay),
        Some(None) => {
            return reply(
                ctx,
                format!(
                    "Not saved: the human-first delay is at most {} seconds.",
                    HumanFirstDelay::MAX_SECS
                ),
            )
            .await;
        }
    };
    let channel = match channel {
        None => ctx.channel_id(),
        Some(c) if in_guild(ctx, guild_id, c) => c,
        Some(_) => return reply(ctx, "Not saved: that channel is not in this server.").await,
    };
    let mode = ChannelMode::from(mode);
    if mode == ChannelMode::Forum && !is_forum(ctx, guild_id, channel) {
        return reply(
            ctx,
            "Not saved: `forum` is for forum channels; use `auto` to answer questions in a text \
             channel without a mention.",
        )
        .await;
    }
    let store = ctx.data().pipeline.store();
    store
        .set_channel_mode(
            guild_id.get() as i64,
            channel.get() as i64,
            mode,
            human_first,
            Some(ctx.author().id.get() as i64),
            Utc::now(),
        )
        .await?;
    let setting = store
        .channel_setting(guild_id.get() as i64, channel.get() as i64)
        .await?
        .ok_or("the channel setting just saved is missing")?;
    reply(ctx, describe(channel, mode, setting.human_first)).await
}

/// What a channel's settings mean for its members, in a sentence or two.
pub(super) fn describe(channel: ChannelId, mode: ChannelMode, delay: HumanFirstDelay) -> String {
    let what = match mode {
        ChannelMode::Off => {
            return format!(
                "supportbot will not answer in <#{channel}>, even when mentioned. Moderation \
                 still runs there."
            );
        }
        ChannelMode::Mention => format!("supportbot will answer in <#{channel}> when mentioned"),
        ChannelMode::Forum => format!(
            "supportbot will answer every new post in <#{channel}> inside the post, follow-ups \
             there without a mention, and mark posts with the forum's \"answered\", \"needs \
             human\" and \"solved\" tags when it has them (it needs **Manage Threads** for \
             that)"
        ),
        ChannelMode::Auto => format!(
            "supportbot will answer questions in <#{channel}> without a mention (not thanks, \
             greetings, chat or replies to other members)"
        ),
    };
    if delay.is_zero() {
        format!("{what}, at once.")
    } else {
        format!(
            "{what}, after waiting {} s for someone else to answer first.",
            delay.secs()
        )
    }
}

/// A forum channel of this guild, as the cache knows it.
pub(super) fn is_forum(ctx: Context<'_>, guild_id: GuildId, channel: ChannelId) -> bool {
    ctx.cache().guild(guild_id).is_some_and(|g| {
        g.channels
            .get(&channel)
            .is_some_and(|c| c.kind == serenity::all::ChannelType::Forum)
    })
}

/// A channel or thread of this guild, as the cache knows it: an ID from another guild (a
/// forged option) is refused.
pub(super) fn in_guild(ctx: Context<'_>, guild_id: GuildId, channel: ChannelId) -> bool {
    ctx.cache().guild(guild_id).is_some_and(|g| {
        g.channels.contains_key(&channel) || g.threads.iter().any(|t| t.id == channel)
    })
}

/// Let supportbot answer here again (staff: support role, Manage Messages or Manage Server).
#[poise::command(
    slash_command,
    guild_only,
    rename = "resume",
    default_member_permissions = "MANAGE_MESSAGES"
)]
pub async fn resume_here(ctx: Context<'_>) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    // Checked on our side: a guild can change who Discord offers the command to.
    let member = ctx.author_member().await;
    let manages = member
        .as_ref()
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.manage_messages() || p.manage_guild() || p.administrator());
    let roles: Vec<u64> = member
        .as_ref()
        .map(|m| m.roles.iter().map(|r| r.get()).collect())
        .unwrap_or_default();
    let staff = ctx
        .data()
        .pipeline
        .guild_settings()
        .get(guild_id.get())
        .await?
        .settings
        .is_staff(&roles, manages);
    if !staff {
        return reply(
            ctx,
            "Only the team (the support role, Manage Messages or Manage Server) can do that.",
        )
        .await;
    }
    resume_in_thread(ctx).await
}

/// Let the bot answer here again after a handoff, a staff takeover or a resolution.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub(super) async fn resume(ctx: Context<'_>) -> Result<(), Error> {
    resume_in_thread(ctx).await
}

async fn resume_in_thread(ctx: Context<'_>) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let store = ctx.data().pipeline.store();
    let conversation = store
        .conversation_by_thread(guild_id.get() as i64, ctx.channel_id().get() as i64)
        .await?;
    let text = match conversation {
        Some(c) if c.status != ConversationStatus::Open => {
            store
                .set_conversation_status(
                    guild_id.get() as i64,
                    c.id,
                    ConversationStatus::Open,
                    Utc::now(),
                )
                .await?;
            "supportbot will answer in this thread again."
        }
        Some(_) => "supportbot is already answering in this thread.",
        None => "Run this inside a thread supportbot opened for a question.",
    };
    reply(ctx, text).await
}
