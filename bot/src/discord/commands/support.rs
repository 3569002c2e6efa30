//! `/support`: where the bot answers, who it hands off to, and resuming it in a thread it
//! handed off.

use chrono::Utc;
use poise::CreateReply;
use serenity::all::{ChannelId, RoleId};
use store::ConversationStatus;

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

/// Let the bot answer again in this thread after it handed it off.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn resume(ctx: Context<'_>) -> Result<(), Error> {
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
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}
