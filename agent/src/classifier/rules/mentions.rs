//! Mass mentions: many users or roles pinged at once, or @everyone/@here with a link.

use std::sync::LazyLock;

use regex::Regex;

use super::{Ctx, Hit};
use crate::classifier::policy::Sensitivity;
use crate::classifier::verdict::Category;

static MENTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<@[!&]?\d{15,21}>").expect("static mention pattern is valid"));

pub(crate) fn check(ctx: &Ctx<'_>) -> Option<Hit> {
    let input = ctx.input;
    // The caller's counts come from Discord's parsed mentions; the text is a fallback when a
    // caller (a test, the CLI) leaves them at zero.
    let in_text = if input.mention_count == 0 && input.role_mention_count == 0 {
        MENTION.find_iter(ctx.norm.original).take(1000).count() as u32
    } else {
        0
    };
    let count = input.mention_count + input.role_mention_count + in_text;
    let limit = match ctx.policy.setting(Category::MassMention).sensitivity {
        Sensitivity::Low => 20,
        Sensitivity::Medium => 10,
        Sensitivity::High => 6,
    };
    let everyone = input.mentions_everyone
        || ctx.norm.text.contains("@everyone")
        || ctx.norm.text.contains("@here");
    if count >= 2 * limit {
        return Some(Hit::new(Category::MassMention, "mass_mention.count", 0.99));
    }
    if count >= limit {
        return Some(Hit::new(Category::MassMention, "mass_mention.count", 0.9));
    }
    if everyone && !ctx.links.is_empty() {
        return Some(Hit::new(
            Category::MassMention,
            "mass_mention.everyone_with_link",
            0.9,
        ));
    }
    if everyone {
        return Some(Hit::new(
            Category::MassMention,
            "mass_mention.everyone",
            0.55,
        ));
    }
    None
}
