//! The rule stage: one file per family of rules. Every rule reads the normalised message and
//! reports hits with a score in 0..=1 and a stable rule id; `Classifier` decides what to do.

mod abuse;
mod escalation;
mod injection;
mod invite;
mod mentions;
mod scam;
mod secrets;
mod spam;

use regex::{RegexSet, RegexSetBuilder};

use super::ClassifierInput;
use super::normalize::{Link, Normalized};
use super::policy::Policy;
use super::signals::Signals;
use super::verdict::Category;

/// One rule firing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hit {
    pub category: Category,
    pub rule: String,
    pub score: f32,
}

impl Hit {
    pub fn new(category: Category, rule: &str, score: f32) -> Hit {
        Hit {
            category,
            rule: rule.to_owned(),
            score: score.clamp(0.0, 1.0),
        }
    }
}

/// Everything a rule may look at.
pub(crate) struct Ctx<'a> {
    pub input: &'a ClassifierInput,
    pub norm: &'a Normalized<'a>,
    pub policy: &'a Policy,
    pub signals: &'a Signals,
    /// Links not covered by the guild's allowed domains.
    pub links: Vec<&'a Link>,
}

/// A set of weighted phrases matched in one pass. `\b` in a pattern means an ASCII word
/// boundary, which keeps the lazy DFA on its fast path.
pub(crate) struct Phrases {
    set: RegexSet,
    meta: Vec<(f32, &'static str)>,
}

impl Phrases {
    pub fn new(entries: &[(&str, f32, &'static str)]) -> Phrases {
        let patterns: Vec<String> = entries
            .iter()
            .map(|(p, _, _)| p.replace(r"\b", r"(?-u:\b)"))
            .collect();
        let set = RegexSetBuilder::new(&patterns)
            .size_limit(8 * 1024 * 1024)
            .dfa_size_limit(8 * 1024 * 1024)
            .build()
            .expect("built-in rule patterns are valid");
        Phrases {
            set,
            meta: entries.iter().map(|&(_, w, id)| (w, id)).collect(),
        }
    }

    /// Combined evidence of all matching phrases (noisy-or) and the strongest phrase's id.
    pub fn score(&self, text: &str) -> Option<(f32, &'static str)> {
        let mut miss = 1.0f32;
        let mut best: Option<(f32, &'static str)> = None;
        for i in self.set.matches(text).iter() {
            let (w, id) = self.meta[i];
            miss *= 1.0 - w;
            if best.is_none_or(|(bw, _)| w > bw) {
                best = Some((w, id));
            }
        }
        best.map(|(_, id)| (1.0 - miss, id))
    }
}

/// All built-in rules, compiled once.
pub(crate) struct Rules {
    secrets: secrets::Secrets,
    scam: scam::Scam,
    invite: invite::Invite,
    spam: spam::Spam,
    abuse: abuse::Abuse,
    injection: injection::Injection,
    escalation: escalation::Escalation,
}

impl Rules {
    pub fn new() -> Rules {
        Rules {
            secrets: secrets::Secrets::new(),
            scam: scam::Scam::new(),
            invite: invite::Invite::new(),
            spam: spam::Spam::new(),
            abuse: abuse::Abuse::new(),
            injection: injection::Injection::new(),
            escalation: escalation::Escalation::new(),
        }
    }

    /// Crisis language; checked on its own for exempt authors too.
    pub fn self_harm(&self, ctx: &Ctx<'_>) -> Option<Hit> {
        self.escalation.self_harm(ctx)
    }

    pub fn frustration_cue(&self, text: &str) -> bool {
        self.escalation.frustration_cue(text)
    }

    pub fn spam_score(&self, ctx: &Ctx<'_>) -> Option<Hit> {
        self.spam.check(ctx)
    }

    pub fn injection_score(&self, ctx: &Ctx<'_>) -> Option<Hit> {
        self.injection.check(ctx)
    }

    /// Every other rule's hits.
    pub fn check(&self, ctx: &Ctx<'_>, hits: &mut Vec<Hit>) {
        hits.extend(self.secrets.check(ctx));
        hits.extend(self.scam.check(ctx));
        hits.extend(self.invite.check(ctx));
        hits.extend(mentions::check(ctx));
        hits.extend(self.abuse.check(ctx));
        self.escalation.check(ctx, hits);
        if let Some(rule) = ctx.policy.custom_match(&ctx.norm.text) {
            hits.push(Hit {
                category: Category::Custom,
                rule,
                score: 1.0,
            });
        }
    }
}
