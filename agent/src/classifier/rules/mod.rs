//! The rule stage: one file per family of rules. Every rule reads the normalised message and
//! reports hits with a score in 0..=1 and a stable rule id; `Classifier` decides what to do.

mod abuse;
mod escalation;
mod injection;
mod invite;
mod mentions;
mod scam;
pub(crate) mod secrets;
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
    pub phrases: PhraseScores,
}

/// A weighted phrase: pattern, evidence weight (0..1) and rule id.
pub(crate) type Phrase = (&'static str, f32, &'static str);

/// Every family's phrases in one `RegexSet`, so a message is scanned once, not once per family.
/// `\b` in a pattern means an ASCII word boundary, which keeps the lazy DFA on its fast path.
pub(crate) struct PhraseBook {
    set: RegexSet,
    meta: Vec<(Category, f32, &'static str)>,
}

/// Per category: combined evidence of its matching phrases (noisy-or) and the strongest id.
#[derive(Debug, Clone, Default)]
pub(crate) struct PhraseScores([Option<(f32, &'static str)>; Category::ALL.len()]);

impl PhraseScores {
    pub fn get(&self, category: Category) -> Option<(f32, &'static str)> {
        self.0[category as usize]
    }
}

impl PhraseBook {
    fn new(families: &[(Category, &[Phrase])]) -> PhraseBook {
        let mut patterns = Vec::new();
        let mut meta = Vec::new();
        for &(category, phrases) in families {
            for &(p, w, id) in phrases {
                patterns.push(p.replace(r"\b", r"(?-u:\b)"));
                meta.push((category, w, id));
            }
        }
        let set = RegexSetBuilder::new(&patterns)
            .size_limit(32 * 1024 * 1024)
            .dfa_size_limit(32 * 1024 * 1024)
            .build()
            .expect("built-in rule patterns are valid");
        PhraseBook { set, meta }
    }

    pub fn score(&self, text: &str) -> PhraseScores {
        let mut miss = [1.0f32; Category::ALL.len()];
        let mut out = PhraseScores::default();
        for i in self.set.matches(text).iter() {
            let (category, w, id) = self.meta[i];
            let k = category as usize;
            miss[k] *= 1.0 - w;
            if out.0[k].is_none_or(|(bw, _)| w > bw) {
                out.0[k] = Some((w, id));
            }
        }
        for (slot, m) in out.0.iter_mut().zip(miss) {
            if let Some((_, id)) = *slot {
                *slot = Some((1.0 - m, id));
            }
        }
        out
    }
}

/// All built-in rules, compiled once.
pub(crate) struct Rules {
    secrets: secrets::Secrets,
    phrases: PhraseBook,
}

impl Rules {
    pub fn new() -> Rules {
        Rules {
            secrets: secrets::Secrets::new(),
            phrases: PhraseBook::new(&[
                (Category::Scam, scam::PHRASES),
                (Category::Spam, spam::PHRASES),
                (Category::Abuse, abuse::PHRASES),
                (Category::PromptInjection, injection::PHRASES),
                (Category::HumanRequest, escalation::HUMAN),
                (Category::LegalThreat, escalation::LEGAL),
                (Category::SelfHarm, escalation::SELF_HARM),
                (Category::SecurityReport, escalation::SECURITY),
                (Category::Billing, escalation::BILLING),
                (Category::Frustration, escalation::FRUSTRATION),
            ]),
        }
    }

    pub fn phrases(&self, text: &str) -> PhraseScores {
        self.phrases.score(text)
    }

    /// Crisis language; checked on its own for exempt authors too.
    pub fn self_harm(&self, ctx: &Ctx<'_>) -> Option<Hit> {
        escalation::self_harm(ctx)
    }

    pub fn frustration_cue(&self, ctx: &Ctx<'_>) -> bool {
        escalation::frustration_cue(ctx)
    }

    pub fn spam_score(&self, ctx: &Ctx<'_>) -> Option<Hit> {
        spam::check(ctx)
    }

    pub fn injection_score(&self, ctx: &Ctx<'_>) -> Option<Hit> {
        injection::check(ctx)
    }

    /// Every other rule's hits.
    pub fn check(&self, ctx: &Ctx<'_>, hits: &mut Vec<Hit>) {
        hits.extend(self.secrets.check(ctx));
        hits.extend(scam::check(ctx));
        hits.extend(invite::check(ctx));
        hits.extend(mentions::check(ctx));
        hits.extend(abuse::check(ctx));
        escalation::check(ctx, hits);
        if let Some(rule) = ctx.policy.custom_match(&ctx.norm.text) {
            hits.push(Hit {
                category: Category::Custom,
                rule,
                score: 1.0,
            });
        }
    }
}
