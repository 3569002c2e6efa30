//! The buttons under an answer, without Discord: "Resolved" (the asker or staff end the
//! conversation, and the bot stops there) and "Not helpful" (any member's rating, once per
//! member per answer). Both keep a feedback row: who clicked, which answer, the rating.

use store::{Conversation, StoreError};
use tracing::info;

use super::{Delivery, Pipeline, PostTag};

/// What a member said about an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    Resolved,
    NotHelpful,
}

impl Feedback {
    fn rating(self) -> i64 {
        match self {
            Feedback::Resolved => 1,
            Feedback::NotHelpful => -1,
        }
    }
}

/// A click on an answer's button, as Discord reported it.
#[derive(Debug, Clone)]
pub struct Click {
    pub guild_id: u64,
    /// Where the clicked message is.
    pub channel_id: u64,
    /// The answer that was clicked.
    pub message_id: u64,
    pub user_id: u64,
    pub roles: Vec<u64>,
    /// The clicker may manage messages (or administers the guild).
    pub manages_messages: bool,
}

/// What a click did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackOutcome {
    /// The conversation is now resolved.
    Resolved,
    /// It was resolved before; nothing changed.
    AlreadyResolved,
    /// The rating is kept (a second click replaces the first, never adds to it).
    Recorded,
    /// Only the member who asked, or staff, may mark a question resolved.
    NotAllowed,
    /// No such conversation in the clicker's guild and channel: nothing changed.
    Unknown,
}

impl Pipeline {
    /// Acts on an answer's "Resolved" or "Not helpful" button. The conversation is looked up in
    /// the click's guild and must own the channel clicked in, so an id taken from another
    /// guild's (or thread's) button changes nothing.
    pub async fn feedback<D: Delivery>(
        &self,
        click: &Click,
        conversation_id: i64,
        feedback: Feedback,
        delivery: &D,
    ) -> Result<FeedbackOutcome, StoreError> {
        let guild = click.guild_id as i64;
        let Some(conversation) = self.clicked_conversation(click, conversation_id).await? else {
            return Ok(FeedbackOutcome::Unknown);
        };
        if feedback == Feedback::Resolved
            && conversation.author_id != click.user_id as i64
            && !self.clicked_by_staff(click, click.manages_messages).await?
        {
            return Ok(FeedbackOutcome::NotAllowed);
        }
        let now = self.clock.now();
        self.store
            .record_feedback(
                guild,
                Some(conversation.id),
                click.message_id as i64,
                click.user_id as i64,
                feedback.rating(),
                now,
            )
            .await?;
        let outcome = match feedback {
            Feedback::NotHelpful => FeedbackOutcome::Recorded,
            Feedback::Resolved => {
                if self
                    .store
                    .resolve_conversation(guild, conversation.id, now)
                    .await?
                {
                    // A resolved forum post shows it with the forum's own tag.
                    if conversation.origin_message_id == click.channel_id as i64 {
                        self.tag_post(click.guild_id, click.channel_id, PostTag::Solved, delivery)
                            .await;
                    }
                    FeedbackOutcome::Resolved
                } else {
                    FeedbackOutcome::AlreadyResolved
                }
            }
        };
        info!(
            guild_id = click.guild_id,
            conversation_id = conversation.id,
            outcome = ?outcome,
            "answer feedback"
        );
        Ok(outcome)
    }

    /// "Let supportbot answer again" under a handoff: staff (the support role, Manage Messages,
    /// or Manage Server) reopen the conversation in its own thread. Looked up in the click's
    /// guild and thread, like every button.
    pub async fn resume_by_click(
        &self,
        click: &Click,
        conversation_id: i64,
        manages_guild: bool,
    ) -> Result<FeedbackOutcome, StoreError> {
        let guild = click.guild_id as i64;
        let Some(conversation) = self.clicked_conversation(click, conversation_id).await? else {
            return Ok(FeedbackOutcome::Unknown);
        };
        if !self
            .clicked_by_staff(click, click.manages_messages || manages_guild)
            .await?
        {
            return Ok(FeedbackOutcome::NotAllowed);
        }
        self.store
            .set_conversation_status(
                guild,
                conversation.id,
                store::ConversationStatus::Open,
                self.clock.now(),
            )
            .await?;
        info!(
            guild_id = click.guild_id,
            conversation_id = conversation.id,
            "staff let the bot answer again"
        );
        Ok(FeedbackOutcome::Recorded)
    }

    /// The conversation a button names, looked up in the click's guild, and only when it owns
    /// the thread clicked in: an id taken from another guild's (or thread's) button finds
    /// nothing.
    async fn clicked_conversation(
        &self,
        click: &Click,
        conversation_id: i64,
    ) -> Result<Option<Conversation>, StoreError> {
        let conversation = self
            .store
            .conversation(click.guild_id as i64, conversation_id)
            .await?;
        Ok(conversation.filter(|c| c.thread_id == Some(click.channel_id as i64)))
    }

    async fn clicked_by_staff(&self, click: &Click, manages: bool) -> Result<bool, StoreError> {
        let context = self.guilds.get(click.guild_id).await?;
        Ok(context.settings.is_staff(&click.roles, manages))
    }
}
