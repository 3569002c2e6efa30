//! `/ask`: a question answered privately. The same classifier, limits, budget and agent as a
//! question in a channel, but nothing is posted where others can see it: no thread, no stored
//! conversation, and the answer goes back to the asker alone. What the classifier catches is
//! audited and told to staff as usual (a crisis gets the caring reply privately); nothing is
//! deleted, because nothing was posted.

use agent::classifier::Route;
use agent::{Decision, HandoffReason};
use tracing::info;

use super::{
    Delivery, DeliveryError, Inbound, InboundKind, Outbound, Pipeline, PipelineError, Skip,
};

/// What the asker sees when the docs don't have it: a private answer cannot summon the team,
/// so it says where to ask.
const PRIVATE_HANDOFF: &str = "I couldn't find this in the docs. Ask in the server's support \
    channel and the team can help — only you can see this answer.";
const PRIVATE_PERSON: &str = "The team can't see private questions: ask in the server's \
    support channel and a person there will help.";
const PRIVATE_NO_ANSWER: &str = "I can't put an answer together right now. Ask in the \
    server's support channel and the team can help — only you can see this answer.";
const PRIVATE_REFUSAL: &str = "I can't help with that here.";
const MEMBER_SLOW_DOWN: &str = "You're asking faster than I can answer — please wait a minute \
    and ask again.";
const GUILD_SLOW_DOWN: &str = "Lots of questions in this server right now — please wait a \
    minute and ask again.";
const NOTHING_ASKED: &str = "What would you like to know? Ask me about this server's product \
    and I'll answer from its docs.";
const SHUTTING_DOWN: &str = "I'm restarting — please ask again in a moment.";

/// The private answer and what became of the question, for metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateAnswer {
    pub message: Outbound,
    /// `answered`, `asked`, `handed_off`, `escalated`, `blocked`, `rate_limited`, …
    pub kind: &'static str,
}

impl Pipeline {
    /// Answers `inbound` (kind `Private`) for the asker's eyes only. The moderation side
    /// (audit row, staff notice, the member's timeout when the policy asks) happens through
    /// `delivery` as for any message; the answer is returned, not posted.
    pub async fn ask_privately<D: Delivery>(
        &self,
        inbound: &Inbound,
        delivery: &D,
    ) -> Result<PrivateAnswer, PipelineError> {
        debug_assert_eq!(inbound.kind, InboundKind::Private);
        let answer = self.decide_privately(inbound, delivery).await;
        match &answer {
            Ok(a) => {
                self.metrics.message(a.kind);
                info!(
                    guild_id = inbound.guild_id,
                    interaction_id = inbound.message_id,
                    outcome = a.kind,
                    "private question handled"
                );
            }
            Err(_) => self.metrics.message("failed"),
        }
        answer
    }

    async fn decide_privately<D: Delivery>(
        &self,
        inbound: &Inbound,
        delivery: &D,
    ) -> Result<PrivateAnswer, PipelineError> {
        let private = |kind, text: &str| PrivateAnswer {
            message: Outbound::text(text),
            kind,
        };
        if !self.accepting.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(private("skipped_shutting_down", SHUTTING_DOWN));
        }
        let context = self.guilds.get(inbound.guild_id).await?;
        let verdict = self.classify(inbound, &context, None);
        let caring = CaringReply::new(delivery, inbound.channel_id);
        let moderated = self.moderate(inbound, &context, &verdict, &caring).await?;
        match verdict.route() {
            Route::Drop => {
                let kind = match moderated.as_ref().map(|m| m.verdict) {
                    Some("block") => "blocked",
                    _ => "escalated",
                };
                let text = caring.take().unwrap_or_else(|| PRIVATE_REFUSAL.to_string());
                return Ok(private(kind, &text));
            }
            // The classifier's escalation already wrote its audit row and told staff.
            Route::Handoff => return Ok(private("handed_off", PRIVATE_PERSON)),
            Route::Escalate => {
                let phrases = agent::answer::language::phrases(agent::answer::language::detect(
                    &inbound.content,
                    self.agent.settings().default_language,
                ));
                return Ok(private("escalated", phrases.escalated));
            }
            Route::Answer | Route::EscalateAndAnswer => {}
        }
        let context_of = agent::intent::MessageContext {
            mentions_bot: true,
            addresses_others: false,
        };
        // Thanks or a greeting asks for nothing: no turn spent, no model asked.
        if !agent::intent::needs_answer(&inbound.content, context_of) {
            return Ok(private("silent", NOTHING_ASKED));
        }
        match self.gate.charge(inbound) {
            Err(Skip::RateLimited) => return Ok(private("skipped_rate_limited", MEMBER_SLOW_DOWN)),
            Err(_) => return Ok(private("skipped_guild_rate_limited", GUILD_SLOW_DOWN)),
            Ok(()) => {}
        }

        let answer = self.decide(inbound, &[], None).await?;
        self.store_trace(inbound, None, &answer).await;
        Ok(match answer.decision {
            Decision::Reply { text, citations } => PrivateAnswer {
                message: Outbound::answer(&text, &citations),
                kind: "answered",
            },
            Decision::Ask { question } => private("asked", &question),
            Decision::Handoff {
                reason: HandoffReason::ProviderFailed | HandoffReason::BudgetExhausted,
                ..
            } => private("handed_off", PRIVATE_NO_ANSWER),
            Decision::Handoff { .. } => private("handed_off", PRIVATE_HANDOFF),
            Decision::Escalate { reason, message } => {
                self.audit_agent_escalation(inbound, &context, &reason, delivery)
                    .await?;
                private("escalated", &message)
            }
            Decision::Silent => private("silent", NOTHING_ASKED),
        })
    }
}

/// The real delivery, except that a post to the asker's own channel (the caring reply to
/// crisis language) is kept for the private answer instead of being posted for all to see.
struct CaringReply<'a, D> {
    inner: &'a D,
    channel_id: u64,
    kept: std::sync::Mutex<Option<String>>,
}

impl<'a, D: Delivery> CaringReply<'a, D> {
    fn new(inner: &'a D, channel_id: u64) -> Self {
        Self {
            inner,
            channel_id,
            kept: std::sync::Mutex::new(None),
        }
    }

    fn take(&self) -> Option<String> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl<D: Delivery> Delivery for CaringReply<'_, D> {
    fn bot_user_id(&self) -> u64 {
        self.inner.bot_user_id()
    }

    async fn start_thread(
        &self,
        channel_id: u64,
        message_id: u64,
        name: &str,
    ) -> Result<u64, DeliveryError> {
        self.inner.start_thread(channel_id, message_id, name).await
    }

    async fn post(&self, channel_id: u64, message: &Outbound) -> Result<Vec<u64>, DeliveryError> {
        if channel_id == self.channel_id {
            *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.joined());
            return Ok(vec![0]);
        }
        self.inner.post(channel_id, message).await
    }

    async fn edit(
        &self,
        channel_id: u64,
        message_id: u64,
        message: &Outbound,
    ) -> Result<(), DeliveryError> {
        if channel_id == self.channel_id {
            *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.joined());
            return Ok(());
        }
        self.inner.edit(channel_id, message_id, message).await
    }

    async fn typing(&self, channel_id: u64) -> Result<(), DeliveryError> {
        self.inner.typing(channel_id).await
    }

    async fn delete_message(
        &self,
        _channel_id: u64,
        _message_id: u64,
    ) -> Result<(), DeliveryError> {
        // Nothing was posted: there is nothing to delete.
        Ok(())
    }

    async fn send_dm(&self, user_id: u64, text: &str) -> Result<(), DeliveryError> {
        self.inner.send_dm(user_id, text).await
    }

    async fn tag_post(&self, post_id: u64, tag: super::PostTag) -> Result<(), DeliveryError> {
        self.inner.tag_post(post_id, tag).await
    }

    async fn timeout_member(
        &self,
        guild_id: u64,
        user_id: u64,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), DeliveryError> {
        self.inner.timeout_member(guild_id, user_id, until).await
    }
}
