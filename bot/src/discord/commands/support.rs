//! `/support`: where the bot answers.

use chrono::Utc;
use poise::CreateReply;
use serenity::all::ChannelId;

use crate::discord::{Context, Error};

/// Choose where supportbot answers questions.
#[poise::command(
    slash_command,
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD",
    subcommands("enable", "disable", "status"),
    subcommand_required
)]
pub async fn support(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Answer every question asked in a channel.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn enable(
    ctx: Context<'_>,
    #[description = "The channel (default: this one)"] channel: Option<ChannelId>,
) -> Result<(), Error> {
    set_enabled(ctx, channel, true).await
}

/// Stop answering in a channel (mentions of the bot are still answered).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn disable(
    ctx: Context<'_>,
    #[description = "The channel (default: this one)"] channel: Option<ChannelId>,
) -> Result<(), Error> {
    set_enabled(ctx, channel, false).await
}

/// Show the channels where supportbot answers.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn status(ctx: Context<'_>) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let store = ctx.data().pipeline.store();
    let enabled: Vec<String> = store
        .channel_settings(guild_id.get() as i64)
        .await?
        .into_iter()
        .filter(|c| c.enabled)
        .map(|c| format!("<#{}>", c.channel_id))
        .collect();
    let text = if enabled.is_empty() {
        "supportbot answers only when mentioned. Use `/support enable` in a channel to answer \
         every question there."
            .to_string()
    } else {
        format!(
            "supportbot answers every question in: {}",
            enabled.join(", ")
        )
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
    let channel = channel.unwrap_or(ctx.channel_id());
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
        format!("supportbot will now answer questions in <#{channel}>, each in its own thread.")
    } else {
        format!("supportbot will no longer answer in <#{channel}> unless mentioned.")
    };
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}
