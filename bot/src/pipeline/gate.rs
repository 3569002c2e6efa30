//! After the classifier: is this message for us at all, does it need an answer, and may its
//! author ask right now?

use std::num::NonZeroU32;

use agent::classifier::Route;
use agent::intent::{MessageContext, needs_answer};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use store::{Conversation, ConversationStatus, Store};

use super::{Inbound, InboundKind, PipelineError};

/// Why a message was not handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    FromBot,
    NotAddressed,
    ConversationPaused,
    Empty,
    /// Thanks, greetings, chit-chat, or talk between members.
    NoAnswerNeeded,
    RateLimited,
    /// The guild as a whole sent more than its share per minute.
    GuildRateLimited,
    /// The guild's queue for the model stages was full; only the cheap rules ran.
    QueueFull,
    /// An edit: moderated like a new message, never answered again.
    Edited,
    ShuttingDown,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::FromBot => "skipped_bot",
            Skip::NotAddressed => "skipped_not_addressed",
            Skip::ConversationPaused => "skipped_paused",
            Skip::Empty => "skipped_empty",
            Skip::NoAnswerNeeded => "skipped_no_answer_needed",
            Skip::RateLimited => "skipped_rate_limited",
            Skip::GuildRateLimited => "skipped_guild_rate_limited",
            Skip::QueueFull => "dropped_queue_full",
            Skip::Edited => "skipped_edit",
            Skip::ShuttingDown => "skipped_shutting_down",
        }
    }
}

pub(super) struct Gate {
    /// Keyed by (guild, member): one guild's flood does not slow another's members.
    limiter: DefaultKeyedRateLimiter<(u64, u64)>,
    /// Keyed by guild: one guild's members together cannot spend more than its share.
    guild_limiter: DefaultKeyedRateLimiter<u64>,
}

impl Gate {
    pub(super) fn new(per_member_per_minute: NonZeroU32, per_guild_per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_member_per_minute)),
            guild_limiter: RateLimiter::keyed(Quota::per_minute(per_guild_per_minute)),
        }
    }

    pub(super) fn maintain(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.guild_limiter.retain_recent();
        self.guild_limiter.shrink_to_fit();
    }

    /// Spends one of the member's and one of the guild's turns, before any expensive work.
    pub(super) fn charge(&self, inbound: &Inbound) -> Result<(), Skip> {
        if self
            .limiter
            .check_key(&(inbound.guild_id, inbound.author_id))
            .is_err()
        {
            return Err(Skip::RateLimited);
        }
        if self.guild_limiter.check_key(&inbound.guild_id).is_err() {
            return Err(Skip::GuildRateLimited);
        }
        Ok(())
    }

    /// Is the message for the bot, and does it need a response? Cheap: settings and the
    /// conversation's state, no model.
    pub(super) async fn check(
        &self,
        store: &Store,
        inbound: &Inbound,
        conversation: Option<&Conversation>,
        route: Route,
    ) -> Result<Result<(), Skip>, PipelineError> {
        if inbound.kind == InboundKind::Edit {
            return Ok(Err(Skip::Edited));
        }
        match conversation {
            Some(c) if c.status != ConversationStatus::Open => {
                return Ok(Err(Skip::ConversationPaused));
            }
            Some(_) => {}
            None => {
                if !inbound.mentions_bot && !self.channel_enabled(store, inbound).await? {
                    return Ok(Err(Skip::NotAddressed));
                }
            }
        }
        if inbound.content.trim().is_empty() {
            return Ok(Err(Skip::Empty));
        }
        // A request for a person or an escalation is always acknowledged; questions only when
        // they need an answer.
        let asks = matches!(route, Route::Answer | Route::EscalateAndAnswer);
        let context = MessageContext {
            mentions_bot: inbound.mentions_bot,
            addresses_others: inbound.addresses_others,
        };
        if asks && !needs_answer(&inbound.content, context) {
            return Ok(Err(Skip::NoAnswerNeeded));
        }
        Ok(Ok(()))
    }

    /// A thread counts as enabled when its parent channel is.
    async fn channel_enabled(
        &self,
        store: &Store,
        inbound: &Inbound,
    ) -> Result<bool, PipelineError> {
        let guild = inbound.guild_id as i64;
        if store
            .is_channel_enabled(guild, inbound.channel_id as i64)
            .await?
        {
            return Ok(true);
        }
        Ok(match inbound.parent_channel_id {
            Some(parent) => store.is_channel_enabled(guild, parent as i64).await?,
            None => false,
        })
    }
}
