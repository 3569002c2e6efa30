//! After the classifier: is this message for us at all, does it need an answer, and may its
//! author ask right now?

use std::num::NonZeroU32;

use agent::classifier::Route;
use agent::intent::{MessageContext, needs_answer};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use store::{Conversation, ConversationStatus, Store};

use super::{Inbound, PipelineError};

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
            Skip::ShuttingDown => "skipped_shutting_down",
        }
    }
}

pub(super) struct Gate {
    /// Keyed by (guild, member): one guild's flood does not slow another's members.
    limiter: DefaultKeyedRateLimiter<(u64, u64)>,
}

impl Gate {
    pub(super) fn new(per_member_per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_member_per_minute)),
        }
    }

    pub(super) fn maintain(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub(super) async fn admit(
        &self,
        store: &Store,
        inbound: &Inbound,
        conversation: Option<&Conversation>,
        route: Route,
    ) -> Result<Result<(), Skip>, PipelineError> {
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
        if self
            .limiter
            .check_key(&(inbound.guild_id, inbound.author_id))
            .is_err()
        {
            return Ok(Err(Skip::RateLimited));
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
