//! Gateway events: guild membership into the store, messages into the pipeline.

use std::sync::Arc;

use chrono::Utc;
use serenity::all::{
    ChannelId, ComponentInteraction, ConnectionStage, Context, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, EventHandler, Guild,
    GuildId, Interaction, Message, MessageId, MessageUpdateEvent, PermissionOverwriteType,
    Permissions, RatelimitInfo, Ready, ResumedEvent, RoleId, ShardStageUpdateEvent,
    UnavailableGuild, UserId,
};
use serenity::async_trait;
use tracing::{debug, info, warn};

use super::{AppState, DiscordDelivery};
use crate::pipeline::{
    Click, Feedback, FeedbackOutcome, HANDOFF_BUTTON, Inbound, InboundKind, NOT_HELPFUL_BUTTON,
    RESOLVED_BUTTON, RESUME_BUTTON,
};

pub struct Handler {
    pub state: Arc<AppState>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        self.connected(ctx.shard_id.0);
        info!(
            bot_user_id = ready.user.id.get(),
            guilds = ready.guilds.len(),
            shard = ?ready.shard.map(|s| (s.id.0, s.total)),
            "connected to the Discord gateway"
        );
    }

    async fn resume(&self, ctx: Context, _event: ResumedEvent) {
        self.connected(ctx.shard_id.0);
        info!(shard = ctx.shard_id.0, "gateway session resumed");
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        // Connected again only counts once READY or RESUMED arrives.
        if event.new != ConnectionStage::Connected {
            self.state
                .health
                .set_shard_connected(event.shard_id.0, false);
        }
    }

    async fn ratelimit(&self, data: RatelimitInfo) {
        self.state.pipeline.metrics().rest_rate_limited();
        debug!(path = %data.path, global = data.global, "Discord rate limit");
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        let store = self.state.pipeline.store();
        if let Err(e) = store.upsert_guild(guild.id.get() as i64, Utc::now()).await {
            warn!(guild_id = guild.id.get(), error = %e, "could not record guild");
        }
    }

    async fn guild_delete(
        &self,
        _ctx: Context,
        incomplete: UnavailableGuild,
        _full: Option<Guild>,
    ) {
        // `unavailable` means an outage, not a removal: keep the guild.
        if incomplete.unavailable {
            return;
        }
        let store = self.state.pipeline.store();
        if let Err(e) = store
            .mark_guild_left(incomplete.id.get() as i64, Utc::now())
            .await
        {
            warn!(guild_id = incomplete.id.get(), error = %e, "could not record guild removal");
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        // Slash commands belong to poise; audit paging buttons are ours.
        let Interaction::Component(click) = interaction else {
            return;
        };
        if click.data.custom_id.starts_with("audit:") {
            super::commands::handle_audit_button(&ctx, self.state.pipeline.store(), &click).await;
        } else if let Some(id) = click.data.custom_id.strip_prefix(HANDOFF_BUTTON) {
            self.handoff_button(&ctx, &click, id).await;
        } else if let Some(id) = click.data.custom_id.strip_prefix(RESOLVED_BUTTON) {
            self.feedback_button(&ctx, &click, id, Feedback::Resolved)
                .await;
        } else if let Some(id) = click.data.custom_id.strip_prefix(RESUME_BUTTON) {
            self.resume_button(&ctx, &click, id).await;
        } else if let Some(id) = click.data.custom_id.strip_prefix(NOT_HELPFUL_BUTTON) {
            self.feedback_button(&ctx, &click, id, Feedback::NotHelpful)
                .await;
        }
    }

    async fn message_delete(
        &self,
        _ctx: Context,
        channel_id: ChannelId,
        deleted_message_id: MessageId,
        guild_id: Option<GuildId>,
    ) {
        self.forget(guild_id, channel_id, &[deleted_message_id])
            .await;
    }

    async fn message_delete_bulk(
        &self,
        _ctx: Context,
        channel_id: ChannelId,
        multiple_deleted_messages_ids: Vec<MessageId>,
        guild_id: Option<GuildId>,
    ) {
        self.forget(guild_id, channel_id, &multiple_deleted_messages_ids)
            .await;
    }

    async fn message_update(
        &self,
        ctx: Context,
        _old_if_available: Option<Message>,
        _new: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        // Without new content (an embed unfurled, a thread started) there is nothing to judge.
        let (Some(guild_id), Some(author), Some(content)) =
            (event.guild_id, event.author.as_ref(), event.content.clone())
        else {
            return;
        };
        let bot_user_id = ctx.cache.current_user().id;
        let mentions = event.mentions.as_deref().unwrap_or_default();
        let referenced_author = event
            .referenced_message
            .as_ref()
            .and_then(|r| r.as_ref())
            .map(|r| (r.author.id, r.author.bot));
        let roles = event
            .member
            .as_ref()
            .and_then(|m| m.as_ref())
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let inbound = Inbound {
            guild_id: guild_id.get(),
            channel_id: event.channel_id.get(),
            parent_channel_id: parent_channel(&ctx, guild_id, event.channel_id),
            message_id: event.id.get(),
            kind: InboundKind::Edit,
            author_id: author.id.get(),
            author_is_bot: author.bot || author.id == bot_user_id,
            author_roles: roles.iter().map(|r| r.get()).collect(),
            author_manages_messages: manages_messages(
                &ctx,
                guild_id,
                event.channel_id,
                author.id,
                &roles,
            ),
            mentions_bot: mentions.iter().any(|u| u.id == bot_user_id),
            user_mentions: u32::try_from(mentions.len()).unwrap_or(u32::MAX),
            role_mentions: event
                .mention_roles
                .as_ref()
                .map_or(0, |r| u32::try_from(r.len()).unwrap_or(u32::MAX)),
            mentions_everyone: event.mention_everyone.unwrap_or(false),
            addresses_others: addresses_others(&content, referenced_author, bot_user_id),
            content,
            received_at: Utc::now(),
        };
        self.state.pipeline.spawn(inbound, self.delivery(&ctx));
    }

    async fn message(&self, ctx: Context, msg: Message) {
        let Some(guild_id) = msg.guild_id else {
            debug!(
                channel_id = msg.channel_id.get(),
                "ignoring a direct message"
            );
            return;
        };
        let bot_user_id = ctx.cache.current_user().id;
        let referenced_author = msg
            .referenced_message
            .as_ref()
            .map(|r| (r.author.id, r.author.bot));
        let roles = msg
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let parent_channel_id = parent_channel(&ctx, guild_id, msg.channel_id);
        // A forum post's question is its title and its first message together.
        let content = match forum_post_title(&ctx, guild_id, &msg, parent_channel_id) {
            Some(title) => format!("{title}\n\n{}", msg.content),
            None => msg.content.clone(),
        };
        let inbound = Inbound {
            guild_id: guild_id.get(),
            channel_id: msg.channel_id.get(),
            parent_channel_id,
            message_id: msg.id.get(),
            kind: InboundKind::New,
            author_id: msg.author.id.get(),
            author_is_bot: msg.author.bot || msg.author.id == bot_user_id,
            author_roles: roles.iter().map(|r| r.get()).collect(),
            author_manages_messages: manages_messages(
                &ctx,
                guild_id,
                msg.channel_id,
                msg.author.id,
                &roles,
            ),
            mentions_bot: msg.mentions.iter().any(|u| u.id == bot_user_id),
            user_mentions: u32::try_from(msg.mentions.len()).unwrap_or(u32::MAX),
            role_mentions: u32::try_from(msg.mention_roles.len()).unwrap_or(u32::MAX),
            mentions_everyone: msg.mention_everyone,
            addresses_others: addresses_others(&msg.content, referenced_author, bot_user_id),
            content,
            received_at: Utc::now(),
        };
        self.state.pipeline.spawn(inbound, self.delivery(&ctx));
    }
}

/// The title of the forum post `msg` opens: a post's first message has the post's own ID.
fn forum_post_title(
    ctx: &Context,
    guild_id: GuildId,
    msg: &Message,
    parent: Option<u64>,
) -> Option<String> {
    if parent.is_none() || msg.id.get() != msg.channel_id.get() {
        return None;
    }
    ctx.cache.guild(guild_id).and_then(|g| {
        g.threads
            .iter()
            .find(|t| t.id == msg.channel_id)
            .map(|t| t.name.clone())
    })
}

/// The parent channel of a thread the cache knows.
fn parent_channel(ctx: &Context, guild_id: GuildId, channel_id: ChannelId) -> Option<u64> {
    ctx.cache.guild(guild_id).and_then(|g| {
        g.threads
            .iter()
            .find(|t| t.id == channel_id)
            .and_then(|t| t.parent_id)
            .map(|p| p.get())
    })
}

/// Whether a member may manage messages where they wrote, from what the cache knows: the
/// owner, Administrator, or Manage Messages from @everyone and their roles, then the channel's
/// permission overwrites (a thread takes its parent's) in Discord's order: @everyone, the
/// member's roles together, the member. A moderator of another area whose role is denied Manage
/// Messages in this channel is not staff here; a helper role allowed it only here is.
fn manages_messages(
    ctx: &Context,
    guild_id: GuildId,
    channel: ChannelId,
    author: UserId,
    roles: &[RoleId],
) -> bool {
    let Some(guild) = ctx.cache.guild(guild_id) else {
        return false;
    };
    if guild.owner_id == author {
        return true;
    }
    let everyone = guild
        .roles
        .get(&RoleId::new(guild_id.get()))
        .map(|r| r.permissions)
        .unwrap_or_default();
    let mut permissions = roles
        .iter()
        .filter_map(|r| guild.roles.get(r))
        .fold(everyone, |all, role| all | role.permissions);
    if permissions.administrator() {
        return true;
    }
    let parent = guild
        .threads
        .iter()
        .find(|t| t.id == channel)
        .and_then(|t| t.parent_id)
        .unwrap_or(channel);
    if let Some(place) = guild.channels.get(&parent) {
        let of = |kind: PermissionOverwriteType| {
            place
                .permission_overwrites
                .iter()
                .filter(move |o| o.kind == kind)
        };
        let everyone_id = RoleId::new(guild_id.get());
        for o in of(PermissionOverwriteType::Role(everyone_id)) {
            permissions = (permissions & !o.deny) | o.allow;
        }
        let (allow, deny) = place
            .permission_overwrites
            .iter()
            .filter(|o| matches!(o.kind, PermissionOverwriteType::Role(r) if r != everyone_id && roles.contains(&r)))
            .fold((Permissions::empty(), Permissions::empty()), |(a, d), o| (a | o.allow, d | o.deny));
        permissions = (permissions & !deny) | allow;
        for o in of(PermissionOverwriteType::Member(author)) {
            permissions = (permissions & !o.deny) | o.allow;
        }
    }
    permissions.manage_messages()
}

impl Handler {
    fn delivery(&self, ctx: &Context) -> DiscordDelivery {
        self.state.delivery(ctx)
    }

    /// READY or RESUMED on `shard`: connected. Any after the shard's first is a reconnect.
    fn connected(&self, shard: u32) {
        let first = self
            .state
            .connected_once
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(shard);
        if !first {
            self.state.pipeline.metrics().gateway_reconnect();
        }
        self.state.health.set_shard_connected(shard, true);
    }

    /// A deleted message's text is not kept: the pipeline forgets it.
    async fn forget(&self, guild_id: Option<GuildId>, channel_id: ChannelId, ids: &[MessageId]) {
        let Some(guild_id) = guild_id else {
            return;
        };
        let ids: Vec<u64> = ids.iter().map(|id| id.get()).collect();
        match self
            .state
            .pipeline
            .messages_deleted(guild_id.get(), &ids)
            .await
        {
            Ok(forgotten) => debug!(
                guild_id = guild_id.get(),
                channel_id = channel_id.get(),
                deleted = ids.len(),
                messages_zeroed = forgotten.messages_zeroed,
                audit_excerpts_cleared = forgotten.audit_excerpts_cleared,
                traces_deleted = forgotten.traces_deleted,
                "deleted messages forgotten"
            ),
            Err(e) => warn!(
                guild_id = guild_id.get(),
                channel_id = channel_id.get(),
                error = %e,
                "could not forget deleted messages"
            ),
        }
    }

    /// "Let supportbot answer again" under a handoff, for staff.
    async fn resume_button(&self, ctx: &Context, click: &ComponentInteraction, id: &str) {
        let (Some(guild_id), Ok(conversation_id)) = (click.guild_id, id.parse::<i64>()) else {
            return;
        };
        let who = click_of(click, guild_id);
        let manages_guild = click
            .member
            .as_ref()
            .and_then(|m| m.permissions)
            .is_some_and(|p| p.manage_guild());
        let note = match self
            .state
            .pipeline
            .resume_by_click(&who, conversation_id, manages_guild)
            .await
        {
            Ok(FeedbackOutcome::Recorded) => "I'll answer in this thread again.",
            Ok(FeedbackOutcome::NotAllowed) => {
                "Only the team (the support role, or Manage Messages) can bring me back here."
            }
            Ok(_) => "That button no longer belongs to a conversation here.",
            Err(e) => {
                warn!(guild_id = guild_id.get(), error = %e, "resume button failed");
                "Something went wrong on our side; please try again."
            }
        };
        reply_privately(ctx, click, note).await;
    }

    /// "Resolved" or "Not helpful" under an answer. Only store work before the answer, so
    /// the click is acknowledged well within Discord's 3 s.
    async fn feedback_button(
        &self,
        ctx: &Context,
        click: &ComponentInteraction,
        id: &str,
        feedback: Feedback,
    ) {
        let (Some(guild_id), Ok(conversation_id)) = (click.guild_id, id.parse::<i64>()) else {
            return;
        };
        let who = click_of(click, guild_id);
        let note = match self
            .state
            .pipeline
            .feedback(&who, conversation_id, feedback, &self.delivery(ctx))
            .await
        {
            Ok(FeedbackOutcome::Resolved) => {
                "Glad that helped! I've marked this resolved and will stay out of this thread."
            }
            Ok(FeedbackOutcome::AlreadyResolved) => "This was already marked resolved.",
            Ok(FeedbackOutcome::Recorded) => {
                "Thanks for telling us. If you still need help, click **Talk to a human**."
            }
            Ok(FeedbackOutcome::NotAllowed) => {
                "Only the member who asked, or the support team, can mark this resolved."
            }
            Ok(FeedbackOutcome::Unknown) => "I can't find that conversation here.",
            Err(e) => {
                warn!(guild_id = guild_id.get(), error = %e, "feedback button failed");
                "Something went wrong on our side; please try again."
            }
        };
        reply_privately(ctx, click, note).await;
    }

    /// "Talk to a human" under an answer: the same handoff as asking for a person.
    async fn handoff_button(&self, ctx: &Context, click: &ComponentInteraction, id: &str) {
        let (Some(guild_id), Ok(conversation_id)) = (click.guild_id, id.parse::<i64>()) else {
            return;
        };
        // Posting the handoff can wait on Discord's rate limits: acknowledge the click first,
        // within Discord's 3 s, and say how it went after.
        let defer = CreateInteractionResponse::Defer(
            CreateInteractionResponseMessage::new().ephemeral(true),
        );
        if let Err(e) = click.create_response(&ctx.http, defer).await {
            warn!(guild_id = guild_id.get(), error = %e, "could not acknowledge a button click");
            return;
        }
        let delivery = self.delivery(ctx);
        let note = match self
            .state
            .pipeline
            .hand_off(
                guild_id.get(),
                click.channel_id.get(),
                conversation_id,
                &delivery,
            )
            .await
        {
            Ok(true) => "I've asked the team to step in here.",
            Ok(false) => "I couldn't reach the team from here; please ask in the server.",
            Err(e) => {
                warn!(guild_id = guild_id.get(), error = %e, "handoff button failed");
                "Something went wrong on our side; please try again."
            }
        };
        let follow_up = CreateInteractionResponseFollowup::new()
            .content(note)
            .ephemeral(true);
        if let Err(e) = click.create_followup(&ctx.http, follow_up).await {
            warn!(guild_id = guild_id.get(), error = %e, "could not answer a button click");
        }
    }
}

/// A button click as the pipeline sees it: where, on what, by whom, with which roles, and
/// whether the clicker may manage messages (or administers the guild).
fn click_of(click: &ComponentInteraction, guild_id: GuildId) -> Click {
    let member = click.member.as_ref();
    Click {
        guild_id: guild_id.get(),
        channel_id: click.channel_id.get(),
        message_id: click.message.id.get(),
        user_id: click.user.id.get(),
        roles: member.map_or_else(Vec::new, |m| m.roles.iter().map(|r| r.get()).collect()),
        manages_messages: member
            .and_then(|m| m.permissions)
            .is_some_and(|p| p.manage_messages() || p.administrator()),
    }
}

/// Answers a click privately.
async fn reply_privately(ctx: &Context, click: &ComponentInteraction, note: &str) {
    let response = CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(note)
            .ephemeral(true),
    );
    if let Err(e) = click.create_response(&ctx.http, response).await {
        warn!(guild_id = ?click.guild_id.map(|g| g.get()), error = %e, "could not answer a button click");
    }
}

/// Talk between members: the message opens by mentioning someone other than the bot, or
/// replies to another member's message. A mention further in ("@sam said to ask here") does
/// not make a question someone else's.
fn addresses_others(content: &str, referenced_author: Option<(UserId, bool)>, bot: UserId) -> bool {
    let opens_with_other = content
        .trim_start()
        .strip_prefix("<@")
        .map(|rest| rest.trim_start_matches('!'))
        .and_then(|rest| rest.split('>').next())
        .and_then(|id| id.parse::<u64>().ok())
        .is_some_and(|id| id != bot.get());
    let replies_to_other =
        referenced_author.is_some_and(|(author, is_bot)| author != bot && !is_bot);
    opens_with_other || replies_to_other
}
