//! A guild's classifier settings: per-category action and sensitivity, its own blocked words and
//! regex patterns, allowed domains, exemptions and shadow mode. Stored as JSON; every admin change
//! goes through validation so a bad pattern is rejected when it is set, not when a message arrives.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};

use super::normalize::fold_text;
use super::semantic::{GuildExample, Label, Semantic};
use super::verdict::{Category, PolicyAction};

pub const MAX_PATTERNS: usize = 64;
pub const MAX_PATTERN_LEN: usize = 256;
pub const MAX_WORDS: usize = 500;
pub const MAX_WORD_LEN: usize = 64;
pub const MAX_DOMAINS: usize = 200;
/// A guild's own examples for the semantic stage: per category and in total, and their length.
pub const MAX_EXAMPLES_PER_CATEGORY: usize = 50;
pub const MAX_EXAMPLES: usize = 200;
pub const MAX_EXAMPLE_CHARS: usize = 500;
/// Compiled-program budget per pattern; `regex` reports an error instead of growing past it, which
/// is how repetition bombs like `(a{100}){100}` are refused.
const PATTERN_SIZE_LIMIT: usize = 64 * 1024;
const SET_SIZE_LIMIT: usize = 2 * 1024 * 1024;
const DFA_SIZE_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("pattern `{pattern}` is invalid: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("pattern `{pattern}…` is {len} characters long; the limit is {max}")]
    PatternTooLong {
        pattern: String,
        len: usize,
        max: usize,
    },
    #[error("{count} patterns configured; the limit is {max}")]
    TooManyPatterns { count: usize, max: usize },
    #[error("blocked word `{word}` is invalid: {reason}")]
    InvalidWord { word: String, reason: String },
    #[error("{count} blocked words configured; the limit is {max}")]
    TooManyWords { count: usize, max: usize },
    #[error("`{domain}` is not a domain name (expected something like `example.com`)")]
    InvalidDomain { domain: String },
    #[error("{count} allowed domains configured; the limit is {max}")]
    TooManyDomains { count: usize, max: usize },
    #[error("{count} examples configured for `{category}`; the limit is {max} per category")]
    TooManyExamples {
        category: String,
        count: usize,
        max: usize,
    },
    #[error("{count} examples configured in all; the limit is {max}")]
    TooManyExamplesTotal { count: usize, max: usize },
    #[error("an example for `{category}` is {reason}")]
    InvalidExample { category: String, reason: String },
    #[error("policy JSON is invalid: {0}")]
    Json(String),
}

/// How eagerly a category fires: the score a rule must reach to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Low,
    #[default]
    Medium,
    High,
}

impl Sensitivity {
    pub fn threshold(self) -> f32 {
        match self {
            Sensitivity::Low => 0.9,
            Sensitivity::Medium => 0.75,
            Sensitivity::High => 0.6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySetting {
    pub action: PolicyAction,
    #[serde(default)]
    pub sensitivity: Sensitivity,
}

/// The stored shape of a policy. Example:
/// `{"categories":{"invite_spam":{"action":"off"},"spam":{"action":"block","sensitivity":"high"}},
///   "blocked_words":["badword"],"blocked_patterns":["free\\s+robux"],
///   "allowed_domains":["example.com"],"exempt_roles":[123],"exempt_channels":[456],"shadow":false,
///   "examples":{"scam":["selling cheap accounts, dm me"],"benign":["this boss is killing me"]}}`
///
/// `examples` teach the semantic stage (when the local model is present) what the guild means
/// by a category, or what is ordinary there (`benign`); messages close to them score as such.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub categories: BTreeMap<Category, CategorySetting>,
    pub blocked_words: Vec<String>,
    pub blocked_patterns: Vec<String>,
    pub allowed_domains: Vec<String>,
    #[serde(deserialize_with = "snowflakes")]
    pub exempt_roles: Vec<u64>,
    #[serde(deserialize_with = "snowflakes")]
    pub exempt_channels: Vec<u64>,
    pub shadow: bool,
    /// Category name (or `benign`) → example messages, for the semantic stage.
    pub examples: BTreeMap<String, Vec<String>>,
}

/// Discord ids arrive as strings from its API and from JavaScript (which cannot hold them as
/// numbers); accept both.
fn snowflakes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(u64),
        Text(String),
    }
    Vec::<Id>::deserialize(d)?
        .into_iter()
        .map(|id| match id {
            Id::Number(n) => Ok(n),
            Id::Text(s) => s
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a Discord id"))),
        })
        .collect()
}

/// A validated policy with its matchers compiled. Built only through validation, so a `Policy`
/// in hand always has working patterns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "PolicyConfig", into = "PolicyConfig")]
pub struct Policy {
    config: PolicyConfig,
    words: Option<AhoCorasick>,
    patterns: Option<RegexSet>,
    /// The guild's examples embedded by the semantic stage, on first use.
    semantic: std::sync::OnceLock<Vec<GuildExample>>,
}

impl TryFrom<PolicyConfig> for Policy {
    type Error = PolicyError;
    fn try_from(config: PolicyConfig) -> Result<Self, Self::Error> {
        Policy::new(config)
    }
}

impl From<Policy> for PolicyConfig {
    fn from(p: Policy) -> Self {
        p.config
    }
}

fn check_pattern(pattern: &str) -> Result<(), PolicyError> {
    let len = pattern.chars().count();
    if len > MAX_PATTERN_LEN {
        return Err(PolicyError::PatternTooLong {
            pattern: pattern.chars().take(40).collect(),
            len,
            max: MAX_PATTERN_LEN,
        });
    }
    let invalid = |reason: String| PolicyError::InvalidPattern {
        pattern: pattern.to_owned(),
        reason,
    };
    let re = RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .nest_limit(16)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => invalid(format!(
                "it compiles to more than {limit} bytes; simplify the repetition"
            )),
            other => invalid(
                other
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("syntax error")
                    .trim()
                    .to_owned(),
            ),
        })?;
    if re.is_match("") {
        return Err(invalid(
            "it matches an empty message, so it would block everything".to_owned(),
        ));
    }
    Ok(())
}

fn check_word(word: &str) -> Result<String, PolicyError> {
    let (folded, _) = fold_text(word);
    let invalid = |reason: &str| PolicyError::InvalidWord {
        word: word.to_owned(),
        reason: reason.to_owned(),
    };
    if folded.is_empty() {
        return Err(invalid("it is empty after normalisation"));
    }
    if folded.chars().count() > MAX_WORD_LEN {
        return Err(invalid(
            "it is longer than 64 characters; use a pattern instead",
        ));
    }
    Ok(folded)
}

fn check_domain(domain: &str) -> Result<String, PolicyError> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let d = d.strip_prefix("www.").unwrap_or(&d).to_owned();
    let ok = d.contains('.')
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(PolicyError::InvalidDomain {
            domain: domain.to_owned(),
        })
    }
}

fn check_examples(examples: &BTreeMap<String, Vec<String>>) -> Result<(), PolicyError> {
    let mut total = 0;
    for (category, texts) in examples {
        if Label::parse(category).is_none() {
            return Err(PolicyError::InvalidExample {
                category: category.clone(),
                reason: "for an unknown category (use a category name or `benign`)".to_owned(),
            });
        }
        if texts.len() > MAX_EXAMPLES_PER_CATEGORY {
            return Err(PolicyError::TooManyExamples {
                category: category.clone(),
                count: texts.len(),
                max: MAX_EXAMPLES_PER_CATEGORY,
            });
        }
        for t in texts {
            let invalid = |reason: String| PolicyError::InvalidExample {
                category: category.clone(),
                reason,
            };
            if t.trim().is_empty() {
                return Err(invalid("empty".to_owned()));
            }
            let len = t.chars().count();
            if len > MAX_EXAMPLE_CHARS {
                return Err(invalid(format!(
                    "{len} characters long; the limit is {MAX_EXAMPLE_CHARS}"
                )));
            }
        }
        total += texts.len();
    }
    if total > MAX_EXAMPLES {
        return Err(PolicyError::TooManyExamplesTotal {
            count: total,
            max: MAX_EXAMPLES,
        });
    }
    Ok(())
}

impl PolicyConfig {
    /// Everything an admin command must check before storing the policy.
    pub fn validate(&self) -> Result<(), PolicyError> {
        Policy::new(self.clone()).map(drop)
    }
}

impl Policy {
    pub fn new(mut config: PolicyConfig) -> Result<Policy, PolicyError> {
        if config.blocked_patterns.len() > MAX_PATTERNS {
            return Err(PolicyError::TooManyPatterns {
                count: config.blocked_patterns.len(),
                max: MAX_PATTERNS,
            });
        }
        if config.blocked_words.len() > MAX_WORDS {
            return Err(PolicyError::TooManyWords {
                count: config.blocked_words.len(),
                max: MAX_WORDS,
            });
        }
        if config.allowed_domains.len() > MAX_DOMAINS {
            return Err(PolicyError::TooManyDomains {
                count: config.allowed_domains.len(),
                max: MAX_DOMAINS,
            });
        }
        for p in &config.blocked_patterns {
            check_pattern(p)?;
        }
        check_examples(&config.examples)?;
        let folded_words = config
            .blocked_words
            .iter()
            .map(|w| check_word(w))
            .collect::<Result<Vec<_>, _>>()?;
        config.allowed_domains = config
            .allowed_domains
            .iter()
            .map(|d| check_domain(d))
            .collect::<Result<Vec<_>, _>>()?;

        let patterns = if config.blocked_patterns.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(&config.blocked_patterns)
                    .case_insensitive(true)
                    .size_limit(SET_SIZE_LIMIT)
                    .dfa_size_limit(DFA_SIZE_LIMIT)
                    .build()
                    .map_err(|e| PolicyError::InvalidPattern {
                        pattern: "(all patterns together)".to_owned(),
                        reason: format!("{e}; remove or simplify some patterns"),
                    })?,
            )
        };
        let words = if folded_words.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&folded_words)
                    .map_err(|e| PolicyError::InvalidWord {
                        word: "(all words together)".to_owned(),
                        reason: e.to_string(),
                    })?,
            )
        };
        Ok(Policy {
            config,
            words,
            patterns,
            semantic: std::sync::OnceLock::new(),
        })
    }

    pub fn from_json(json: &str) -> Result<Policy, PolicyError> {
        serde_json::from_str(json).map_err(|e| PolicyError::Json(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.config).expect("a policy config always serialises")
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The guild's examples as the semantic stage compares them; embedded once per policy
    /// (a changed policy is a new `Policy`).
    pub fn semantic_examples(&self, semantic: &Semantic) -> &[GuildExample] {
        self.semantic.get_or_init(|| {
            self.config
                .examples
                .iter()
                .filter_map(|(c, texts)| Label::parse(c).map(|l| (l, texts)))
                .flat_map(|(label, texts)| {
                    texts.iter().map(move |t| GuildExample {
                        label,
                        vector: semantic.embed(t),
                    })
                })
                .collect()
        })
    }

    /// Adds an example message for a category (or `benign`).
    pub fn add_example(&mut self, category: &str, text: &str) -> Result<(), PolicyError> {
        self.update(|c| {
            c.examples
                .entry(category.to_owned())
                .or_default()
                .push(text.trim().to_owned())
        })
    }

    /// Removes an example; `false` when there was no such example.
    pub fn remove_example(&mut self, category: &str, text: &str) -> Result<bool, PolicyError> {
        let present = self
            .config
            .examples
            .get(category)
            .is_some_and(|t| t.iter().any(|x| x == text.trim()));
        if present {
            self.update(|c| {
                if let Some(texts) = c.examples.get_mut(category) {
                    texts.retain(|x| x != text.trim());
                    if texts.is_empty() {
                        c.examples.remove(category);
                    }
                }
            })?;
        }
        Ok(present)
    }

    /// Apply an admin change and revalidate; on error the policy is unchanged.
    pub fn update(&mut self, change: impl FnOnce(&mut PolicyConfig)) -> Result<(), PolicyError> {
        let mut config = self.config.clone();
        change(&mut config);
        *self = Policy::new(config)?;
        Ok(())
    }

    pub fn set_category(
        &mut self,
        category: Category,
        action: PolicyAction,
        sensitivity: Sensitivity,
    ) {
        self.config.categories.insert(
            category,
            CategorySetting {
                action,
                sensitivity,
            },
        );
    }

    pub fn add_blocked_pattern(&mut self, pattern: &str) -> Result<(), PolicyError> {
        self.update(|c| c.blocked_patterns.push(pattern.to_owned()))
    }

    pub fn add_blocked_word(&mut self, word: &str) -> Result<(), PolicyError> {
        self.update(|c| c.blocked_words.push(word.to_owned()))
    }

    pub fn add_allowed_domain(&mut self, domain: &str) -> Result<(), PolicyError> {
        self.update(|c| c.allowed_domains.push(domain.to_owned()))
    }

    pub fn set_shadow(&mut self, shadow: bool) {
        self.config.shadow = shadow;
    }

    pub fn shadow(&self) -> bool {
        self.config.shadow
    }

    pub fn setting(&self, category: Category) -> CategorySetting {
        self.config
            .categories
            .get(&category)
            .copied()
            .unwrap_or(CategorySetting {
                action: category.default_action(),
                sensitivity: Sensitivity::Medium,
            })
    }

    pub fn is_exempt(&self, channel_id: u64, roles: &[u64]) -> bool {
        self.config.exempt_channels.contains(&channel_id)
            || roles.iter().any(|r| self.config.exempt_roles.contains(r))
    }

    /// `host` is an allowed domain or a subdomain of one.
    pub fn domain_allowed(&self, host: &str) -> bool {
        self.config.allowed_domains.iter().any(|d| {
            host == d
                || host
                    .strip_suffix(d.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }

    /// The guild's own words and patterns, matched on the normalised text. Returns a rule id.
    pub fn custom_match(&self, text: &str) -> Option<String> {
        if let Some(words) = &self.words {
            for m in words.find_iter(text) {
                let before = text[..m.start()].chars().next_back();
                let after = text[m.end()..].chars().next();
                let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
                if boundary(before) && boundary(after) {
                    return Some(format!("custom.word.{}", m.pattern().as_usize()));
                }
            }
        }
        let patterns = self.patterns.as_ref()?;
        patterns
            .matches(text)
            .iter()
            .next()
            .map(|i| format!("custom.pattern.{i}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_pattern_is_rejected_with_an_error_naming_it() {
        let mut p = Policy::default();
        let err = p.add_blocked_pattern("free(nitro").unwrap_err();
        assert!(
            matches!(&err, PolicyError::InvalidPattern { pattern, .. } if pattern == "free(nitro")
        );
        assert!(err.to_string().contains("free(nitro"));
        assert!(p.config().blocked_patterns.is_empty(), "policy unchanged");
    }

    #[test]
    fn a_pathological_pattern_is_rejected() {
        let mut p = Policy::default();
        let err = p.add_blocked_pattern("((a{100}){100}){100}").unwrap_err();
        assert!(err.to_string().contains("simplify"), "{err}");
        let err = p.add_blocked_pattern("x*").unwrap_err();
        assert!(err.to_string().contains("empty message"), "{err}");
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert!(matches!(
            p.add_blocked_pattern(&long),
            Err(PolicyError::PatternTooLong { .. })
        ));
    }

    #[test]
    fn too_many_patterns_are_rejected() {
        let config = PolicyConfig {
            blocked_patterns: (0..=MAX_PATTERNS).map(|i| format!("word{i}")).collect(),
            ..PolicyConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(PolicyError::TooManyPatterns { .. })
        ));
    }

    #[test]
    fn json_round_trips_and_bad_json_is_refused() {
        let json = r#"{"categories":{"invite_spam":{"action":"off"},"spam":{"action":"block","sensitivity":"high"}},
            "blocked_words":["Bad Word"],"blocked_patterns":["free\\s+robux"],"allowed_domains":["Example.com"],
            "exempt_roles":[1],"exempt_channels":[2],"shadow":true}"#;
        let p = Policy::from_json(json).expect("valid policy");
        assert_eq!(p.setting(Category::InviteSpam).action, PolicyAction::Off);
        assert_eq!(p.setting(Category::Spam).sensitivity, Sensitivity::High);
        assert!(p.domain_allowed("docs.example.com"));
        assert!(!p.domain_allowed("badexample.com"));
        let again = Policy::from_json(&p.to_json()).expect("round trip");
        assert_eq!(again.config(), p.config());

        let bad = r#"{"blocked_patterns":["(unclosed"]}"#;
        assert!(matches!(
            Policy::from_json(bad),
            Err(PolicyError::Json(m)) if m.contains("(unclosed")
        ));
        assert!(matches!(
            Policy::from_json(r#"{"allowed_domains":["not a domain"]}"#),
            Err(PolicyError::Json(_))
        ));
        let p = Policy::from_json(r#"{"exempt_roles":["1234567890123456789", 5]}"#).expect("ids");
        assert_eq!(p.config().exempt_roles, [1_234_567_890_123_456_789, 5]);
        assert!(Policy::from_json(r#"{"exempt_roles":["admins"]}"#).is_err());
    }

    #[test]
    fn custom_words_match_whole_words_after_normalisation() {
        let mut p = Policy::default();
        p.add_blocked_word("Rоbux").expect("valid word");
        assert!(p.custom_match("free robux here").is_some());
        assert!(p.custom_match("robuxes").is_none());
        p.add_blocked_pattern(r"buy\s+follow")
            .expect("valid pattern");
        assert_eq!(
            p.custom_match("buy   followers").as_deref(),
            Some("custom.pattern.0")
        );
    }
}
