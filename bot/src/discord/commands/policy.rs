//! `/policy`: a guild's moderation settings. Every change is validated before it is saved, so a
//! bad pattern is refused here, with the reason, and never reaches the classifier.

use agent::classifier::{Category, CategorySetting, PolicyAction, Sensitivity};
use poise::CreateReply;
use serenity::all::{ChannelId, RoleId};

use crate::discord::{Context, Error};
use crate::guild_settings::{GuildSettings, IdStyle, SettingsError};

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum ActionChoice {
    Block,
    Escalate,
    #[name = "log only"]
    LogOnly,
    Off,
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum SensitivityChoice {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum ListChoice {
    #[name = "blocked word"]
    Word,
    #[name = "blocked pattern"]
    Pattern,
    #[name = "allowed domain"]
    Domain,
    #[name = "exempt role"]
    Role,
    #[name = "exempt channel"]
    Channel,
}

/// Moderation settings for this server.
#[poise::command(
    slash_command,
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD",
    subcommands(
        "show",
        "category",
        "block_word",
        "block_pattern",
        "allow_domain",
        "exempt_role",
        "exempt_channel",
        "example",
        "remove_example",
        "remove",
        "shadow",
        "staff_channel",
        "timeout"
    ),
    subcommand_required
)]
pub async fn policy(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

async fn reply(ctx: Context<'_>, text: impl Into<String>) -> Result<(), Error> {
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}

/// Applies a change and tells the admin what happened, including why a change was refused.
async fn change(
    ctx: Context<'_>,
    done: impl Into<String>,
    apply: impl FnOnce(&mut GuildSettings) -> Result<(), SettingsError>,
) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    match ctx
        .data()
        .pipeline
        .guild_settings()
        .update(guild_id.get(), apply)
        .await
    {
        Ok(_) => reply(ctx, done).await,
        Err(SettingsError::Store(e)) => Err(e.into()),
        Err(e) => reply(ctx, format!("Not saved: {e}")).await,
    }
}

/// Show the current moderation settings.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn show(ctx: Context<'_>) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let context = ctx
        .data()
        .pipeline
        .guild_settings()
        .get(guild_id.get())
        .await?;
    let lines = context.settings.describe(&context.policy, IdStyle::Mention);
    let mut text = lines.join("\n");
    if text.chars().count() > 1900 {
        text = text.chars().take(1900).collect::<String>() + "…";
    }
    reply(ctx, text).await
}

/// Set what happens to one category of message.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn category(
    ctx: Context<'_>,
    #[description = "Category, e.g. spam, scam, invite_spam, self_harm"] name: String,
    #[description = "What to do"] action: ActionChoice,
    #[description = "How readily to act (default medium)"] sensitivity: Option<SensitivityChoice>,
) -> Result<(), Error> {
    let Some(category) = Category::parse(&name) else {
        let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        return reply(
            ctx,
            format!(
                "Unknown category `{name}`. Use one of: {}.",
                known.join(", ")
            ),
        )
        .await;
    };
    let action = match action {
        ActionChoice::Block => PolicyAction::Block,
        ActionChoice::Escalate => PolicyAction::Escalate,
        ActionChoice::LogOnly => PolicyAction::LogOnly,
        ActionChoice::Off => PolicyAction::Off,
    };
    let sensitivity = match sensitivity {
        Some(SensitivityChoice::Low) => Sensitivity::Low,
        Some(SensitivityChoice::High) => Sensitivity::High,
        _ => Sensitivity::Medium,
    };
    change(
        ctx,
        format!(
            "`{}` is now {action:?} at {sensitivity:?} sensitivity.",
            category.as_str()
        ),
        move |s| {
            s.policy.categories.insert(
                category,
                CategorySetting {
                    action,
                    sensitivity,
                },
            );
            Ok(())
        },
    )
    .await
}

/// Block messages containing a word.
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    rename = "block-word"
)]
async fn block_word(
    ctx: Context<'_>,
    #[description = "The word"] word: String,
) -> Result<(), Error> {
    let done = format!("Messages containing `{word}` will be blocked.");
    change(ctx, done, move |s| {
        s.policy.blocked_words.push(word);
        Ok(())
    })
    .await
}

/// Block messages matching a regular expression (linear-time engine, size-limited).
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    rename = "block-pattern"
)]
async fn block_pattern(
    ctx: Context<'_>,
    #[description = "A regular expression, matched against lowercased text"] pattern: String,
) -> Result<(), Error> {
    let done = format!("Messages matching `{pattern}` will be blocked.");
    change(ctx, done, move |s| {
        s.policy.blocked_patterns.push(pattern);
        Ok(())
    })
    .await
}

/// Teach the classifier by example: messages close in meaning count as this category.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn example(
    ctx: Context<'_>,
    #[description = "A category (custom, scam, spam, abuse, human_request, …) or benign"]
    category: String,
    #[description = "An example message (up to 500 characters)"] text: String,
) -> Result<(), Error> {
    let category = category.trim().to_lowercase();
    let done = format!(
        "Added an example for `{category}`. Messages close to it in meaning now count as \
         `{category}` when the bot's semantic stage is on (`classifier.semantic`)."
    );
    change(ctx, done, move |s| {
        s.add_example(&category, &text);
        Ok(())
    })
    .await
}

/// Forget one of this server's example messages.
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    rename = "remove-example"
)]
async fn remove_example(
    ctx: Context<'_>,
    #[description = "The example's category (or benign)"] category: String,
    #[description = "The example, exactly as it was added"] text: String,
) -> Result<(), Error> {
    let category = category.trim().to_lowercase();
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let mut found = false;
    let result = ctx
        .data()
        .pipeline
        .guild_settings()
        .update(guild_id.get(), |s| {
            found = s.remove_example(&category, &text);
            Ok(())
        })
        .await;
    match result {
        Ok(_) if found => reply(ctx, format!("Removed the example from `{category}`.")).await,
        Ok(_) => {
            reply(
                ctx,
                format!("`{category}` has no such example; nothing changed."),
            )
            .await
        }
        Err(SettingsError::Store(e)) => Err(e.into()),
        Err(e) => reply(ctx, format!("Not saved: {e}")).await,
    }
}

/// Never treat links to this domain as suspicious.
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    rename = "allow-domain"
)]
async fn allow_domain(
    ctx: Context<'_>,
    #[description = "e.g. docs.example.com"] domain: String,
) -> Result<(), Error> {
    let done = format!("Links to `{domain}` are allowed.");
    change(ctx, done, move |s| {
        s.policy.allowed_domains.push(domain);
        Ok(())
    })
    .await
}

/// Members with this role are not moderated (crisis language is still escalated).
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    rename = "exempt-role"
)]
async fn exempt_role(
    ctx: Context<'_>,
    #[description = "The role"] role: RoleId,
) -> Result<(), Error> {
    change(
        ctx,
        format!("<@&{role}> is exempt from moderation."),
        move |s| {
            s.policy.exempt_roles.push(role.get());
            Ok(())
        },
    )
    .await
}

/// Messages in this channel are not moderated (crisis language is still escalated).
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    rename = "exempt-channel"
)]
async fn exempt_channel(
    ctx: Context<'_>,
    #[description = "The channel"] channel: ChannelId,
) -> Result<(), Error> {
    change(
        ctx,
        format!("<#{channel}> is exempt from moderation."),
        move |s| {
            s.policy.exempt_channels.push(channel.get());
            Ok(())
        },
    )
    .await
}

/// Remove an entry from one of the lists.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn remove(
    ctx: Context<'_>,
    #[description = "Which list"] list: ListChoice,
    #[description = "The entry, exactly as shown by /policy show (IDs for roles and channels)"]
    value: String,
) -> Result<(), Error> {
    let done = format!("Removed `{value}`.");
    change(ctx, done, move |s| {
        let p = &mut s.policy;
        let id = value
            .trim_matches(|c: char| !c.is_ascii_digit())
            .parse::<u64>()
            .ok();
        match list {
            ListChoice::Word => p.blocked_words.retain(|w| *w != value),
            ListChoice::Pattern => p.blocked_patterns.retain(|w| *w != value),
            ListChoice::Domain => p.allowed_domains.retain(|w| *w != value),
            ListChoice::Role => p.exempt_roles.retain(|r| Some(*r) != id),
            ListChoice::Channel => p.exempt_channels.retain(|c| Some(*c) != id),
        }
        Ok(())
    })
    .await
}

/// Shadow mode: log verdicts in the audit log without acting on them.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn shadow(ctx: Context<'_>, #[description = "On or off"] on: bool) -> Result<(), Error> {
    let done = if on {
        "Shadow mode on: verdicts are logged, nothing is deleted or escalated."
    } else {
        "Shadow mode off: the policy is enforced."
    };
    change(ctx, done, move |s| {
        s.policy.shadow = on;
        Ok(())
    })
    .await
}

/// Where block and escalation notices go.
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    rename = "staff-channel"
)]
async fn staff_channel(
    ctx: Context<'_>,
    #[description = "The staff channel"] channel: ChannelId,
) -> Result<(), Error> {
    change(ctx, format!("Notices will go to <#{channel}>."), move |s| {
        s.staff_channel_id = Some(channel.get());
        Ok(())
    })
    .await
}

/// Time out authors of blocked messages (0 turns it off).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn timeout(
    ctx: Context<'_>,
    #[description = "Minutes, up to 40320 (28 days)"] minutes: u32,
) -> Result<(), Error> {
    let done = if minutes == 0 {
        "Blocked authors are no longer timed out.".to_string()
    } else {
        format!("Authors of blocked messages will be timed out for {minutes} minutes.")
    };
    change(ctx, done, move |s| {
        s.timeout_minutes = minutes;
        Ok(())
    })
    .await
}
