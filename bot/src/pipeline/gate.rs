//! After the classifier: is this message for us at all (the channel's mode, the thread's
//! state), does it need an answer, and may its author ask right now?

use std::num::NonZeroU32;

use agent::classifier::Route;
use agent::intent::{MessageContext, asks_for_help, needs_answer};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use store::{ChannelMode, Conversation, ConversationStatus, HumanFirstDelay, Store};

use super::{Inbound, InboundKind, PipelineError};

/// Why a message was not handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    FromBot,
    NotAddressed,
    /// The channel's mode is `off`.
    ChannelOff,
    ConversationPaused,
    /// The asker (or staff) marked the question resolved.
    Resolved,
    /// Staff replied in the bot's thread; the bot pauses there until resumed.
    StaffReplied,
    /// Someone else replied during the channel's human-first delay.
    HumanAnswered,
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
            Skip::ChannelOff => "skipped_channel_off",
            Skip::ConversationPaused => "skipped_paused",
            Skip::Resolved => "skipped_resolved",
            Skip::StaffReplied => "skipped_staff_replied",
            Skip::HumanAnswered => "skipped_human_answered",
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

/// A channel's mode and human-first delay: its own settings, else its parent's (a thread
/// follows its channel), else the defaults (mentions only, no delay).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ChannelRules {
    pub(super) mode: ChannelMode,
    pub(super) human_first: HumanFirstDelay,
}

impl ChannelRules {
    pub(super) async fn of(store: &Store, inbound: &Inbound) -> Result<Self, PipelineError> {
        let guild = inbound.guild_id as i64;
        let mut setting = store
            .channel_setting(guild, inbound.channel_id as i64)
            .await?;
        if setting.is_none()
            && let Some(parent) = inbound.parent_channel_id
        {
            setting = store.channel_setting(guild, parent as i64).await?;
        }
        Ok(setting.map_or_else(Self::default, |s| Self {
            mode: s.mode,
            human_first: s.human_first,
        }))
    }
}

pub(super) struct Gate {
    /// Keyed by (guild, member): one guild's flood does not slow another's members.
    limiter: DefaultKeyedRateLimiter<(u64, u64)>,
    /// Keyed by guild: one guild's members together cannot spend more than its share.
    guild_limiter: DefaultKeyedRateLimiter<u64>,
    /// One "slow down" notice per member per minute, however many messages they send.
    notices: DefaultKeyedRateLimiter<(u64, u64)>,
}

impl Gate {
    pub(super) fn new(per_member_per_minute: NonZeroU32, per_guild_per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_member_per_minute)),
            guild_limiter: RateLimiter::keyed(Quota::per_minute(per_guild_per_minute)),
            notices: RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN)),
        }
    }

    pub(super) fn maintain(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.guild_limiter.retain_recent();
        self.guild_limiter.shrink_to_fit();
        self.notices.retain_recent();
        self.notices.shrink_to_fit();
    }

    /// Whether the member should be told to slow down now: the first time in a minute.
    pub(super) fn first_notice(&self, inbound: &Inbound) -> bool {
        self.notices
            .check_key(&(inbound.guild_id, inbound.author_id))
            .is_ok()
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

    /// Is the message for the bot, and does it need a response? Cheap: the channel's rules and
    /// the conversation's state, no model.
    pub(super) fn check(
        &self,
        rules: ChannelRules,
        inbound: &Inbound,
        conversation: Option<&Conversation>,
        route: Route,
    ) -> Result<(), Skip> {
        if inbound.kind == InboundKind::Edit {
            return Err(Skip::Edited);
        }
        if rules.mode == ChannelMode::Off {
            return Err(Skip::ChannelOff);
        }
        match conversation {
            Some(c) if c.status == ConversationStatus::Resolved => return Err(Skip::Resolved),
            Some(c) if c.status != ConversationStatus::Open => {
                return Err(Skip::ConversationPaused);
            }
            // Follow-ups in the bot's own thread need no mention.
            Some(_) => {}
            None if inbound.mentions_bot || rules.mode == ChannelMode::Auto => {}
            // A forum's new post is a question by its nature.
            None if rules.mode == ChannelMode::Forum && inbound.opens_forum_post() => {}
            None => return Err(Skip::NotAddressed),
        }
        if inbound.content.trim().is_empty() {
            return Err(Skip::Empty);
        }
        // A request for a person or an escalation is always acknowledged; questions only when
        // they need an answer.
        let asks = matches!(route, Route::Answer | Route::EscalateAndAnswer);
        let context = MessageContext {
            mentions_bot: inbound.mentions_bot,
            addresses_others: inbound.addresses_others,
        };
        if asks && !needs_answer(&inbound.content, context) {
            return Err(Skip::NoAnswerNeeded);
        }
        // Unprompted, in an `auto` channel: questions and problem reports only, not statements.
        let unprompted =
            conversation.is_none() && !inbound.mentions_bot && !inbound.opens_forum_post();
        if asks && unprompted && !asks_for_help(&inbound.content) {
            return Err(Skip::NoAnswerNeeded);
        }
        Ok(())
    }
}
