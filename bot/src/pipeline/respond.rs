//! Delivering each decision: a reply with its citations and its buttons (Resolved, Not
//! helpful, Talk to a human), a clarifying question, a handoff (the support role pinged — or
//! the staff channel told when the guild has none — and the bot paused in that thread), or an
//! escalation (a staff-channel post with a jump link and its audit row). The first response's
//! wait and a reply's time are kept as metadata for `/stats`.

use agent::classifier::excerpt;
use agent::{Decision, HandoffReason};
use store::{Conversation, ConversationStatus, MessageRole, NewAuditEntry, NewMessage, StoreError};
use tracing::warn;

use super::stream::Shown;
use super::{
    Button, Delivery, Inbound, Moderated, Outbound, Outcome, Pipeline, PostTag, Skip, Tone,
    jump_link,
};
use crate::guild_settings::GuildContext;

/// Prefixes of the buttons under an answer; the conversation id follows. A click is looked
/// up in the clicker's guild, so an id from another guild finds nothing.
pub const RESOLVED_BUTTON: &str = "resolved:";
pub const NOT_HELPFUL_BUTTON: &str = "unhelpful:";
pub const HANDOFF_BUTTON: &str = "handoff:";
/// Prefix of the "Let supportbot answer again" button under a handoff; staff only.
pub const RESUME_BUTTON: &str = "resume:";

/// Longest excerpt kept in an agent escalation's audit row, in characters.
const EXCERPT_CHARS: usize = 200;

/// A decision to deliver, and the message its reply was already shown as while streaming.
pub(super) struct Decided {
    pub decision: Decision,
    pub early: Option<Shown>,
}

impl Pipeline {
    pub(super) async fn respond<D: Delivery>(
        &self,
        inbound: &Inbound,
        mut conversation: Conversation,
        Decided { decision, early }: Decided,
        moderated: Option<Moderated>,
        context: &GuildContext,
        delivery: &D,
    ) -> Result<Outcome, StoreError> {
        if let Some(early) = &early {
            conversation.thread_id = Some(early.thread_id as i64);
            if !matches!(decision, Decision::Reply { .. }) {
                // What was shown did not pass the checks (or the model stopped writing): the
                // member sees the decision instead.
                self.withdraw(early, delivery).await;
            }
        }
        if decision == Decision::Silent {
            return Ok(Outcome::Skipped(Skip::NoAnswerNeeded));
        }
        let guild = inbound.guild_id as i64;
        let thread_id = match conversation.thread_id {
            Some(id) => id as u64,
            None => match self.open_thread(inbound, conversation.id, delivery).await? {
                Ok(id) => {
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
                        error: e,
                    });
                }
            },
        };

        let support_role = context.settings.support_role_id;
        let message = match &decision {
            Decision::Reply { text, citations } => {
                let mut m = Outbound::answer(text, citations);
                m.buttons = answer_buttons(conversation.id);
                m
            }
            Decision::Ask { question } => Outbound::text(question),
            Decision::Handoff { message, .. } => {
                handoff_message(message, support_role, conversation.id)
            }
            Decision::Escalate { message, .. } => Outbound::text(message),
            Decision::Silent => unreachable!("silent decisions return above"),
        };
        let delivered = match &early {
            Some(early) if matches!(decision, Decision::Reply { .. }) => {
                self.finish_streamed(early, &message, delivery).await
            }
            _ => delivery.post(thread_id, &message).await,
        };
        let reply_ids = match delivered {
            Ok(ids) => ids,
            Err(e) => {
                warn!(
                    guild_id = inbound.guild_id,
                    thread_id,
                    decision = decision.kind(),
                    error = %e,
                    "could not post the response"
                );
                return Ok(Outcome::DeliveryFailed {
                    conversation_id: conversation.id,
                    error: e,
                });
            }
        };
        for (part, id) in message.parts.iter().zip(&reply_ids) {
            self.store
                .append_message(&NewMessage {
                    guild_id: guild,
                    conversation_id: conversation.id,
                    channel_id: thread_id as i64,
                    discord_message_id: Some(*id as i64),
                    author_id: delivery.bot_user_id() as i64,
                    role: MessageRole::Bot,
                    content: part,
                    created_at: self.clock.now(),
                })
                .await?;
        }
        let now = self.clock.now();
        // A streamed reply reached the member when it was first shown.
        let first_seen = match &early {
            Some(early) if matches!(decision, Decision::Reply { .. }) => early.posted_at,
            _ => now,
        };
        let waited_ms = (first_seen - inbound.received_at).num_milliseconds();
        self.store
            .record_response(
                guild,
                conversation.id,
                waited_ms,
                matches!(decision, Decision::Reply { .. }),
                now,
            )
            .await?;

        // A forum post shows where it stands with the forum's own tags.
        let tag = match &decision {
            Decision::Reply { .. } => Some(PostTag::Answered),
            Decision::Handoff { .. } | Decision::Escalate { .. } => Some(PostTag::NeedsHuman),
            _ => None,
        };
        if let Some(tag) = tag
            && inbound.parent_channel_id.is_some()
            && conversation.origin_message_id == thread_id as i64
        {
            self.tag_post(inbound.guild_id, thread_id, tag, delivery)
                .await;
        }
        match &decision {
            Decision::Handoff { reason, .. } => {
                self.store
                    .set_conversation_status(
                        guild,
                        conversation.id,
                        ConversationStatus::HandedOff,
                        self.clock.now(),
                    )
                    .await?;
                // A classifier escalation already told the staff channel.
                if support_role.is_none() && moderated.is_none() {
                    let notice = format!(
                        "🙋 Handoff in <#{thread_id}> ({}): a member needs a person. Jump: {}",
                        handoff_reason(*reason),
                        jump_link(inbound.guild_id, thread_id, reply_ids[0]),
                    );
                    self.notify_staff(inbound, context, &notice, delivery).await;
                }
            }
            Decision::Escalate { reason, .. } if moderated.is_none() => {
                self.audit_agent_escalation(inbound, context, reason, delivery)
                    .await?;
            }
            _ => {}
        }
        Ok(Outcome::Responded {
            conversation_id: conversation.id,
            thread_id,
            reply_ids,
            decision,
            moderated,
        })
    }

    /// The member's handoff request by button: the same handoff as typing it. The
    /// conversation is looked up in the click's guild and must own the channel clicked in.
    pub async fn hand_off<D: Delivery>(
        &self,
        guild_id: u64,
        channel_id: u64,
        conversation_id: i64,
        delivery: &D,
    ) -> Result<bool, StoreError> {
        let guild = guild_id as i64;
        let Some(conversation) = self.store.conversation(guild, conversation_id).await? else {
            return Ok(false);
        };
        let Some(thread) = conversation.thread_id.filter(|t| *t == channel_id as i64) else {
            return Ok(false);
        };
        if conversation.status == ConversationStatus::HandedOff {
            return Ok(true);
        }
        let context = self.guilds.get(guild_id).await?;
        let phrases = agent::answer::language::phrases(self.agent.settings().default_language);
        let message = handoff_message(
            phrases.requested,
            context.settings.support_role_id,
            conversation.id,
        );
        let posted = delivery.post(thread as u64, &message).await;
        if conversation.origin_message_id == thread {
            self.tag_post(guild_id, thread as u64, PostTag::NeedsHuman, delivery)
                .await;
        }
        self.store
            .set_conversation_status(
                guild,
                conversation.id,
                ConversationStatus::HandedOff,
                self.clock.now(),
            )
            .await?;
        if context.settings.support_role_id.is_none()
            && let Some(staff) = context.settings.staff_channel_id
        {
            let jump = match &posted {
                Ok(ids) if !ids.is_empty() => jump_link(guild_id, thread as u64, ids[0]),
                _ => format!("<#{thread}>"),
            };
            let notice = format!(
                "🙋 Handoff in <#{thread}> (requested): a member needs a person. Jump: {jump}"
            );
            if let Err(e) = delivery.post(staff, &Outbound::text(&notice)).await {
                warn!(guild_id, error = %e, "could not notify the staff channel");
            }
        }
        Ok(posted.is_ok())
    }

    /// Tags a forum post; a refusal (the bot lacks Manage Threads) is counted and logged, never
    /// allowed to stop the answer.
    pub(super) async fn tag_post<D: Delivery>(
        &self,
        guild_id: u64,
        post_id: u64,
        tag: PostTag,
        delivery: &D,
    ) {
        let result = delivery.tag_post(post_id, tag).await;
        self.metrics.action("tag_post", result.is_ok());
        if let Err(e) = result {
            warn!(guild_id, post_id, tag = ?tag, error = %e, "could not tag the forum post");
        }
    }

    async fn notify_staff<D: Delivery>(
        &self,
        inbound: &Inbound,
        context: &GuildContext,
        notice: &str,
        delivery: &D,
    ) -> Option<String> {
        let staff = context.settings.staff_channel_id?;
        match delivery.post(staff, &Outbound::text(notice)).await {
            Ok(_) => None,
            Err(e) => {
                warn!(guild_id = inbound.guild_id, error = %e, "could not notify the staff channel");
                Some(format!("notify_staff: {e}"))
            }
        }
    }

    /// A model's escalation gets what a classifier escalation gets: an audit row and a staff
    /// notice with a jump link (never the message text).
    pub(super) async fn audit_agent_escalation<D: Delivery>(
        &self,
        inbound: &Inbound,
        context: &GuildContext,
        reason: &str,
        delivery: &D,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let staff = context.settings.staff_channel_id;
        let excerpt = excerpt(&inbound.content, EXCERPT_CHARS);
        let audit_id = self
            .store
            .insert_audit(&NewAuditEntry {
                guild_id: inbound.guild_id as i64,
                channel_id: inbound.channel_id as i64,
                message_id: inbound.message_id as i64,
                author_id: inbound.author_id as i64,
                verdict: "escalate",
                category: "agent",
                rule: "agent.escalate",
                model: None,
                model_verdict: None,
                score: 1.0,
                action: if staff.is_some() {
                    "notify_staff"
                } else {
                    "none"
                },
                action_status: "pending",
                excerpt: Some(&excerpt),
                excerpt_expires_at: Some(
                    now + chrono::Duration::days(self.settings.audit_excerpt_days.into()),
                ),
                created_at: now,
            })
            .await?;
        let notice = format!(
            "⚠️ Escalation from <@{}> in <#{}>: the agent judged staff should handle this — {reason}.\n{}\n{}",
            inbound.author_id,
            inbound.channel_id,
            super::moderate::where_it_is(inbound),
            super::moderate::audit_line(audit_id),
        );
        let error = self.notify_staff(inbound, context, &notice, delivery).await;
        self.store
            .set_audit_action_result(
                inbound.guild_id as i64,
                audit_id,
                if error.is_some() { "failed" } else { "ok" },
                error.as_deref(),
            )
            .await
    }
}

/// Under every answer: the member says it solved their problem, that it did not help, or asks
/// for a person.
fn answer_buttons(conversation_id: i64) -> Vec<Button> {
    [
        (RESOLVED_BUTTON, "Resolved", Tone::Positive),
        (NOT_HELPFUL_BUTTON, "Not helpful", Tone::Neutral),
        (HANDOFF_BUTTON, "Talk to a human", Tone::Neutral),
    ]
    .into_iter()
    .map(|(prefix, label, tone)| Button {
        custom_id: format!("{prefix}{conversation_id}"),
        label: label.into(),
        tone,
    })
    .collect()
}

/// A handoff message: the support role pinged (and allowed to be pinged) when the guild has
/// one.
fn handoff_message(message: &str, support_role: Option<u64>, conversation_id: i64) -> Outbound {
    let mut m = match support_role {
        Some(role) => {
            let mut m = Outbound::text(&format!("<@&{role}> {message}"));
            m.ping_role = Some(role);
            m
        }
        None => Outbound::text(message),
    };
    // Staff bring the bot back here when they are done (or run `/resume`).
    m.buttons.push(Button {
        custom_id: format!("{RESUME_BUTTON}{conversation_id}"),
        label: "Let supportbot answer again".into(),
        tone: Tone::Neutral,
    });
    m
}

fn handoff_reason(reason: HandoffReason) -> &'static str {
    match reason {
        HandoffReason::Requested => "asked for a person",
        HandoffReason::NotInDocs => "not covered by the docs",
        HandoffReason::ProviderFailed => "no model could answer",
        HandoffReason::BudgetExhausted => "daily answer budget spent",
        HandoffReason::ModelChose => "the model passed it on",
    }
}
