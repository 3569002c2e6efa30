//! Acting on a Block or Escalate verdict: one audit row, then the actions the guild's policy
//! asks for (delete, staff notice with a jump link, timeout, a private note to the author). Each
//! action's failure is recorded on the audit row, never dropped.

use agent::classifier::{Action, Category, Enforcement, Verdict, excerpt};
use chrono::{DateTime, Duration, Utc};
use store::{NewAuditEntry, Store};
use tracing::{info, warn};

use super::{Delivery, DeliveryError, Inbound, InboundKind, Outbound};
use crate::guild_settings::GuildContext;
use crate::metrics::Metrics;

/// Longest excerpt kept in the audit log, in characters.
const EXCERPT_CHARS: usize = 200;

pub(super) struct Moderation<'a> {
    pub store: &'a Store,
    pub now: DateTime<Utc>,
    pub excerpt_days: u32,
    pub metrics: &'a Metrics,
}

/// What was done, for the pipeline's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moderated {
    pub audit_id: i64,
    pub verdict: &'static str,
    pub category: Category,
    pub acted: bool,
    pub failed: bool,
}

pub fn jump_link(guild_id: u64, channel_id: u64, message_id: u64) -> String {
    format!("https://discord.com/channels/{guild_id}/{channel_id}/{message_id}")
}

impl Moderation<'_> {
    pub(super) async fn apply<D: Delivery>(
        &self,
        inbound: &Inbound,
        guild: &GuildContext,
        verdict: &Verdict,
        delivery: &D,
    ) -> Result<Moderated, store::StoreError> {
        let (kind, category, rule, score, reason) = match &verdict.action {
            Action::Allow => unreachable!("only Block and Escalate verdicts are moderated"),
            Action::Block {
                category,
                rule,
                score,
            } => ("block", *category, rule.as_str(), *score, None),
            Action::Escalate {
                category,
                rule,
                reason,
                score,
            } => (
                "escalate",
                *category,
                rule.as_str(),
                *score,
                Some(reason.as_str()),
            ),
        };
        let acting = verdict.enforcement == Enforcement::Act;
        let staff = guild.settings.staff_channel_id;
        let timeout = (kind == "block"
            && guild.settings.timeout_minutes > 0
            && !matches!(category, Category::Secret | Category::PromptInjection))
        .then_some(guild.settings.timeout_minutes);

        let mut planned: Vec<&str> = Vec::new();
        // A private question (`/ask`) was never posted: there is nothing to delete.
        if kind == "block" && verdict.delete_message && inbound.kind != InboundKind::Private {
            planned.push("delete");
        }
        if !verdict.pass_to_agent {
            planned.push("keep_from_agent");
        }
        if staff.is_some() {
            planned.push("notify_staff");
        }
        if timeout.is_some() {
            planned.push("timeout");
        }
        if verdict.notify_author.is_some() {
            planned.push("notify_author");
        }
        if verdict.caring_reply.is_some() {
            planned.push("caring_reply");
        }
        let action = if planned.is_empty() {
            "none".to_string()
        } else {
            planned.join("+")
        };
        let status = match verdict.enforcement {
            Enforcement::Act => "pending",
            Enforcement::LogOnly => "logged",
            Enforcement::Shadow => "shadow",
        };
        let model = verdict.model.as_ref();
        let model_verdict = model.map(|m| match &m.result {
            Ok(v) => match v.category {
                Some(c) => format!("{c} ({:.2})", v.confidence),
                None => format!("allow ({:.2})", v.confidence),
            },
            Err(e) => format!("error: {e}"),
        });
        // A leaked token or key is never stored: the category and the rule (which names the
        // kind of secret, e.g. `secret.discord_token`) say enough.
        let excerpt =
            (category != Category::Secret).then(|| excerpt(&inbound.content, EXCERPT_CHARS));
        let audit_id = self
            .store
            .insert_audit(&NewAuditEntry {
                guild_id: inbound.guild_id as i64,
                channel_id: inbound.channel_id as i64,
                message_id: inbound.message_id as i64,
                author_id: inbound.author_id as i64,
                verdict: kind,
                category: category.as_str(),
                rule,
                model: model.map(|m| m.model.as_str()),
                model_verdict: model_verdict.as_deref(),
                score: f64::from(score),
                action: &action,
                action_status: status,
                excerpt: excerpt.as_deref(),
                excerpt_expires_at: excerpt
                    .is_some()
                    .then(|| self.now + Duration::days(self.excerpt_days.into())),
                created_at: self.now,
            })
            .await?;
        self.metrics.verdict(kind, category.as_str());
        info!(
            guild_id = inbound.guild_id,
            channel_id = inbound.channel_id,
            message_id = inbound.message_id,
            author_id = inbound.author_id,
            audit_id,
            verdict = kind,
            category = category.as_str(),
            rule,
            score,
            enforcement = ?verdict.enforcement,
            "classifier verdict"
        );
        if !acting {
            return Ok(Moderated {
                audit_id,
                verdict: kind,
                category,
                acted: false,
                failed: false,
            });
        }

        // `errors` go on the audit row; `problems` tell staff what failed and what to grant.
        let mut errors: Vec<String> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        let mut deleted = false;
        if planned.contains(&"delete") {
            match delivery
                .delete_message(inbound.channel_id, inbound.message_id)
                .await
            {
                // Already gone (its author or a moderator was quicker): what the delete was for.
                Ok(()) | Err(DeliveryError::NotFound(_)) => deleted = true,
                Err(e) => {
                    problems.push(problem(
                        &e,
                        "delete it",
                        &format!("**Manage Messages** in <#{}>", inbound.channel_id),
                    ));
                    errors.push(format!("delete: {e}"));
                }
            }
            self.metrics.action("delete", deleted);
        }
        if let Some(minutes) = timeout {
            let until = self.now + Duration::minutes(minutes.into());
            let result = delivery
                .timeout_member(inbound.guild_id, inbound.author_id, until)
                .await;
            self.metrics.action("timeout", result.is_ok());
            if let Err(e) = result {
                problems.push(problem(
                    &e,
                    &format!("time <@{}> out", inbound.author_id),
                    "**Moderate Members**, and a role above theirs",
                ));
                errors.push(format!("timeout: {e}"));
            }
        }
        if let Some(note) = verdict.notify_author {
            let result = delivery.send_dm(inbound.author_id, note).await;
            self.metrics.action("notify_author", result.is_ok());
            if let Err(e) = result {
                problems.push(match &e {
                    DeliveryError::Forbidden(_) => format!(
                        "I could not send <@{}> a private note: they do not accept direct \
                         messages from this server's members.",
                        inbound.author_id
                    ),
                    other => format!(
                        "I could not send <@{}> a private note ({other}).",
                        inbound.author_id
                    ),
                });
                errors.push(format!("notify_author: {e}"));
            }
        }
        if let Some(reply) = verdict.caring_reply {
            let result = delivery
                .post(inbound.channel_id, &Outbound::text(reply))
                .await;
            self.metrics.action("caring_reply", result.is_ok());
            if let Err(e) = result {
                problems.push(problem(
                    &e,
                    &format!("reply in <#{}>", inbound.channel_id),
                    &format!("**Send Messages** in <#{}>", inbound.channel_id),
                ));
                errors.push(format!("caring_reply: {e}"));
            }
        }
        if let Some(staff) = staff {
            let notice = staff_notice(
                inbound, kind, category, rule, score, reason, deleted, audit_id,
            );
            let notice = if problems.is_empty() {
                notice
            } else {
                format!("{notice}\n⚠️ {}", problems.join("\n⚠️ "))
            };
            let result = delivery.post(staff, &Outbound::text(&notice)).await;
            self.metrics.action("notify_staff", result.is_ok());
            if let Err(e) = result {
                errors.push(format!("notify_staff: {e}"));
            }
        }

        let failed = !errors.is_empty();
        let error = failed.then(|| errors.join("; "));
        if let Some(error) = &error {
            warn!(guild_id = inbound.guild_id, audit_id, error = %error, "moderation action failed");
        }
        self.store
            .set_audit_action_result(
                inbound.guild_id as i64,
                audit_id,
                if failed { "failed" } else { "ok" },
                error.as_deref(),
            )
            .await?;
        Ok(Moderated {
            audit_id,
            verdict: kind,
            category,
            acted: true,
            failed,
        })
    }
}

/// A failed action, told to staff with what the bot needs: a refusal names the permission.
fn problem(e: &DeliveryError, what: &str, needs: &str) -> String {
    match e {
        DeliveryError::Forbidden(_) => {
            format!("I could not {what}: Discord refused; the bot needs {needs}.")
        }
        other => format!("I could not {what} ({other})."),
    }
}

/// The staff channel's notice. It names who, where and why, never the message text: a deleted
/// message may hold a secret or abuse that should not be reposted.
#[allow(clippy::too_many_arguments)]
fn staff_notice(
    inbound: &Inbound,
    kind: &str,
    category: Category,
    rule: &str,
    score: f32,
    reason: Option<&str>,
    deleted: bool,
    audit_id: i64,
) -> String {
    let head = if kind == "block" {
        format!(
            "🚫 Blocked a message from <@{}> in <#{}>: **{category}** (rule `{rule}`, score {score:.2}).",
            inbound.author_id, inbound.channel_id
        )
    } else {
        format!(
            "⚠️ Escalation from <@{}> in <#{}>: **{category}**{} (rule `{rule}`, score {score:.2}).",
            inbound.author_id,
            inbound.channel_id,
            reason.map(|r| format!(" — {r}")).unwrap_or_default()
        )
    };
    let place = if deleted {
        "The message was deleted.".to_string()
    } else {
        where_it_is(inbound)
    };
    format!("{head}\n{place}\n{}", audit_line(audit_id))
}

/// Where staff find the message: a jump link, or for a private question, that there is none.
pub(crate) fn where_it_is(inbound: &Inbound) -> String {
    if inbound.kind == InboundKind::Private {
        "Asked privately with `/ask`: nothing was posted, and only the member saw the answer."
            .into()
    } else {
        format!(
            "Jump: {}",
            jump_link(inbound.guild_id, inbound.channel_id, inbound.message_id)
        )
    }
}

/// Where staff find the entry; a negative id is one waiting for the database to come back.
pub(crate) fn audit_line(audit_id: i64) -> String {
    if audit_id < 0 {
        "The audit entry is written when the database is reachable again; review with `/audit`."
            .into()
    } else {
        format!("Audit entry #{audit_id}; review with `/audit`.")
    }
}
