//! Phishing and gift scams: lookalike Discord/Steam/Nitro domains (also spelled with homoglyphs),
//! masked links whose text shows another domain, shorteners and IP loggers, and the classic
//! "free nitro" / "I'm leaving CS, take my skins" lines.

use super::{Ctx, Hit, Phrase};
use crate::classifier::normalize::{Link, fold_text};
use crate::classifier::verdict::Category;

/// Brands whose names scammers imitate, in their folded form.
const BRANDS: &[&str] = &[
    "discord",
    "discordapp",
    "steamcommunity",
    "steampowered",
    "nitro",
    "roblox",
    "epicgames",
    "paypal",
    "binance",
    "metamask",
    "opensea",
];

/// Real domains of those brands (and well-known community sites that contain a brand name).
const OFFICIAL: &[&str] = &[
    "discord.com",
    "discord.gg",
    "discord.gift",
    "discord.new",
    "discord.dev",
    "discord.media",
    "discordapp.com",
    "discordapp.net",
    "discordstatus.com",
    "discord.co",
    "steamcommunity.com",
    "steampowered.com",
    "steamstatic.com",
    "roblox.com",
    "epicgames.com",
    "paypal.com",
    "paypal.me",
    "binance.com",
    "metamask.io",
    "opensea.io",
    "discord.js.org",
    "discordjs.guide",
    "discordpy.readthedocs.io",
    "github.com",
    "gitlab.com",
];

const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "goo.gl",
    "is.gd",
    "cutt.ly",
    "rb.gy",
    "shorturl.at",
    "tiny.cc",
    "ow.ly",
    "rebrand.ly",
    "bl.ink",
    "s.id",
    "t.ly",
    "v.gd",
    "qr.ae",
    "adf.ly",
    "shorte.st",
    "clck.ru",
    "u.to",
    "tiny.one",
    "bit.do",
    "lnkd.in",
];

const IP_LOGGERS: &[&str] = &[
    "grabify.link",
    "iplogger.org",
    "iplogger.com",
    "2no.co",
    "yip.su",
    "blasze.com",
    "ps3cfw.com",
    "iplis.ru",
    "02ip.ru",
];

/// Words that make a brand-bearing domain or a shortened link look like bait.
const BAIT_LABELS: &[&str] = &[
    "gift", "gifts", "nitro", "free", "promo", "claim", "airdrop", "drop", "giveaway", "login",
    "verify", "auth", "security", "support", "trade", "skins", "reward", "bonus",
];

/// Folds leetspeak and the l/i confusion for comparing domain labels with brand names.
fn brand_skeleton(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '-')
        .map(|c| match c {
            '0' => 'o',
            '1' | 'l' | '!' | '|' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            c => c,
        })
        .collect()
}

/// Edit distance with an early exit; the strings are short domain labels.
fn within_edits(a: &str, b: &str, max: usize) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        if cur.iter().min().is_some_and(|m| *m > max) {
            return false;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= max
}

fn host_is(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

#[derive(Debug, PartialEq)]
enum BrandUse {
    /// A label spells a brand exactly (e.g. `discord-nitro.gift`).
    Exact,
    /// A label imitates a brand (`dlscord`, `steamcommunlty`, `d1scord`).
    Lookalike,
}

fn brand_use(host: &str) -> Option<BrandUse> {
    let mut found = None;
    // Drop the public suffix so `discord.gift` is judged by its label, not by `gift`.
    let labels: Vec<&str> = host
        .rsplit_once('.')
        .map_or(host, |(rest, _)| rest)
        .split(['.', '-'])
        .collect();
    for label in labels.iter().copied().chain(
        // Scammers also glue words: `discordnitro`, `steamcommunity-gift`.
        std::iter::once(host.split('.').next().unwrap_or(host)),
    ) {
        if label.len() < 4 {
            continue;
        }
        let skel = brand_skeleton(label);
        for brand in BRANDS {
            if label == *brand || (label.contains(brand) && label.len() > brand.len()) {
                found = found.or(Some(BrandUse::Exact));
                continue;
            }
            let max = if brand.len() >= 10 { 2 } else { 1 };
            if skel == brand_skeleton(brand)
                || skel.contains(brand)
                || (brand.len() >= 6 && within_edits(&skel, brand, max))
                || (skel.len() > brand.len() + 2
                    && skel.starts_with(&brand[..brand.len() - 1])
                    && brand.len() >= 6)
            {
                return Some(BrandUse::Lookalike);
            }
        }
    }
    found
}

pub(super) const PHRASES: &[Phrase] = &[
    (r"\bfree (?:discord )?nitro\b", 0.7, "scam.free_nitro"),
    (r"\bnitro (?:for )?free\b", 0.7, "scam.free_nitro"),
    (
        r"\b(?:discord )?nitro (?:giveaway|gift|drop|generator)\b",
        0.6,
        "scam.free_nitro",
    ),
    (
        r"\b(?:\d+|three|3) months? (?:of )?(?:discord )?nitro\b",
        0.5,
        "scam.free_nitro",
    ),
    (
        r"\bsteam (?:gift|gift card|wallet code)s?\b",
        0.45,
        "scam.gift",
    ),
    (
        r"\b(?:i'?m|i am) (?:leaving|quitting|tired of) (?:cs|csgo|cs:?go|cs2|the game|steam)\b",
        0.75,
        "scam.skins_giveaway",
    ),
    (
        r"\b(?:give|giving) away (?:my )?(?:skins|inventory|items)\b",
        0.6,
        "scam.skins_giveaway",
    ),
    (r"\bwho (?:is|will be) first\b", 0.35, "scam.gift"),
    (
        r"\b(?:crypto|bitcoin|btc|eth|usdt|nft) (?:giveaway|airdrop)\b",
        0.7,
        "scam.crypto",
    ),
    (
        r"\bdouble your (?:crypto|bitcoin|btc|eth|money)\b",
        0.8,
        "scam.crypto",
    ),
    (
        r"\b(?:verify|confirm|secure) your (?:discord |steam )?account\b",
        0.45,
        "scam.phishing",
    ),
    (
        r"\byour (?:discord |steam )?account (?:will be|has been) (?:disabled|banned|suspended|deleted|terminated)\b",
        0.55,
        "scam.phishing",
    ),
    (
        r"\b(?:accidentally|mistakenly) reported (?:you|your account)\b",
        0.8,
        "scam.report_scam",
    ),
    (r"\bscan (?:this|the) qr\b", 0.5, "scam.qr_login"),
    (
        r"\b(?:gift|airdrop|claim) (?:for you|here|now)\b",
        0.4,
        "scam.gift",
    ),
    (
        r"\bfree (?:gift|skins?|robux|v-?bucks)\b",
        0.55,
        "scam.gift",
    ),
    (
        r"\b(?:nitro gratis|nitro gratuit|kostenloses? nitro|nitro gratuito)\b",
        0.7,
        "scam.free_nitro",
    ),
];

fn link_hit(link: &Link, bait_text: bool) -> Option<Hit> {
    let host = link.host.as_str();
    if IP_LOGGERS.iter().any(|d| host_is(host, d)) {
        return Some(Hit::new(Category::Scam, "scam.ip_logger", 0.95));
    }
    if SHORTENERS.iter().any(|d| host_is(host, d)) {
        let score = if bait_text { 0.95 } else { 0.5 };
        return Some(Hit::new(Category::Scam, "scam.shortened_link", score));
    }
    if let Some(masked) = &link.masked_text {
        // `[discord.com/gift](https://elsewhere)`: the visible text names another domain.
        let shown = fold_text(masked).0;
        if shown.contains('.')
            && !shown.contains(host)
            && OFFICIAL.iter().any(|d| shown.contains(d))
        {
            return Some(Hit::new(Category::Scam, "scam.masked_link", 0.95));
        }
    }
    if OFFICIAL.iter().any(|d| host_is(host, d)) {
        return None;
    }
    let bait_host = host.split(['.', '-']).any(|l| BAIT_LABELS.contains(&l));
    match brand_use(host)? {
        BrandUse::Lookalike => Some(Hit::new(Category::Scam, "scam.lookalike_domain", 0.97)),
        BrandUse::Exact if bait_host || bait_text => {
            Some(Hit::new(Category::Scam, "scam.brand_bait_domain", 0.95))
        }
        BrandUse::Exact => Some(Hit::new(Category::Scam, "scam.brand_domain", 0.5)),
    }
}

pub(crate) fn check(ctx: &Ctx<'_>) -> Option<Hit> {
    let phrase = ctx.phrases.get(Category::Scam);
    let mut best: Option<Hit> = None;
    let mut keep = |h: Hit| {
        if best.as_ref().is_none_or(|b| h.score > b.score) {
            best = Some(h);
        }
    };
    for link in &ctx.links {
        if let Some(h) = link_hit(link, phrase.is_some()) {
            keep(h);
        }
    }
    // A homoglyph-spelled token naming a brand: `dіscord-nitro.gift` written with a Cyrillic
    // `і` folds to the real name, but the link it hides goes somewhere else.
    if ctx.norm.folded_lookalikes {
        for token in ctx
            .norm
            .original
            .split_whitespace()
            .filter(|t| !t.is_ascii())
        {
            let folded = fold_text(token).0;
            if (folded.contains('.') || folded.contains('/'))
                && BRANDS.iter().any(|b| brand_skeleton(&folded).contains(b))
            {
                keep(Hit::new(Category::Scam, "scam.homoglyph_domain", 0.98));
            }
        }
    }
    if let Some((score, rule)) = phrase {
        let with_link = !ctx.links.is_empty();
        let mut s = if with_link { 0.6 + score * 0.4 } else { score };
        if with_link && ctx.signals.new_account {
            s = s.max(0.9);
        }
        keep(Hit::new(Category::Scam, rule, s));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalike_brand_labels_are_recognised() {
        for host in [
            "dlscord-gift.com",
            "steamcommunlty.com",
            "d1scord.gift",
            "discrod-app.com",
            "steamcommunnity.ru",
            "disccord.gg",
        ] {
            assert_eq!(brand_use(host), Some(BrandUse::Lookalike), "{host}");
        }
        for host in ["discord-nitro.gift", "discordnitro.xyz"] {
            assert_eq!(brand_use(host), Some(BrandUse::Exact), "{host}");
        }
        for host in [
            "docs.rs",
            "crates.io",
            "stackoverflow.com",
            "record.com",
            "discuss.python.org",
            "disco.org",
        ] {
            assert_eq!(brand_use(host), None, "{host}");
        }
    }
}
