//! `/setup`: a guided first run. One command sets the staff channel, the support role, this
//! channel's answer mode and the guild's language, says what is still missing, and offers to
//! take the guild's own LLM API key through a modal. The key is sealed under the instance's
//! master key at once and never shown back, logged or exported.

use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use secrecy::zeroize::Zeroize;
use serenity::all::{
    ActionRowComponent, ButtonStyle, ChannelId, ComponentInteraction,
    ComponentInteractionCollector, CreateActionRow, CreateButton, CreateInputText,
    CreateInteractionResponse, CreateInteractionResponseMessage, CreateModal, InputTextStyle,
    ModalInteraction, ModalInteractionCollector, RoleId,
};
use store::ChannelMode;
use tracing::{info, warn};

use super::channel::{ModeChoice, describe, in_guild, is_forum};
use super::confirm::{manages_guild, private};
use crate::discord::{Context, Error};

/// How long the key buttons under the summary wait for a click.
const BUTTONS_FOR: Duration = Duration::from_secs(300);
/// How long the key form waits for its submission.
const FORM_FOR: Duration = Duration::from_secs(600);

/// The languages the agent writes in, as Discord offers them.
#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum LanguageChoice {
    English,
    German,
    French,
    Spanish,
    Italian,
    Portuguese,
    Dutch,
}

impl From<LanguageChoice> for agent::answer::Language {
    fn from(choice: LanguageChoice) -> Self {
        use agent::answer::Language as L;
        match choice {
            LanguageChoice::English => L::English,
            LanguageChoice::German => L::German,
            LanguageChoice::French => L::French,
            LanguageChoice::Spanish => L::Spanish,
            LanguageChoice::Italian => L::Italian,
            LanguageChoice::Portuguese => L::Portuguese,
            LanguageChoice::Dutch => L::Dutch,
        }
    }
}

/// Set supportbot up: staff channel, support role, this channel's mode, language, your LLM key.
#[poise::command(
    slash_command,
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD",
    member_cooldown = 3
)]
pub async fn setup(
    ctx: Context<'_>,
    #[description = "Where block, escalation and handoff notices go"] staff_channel: Option<
        ChannelId,
    >,
    #[description = "The role pinged when a person should take over"] support_role: Option<RoleId>,
    #[description = "How the bot answers in this channel"] mode: Option<ModeChoice>,
    #[description = "The server's language (answers follow each member's own when clear)"]
    language: Option<LanguageChoice>,
) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    // Re-stemming the knowledge base for a new language can take a while.
    ctx.defer_ephemeral().await?;
    if let Some(channel) = staff_channel
        && !in_guild(ctx, guild_id, channel)
    {
        return say(
            ctx,
            "Nothing saved: that staff channel is not in this server.",
        )
        .await;
    }
    if let Some(role) = support_role
        && !ctx
            .cache()
            .guild(guild_id)
            .is_some_and(|g| g.roles.contains_key(&role))
    {
        return say(ctx, "Nothing saved: that role is not in this server.").await;
    }
    if matches!(mode, Some(ModeChoice::Forum)) && !is_forum(ctx, guild_id, ctx.channel_id()) {
        return say(
            ctx,
            "Nothing saved: `forum` is for forum channels: use `/channel mode forum \
             channel:#your-forum`, or `auto` here.",
        )
        .await;
    }
    let state = ctx.data();
    let store = state.pipeline.store();
    let guild = guild_id.get();
    let language = language.map(agent::answer::Language::from);
    let settings = state
        .pipeline
        .guild_settings()
        .update(guild, |s| {
            if let Some(c) = staff_channel {
                s.staff_channel_id = Some(c.get());
            }
            if let Some(r) = support_role {
                s.support_role_id = Some(r.get());
            }
            if let Some(l) = language {
                s.language = Some(l.code().to_string());
            }
            Ok(())
        })
        .await?;
    if let Some(l) = language {
        state
            .knowledge
            .set_language(guild as i64, &l.name().to_lowercase())
            .await?;
    }
    if let Some(mode) = mode {
        store
            .set_channel_mode(
                guild as i64,
                ctx.channel_id().get() as i64,
                ChannelMode::from(mode),
                None,
                Some(ctx.author().id.get() as i64),
                Utc::now(),
            )
            .await?;
    }
    let here = store
        .channel_setting(guild as i64, ctx.channel_id().get() as i64)
        .await?;
    let has_key = store
        .guild_secrets(guild as i64)
        .await?
        .iter()
        .any(|s| s.name == store::LLM_API_KEY);
    let sources = state.knowledge.list(guild as i64).await?.len();

    let mut lines = vec!["**supportbot setup**".to_string()];
    lines.push(match settings.staff_channel_id {
        Some(c) => format!("✅ Staff channel: <#{c}>"),
        None => "⬜ Staff channel: none — blocks and escalations are logged but nobody is told \
                 (`/setup staff_channel:`)"
            .into(),
    });
    lines.push(match settings.support_role_id {
        Some(r) => format!("✅ Support role: <@&{r}> (pinged on handoffs)"),
        None => "⬜ Support role: none — handoffs go to the staff channel (`/setup support_role:`)"
            .into(),
    });
    lines.push(match here {
        Some(c) => format!("✅ {}", describe(ctx.channel_id(), c.mode, c.human_first)),
        None => "⬜ This channel: answers only when mentioned (`/setup mode:auto` to answer \
                 questions here without a mention)"
            .to_string(),
    });
    lines.push(match settings.language() {
        Some(l) => format!("✅ Language: {}", l.name()),
        None => "⬜ Language: the instance's default (`/setup language:`)".into(),
    });
    lines.push(if sources > 0 {
        format!("✅ Knowledge: {sources} sources")
    } else {
        "⬜ Knowledge: no documents yet — add your docs so the bot can answer from them".into()
    });
    let can_seal = state.pipeline.master_key().is_some();
    lines.push(match (has_key, can_seal) {
        (true, _) => "✅ LLM key: your own (stored encrypted, never shown)".into(),
        (false, true) => "⬜ LLM key: the instance's — you can give your own below".into(),
        (false, false) => "⬜ LLM key: the instance's (this instance cannot store keys: its \
                           operator has not set SUPPORTBOT_MASTER_KEY)"
            .into(),
    });
    info!(guild_id = guild, "setup run");

    let set_id = format!("setup:{}:key", ctx.id());
    let clear_id = format!("setup:{}:clear", ctx.id());
    let mut buttons = Vec::new();
    if can_seal {
        buttons.push(
            CreateButton::new(set_id.clone())
                .label(if has_key {
                    "Replace our LLM key"
                } else {
                    "Set our own LLM key"
                })
                .style(ButtonStyle::Primary),
        );
    }
    if has_key {
        buttons.push(
            CreateButton::new(clear_id.clone())
                .label("Remove our LLM key")
                .style(ButtonStyle::Danger),
        );
    }
    let mut reply = private(lines.join("\n"));
    if !buttons.is_empty() {
        reply = reply.components(vec![CreateActionRow::Buttons(buttons)]);
    }
    ctx.send(reply).await?;

    let Some(click) = ComponentInteractionCollector::new(ctx.serenity_context())
        .author_id(ctx.author().id)
        .guild_id(guild_id)
        .custom_ids(vec![set_id.clone(), clear_id])
        .timeout(BUTTONS_FOR)
        .await
    else {
        return Ok(());
    };
    // Checked again at the click: the permission may have gone meanwhile.
    if !manages_guild(&click) {
        return answer_click(
            ctx,
            &click,
            "You need the **Manage Server** permission to do that.",
        )
        .await;
    }
    if click.data.custom_id == set_id {
        ask_for_key(ctx, &click).await
    } else {
        let removed = store
            .delete_guild_secret(guild as i64, store::LLM_API_KEY)
            .await?;
        info!(guild_id = guild, removed, "guild LLM key removed");
        answer_click(
            ctx,
            &click,
            "Removed: this server's answers use the instance's model settings again.",
        )
        .await
    }
}

/// Shows the key form and stores what comes back, sealed. The value is wrapped at once and
/// its plain copy wiped; nothing about it but its length class is ever logged.
async fn ask_for_key(ctx: Context<'_>, click: &ComponentInteraction) -> Result<(), Error> {
    let form_id = format!("setup:{}:form", ctx.id());
    let modal = CreateModal::new(form_id.clone(), "Your LLM API key").components(vec![
        CreateActionRow::InputText(
            CreateInputText::new(InputTextStyle::Short, "API key", "key")
                .placeholder("sk-…")
                .min_length(8)
                .max_length(400)
                .required(true),
        ),
    ]);
    click
        .create_response(
            ctx.serenity_context(),
            CreateInteractionResponse::Modal(modal),
        )
        .await?;
    let Some(submitted) = ModalInteractionCollector::new(ctx.serenity_context())
        .author_id(ctx.author().id)
        .custom_ids(vec![form_id])
        .timeout(FORM_FOR)
        .await
    else {
        return Ok(());
    };
    let Some(mut raw) = form_value(&submitted, "key") else {
        return answer_modal(ctx, &submitted, "Nothing saved: the form came back empty.").await;
    };
    let trimmed = raw.trim();
    let valid = trimmed.len() >= 8
        && trimmed
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '\\'));
    let key = valid.then(|| SecretString::from(trimmed.to_string()));
    raw.zeroize();
    let Some(key) = key else {
        return answer_modal(
            ctx,
            &submitted,
            "Nothing saved: an API key is one word of at least 8 printable characters.",
        )
        .await;
    };
    let state = ctx.data();
    let Some(master) = state.pipeline.master_key() else {
        return answer_modal(
            ctx,
            &submitted,
            "Nothing saved: this instance cannot store keys (its operator has not set \
             SUPPORTBOT_MASTER_KEY).",
        )
        .await;
    };
    let guild = submitted.guild_id.map_or(0, |g| g.get()) as i64;
    state
        .pipeline
        .store()
        .set_guild_secret(guild, store::LLM_API_KEY, &key, master, Utc::now())
        .await?;
    info!(guild_id = guild, "guild LLM key set");
    answer_modal(
        ctx,
        &submitted,
        "Saved. This server's answers use your key from now on. It is stored encrypted and will \
         never be shown again; use `/setup` to replace or remove it.",
    )
    .await
}

/// The value of one text input of a submitted form.
fn form_value(modal: &ModalInteraction, field: &str) -> Option<String> {
    modal
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .find_map(|c| match c {
            ActionRowComponent::InputText(input) if input.custom_id == field => input.value.clone(),
            _ => None,
        })
}

async fn say(ctx: Context<'_>, text: &str) -> Result<(), Error> {
    ctx.send(private(text)).await?;
    Ok(())
}

async fn answer_click(
    ctx: Context<'_>,
    click: &ComponentInteraction,
    text: &str,
) -> Result<(), Error> {
    let response = CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true),
    );
    if let Err(e) = click
        .create_response(ctx.serenity_context(), response)
        .await
    {
        warn!(error = %e, "could not answer a setup click");
        return Err(e.into());
    }
    Ok(())
}

async fn answer_modal(ctx: Context<'_>, modal: &ModalInteraction, text: &str) -> Result<(), Error> {
    let response = CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true),
    );
    if let Err(e) = modal
        .create_response(ctx.serenity_context(), response)
        .await
    {
        warn!(error = %e, "could not answer the key form");
        return Err(e.into());
    }
    Ok(())
}
