//! `/support`: where the bot answers (the shorthand for `/channel mode`: enable is `auto`,
//! disable is `mention`), who it hands off to, and resuming it in a thread.

use chrono::Utc;
use poise::CreateReply;
use serenity::all::{ChannelId, RoleId};

use super::channel::{describe, in_guild, resume};
use crate::discord::{Context, Error};

/// Choose where supportbot answers questions.
#[poise::command(
    slash_command,
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD",
    subcommands("enable", "disable", "status", "role", "resume"),
    subcommand_required
)]
pub async fn support(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Answer questions asked in a channel without a mention (mode `auto`).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn enable(
    ctx: Context<'_>,
    #[description = "The channel (default: this one)"] channel: Option<ChannelId>,
) -> Result<(), Error> {
    set_enabled(ctx, channel, true).await
}

/// Answer in a channel only when mentioned (mode `mention`).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn disable(
    ctx: Context<'_>,
    #[description = "The channel (default: this one)"] channel: Option<ChannelId>,
) -> Result<(), Error> {
    set_enabled(ctx, channel, false).await
}

/// Show each channel's answer mode and human-first delay.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn status(ctx: Context<'_>) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let store = ctx.data().pipeline.store();
    let lines: Vec<String> = store
        .channel_settings(guild_id.get() as i64)
        .await?
        .into_iter()
        .map(|c| {
            let channel = ChannelId::new(c.channel_id as u64);
            format!("• {}", describe(channel, c.mode, c.human_first))
        })
        .collect();
    let default = "Elsewhere supportbot answers only when mentioned. Use `/channel mode` to \
                   change a channel.";
    let text = if lines.is_empty() {
        default.to_string()
    } else {
        format!("{}\n{default}", lines.join("\n"))
    };
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}

async fn set_enabled(
    ctx: Context<'_>,
    channel: Option<ChannelId>,
    enabled: bool,
) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let channel = match channel {
        None => ctx.channel_id(),
        Some(c) if in_guild(ctx, guild_id, c) => c,
        Some(_) => {
            ctx.send(
                CreateReply::default()
                    .content("Not saved: that channel is not in this server.")
                    .ephemeral(true),
            )
            .await?;
            return Ok(());
        }
    };
    let store = ctx.data().pipeline.store();
    let now = Utc::now();
    store.upsert_guild(guild_id.get() as i64, now).await?;
    store
        .set_channel_enabled(
            guild_id.get() as i64,
            channel.get() as i64,
            enabled,
            Some(ctx.author().id.get() as i64),
            now,
        )
        .await?;
    let text = if enabled {
        format!(
            "supportbot will now answer questions in <#{channel}> without a mention, each in \
             its own thread."
        )
    } else {
        format!("supportbot will no longer answer in <#{channel}> unless mentioned.")
    };
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}

/// Choose the role pinged when the bot hands a thread to people (none: the staff channel).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn role(
    ctx: Context<'_>,
    #[description = "The support role (leave out to clear it)"] role: Option<RoleId>,
) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    ctx.data()
        .pipeline
        .guild_settings()
        .update(guild_id.get(), |s| {
            s.support_role_id = role.map(|r| r.get());
            Ok(())
        })
        .await?;
    let text = match role {
        Some(r) => format!(
            "Handoffs will ping <@&{r}>. Make sure the role can be mentioned (role settings → \
             Allow anyone to @mention this role), or the ping stays silent."
        ),
        None => "No support role: handoffs notify the staff channel (`/policy staff-channel`)."
            .to_string(),
    };
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}
