//! The message spine, without Discord: gate → classifier → conversation → agent → deliver.
//! The Discord adapter turns gateway events into `Inbound`s and implements `Delivery`; tests
//! and `supportbot chat` can drive the same code.

mod deliver;
mod gate;
mod moderate;
mod seen;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::collections::HashMap;
use std::sync::Mutex;

use agent::classifier::{
    Action, Classifier, ClassifierInput, Enforcement, SecondStage, SignalTracker, Verdict,
};
use agent::{Acknowledger, Decision};
use chrono::{DateTime, Utc};
use store::{Conversation, MessageRole, NewMessage, Store};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use deliver::{Delivery, DeliveryError, split_for_discord, thread_name};
pub use gate::Skip;
pub use moderate::{Moderated, jump_link};

use crate::clock::Clock;
use crate::guild_settings::{GuildContext, GuildSettingsCache};

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
    /// Users and roles mentioned, and whether @everyone/@here was used (mass-mention signal).
    pub user_mentions: u32,
    pub role_mentions: u32,
    pub mentions_everyone: bool,
    pub received_at: DateTime<Utc>,
}

/// What became of a message; logged by kind, never by content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Skipped(Skip),
    /// The classifier blocked or escalated the message (an audit row was written).
    Moderated(Moderated),
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
            Outcome::Moderated(m) if m.verdict == "block" => "blocked",
            Outcome::Moderated(_) => "escalated",
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
    /// How long audit excerpts are kept.
    pub audit_excerpt_days: u32,
}

/// Message IDs remembered for spotting replayed gateway events.
const SEEN_MESSAGES: usize = 50_000;

/// Frustrated messages counted per conversation; bounded so memory cannot grow without limit.
const MAX_TRACKED_CONVERSATIONS: usize = 100_000;

pub struct Pipeline {
    store: Store,
    clock: Arc<dyn Clock>,
    guilds: GuildSettingsCache,
    classifier: Classifier,
    signals: SignalTracker,
    second_stage: Option<Arc<dyn SecondStage>>,
    frustration: Mutex<HashMap<i64, u32>>,
    seen: seen::Seen,
    gate: gate::Gate,
    agent: Acknowledger,
    permits: Semaphore,
    accepting: AtomicBool,
    tracker: TaskTracker,
    audit_excerpt_days: u32,
}

impl Pipeline {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: &PipelineSettings,
        second_stage: Option<Arc<dyn SecondStage>>,
    ) -> Self {
        Self {
            guilds: GuildSettingsCache::new(store.clone(), std::time::Duration::from_secs(60)),
            store,
            clock,
            classifier: Classifier::new(),
            signals: SignalTracker::default(),
            second_stage,
            frustration: Mutex::new(HashMap::new()),
            seen: seen::Seen::new(SEEN_MESSAGES),
            gate: gate::Gate::new(settings.per_member_per_minute),
            agent: Acknowledger,
            permits: Semaphore::new(settings.max_in_flight),
            accepting: AtomicBool::new(true),
            tracker: TaskTracker::new(),
            audit_excerpt_days: settings.audit_excerpt_days,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn guild_settings(&self) -> &GuildSettingsCache {
        &self.guilds
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
        self.guilds.maintain();
        let mut frustration = self.frustration.lock().unwrap_or_else(|e| e.into_inner());
        if frustration.len() > MAX_TRACKED_CONVERSATIONS {
            frustration.clear();
        }
    }

    pub async fn handle<D: Delivery>(
        &self,
        inbound: Inbound,
        delivery: &D,
    ) -> Result<Outcome, PipelineError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Ok(Outcome::Skipped(Skip::ShuttingDown));
        }
        if inbound.author_is_bot {
            return Ok(Outcome::Skipped(Skip::FromBot));
        }
        if !self.seen.first_time(inbound.message_id) {
            return Ok(Outcome::Duplicate);
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");

        let guild = inbound.guild_id as i64;
        let context = self.guilds.get(inbound.guild_id).await?;
        let existing = self
            .store
            .conversation_by_thread(guild, inbound.channel_id as i64)
            .await?;

        // Every guild message meets the classifier before anything else.
        let verdict = self.classify(&inbound, &context, existing.as_ref()).await;
        let mut escalation = None;
        if !verdict.action.is_allow() {
            let moderated = moderate::Moderation {
                store: &self.store,
                now: self.clock.now(),
                excerpt_days: self.audit_excerpt_days,
            }
            .apply(&inbound, &context, &verdict, delivery)
            .await?;
            if verdict.enforcement == Enforcement::Act {
                if let Action::Escalate { reason, .. } = &verdict.action {
                    if let Some(c) = &existing {
                        self.reset_frustration(c.id);
                    }
                    // Crisis language already got its caring reply; other escalations tell the
                    // member, where they asked, that a person will follow up.
                    if verdict.caring_reply.is_none() {
                        escalation = Some((reason.clone(), moderated));
                    } else {
                        return Ok(Outcome::Moderated(moderated));
                    }
                } else {
                    return Ok(Outcome::Moderated(moderated));
                }
            }
        }

        if let Err(skip) = self
            .gate
            .admit(&self.store, &inbound, existing.as_ref())
            .await?
        {
            return Ok(match escalation {
                Some((_, moderated)) => Outcome::Moderated(moderated),
                None => Outcome::Skipped(skip),
            });
        }

        let Some(conversation) = self.record_inbound(&inbound, existing).await? else {
            return Ok(Outcome::Duplicate);
        };

        let decision = match &escalation {
            Some((reason, _)) => Decision::Escalate {
                reason: reason.clone(),
            },
            None => self.agent.respond(&inbound.content),
        };
        let outcome = self
            .deliver(&inbound, conversation, decision, delivery)
            .await?;
        Ok(match escalation {
            Some((_, moderated)) => Outcome::Moderated(moderated),
            None => outcome,
        })
    }

    async fn classify(
        &self,
        inbound: &Inbound,
        context: &GuildContext,
        conversation: Option<&Conversation>,
    ) -> Verdict {
        let frustration = conversation.map_or(0, |c| {
            *self
                .frustration
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&c.id)
                .unwrap_or(&0)
        });
        let input = ClassifierInput {
            guild_id: inbound.guild_id,
            channel_id: inbound.channel_id,
            author_id: inbound.author_id,
            author_roles: inbound.author_roles.clone(),
            author_is_bot: inbound.author_is_bot,
            content: inbound.content.clone(),
            mention_count: inbound.user_mentions,
            role_mention_count: inbound.role_mentions,
            mentions_everyone: inbound.mentions_everyone,
            conversation_frustration_count: frustration,
            timestamp_ms: inbound.received_at.timestamp_millis().max(0) as u64,
        };
        let verdict = self
            .classifier
            .classify_with_second_stage(
                &input,
                &context.policy,
                &self.signals,
                input.timestamp_ms,
                self.second_stage.as_deref(),
            )
            .await;
        if verdict.frustration_cue
            && let Some(c) = conversation
        {
            *self
                .frustration
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(c.id)
                .or_insert(0) += 1;
        }
        verdict
    }

    fn reset_frustration(&self, conversation_id: i64) {
        self.frustration
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&conversation_id);
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
