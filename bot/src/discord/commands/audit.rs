//! `/audit`: admins review blocks and escalations, privately, a page at a time.

use agent::classifier::Category;
use chrono::Utc;
use poise::CreateReply;
use serenity::all::{
    ComponentInteraction, Context as SerenityContext, CreateInteractionResponse,
    CreateInteractionResponseMessage, Permissions, User,
};
use store::Store;
use tracing::warn;

use crate::audit_view::{AuditQuery, PAGE_SIZE, parse_since, render_page};
use crate::discord::{Context, Error};

/// Review what the classifier blocked or escalated.
#[poise::command(
    slash_command,
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD"
)]
pub async fn audit(
    ctx: Context<'_>,
    #[description = "Only this category, e.g. scam, spam, self_harm"] category: Option<String>,
    #[description = "Only this member"] member: Option<User>,
    #[description = "Only the last 30m, 12h, 7d, 2w…"] since: Option<String>,
) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let private = |text: String| CreateReply::default().content(text).ephemeral(true);
    if let Some(c) = &category
        && Category::parse(c).is_none()
    {
        let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        ctx.send(private(format!(
            "Unknown category `{c}`. Use one of: {}.",
            known.join(", ")
        )))
        .await?;
        return Ok(());
    }
    let since = match since.as_deref().map(parse_since).transpose() {
        Ok(d) => d.map(|d| Utc::now() - d),
        Err(e) => {
            ctx.send(private(e)).await?;
            return Ok(());
        }
    };
    let query = AuditQuery {
        guild_id: guild_id.get(),
        category,
        author_id: member.map(|m| m.id.get()),
        since,
    };
    let (text, rows) = page(ctx.data().pipeline.store(), &query, None).await?;
    ctx.send(private(text).components(rows)).await?;
    Ok(())
}

async fn page(
    store: &Store,
    query: &AuditQuery,
    before_id: Option<i64>,
) -> Result<(String, Vec<serenity::all::CreateActionRow>), store::StoreError> {
    let entries = store
        .list_audit(
            query.guild_id as i64,
            &query.filter(before_id, PAGE_SIZE + 1),
        )
        .await?;
    Ok(render_page(query, &entries, before_id.is_none()))
}

/// A click on an audit page's button. Stateless: the query rides in the button's ID, and the
/// clicker's permissions and guild are checked again on every click.
pub async fn handle_audit_button(
    ctx: &SerenityContext,
    store: &Store,
    click: &ComponentInteraction,
) {
    let Some((query, before_id)) = AuditQuery::from_button_id(&click.data.custom_id) else {
        return;
    };
    let allowed = click.guild_id.map(|g| g.get()) == Some(query.guild_id)
        && click
            .member
            .as_ref()
            .and_then(|m| m.permissions)
            .is_some_and(|p| p.contains(Permissions::MANAGE_GUILD) || p.administrator());
    let response = if allowed {
        match page(store, &query, (before_id > 0).then_some(before_id)).await {
            Ok((text, rows)) => CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new()
                    .content(text)
                    .components(rows),
            ),
            Err(e) => {
                warn!(guild_id = query.guild_id, error = %e, "audit page failed");
                CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new()
                        .content("Could not read the audit log; please try again.")
                        .ephemeral(true),
                )
            }
        }
    } else {
        CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content("You need the **Manage Server** permission to read the audit log.")
                .ephemeral(true),
        )
    };
    if let Err(e) = click.create_response(&ctx.http, response).await {
        warn!(guild_id = query.guild_id, error = %e, "could not answer an audit button");
    }
}
