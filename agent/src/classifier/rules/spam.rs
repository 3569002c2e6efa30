//! Spam: advertising and bait lines (Discord-style and SMS-style), plus the behaviour signals
//! (posting too fast, the same text across channels). The learned model's spam score is
//! combined with these in `Classifier`.

use super::{Ctx, Hit, Phrase};
use crate::classifier::verdict::Category;

pub(super) const PHRASES: &[Phrase] = &[
    (
        r"\b(?:dm|message|pm) me (?:for|to get|if you want|now)\b",
        0.45,
        "spam.advert",
    ),
    (
        r"\bcheck (?:out )?my (?:bio|profile|status)\b",
        0.55,
        "spam.advert",
    ),
    (r"\bonly ?fans\b", 0.7, "spam.adult"),
    (
        r"\b(?:nudes|nsfw content|18\+ content|hot (?:girls|singles)|sexy (?:girls|singles|pics))\b",
        0.7,
        "spam.adult",
    ),
    (
        r"\bearn (?:up to )?[$£€]?\d[\d,.k]* (?:a|per|every|each|in a) (?:day|week|hour|month)\b",
        0.8,
        "spam.money",
    ),
    (
        r"\b(?:work from home|make money (?:fast|online|from home)|passive income|financial freedom)\b",
        0.5,
        "spam.money",
    ),
    (
        r"\b(?:crypto|forex|bitcoin|btc|usdt|binary options) (?:signals|investment|trading platform|profits?)\b",
        0.65,
        "spam.money",
    ),
    (
        r"\b(?:buy|cheap|selling|sell) (?:discord )?(?:followers|boosts|server boosts|accounts|members|upvotes)\b",
        0.7,
        "spam.advert",
    ),
    (
        r"\b(?:txt|text|send|reply)\b.{1,25}\b(?:to|on) (?:no:? )?\d{5}\b",
        0.8,
        "spam.sms_shortcode",
    ),
    (
        r"\b(?:call|ring|dial)\b.{0,20}\b0?(?:8|9)\d{8,11}\b",
        0.7,
        "spam.premium_number",
    ),
    (
        r"[£$€]\s?\d[\d,]*(?:\.\d+)? (?:cash|prize|bonus|reward|award|gift|voucher)",
        0.7,
        "spam.prize",
    ),
    (
        r"\b(?:you have|you've|u have|you are|u r|u've|you) (?:been )?(?:won|selected|awarded|a winner|chosen|specially selected)\b",
        0.65,
        "spam.prize",
    ),
    (
        r"\b(?:claim|collect|redeem) (?:your|ur|the)? ?(?:prize|reward|cash|gift|bonus)\b",
        0.65,
        "spam.prize",
    ),
    (
        r"\b(?:guaranteed|won) (?:a )?(?:[£$€]|cash|prize)",
        0.65,
        "spam.prize",
    ),
    (
        r"\b(?:urgent|congratulations|congrats|winner)\b ?!",
        0.35,
        "spam.prize",
    ),
    (
        r"\bfree (?:entry|ringtone|msg|gift card|iphone|camera phone|tones)\b",
        0.55,
        "spam.prize",
    ),
    (
        r"\bt ?& ?c'?s?\b|\bstop to (?:opt.?out|unsubscribe|end|cancel)\b|\bunsubscribe\b|\bopt.?out\b",
        0.35,
        "spam.sms_terms",
    ),
    (
        r"\b\d{1,3}p ?(?:/ ?|per ?)(?:min|msg|wk|week|day)\b|\b\d+ ?ppm\b|\b\d+p/min",
        0.6,
        "spam.sms_terms",
    ),
    (r"\bpo ?box ?\d", 0.4, "spam.sms_terms"),
    (r"\b(?:16|18)\+", 0.25, "spam.sms_terms"),
    (
        r"\b(?:gana dinero|dinero facil|gagne[rz]? de l\x27argent|argent facile|geld verdienen|ganhe dinheiro|dinheiro facil|guadagna soldi)\b",
        0.55,
        "spam.money",
    ),
];

pub(crate) fn check(ctx: &Ctx<'_>) -> Option<Hit> {
    let signals = ctx.signals;
    let mut best: Option<Hit> = None;
    if signals.cross_channel_duplicate {
        let score = if signals.new_account || !ctx.links.is_empty() {
            0.97
        } else {
            0.9
        };
        best = Some(Hit::new(
            Category::Spam,
            "spam.cross_channel_duplicate",
            score,
        ));
    } else if signals.rate_exceeded {
        best = Some(Hit::new(Category::Spam, "spam.rate", 0.8));
    }
    if let Some((mut score, rule)) = ctx.phrases.get(Category::Spam) {
        if signals.new_account && !ctx.links.is_empty() {
            score = 1.0 - (1.0 - score) * 0.6;
        }
        if best.as_ref().is_none_or(|b| score > b.score) {
            best = Some(Hit::new(Category::Spam, rule, score));
        }
    }
    best
}
