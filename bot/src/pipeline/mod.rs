//! The message spine, without Discord: gate → classifier → conversation → agent → deliver.
//! The Discord adapter turns gateway events into `Inbound`s and implements `Delivery`; tests
//! and `supportbot chat` can drive the same code.

mod deliver;
mod gate;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use agent::{Acknowledger, Decision};
use chrono::{DateTime, Utc};
use store::{Conversation, MessageRole, NewMessage, Store};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use deliver::{Delivery, DeliveryError, split_for_discord, thread_name};
pub use gate::Skip;

use crate::clock::Clock;

/// One guild message, as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub guild_id: u64,
    pub channel_id: u64,
    /// The parent channel when the message was posted inside a thread.
    pub parent_channel_id: Option<u64>,
    pub message_id: u64,
    pub author_id: u64,
    pub author_is_bot: bool,
    pub author_roles: Vec<u64>,
    pub content: String,
    pub mentions_bot: bool,
    pub received_at: DateTime<Utc>,
}

/// What became of a message; logged by kind, never by content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Skipped(Skip),
    /// A replayed event for a message already handled.
    Duplicate,
    Answered {
        conversation_id: i64,
        thread_id: u64,
        reply_ids: Vec<u64>,
    },
    /// The answer could not be posted; the conversation and inbound message are stored.
    DeliveryFailed {
        conversation_id: i64,
        error: String,
    },
}

impl Outcome {
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Skipped(skip) => skip.as_str(),
            Outcome::Duplicate => "duplicate",
            Outcome::Answered { .. } => "answered",
            Outcome::DeliveryFailed { .. } => "delivery_failed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub max_in_flight: usize,
    pub per_member_per_minute: NonZeroU32,
}

pub struct Pipeline {
    store: Store,
    clock: Arc<dyn Clock>,
    gate: gate::Gate,
    agent: Acknowledger,
    permits: Semaphore,
    accepting: AtomicBool,
    tracker: TaskTracker,
}

impl Pipeline {
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: &PipelineSettings) -> Self {
        Self {
            store,
            clock,
            gate: gate::Gate::new(settings.per_member_per_minute),
            agent: Acknowledger,
            permits: Semaphore::new(settings.max_in_flight),
            accepting: AtomicBool::new(true),
            tracker: TaskTracker::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles a message on a tracked task, so shutdown can wait for it.
    pub fn spawn<D: Delivery + 'static>(self: &Arc<Self>, inbound: Inbound, delivery: D) {
        let this = Arc::clone(self);
        self.tracker.spawn(async move {
            let ids = (inbound.guild_id, inbound.channel_id, inbound.message_id);
            match this.handle(inbound, &delivery).await {
                Ok(outcome) => info!(
                    guild_id = ids.0,
                    channel_id = ids.1,
                    message_id = ids.2,
                    outcome = outcome.kind(),
                    "message handled"
                ),
                Err(e) => warn!(
                    guild_id = ids.0,
                    channel_id = ids.1,
                    message_id = ids.2,
                    error = %e,
                    "message failed"
                ),
            }
        });
    }

    /// Stops taking new messages and waits until the ones in flight are done.
    pub async fn drain(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Forgets rate-limit state of members who have gone quiet, bounding memory.
    pub fn maintain(&self) {
        self.gate.maintain();
    }

    pub async fn handle<D: Delivery>(
        &self,
        inbound: Inbound,
        delivery: &D,
    ) -> Result<Outcome, PipelineError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Ok(Outcome::Skipped(Skip::ShuttingDown));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");

        let guild = inbound.guild_id as i64;
        let existing = self
            .store
            .conversation_by_thread(guild, inbound.channel_id as i64)
            .await?;
        if let Err(skip) = self
            .gate
            .admit(&self.store, &inbound, existing.as_ref())
            .await?
        {
            return Ok(Outcome::Skipped(skip));
        }

        // The classifier stage lands with the classifier issue; until then everything that
        // passes the gate is allowed.

        let Some(conversation) = self.record_inbound(&inbound, existing).await? else {
            return Ok(Outcome::Duplicate);
        };

        let decision = self.agent.respond(&inbound.content);
        Ok(self
            .deliver(&inbound, conversation, decision, delivery)
            .await?)
    }

    /// Stores the member's message; `None` when it was stored before (a replayed event).
    async fn record_inbound(
        &self,
        inbound: &Inbound,
        existing: Option<Conversation>,
    ) -> Result<Option<Conversation>, PipelineError> {
        let now = self.clock.now();
        let guild = inbound.guild_id as i64;
        let conversation = match existing {
            Some(c) => c,
            None => {
                let channel = inbound.parent_channel_id.unwrap_or(inbound.channel_id);
                match self
                    .store
                    .start_conversation(
                        guild,
                        channel as i64,
                        inbound.message_id as i64,
                        inbound.author_id as i64,
                        now,
                    )
                    .await?
                {
                    Some(c) => c,
                    None => return Ok(None),
                }
            }
        };
        let stored = self
            .store
            .append_message(&NewMessage {
                guild_id: guild,
                conversation_id: conversation.id,
                channel_id: inbound.channel_id as i64,
                discord_message_id: Some(inbound.message_id as i64),
                author_id: inbound.author_id as i64,
                role: MessageRole::Member,
                content: &inbound.content,
                created_at: inbound.received_at,
            })
            .await?;
        Ok(stored.map(|_| conversation))
    }

    async fn deliver<D: Delivery>(
        &self,
        inbound: &Inbound,
        mut conversation: Conversation,
        decision: Decision,
        delivery: &D,
    ) -> Result<Outcome, store::StoreError> {
        let guild = inbound.guild_id as i64;
        let thread_id = match conversation.thread_id {
            Some(id) => id as u64,
            None => {
                let thread = if inbound.parent_channel_id.is_some() {
                    // Already inside a thread: threads cannot nest, answer where asked.
                    Ok(inbound.channel_id)
                } else {
                    delivery
                        .start_thread(
                            inbound.channel_id,
                            inbound.message_id,
                            &thread_name(&inbound.content),
                        )
                        .await
                };
                match thread {
                    Ok(id) => {
                        self.store
                            .set_conversation_thread(
                                guild,
                                conversation.id,
                                id as i64,
                                self.clock.now(),
                            )
                            .await?;
                        conversation.thread_id = Some(id as i64);
                        id
                    }
                    Err(e) => {
                        warn!(
                            guild_id = inbound.guild_id,
                            channel_id = inbound.channel_id,
                            message_id = inbound.message_id,
                            error = %e,
                            "could not start a thread"
                        );
                        return Ok(Outcome::DeliveryFailed {
                            conversation_id: conversation.id,
                            error: e.to_string(),
                        });
                    }
                }
            }
        };

        let text = deliver::render(&decision);
        let mut reply_ids = Vec::new();
        for part in split_for_discord(&text) {
            match delivery.post(thread_id, &part).await {
                Ok(id) => {
                    reply_ids.push(id);
                    self.store
                        .append_message(&NewMessage {
                            guild_id: guild,
                            conversation_id: conversation.id,
                            channel_id: thread_id as i64,
                            discord_message_id: Some(id as i64),
                            author_id: delivery.bot_user_id() as i64,
                            role: MessageRole::Bot,
                            content: &part,
                            created_at: self.clock.now(),
                        })
                        .await?;
                }
                Err(e) => {
                    warn!(
                        guild_id = inbound.guild_id,
                        thread_id,
                        decision = decision.kind(),
                        error = %e,
                        "could not post the answer"
                    );
                    return Ok(Outcome::DeliveryFailed {
                        conversation_id: conversation.id,
                        error: e.to_string(),
                    });
                }
            }
        }
        Ok(Outcome::Answered {
            conversation_id: conversation.id,
            thread_id,
            reply_ids,
        })
    }
}
