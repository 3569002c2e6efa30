//! `Delivery` over serenity's HTTP client. Goes straight to REST (no cache checks): Discord is
//! the authority on permissions, and its refusals come back as errors the pipeline records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serenity::all::{
    AutoArchiveDuration, ButtonStyle, ChannelId, ChannelType, CreateActionRow,
    CreateAllowedMentions, CreateButton, CreateMessage, CreateThread, EditMember, EditMessage,
    EditThread, ForumTagId, GuildId, Http, MessageId, RoleId, Timestamp, UserId,
};

use crate::metrics::Metrics;
use crate::pipeline::{Delivery, DeliveryError, Outbound, PostTag, Tone};

#[derive(Clone)]
pub struct DiscordDelivery {
    pub http: Arc<Http>,
    pub bot_user_id: u64,
    pub archive_minutes: u16,
    /// Counts the 429s Discord answers.
    pub metrics: Arc<Metrics>,
    pub gate: BucketGate,
}

/// Lanes kept before idle ones are dropped.
const MAX_LANES: usize = 4096;

/// One request at a time per Discord rate-limit bucket (a route and its channel or guild).
/// serenity's limiter learns a bucket's limit only from an answer, and when a window resets it
/// lets every waiting request go at once: a raid's deletions sent together came back mostly 429
/// (50 of them for 30 scams), each counting toward Discord's ban on invalid requests. In single
/// file, each request sees the answer before it.
#[derive(Clone, Default)]
pub struct BucketGate(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl BucketGate {
    async fn enter(&self, bucket: String) -> tokio::sync::OwnedMutexGuard<()> {
        let lane = {
            let mut lanes = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if lanes.len() >= MAX_LANES {
                lanes.retain(|_, lane| Arc::strong_count(lane) > 1);
            }
            Arc::clone(lanes.entry(bucket).or_default())
        };
        lane.lock_owned().await
    }
}

fn archive_duration(minutes: u16) -> AutoArchiveDuration {
    match minutes {
        60 => AutoArchiveDuration::OneHour,
        4320 => AutoArchiveDuration::ThreeDays,
        10080 => AutoArchiveDuration::OneWeek,
        _ => AutoArchiveDuration::OneDay,
    }
}

/// Discord's JSON error code for a second thread on one message.
const THREAD_ALREADY_CREATED: isize = 160_004;

/// Discord's refusal as something the caller can act on. serenity's error text carries
/// Discord's status and error code, never message content.
fn describe(e: serenity::Error) -> DeliveryError {
    if let serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) = &e
        && r.error.code == THREAD_ALREADY_CREATED
    {
        return DeliveryError::ThreadExists;
    }
    let status = match &e {
        serenity::Error::Http(h) => h.status_code().map(|s| s.as_u16()),
        _ => None,
    };
    match status {
        Some(403) => DeliveryError::Forbidden(e.to_string()),
        Some(404) => DeliveryError::NotFound(e.to_string()),
        Some(429) => DeliveryError::RateLimited(e.to_string()),
        _ => DeliveryError::Failed(e.to_string()),
    }
}

/// The message's buttons in one row (Discord allows five); no row when it has none.
fn button_row(message: &Outbound) -> Vec<CreateActionRow> {
    if message.buttons.is_empty() {
        return Vec::new();
    }
    let buttons = message
        .buttons
        .iter()
        .take(5)
        .map(|b| {
            CreateButton::new(b.custom_id.clone())
                .label(b.label.clone())
                .style(match b.tone {
                    Tone::Neutral => ButtonStyle::Secondary,
                    Tone::Positive => ButtonStyle::Success,
                })
        })
        .collect();
    vec![CreateActionRow::Buttons(buttons)]
}

impl DiscordDelivery {
    fn refused(&self, e: serenity::Error) -> DeliveryError {
        let error = describe(e);
        if matches!(error, DeliveryError::RateLimited(_)) {
            self.metrics.rest_rate_limited();
        }
        error
    }
}

impl Delivery for DiscordDelivery {
    fn bot_user_id(&self) -> u64 {
        self.bot_user_id
    }

    async fn start_thread(
        &self,
        channel_id: u64,
        message_id: u64,
        name: &str,
    ) -> Result<u64, DeliveryError> {
        let _lane = self.gate.enter(format!("thread:{channel_id}")).await;
        let thread = ChannelId::new(channel_id)
            .create_thread_from_message(
                &*self.http,
                MessageId::new(message_id),
                CreateThread::new(name)
                    .auto_archive_duration(archive_duration(self.archive_minutes)),
            )
            .await
            .map_err(|e| self.refused(e))?;
        Ok(thread.id.get())
    }

    async fn post(&self, channel_id: u64, message: &Outbound) -> Result<Vec<u64>, DeliveryError> {
        let mut ids = Vec::with_capacity(message.parts.len());
        let last = message.parts.len().saturating_sub(1);
        for (i, part) in message.parts.iter().enumerate() {
            // Nothing pings except the one role a handoff names.
            let mut mentions = CreateAllowedMentions::new();
            if let Some(role) = message.ping_role {
                mentions = mentions.roles(vec![RoleId::new(role)]);
            }
            let mut create = CreateMessage::new()
                .content(part)
                .allowed_mentions(mentions);
            if i == last && !message.buttons.is_empty() {
                create = create.components(button_row(message));
            }
            let _lane = self.gate.enter(format!("post:{channel_id}")).await;
            let posted = ChannelId::new(channel_id)
                .send_message(&*self.http, create)
                .await
                .map_err(|e| self.refused(e))?;
            ids.push(posted.id.get());
        }
        Ok(ids)
    }

    async fn edit(
        &self,
        channel_id: u64,
        message_id: u64,
        message: &Outbound,
    ) -> Result<(), DeliveryError> {
        let content = message.parts.first().map_or("", String::as_str);
        let edit = EditMessage::new()
            .content(content)
            .allowed_mentions(CreateAllowedMentions::new())
            .components(button_row(message));
        let _lane = self.gate.enter(format!("edit:{channel_id}")).await;
        ChannelId::new(channel_id)
            .edit_message(&*self.http, MessageId::new(message_id), edit)
            .await
            .map_err(|e| self.refused(e))?;
        Ok(())
    }

    async fn typing(&self, channel_id: u64) -> Result<(), DeliveryError> {
        let _lane = self.gate.enter(format!("typing:{channel_id}")).await;
        ChannelId::new(channel_id)
            .broadcast_typing(&*self.http)
            .await
            .map_err(|e| self.refused(e))
    }

    async fn delete_message(&self, channel_id: u64, message_id: u64) -> Result<(), DeliveryError> {
        let _lane = self.gate.enter(format!("delete:{channel_id}")).await;
        ChannelId::new(channel_id)
            .delete_message(&*self.http, MessageId::new(message_id))
            .await
            .map_err(|e| self.refused(e))
    }

    async fn tag_post(&self, post_id: u64, tag: PostTag) -> Result<(), DeliveryError> {
        let _lane = self.gate.enter(format!("channel:{post_id}")).await;
        let post = ChannelId::new(post_id)
            .to_channel(&*self.http)
            .await
            .map_err(|e| self.refused(e))?;
        let Some(post) = post.guild() else {
            return Ok(());
        };
        let Some(forum) = post.parent_id else {
            return Ok(());
        };
        let forum = forum
            .to_channel(&*self.http)
            .await
            .map_err(|e| self.refused(e))?;
        let Some(forum) = forum.guild().filter(|f| f.kind == ChannelType::Forum) else {
            return Ok(());
        };
        let status = |id: &ForumTagId| {
            forum
                .available_tags
                .iter()
                .any(|t| t.id == *id && PostTag::ALL.iter().any(|s| s.matches(&t.name)))
        };
        let Some(wanted) = forum.available_tags.iter().find(|t| tag.matches(&t.name)) else {
            return Ok(());
        };
        // The member's own tags stay; the bot's status tags are replaced. Discord allows five.
        let mut tags: Vec<ForumTagId> = post
            .applied_tags
            .iter()
            .copied()
            .filter(|id| !status(id))
            .take(4)
            .collect();
        tags.push(wanted.id);
        if tags == post.applied_tags {
            return Ok(());
        }
        ChannelId::new(post_id)
            .edit_thread(&*self.http, EditThread::new().applied_tags(tags))
            .await
            .map_err(|e| self.refused(e))?;
        Ok(())
    }

    async fn send_dm(&self, user_id: u64, text: &str) -> Result<(), DeliveryError> {
        let channel = {
            let _lane = self.gate.enter("dm".into()).await;
            UserId::new(user_id)
                .create_dm_channel(&*self.http)
                .await
                .map_err(|e| self.refused(e))?
        };
        let _lane = self.gate.enter(format!("post:{}", channel.id)).await;
        channel
            .id
            .send_message(&*self.http, CreateMessage::new().content(text))
            .await
            .map_err(|e| self.refused(e))?;
        Ok(())
    }

    async fn timeout_member(
        &self,
        guild_id: u64,
        user_id: u64,
        until: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let until = Timestamp::from_unix_timestamp(until.timestamp())
            .map_err(|e| DeliveryError::Failed(format!("invalid timeout end: {e}")))?;
        let _lane = self.gate.enter(format!("member:{guild_id}")).await;
        GuildId::new(guild_id)
            .edit_member(
                &*self.http,
                UserId::new(user_id),
                EditMember::new().disable_communication_until_datetime(until),
            )
            .await
            .map_err(|e| self.refused(e))?;
        Ok(())
    }
}
