//! What the commands that change something irreversible share: a private reply, a
//! confirmation button only the invoker can click within a minute, the click answered in place,
//! and Manage Server read again from the click itself.

use std::time::Duration;

use poise::CreateReply;
use serenity::all::{
    ButtonStyle, ComponentInteraction, ComponentInteractionCollector, CreateActionRow,
    CreateButton, CreateInteractionResponse, CreateInteractionResponseMessage,
};
use tracing::warn;

use crate::discord::{Context, Error};

/// How long a confirmation button waits for its click.
const CONFIRM_WITHIN: Duration = Duration::from_secs(60);

/// A reply only the invoker sees.
pub(super) fn private(text: impl Into<String>) -> CreateReply {
    CreateReply::default().content(text).ephemeral(true)
}

/// Whether the member who clicked holds Manage Server now (a permission can be taken away
/// between the command and the click).
pub(super) fn manages_guild(click: &ComponentInteraction) -> bool {
    click
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.manage_guild())
}

/// Asks the invoker to confirm with a button labelled `confirm_label`; returns the click, or
/// `None` when they cancelled or let a minute pass, after saying "…: `nothing`.".
pub(super) async fn confirm(
    ctx: Context<'_>,
    question: &str,
    confirm_label: &str,
    nothing: &str,
) -> Result<Option<ComponentInteraction>, Error> {
    let command = ctx.command().name.clone();
    let yes = format!("{command}:{}:yes", ctx.id());
    let no = format!("{command}:{}:no", ctx.id());
    let buttons = CreateActionRow::Buttons(vec![
        CreateButton::new(yes.clone())
            .label(confirm_label)
            .style(ButtonStyle::Danger),
        CreateButton::new(no.clone())
            .label("Cancel")
            .style(ButtonStyle::Secondary),
    ]);
    ctx.send(private(question).components(vec![buttons]))
        .await?;
    let mut collector = ComponentInteractionCollector::new(ctx.serenity_context())
        .author_id(ctx.author().id)
        .custom_ids(vec![yes.clone(), no])
        .timeout(CONFIRM_WITHIN);
    if let Some(guild_id) = ctx.guild_id() {
        collector = collector.guild_id(guild_id);
    }
    let Some(click) = collector.next().await else {
        ctx.send(private(format!(
            "No confirmation within a minute: {nothing}."
        )))
        .await?;
        return Ok(None);
    };
    if click.data.custom_id != yes {
        settle(ctx, &click, &format!("Cancelled: {nothing}.")).await?;
        return Ok(None);
    }
    Ok(Some(click))
}

/// Answers a confirmation click by replacing the question with `text` (and its buttons with
/// none).
pub(super) async fn settle(
    ctx: Context<'_>,
    click: &ComponentInteraction,
    text: &str,
) -> Result<(), Error> {
    let response = CreateInteractionResponse::UpdateMessage(
        CreateInteractionResponseMessage::new()
            .content(text)
            .components(Vec::new()),
    );
    if let Err(e) = click.create_response(ctx.http(), response).await {
        warn!(error = %e, "could not answer a confirmation click");
        return Err(e.into());
    }
    Ok(())
}
