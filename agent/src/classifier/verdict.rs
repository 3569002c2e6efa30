//! What the classifier says about one message: the category taxonomy, the action, and the
//! metadata the bot needs to act on it (audit rule id, shadow flag, private hints).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a message was flagged as. Serialised in snake_case (`prompt_injection`), which is also the
/// spelling used by the eval files and the policy JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Spam,
    Scam,
    InviteSpam,
    MassMention,
    Secret,
    Abuse,
    PromptInjection,
    /// A guild's own blocked words and patterns.
    Custom,
    HumanRequest,
    LegalThreat,
    SelfHarm,
    SecurityReport,
    Billing,
    Frustration,
}

impl Category {
    pub const ALL: [Category; 14] = [
        Category::Spam,
        Category::Scam,
        Category::InviteSpam,
        Category::MassMention,
        Category::Secret,
        Category::Abuse,
        Category::PromptInjection,
        Category::Custom,
        Category::HumanRequest,
        Category::LegalThreat,
        Category::SelfHarm,
        Category::SecurityReport,
        Category::Billing,
        Category::Frustration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Spam => "spam",
            Category::Scam => "scam",
            Category::InviteSpam => "invite_spam",
            Category::MassMention => "mass_mention",
            Category::Secret => "secret",
            Category::Abuse => "abuse",
            Category::PromptInjection => "prompt_injection",
            Category::Custom => "custom",
            Category::HumanRequest => "human_request",
            Category::LegalThreat => "legal_threat",
            Category::SelfHarm => "self_harm",
            Category::SecurityReport => "security_report",
            Category::Billing => "billing",
            Category::Frustration => "frustration",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The action a guild gets without configuring anything: harmful content is blocked,
    /// messages that need a person are escalated.
    pub fn default_action(self) -> PolicyAction {
        match self {
            Category::Spam
            | Category::Scam
            | Category::InviteSpam
            | Category::MassMention
            | Category::Secret
            | Category::Abuse
            | Category::PromptInjection
            | Category::Custom => PolicyAction::Block,
            Category::HumanRequest
            | Category::LegalThreat
            | Category::SelfHarm
            | Category::SecurityReport
            | Category::Billing
            | Category::Frustration => PolicyAction::Escalate,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a guild wants done when a category fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    Block,
    Escalate,
    /// Write the audit row, do nothing else.
    LogOnly,
    Off,
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Allow,
    Block {
        category: Category,
        /// Stable rule id for the audit log, e.g. `scam.lookalike_domain`.
        rule: String,
        score: f32,
    },
    Escalate {
        category: Category,
        rule: String,
        /// Short human-readable reason for the staff channel (never contains message text).
        reason: String,
        score: f32,
    },
}

impl Action {
    pub fn category(&self) -> Option<Category> {
        match self {
            Action::Allow => None,
            Action::Block { category, .. } | Action::Escalate { category, .. } => Some(*category),
        }
    }

    pub fn rule(&self) -> Option<&str> {
        match self {
            Action::Allow => None,
            Action::Block { rule, .. } | Action::Escalate { rule, .. } => Some(rule),
        }
    }

    pub fn is_allow(&self) -> bool {
        matches!(self, Action::Allow)
    }
}

/// How far the bot should go with a non-allow action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Do what the action says (delete / notify staff).
    Act,
    /// The category is configured `log_only`: audit row only.
    LogOnly,
    /// The guild runs in shadow mode: audit row only, flagged as shadow.
    Shadow,
}

/// The classifier's full answer: the action plus everything the bot and the audit log need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Final action (after the second stage, when one ran).
    pub action: Action,
    /// The rule stage's own action, kept next to the model's for the audit log.
    pub rule_stage: Action,
    /// Present when the second stage was consulted (its verdict or why it failed).
    pub model: Option<ModelOutcome>,
    pub enforcement: Enforcement,
    /// Whether the bot should delete the message. Prompt injection is blocked from the agent
    /// but left in the channel; escalations are never deleted.
    pub delete_message: bool,
    /// Whether the message may be passed on to the retrieval agent.
    pub pass_to_agent: bool,
    /// Private note for the author (a leaked secret must be rotated).
    pub notify_author: Option<&'static str>,
    /// Reply to post for crisis language, in place of any automated answer.
    pub caring_reply: Option<&'static str>,
    /// The message itself sounds frustrated; the bot adds it to the conversation's counter.
    pub frustration_cue: bool,
    /// No rule acted, but this category came close: a second stage may judge the message.
    pub second_stage_candidate: Option<Category>,
}

impl Verdict {
    pub(crate) fn allow() -> Verdict {
        Verdict {
            action: Action::Allow,
            rule_stage: Action::Allow,
            model: None,
            enforcement: Enforcement::Act,
            delete_message: false,
            pass_to_agent: true,
            notify_author: None,
            caring_reply: None,
            frustration_cue: false,
            second_stage_candidate: None,
        }
    }

    pub fn is_shadow(&self) -> bool {
        self.enforcement == Enforcement::Shadow
    }
}

/// A bounded excerpt of the ORIGINAL message for the audit log: at most `max_chars` characters,
/// cut on a character boundary, with control and bidi characters replaced so a stored excerpt
/// cannot reorder or hide text in the admin's view.
pub fn excerpt(original: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(original.len().min(max_chars * 4));
    let mut chars = original.chars();
    for c in chars.by_ref().take(max_chars) {
        if c.is_control() && c != '\n' || super::normalize::is_invisible(c) {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() {
        out.pop();
        out.push('…');
    }
    out
}

/// Where a message goes once the classifier has judged it: a typed route, so the pipeline
/// never compares strings to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Blocked, or crisis language already answered with care: no automated answer.
    Drop,
    /// The member asked for a person: hand the conversation to the support team.
    Handoff,
    /// Staff must handle it (a security report, a legal threat, billing): the member is told
    /// a person will follow up, and gets no automated answer.
    Escalate,
    /// Staff are told and the member still gets an answer (repeated frustration).
    EscalateAndAnswer,
    Answer,
}

impl Verdict {
    pub fn route(&self) -> Route {
        if self.enforcement != Enforcement::Act {
            // Shadow and log-only guilds only audit.
            return Route::Answer;
        }
        match &self.action {
            Action::Allow => Route::Answer,
            Action::Block { .. } => Route::Drop,
            Action::Escalate { .. } if self.caring_reply.is_some() => Route::Drop,
            Action::Escalate { category, .. } => match category {
                Category::HumanRequest => Route::Handoff,
                Category::Frustration => Route::EscalateAndAnswer,
                _ => Route::Escalate,
            },
        }
    }
}

/// What the second stage said about a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVerdict {
    /// `None` when the model considers the message fine.
    pub category: Option<Category>,
    pub confidence: f32,
}

/// Why the second stage gave no verdict. Only the kind is kept: provider messages can echo the
/// user's text, which must not reach logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum SecondStageError {
    #[error("the provider could not be reached")]
    Unreachable,
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider returned an error")]
    Provider,
    #[error("the provider's answer could not be understood")]
    BadResponse,
}

/// The second stage's outcome as recorded in the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelOutcome {
    pub model: String,
    pub result: Result<ModelVerdict, SecondStageError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_bounded_and_char_safe() {
        let text = "é".repeat(500);
        let e = excerpt(&text, 200);
        assert_eq!(e.chars().count(), 200);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt("short", 200), "short");
    }

    #[test]
    fn excerpt_neutralises_bidi_overrides() {
        let e = excerpt("abc\u{202E}fdp.exe", 200);
        assert!(!e.contains('\u{202E}'));
    }

    #[test]
    fn categories_round_trip_through_their_names() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
    }
}
