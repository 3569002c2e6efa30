//! Invites to other Discord servers, including obfuscated and vanity-redirect forms.

use super::{Ctx, Hit};
use crate::classifier::verdict::Category;

/// Hosts that only exist to redirect to a server invite.
const INVITE_HOSTS: &[&str] = &[
    "discord.gg",
    "discord.me",
    "discord.io",
    "dsc.gg",
    "invite.gg",
    "disboard.org",
    "discord.link",
];

pub(crate) fn check(ctx: &Ctx<'_>) -> Option<Hit> {
    let invite = ctx.links.iter().any(|l| {
        let official_invite = matches!(
            l.host.as_str(),
            "discord.com" | "discordapp.com" | "ptb.discord.com" | "canary.discord.com"
        ) && l.path.starts_with("/invite/");
        let redirect = INVITE_HOSTS.contains(&l.host.as_str()) && l.path.len() > 1;
        official_invite || redirect
    });
    if !invite {
        return None;
    }
    // An invite from a brand-new account is the classic raid pattern.
    let score = if ctx.signals.new_account { 0.97 } else { 0.9 };
    Some(Hit::new(
        Category::InviteSpam,
        "invite.discord_invite",
        score,
    ))
}
