//! The message spine, without Discord. For each guild message, in the order the code runs:
//!
//! Admission, on every message and cheap (`admit`):
//! 1. seen: a replayed gateway event (or an edit that changed nothing) is handled once;
//! 2. classifier: the rules and the in-process learned and semantic stages; a block or
//!    escalation writes its audit row and acts (`moderate`), and the verdict's `Route` says
//!    where the message goes next;
//! 3. gate: the channel's mode (off, mention, auto), addressed to the bot (a mention, an
//!    `auto` channel, or a bot thread)? an edit? handed off or paused (staff replying in a bot
//!    thread pauses it)? empty? and, for questions, does it need an answer at all?
//! 4. human-first: in a channel with a delay, the bot waits and stays out if someone else
//!    replies meanwhile;
//! 5. limits: the member's and the guild's turns per minute;
//! 6. the guild's bounded queue (`scheduler`): full means the model stages are skipped.
//!
//! The model stages, from the queue on a fixed set of workers shared fairly by guilds
//! (`process`):
//! 7. the classifier's second stage for an ambiguous message (then moderation and the gate
//!    again, on its verdict);
//! 8. conversation: the member's message is stored;
//! 9. agent: the retrieval agent decides (reply, ask, handoff, escalate), its trace is stored;
//! 10. respond: the decision is cleaned and delivered (`respond`, `deliver`); a model's long
//!     reply was already shown while it was written (`stream`) and is finished in place.
//!
//! The Discord adapter turns gateway events into `Inbound`s and implements `Delivery`; the
//! terminal commands and tests drive the same code with a recording delivery (`handle` runs
//! both halves on the caller's task).

mod ask;
mod deliver;
mod feedback;
#[cfg(test)]
mod fuzz_tests;
mod gate;
mod human_first;
mod moderate;
mod private;
mod recording;
mod respond;
mod scheduler;
mod seen;
mod split;
mod stream;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use agent::classifier::{
    Action, Classifier, ClassifierInput, Route, SecondStage, SignalTracker, Verdict,
};
use agent::{Agent, Decision, HandoffReason};
use chrono::{DateTime, Utc};
use store::{Conversation, ConversationStatus, ForgottenMessages, MessageRole, NewMessage, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use deliver::{
    Button, Delivery, DeliveryError, MESSAGE_LIMIT, Outbound, PostTag, Tone, clean,
    split_for_discord, thread_name,
};
pub use feedback::{Click, Feedback, FeedbackOutcome};
pub use gate::Skip;
pub use moderate::{Moderated, jump_link};
pub use private::PrivateAnswer;
pub use recording::{Edited, Posted, RecordingDelivery};
use respond::Decided;
pub use respond::{HANDOFF_BUTTON, NOT_HELPFUL_BUTTON, RESOLVED_BUTTON, RESUME_BUTTON};

use crate::clock::Clock;
use crate::guild_settings::{GuildContext, GuildSettingsCache};
use crate::metrics::Metrics;

/// A message as it reached us: posted, or edited afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InboundKind {
    #[default]
    New,
    /// New content in an existing message: moderated like a new message, never answered again.
    Edit,
    /// A question asked with `/ask`: only the asker sees it and its answer. `message_id` is
    /// the interaction's ID; nothing was posted, so nothing is deleted or linked to.
    Private,
}

/// One guild message, as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub guild_id: u64,
    pub channel_id: u64,
    /// The parent channel when the message was posted inside a thread.
    pub parent_channel_id: Option<u64>,
    pub message_id: u64,
    pub kind: InboundKind,
    pub author_id: u64,
    pub author_is_bot: bool,
    pub author_roles: Vec<u64>,
    /// The author may manage messages in the guild (or administers it, or owns it): staff,
    /// like members with the guild's support role.
    pub author_manages_messages: bool,
    pub content: String,
    pub mentions_bot: bool,
    /// Users and roles mentioned, and whether @everyone/@here was used (mass-mention signal).
    pub user_mentions: u32,
    pub role_mentions: u32,
    pub mentions_everyone: bool,
    /// The message mentions or replies to another member (not the bot).
    pub addresses_others: bool,
    pub received_at: DateTime<Utc>,
}
impl Inbound {
    /// The first message of a forum post: a post is a thread whose opening message has the
    /// thread's own ID (a thread started on a message in a text channel has that message's
    /// ID, but the message itself lives in the parent channel).
    pub fn opens_forum_post(&self) -> bool {
        self.kind == InboundKind::New
            && self.parent_channel_id.is_some()
            && self.message_id == self.channel_id
    }
}

/// What became of a message; logged by kind, never by content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Skipped(Skip),
    /// The classifier blocked the message, or answered crisis language with care; nothing
    /// else was posted.
    Moderated(Moderated),
    /// A replayed event for a message already handled.
    Duplicate,
    /// The bot responded in the thread: an answer, a clarifying question, a handoff or an
    /// escalation notice.
    Responded {
        conversation_id: i64,
        thread_id: u64,
        reply_ids: Vec<u64>,
        decision: Decision,
        /// The audit row of a classifier escalation that came first.
        moderated: Option<Moderated>,
    },
    /// The response could not be posted; the conversation and inbound message are stored.
    DeliveryFailed {
        conversation_id: i64,
        error: DeliveryError,
    },
}

impl Outcome {
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Skipped(skip) => skip.as_str(),
            Outcome::Moderated(m) if m.verdict == "block" => "blocked",
            Outcome::Moderated(_) => "escalated",
            Outcome::Duplicate => "duplicate",
            Outcome::Responded { decision, .. } => match decision {
                Decision::Reply { .. } => "answered",
                Decision::Ask { .. } => "asked",
                Decision::Handoff { .. } => "handed_off",
                Decision::Escalate { .. } => "escalated",
                Decision::Silent => "silent",
            },
            Outcome::DeliveryFailed { .. } => "delivery_failed",
        }
    }

    /// The decision, when the bot responded.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Outcome::Responded { decision, .. } => Some(decision),
            _ => None,
        }
    }
}

/// A message the pipeline has finished with, for whoever watches (tests wait for these instead
/// of sleeping).
#[derive(Debug, Clone)]
pub struct Handled {
    pub guild_id: u64,
    pub channel_id: u64,
    pub message_id: u64,
    /// What became of it, or the error that ended its handling.
    pub outcome: Result<Outcome, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Workers running the model stages (second stage and agent) across all guilds.
    pub workers: usize,
    /// Messages one guild may have waiting for a worker; more are dropped after the rules.
    pub guild_queue: usize,
    /// Messages of one guild in the model stages at once.
    pub guild_in_flight: usize,
    pub per_member_per_minute: NonZeroU32,
    /// Messages one guild's members together may send to the model stages per minute.
    pub per_guild_per_minute: NonZeroU32,
    /// How long audit excerpts are kept (message text's period).
    pub audit_excerpt_days: u32,
    /// How long agent traces are kept.
    pub trace_days: u32,
    /// Model tokens a guild may spend per UTC day; 0 means no limit.
    pub daily_token_budget: u64,
    /// Opens the guild's own LLM API key; without it every guild uses the instance's key.
    pub master_key: Option<Arc<store::MasterKey>>,
    /// A model's long reply is shown while it is written (posted early, then edited).
    pub stream_answers: bool,
}

/// Message IDs remembered for spotting replayed gateway events.
const SEEN_MESSAGES: usize = 50_000;

/// Frustrated messages counted per conversation; bounded so memory cannot grow without limit.
const MAX_TRACKED_CONVERSATIONS: usize = 100_000;

/// Earlier messages of a conversation read for the agent (it bounds them by tokens).
const HISTORY_MESSAGES: usize = 12;

pub struct Pipeline {
    store: Store,
    clock: Arc<dyn Clock>,
    guilds: GuildSettingsCache,
    classifier: Classifier,
    signals: SignalTracker,
    second_stage: Option<Arc<dyn SecondStage>>,
    agent: Arc<Agent>,
    frustration: Mutex<HashMap<i64, u32>>,
    seen: seen::Seen,
    gate: gate::Gate,
    activity: human_first::Activity,
    scheduler: Arc<scheduler::Scheduler>,
    metrics: Arc<Metrics>,
    accepting: AtomicBool,
    /// Cancelled when draining starts: a human-first wait gives up rather than hold shutdown.
    stopping: CancellationToken,
    /// Admission tasks (rules, moderation, limits), one per gateway message.
    admitting: TaskTracker,
    /// The scheduler's workers.
    workers: TaskTracker,
    settings: PipelineSettings,
    observer: OnceLock<mpsc::UnboundedSender<Handled>>,
}

/// A message past the rules and the limits, waiting for the model stages.
struct Admitted {
    inbound: Inbound,
    context: Arc<GuildContext>,
    rules: gate::ChannelRules,
    existing: Option<Conversation>,
    verdict: Verdict,
    moderated: Option<Moderated>,
}

/// Where admission left a message.
enum Admission {
    Done(Outcome),
    Queue(Box<Admitted>),
}

impl Pipeline {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: &PipelineSettings,
        classifier: Classifier,
        second_stage: Option<Arc<dyn SecondStage>>,
        agent: Arc<Agent>,
    ) -> Self {
        Self {
            guilds: GuildSettingsCache::new(store.clone(), std::time::Duration::from_secs(60)),
            store,
            clock,
            classifier,
            signals: SignalTracker::default(),
            second_stage,
            agent,
            frustration: Mutex::new(HashMap::new()),
            seen: seen::Seen::new(SEEN_MESSAGES),
            gate: gate::Gate::new(
                settings.per_member_per_minute,
                settings.per_guild_per_minute,
            ),
            activity: human_first::Activity::default(),
            scheduler: Arc::new(scheduler::Scheduler::new(scheduler::Limits {
                workers: settings.workers,
                queue: settings.guild_queue,
                per_guild: settings.guild_in_flight,
            })),
            metrics: Arc::new(Metrics::new()),
            accepting: AtomicBool::new(true),
            stopping: CancellationToken::new(),
            admitting: TaskTracker::new(),
            workers: TaskTracker::new(),
            settings: settings.clone(),
            observer: OnceLock::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The instance's master key, which seals what guilds give us; `None` when the operator set
    /// none (then no guild secret can be stored).
    pub fn master_key(&self) -> Option<&store::MasterKey> {
        self.settings.master_key.as_deref()
    }

    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    pub fn guild_settings(&self) -> &GuildSettingsCache {
        &self.guilds
    }

    /// Tells `observer` about every message handled from now on. The first observer stays.
    pub fn report_outcomes_to(&self, observer: mpsc::UnboundedSender<Handled>) {
        let _ = self.observer.set(observer);
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Messages of `guild` waiting for the model stages.
    pub fn queue_depth(&self, guild_id: u64) -> usize {
        self.scheduler.depth(guild_id)
    }

    /// The `n` guilds with the most messages waiting, deepest first.
    pub fn deepest_queues(&self, n: usize) -> Vec<(u64, usize)> {
        self.scheduler.deepest(n)
    }

    /// Handles a gateway message: the rules, moderation and limits at once on a task of its
    /// own, then the model stages from the guild's queue, so shutdown can wait for both.
    pub fn spawn<D: Delivery + 'static>(self: &Arc<Self>, inbound: Inbound, delivery: D) {
        let this = Arc::clone(self);
        self.admitting.spawn(async move {
            let ids = (inbound.guild_id, inbound.channel_id, inbound.message_id);
            let admitted = match this.admit(inbound, &delivery).await {
                Ok(Admission::Done(outcome)) => {
                    this.handled(ids, Ok(outcome));
                    return;
                }
                Ok(Admission::Queue(admitted)) => admitted,
                Err(e) => {
                    this.handled(ids, Err(e));
                    return;
                }
            };
            let worker = Arc::clone(&this);
            let job = Box::pin(async move {
                let result = worker.process(*admitted, &delivery).await;
                worker.handled(ids, result);
            });
            if this.scheduler.push(&this.workers, ids.0, job).is_err() {
                // The rules and moderation have run; only the model stages are skipped.
                this.handled(ids, Ok(Outcome::Skipped(Skip::QueueFull)));
            }
        });
    }

    /// Logs and counts what became of a message.
    fn handled(&self, ids: (u64, u64, u64), result: Result<Outcome, PipelineError>) {
        match &result {
            Ok(outcome) => {
                self.metrics.message(outcome.kind());
                info!(
                    guild_id = ids.0,
                    channel_id = ids.1,
                    message_id = ids.2,
                    outcome = outcome.kind(),
                    "message handled"
                );
            }
            Err(e) => {
                self.metrics.message("failed");
                warn!(
                    guild_id = ids.0,
                    channel_id = ids.1,
                    message_id = ids.2,
                    error = %e,
                    "message failed"
                );
            }
        }
        if let Some(observer) = self.observer.get() {
            let _ = observer.send(Handled {
                guild_id: ids.0,
                channel_id: ids.1,
                message_id: ids.2,
                outcome: result.map_err(|e| e.to_string()),
            });
        }
    }

    /// Stops taking new messages and waits until the ones admitted and queued are done.
    pub async fn drain(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        self.stopping.cancel();
        self.admitting.close();
        self.admitting.wait().await;
        // Nothing is queued after admission ends; the workers finish the queues and stop.
        self.scheduler.close();
        self.workers.close();
        self.workers.wait().await;
    }

    /// Forgets rate-limit state of members who have gone quiet, bounding memory.
    pub fn maintain(&self) {
        self.gate.maintain();
        self.guilds.maintain();
        self.activity.maintain();
        let mut frustration = self.frustration.lock().unwrap_or_else(|e| e.into_inner());
        if frustration.len() > MAX_TRACKED_CONVERSATIONS {
            frustration.clear();
        }
    }

    /// Handles one message start to end on the caller's task (the terminal and tests), through
    /// the same stages as `spawn` without the queue.
    pub async fn handle<D: Delivery>(
        &self,
        inbound: Inbound,
        delivery: &D,
    ) -> Result<Outcome, PipelineError> {
        let result = match self.admit(inbound, delivery).await {
            Ok(Admission::Done(outcome)) => Ok(outcome),
            Ok(Admission::Queue(admitted)) => self.process(*admitted, delivery).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(outcome) => self.metrics.message(outcome.kind()),
            Err(_) => self.metrics.message("failed"),
        }
        result
    }

    /// The cheap part, run for every message: replay check, the rules (and the in-process
    /// learned and semantic stages, microseconds), moderation of what they catch, whether the
    /// message is for us, and the member's and guild's limits. What is left needs a model.
    async fn admit<D: Delivery>(
        &self,
        inbound: Inbound,
        delivery: &D,
    ) -> Result<Admission, PipelineError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Ok(Admission::Done(Outcome::Skipped(Skip::ShuttingDown)));
        }
        if inbound.author_is_bot {
            return Ok(Admission::Done(Outcome::Skipped(Skip::FromBot)));
        }
        if !self.seen.first_time_seen(&inbound) {
            return Ok(Admission::Done(Outcome::Duplicate));
        }

        let context = self.guilds.get(inbound.guild_id).await?;
        let existing = self
            .store
            .conversation_by_thread(inbound.guild_id as i64, inbound.channel_id as i64)
            .await?;
        let rules = gate::ChannelRules::of(&self.store, &inbound).await?;

        // Every guild message meets the classifier before anything else.
        let verdict = self.classify(&inbound, &context, existing.as_ref());
        if inbound.kind == InboundKind::New && verdict.route() != Route::Drop {
            self.activity.record(&inbound);
        }
        let moderated = self
            .moderate(&inbound, &context, &verdict, delivery)
            .await?;
        if verdict.route() == Route::Drop {
            let moderated = moderated.expect("only a moderated verdict drops a message");
            return Ok(Admission::Done(Outcome::Moderated(moderated)));
        }
        if self
            .staff_took_over(&inbound, &context, existing.as_ref())
            .await?
        {
            return Ok(Admission::Done(skipped(moderated, Skip::StaffReplied)));
        }
        let judged_later = self.second_stage.is_some() && verdict.second_stage_candidate.is_some();
        if !judged_later
            && let Err(skip) = self
                .gate
                .check(rules, &inbound, existing.as_ref(), verdict.route())
        {
            self.keep_edit(&inbound, &verdict, skip).await?;
            return Ok(Admission::Done(skipped(moderated, skip)));
        }
        if let Err(skip) = self.leave_to_people(&inbound, rules).await {
            return Ok(Admission::Done(skipped(moderated, skip)));
        }
        if let Err(skip) = self.gate.charge(&inbound) {
            self.ask_to_slow_down(&inbound, skip, delivery).await;
            return Ok(Admission::Done(skipped(moderated, skip)));
        }
        Ok(Admission::Queue(Box::new(Admitted {
            inbound,
            context,
            rules,
            existing,
            verdict,
            moderated,
        })))
    }

    /// A member over a limit is told once a minute, privately, why the bot is quiet; a direct
    /// message the member does not accept is only counted.
    async fn ask_to_slow_down<D: Delivery>(&self, inbound: &Inbound, skip: Skip, delivery: &D) {
        if !self.gate.first_notice(inbound) {
            return;
        }
        let note = match skip {
            Skip::RateLimited => {
                "You're asking faster than I can answer — I'll pick up your questions again in a \
                 minute."
            }
            _ => {
                "Lots of questions in this server right now — please ask again in a minute and \
                 I'll answer."
            }
        };
        let sent = delivery.send_dm(inbound.author_id, note).await;
        self.metrics.action("slow_down_notice", sent.is_ok());
        if let Err(e) = sent {
            info!(guild_id = inbound.guild_id, author_id = inbound.author_id, error = %e, "could not send a slow-down notice");
        }
    }

    /// Staff (the support role, or Manage Messages) replying in a thread the bot answers in,
    /// to someone else's question, take it over: the bot pauses there until resumed.
    async fn staff_took_over(
        &self,
        inbound: &Inbound,
        context: &GuildContext,
        conversation: Option<&Conversation>,
    ) -> Result<bool, PipelineError> {
        let Some(c) = conversation else {
            return Ok(false);
        };
        let staff = context
            .settings
            .is_staff(&inbound.author_roles, inbound.author_manages_messages);
        if inbound.kind != InboundKind::New
            || !staff
            || c.status != ConversationStatus::Open
            || c.author_id == inbound.author_id as i64
        {
            return Ok(false);
        }
        self.store
            .set_conversation_status(
                inbound.guild_id as i64,
                c.id,
                ConversationStatus::Paused,
                self.clock.now(),
            )
            .await?;
        info!(
            guild_id = inbound.guild_id,
            conversation_id = c.id,
            "staff replied in the thread; the bot pauses there"
        );
        Ok(true)
    }

    /// The channel's human-first delay: the bot waits, and answers only if no one but the
    /// asker spoke meanwhile. A mention asks the bot directly and is answered at once.
    async fn leave_to_people(
        &self,
        inbound: &Inbound,
        rules: gate::ChannelRules,
    ) -> Result<(), Skip> {
        if rules.human_first.is_zero() || inbound.mentions_bot {
            return Ok(());
        }
        let deadline =
            inbound.received_at + chrono::Duration::seconds(i64::from(rules.human_first.secs()));
        tokio::select! {
            () = self.clock.sleep_until(deadline) => {}
            () = self.stopping.cancelled() => return Err(Skip::ShuttingDown),
        }
        if self.activity.someone_else_spoke(inbound) {
            return Err(Skip::HumanAnswered);
        }
        Ok(())
    }

    /// The expensive part, from the guild's queue: the second stage for an ambiguous message,
    /// then the agent.
    async fn process<D: Delivery>(
        &self,
        admitted: Admitted,
        delivery: &D,
    ) -> Result<Outcome, PipelineError> {
        let Admitted {
            inbound,
            context,
            rules,
            existing,
            mut verdict,
            mut moderated,
        } = admitted;
        if let Some(stage) = &self.second_stage
            && verdict.second_stage_candidate.is_some()
        {
            let started = std::time::Instant::now();
            verdict = self
                .classifier
                .second_opinion(
                    &classifier_input(&inbound, 0),
                    &context.policy,
                    verdict,
                    stage.as_ref(),
                )
                .await;
            self.metrics.model_call(
                "second_stage",
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                0,
                0,
            );
            moderated = self
                .moderate(&inbound, &context, &verdict, delivery)
                .await?;
            if verdict.route() == Route::Drop {
                let moderated = moderated.expect("only a moderated verdict drops a message");
                return Ok(Outcome::Moderated(moderated));
            }
            if let Err(skip) = self
                .gate
                .check(rules, &inbound, existing.as_ref(), verdict.route())
            {
                self.keep_edit(&inbound, &verdict, skip).await?;
                return Ok(skipped(moderated, skip));
            }
        }
        let route = verdict.route();
        if matches!(route, Route::Escalate | Route::Handoff)
            && let Some(c) = &existing
        {
            self.reset_frustration(c.id);
        }

        let Some(conversation) = self.record_inbound(&inbound, existing).await? else {
            return Ok(Outcome::Duplicate);
        };

        let phrases = agent::answer::language::phrases(agent::answer::language::detect(
            &inbound.content,
            self.agent.settings().default_language,
        ));
        let decided = match (route, &verdict.action) {
            (Route::Handoff, _) => Decided {
                decision: Decision::Handoff {
                    reason: HandoffReason::Requested,
                    message: phrases.requested.into(),
                },
                early: None,
            },
            (Route::Escalate, Action::Escalate { reason, .. }) => Decided {
                decision: Decision::Escalate {
                    reason: reason.clone(),
                    message: phrases.escalated.into(),
                },
                early: None,
            },
            _ => {
                let (answer, early) = self.ask_agent(&inbound, &conversation, delivery).await?;
                Decided {
                    decision: answer.decision,
                    early,
                }
            }
        };
        self.respond(
            &inbound,
            conversation,
            decided,
            moderated,
            &context,
            delivery,
        )
        .await
        .map_err(PipelineError::from)
    }

    /// An edit the classifier allowed replaces the stored text of the message (when it is
    /// stored), so what a member edited out is not kept. Other verdicts keep the old text: a
    /// blocked edit is deleted on Discord, and its deletion forgets the text.
    async fn keep_edit(
        &self,
        inbound: &Inbound,
        verdict: &Verdict,
        skip: Skip,
    ) -> Result<(), PipelineError> {
        if skip == Skip::Edited && verdict.action.is_allow() {
            self.store
                .edit_message_content(
                    inbound.guild_id as i64,
                    inbound.message_id as i64,
                    &inbound.content,
                )
                .await?;
        }
        Ok(())
    }

    /// The audit row and actions for a Block or Escalate verdict; `None` for Allow.
    async fn moderate<D: Delivery>(
        &self,
        inbound: &Inbound,
        context: &GuildContext,
        verdict: &Verdict,
        delivery: &D,
    ) -> Result<Option<Moderated>, PipelineError> {
        if verdict.action.is_allow() {
            return Ok(None);
        }
        let moderated = moderate::Moderation {
            store: &self.store,
            now: self.clock.now(),
            excerpt_days: self.settings.audit_excerpt_days,
            metrics: &self.metrics,
        }
        .apply(inbound, context, verdict, delivery)
        .await?;
        Ok(Some(moderated))
    }

    /// The rule stage with the in-process learned and semantic stages; the second stage comes
    /// later, after admission.
    fn classify(
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
        let input = classifier_input(inbound, frustration);
        let verdict =
            self.classifier
                .classify(&input, &context.policy, &self.signals, input.timestamp_ms);
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

    /// Messages deleted on Discord (MESSAGE_DELETE, MESSAGE_DELETE_BULK), by their author, a
    /// moderator or the bot itself: their stored text, audit excerpts and traces are forgotten;
    /// an audit entry keeps its verdict.
    pub async fn messages_deleted(
        &self,
        guild_id: u64,
        message_ids: &[u64],
    ) -> Result<ForgottenMessages, PipelineError> {
        let ids: Vec<i64> = message_ids.iter().map(|&id| id as i64).collect();
        Ok(self
            .store
            .forget_messages(guild_id as i64, &ids, self.clock.now())
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
}

/// A moderated message keeps its moderation outcome whatever the gate says.
fn skipped(moderated: Option<Moderated>, skip: Skip) -> Outcome {
    match moderated {
        Some(m) => Outcome::Moderated(m),
        None => Outcome::Skipped(skip),
    }
}

fn classifier_input(inbound: &Inbound, frustration: u32) -> ClassifierInput {
    ClassifierInput {
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
    }
}
