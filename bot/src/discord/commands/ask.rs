//! `/ask`: a member's question answered privately, from the guild's docs, through the same
//! classifier, limits and agent as a question in a channel.

use chrono::Utc;
use poise::CreateReply;

use crate::discord::{Context, Error};
use crate::pipeline::{Inbound, InboundKind};

/// Ask a question privately: only you see the answer.
#[poise::command(slash_command, guild_only, member_cooldown = 5)]
pub async fn ask(
    ctx: Context<'_>,
    #[description = "Your question"]
    #[min_length = 1]
    #[max_length = 1500]
    question: String,
) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    // The agent can take longer than Discord's 3 s: acknowledge privately first.
    ctx.defer_ephemeral().await?;
    let member = ctx.author_member().await;
    let roles: Vec<u64> = member
        .as_ref()
        .map(|m| m.roles.iter().map(|r| r.get()).collect())
        .unwrap_or_default();
    let manages_messages = member
        .as_ref()
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.administrator() || p.manage_messages());
    let inbound = Inbound {
        guild_id: guild_id.get(),
        channel_id: ctx.channel_id().get(),
        parent_channel_id: None,
        message_id: ctx.id(),
        kind: InboundKind::Private,
        author_id: ctx.author().id.get(),
        author_is_bot: false,
        author_roles: roles,
        author_manages_messages: manages_messages,
        content: question,
        mentions_bot: true,
        user_mentions: 0,
        role_mentions: 0,
        mentions_everyone: false,
        addresses_others: false,
        received_at: Utc::now(),
    };
    let state = ctx.data();
    let delivery = state.delivery(ctx.serenity_context());
    let answer = state.pipeline.ask_privately(&inbound, &delivery).await?;
    for part in answer.message.parts {
        ctx.send(CreateReply::default().content(part).ephemeral(true))
            .await?;
    }
    Ok(())
}
