//! `/privacy`: a member's own data (export it, erase it) and an admin's purge of the whole
//! guild. Erasing and purging are irreversible, so each asks for a confirmation click from the
//! same person within a minute; the click is checked again on our side (who clicked, in which
//! guild, with which permissions), never trusted from the button alone.

use chrono::Utc;
use serenity::all::CreateAttachment;
use tracing::info;

use super::confirm::{confirm, manages_guild, private, settle};
use crate::discord::{Context, Error};

/// Discord's upload limit for a bot's attachment, in bytes.
const UPLOAD_LIMIT: usize = 10 * 1024 * 1024;

/// Your data here: export it or erase it; admins can purge the whole server's.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("export", "forget_me", "purge_guild"),
    subcommand_required
)]
pub async fn privacy(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Everything supportbot keeps about you in this server, as a JSON file only you can see.
#[poise::command(slash_command, guild_only, member_cooldown = 60)]
async fn export(ctx: Context<'_>) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    ctx.defer_ephemeral().await?;
    let member = ctx.author().id.get();
    let export = ctx
        .data()
        .pipeline
        .store()
        .export_member(guild_id.get() as i64, member as i64, Utc::now())
        .await?;
    let json = serde_json::to_vec_pretty(&export)?;
    info!(
        guild_id = guild_id.get(),
        member_id = member,
        bytes = json.len(),
        "member exported their data"
    );
    if json.len() > UPLOAD_LIMIT {
        ctx.send(private(
            "Your data is larger than Discord lets me attach. Ask a server admin: they can \
             export it for you with `supportbot data export --member`.",
        ))
        .await?;
        return Ok(());
    }
    let summary = format!(
        "Everything supportbot keeps about you in this server: {} conversations, {} messages, \
         {} feedback clicks, {} moderation entries. Only you can see this.",
        export.conversations.len(),
        export.messages.len(),
        export.feedback.len(),
        export.audit_log.len(),
    );
    let name = format!("supportbot-{}-{member}.json", guild_id.get());
    ctx.send(private(summary).attachment(CreateAttachment::bytes(json, name)))
        .await?;
    Ok(())
}

/// Erase what supportbot keeps about you in this server (asks you to confirm).
#[poise::command(slash_command, guild_only, rename = "forget-me", member_cooldown = 10)]
async fn forget_me(ctx: Context<'_>) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let guild = guild_id.get() as i64;
    let member = ctx.author().id.get() as i64;
    let store = ctx.data().pipeline.store();
    let preview = store.member_erasure_preview(guild, member).await?;
    if preview.is_empty() {
        ctx.send(private(
            "supportbot keeps nothing about you in this server: there is nothing to erase.",
        ))
        .await?;
        return Ok(());
    }
    let question = format!(
        "This erases, for good: {} of your conversations with their {} messages and the bot's \
         reasoning, your feedback, and the text of {} moderation entries about your messages \
         (the entries keep only IDs and verdicts). Erase it?",
        preview.conversations_deleted, preview.messages_deleted, preview.audit_excerpts_cleared,
    );
    let Some(click) = confirm(ctx, &question, "Erase my data", "nothing was changed").await? else {
        return Ok(());
    };
    let erased = store.erase_member(guild, member).await?;
    info!(
        guild_id = guild,
        member_id = member,
        conversations = erased.conversations_deleted,
        messages = erased.messages_deleted,
        "member erased their data"
    );
    let done = format!(
        "Done: {} conversations and {} messages erased, {} moderation entries cleared of text.",
        erased.conversations_deleted, erased.messages_deleted, erased.audit_excerpts_cleared
    );
    settle(ctx, &click, &done).await
}

/// Delete everything supportbot keeps for this server, knowledge included (asks to confirm).
#[poise::command(
    slash_command,
    guild_only,
    rename = "purge-guild",
    required_permissions = "MANAGE_GUILD",
    member_cooldown = 10
)]
async fn purge_guild(ctx: Context<'_>) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let question = "This deletes, at once and for good, everything supportbot keeps for this \
                    server: its settings and policy, channel modes, every conversation and \
                    message, the audit log, feedback, stored keys, and the knowledge base with \
                    its documents. supportbot stays in the server and starts again from its \
                    defaults. Purge it?";
    let Some(click) = confirm(ctx, question, "Purge everything", "nothing was changed").await?
    else {
        return Ok(());
    };
    // Checked again at the click: the permission may have been taken away meanwhile.
    if !manages_guild(&click) || click.guild_id != Some(guild_id) {
        return settle(
            ctx,
            &click,
            "You need the **Manage Server** permission to do that.",
        )
        .await;
    }
    let state = ctx.data();
    let store = state.pipeline.store();
    let guild = guild_id.get() as i64;
    let counts = crate::data::purge_guild(store, &state.knowledge, guild).await?;
    // The bot is still here: the guild starts again from the defaults.
    store.upsert_guild(guild, Utc::now()).await?;
    state.pipeline.guild_settings().forget(guild_id.get());
    let rows: u64 = counts.iter().map(|c| c.rows).sum();
    info!(guild_id = guild, rows, "guild purged by its admin");
    settle(
        ctx,
        &click,
        &format!(
            "Purged: {rows} stored rows and this server's knowledge base are gone. supportbot \
             starts again from its defaults."
        ),
    )
    .await
}
