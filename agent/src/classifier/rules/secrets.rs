//! Credentials pasted into a channel: Discord bot tokens and webhooks, cloud and API keys,
//! private key blocks. Matched on the original text because tokens are case-sensitive.

use regex::{RegexSet, RegexSetBuilder};

use super::{Ctx, Hit};
use crate::classifier::verdict::Category;

const PATTERNS: &[(&str, &str)] = &[
    (
        r"(?-u:\b)[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40}(?-u:\b)",
        "secret.discord_token",
    ),
    (
        r"discord(?:app)?\.com/api/webhooks/[0-9]{15,21}/[A-Za-z0-9_-]{60,}",
        "secret.discord_webhook",
    ),
    (
        r"(?-u:\b)(?:AKIA|ASIA)[0-9A-Z]{16}(?-u:\b)",
        "secret.aws_access_key",
    ),
    (
        r"(?i:aws_?secret_?access_?key)\s*[:=]\s*[A-Za-z0-9/+]{40}",
        "secret.aws_secret_key",
    ),
    (r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{36,}", "secret.github_token"),
    (
        r"(?-u:\b)github_pat_[A-Za-z0-9_]{40,}",
        "secret.github_token",
    ),
    (r"(?-u:\b)glpat-[A-Za-z0-9_-]{20,}", "secret.gitlab_token"),
    (
        r"(?-u:\b)xox[abposr]-[A-Za-z0-9-]{10,}",
        "secret.slack_token",
    ),
    (
        r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}",
        "secret.slack_webhook",
    ),
    (r"(?-u:\b)[sr]k_live_[A-Za-z0-9]{16,}", "secret.stripe_key"),
    (
        r"(?-u:\b)sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{32,}",
        "secret.api_key",
    ),
    (r"(?-u:\b)AIza[0-9A-Za-z_-]{35}", "secret.google_api_key"),
    (
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----",
        "secret.private_key",
    ),
];

pub(crate) struct Secrets {
    set: RegexSet,
}

impl Secrets {
    pub fn new() -> Secrets {
        Secrets {
            set: RegexSetBuilder::new(PATTERNS.iter().map(|(p, _)| *p))
                .build()
                .expect("built-in secret patterns are valid"),
        }
    }

    pub fn check(&self, ctx: &Ctx<'_>) -> Option<Hit> {
        let text = ctx.norm.original;
        // Every pattern needs a run of at least 20 token characters (or a PEM header); most
        // messages have none, so the set is skipped for them.
        let mut run = 0usize;
        let long_token = text.bytes().any(|b| {
            run = if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'+') {
                run + 1
            } else {
                0
            };
            run >= 20
        });
        if !long_token && !text.contains("-----BEGIN") {
            return None;
        }
        let i = self.set.matches(text).iter().next()?;
        Some(Hit::new(Category::Secret, PATTERNS[i].1, 0.99))
    }
}

/// Replaces every credential the patterns recognise with `[redacted]`; `None` when there was
/// none. Run on the bot's own output, so an answer can never repost a token.
pub fn redact(text: &str) -> Option<String> {
    static EACH: std::sync::OnceLock<Vec<regex::Regex>> = std::sync::OnceLock::new();
    let each = EACH.get_or_init(|| {
        PATTERNS
            .iter()
            .map(|(p, _)| regex::Regex::new(p).expect("built-in secret patterns are valid"))
            .collect()
    });
    let mut out = std::borrow::Cow::Borrowed(text);
    for re in each {
        if re.is_match(&out) {
            out = std::borrow::Cow::Owned(re.replace_all(&out, "[redacted]").into_owned());
        }
    }
    match out {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(s) => Some(s),
    }
}
