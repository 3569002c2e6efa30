//! Abuse and harassment aimed at people: threats, "kys", insults addressed to someone, and a
//! deliberately short list of slurs. Self-directed crisis language is `escalation`'s job.

use super::{Ctx, Hit, Phrase};
use crate::classifier::verdict::Category;

pub(super) const PHRASES: &[Phrase] = &[
    (r"\bkys\b", 0.95, "abuse.threat"),
    (r"\b(?:go )?kill (?:yo)?urself\b", 0.95, "abuse.threat"),
    (r"\b(?:go|just) die\b", 0.85, "abuse.threat"),
    (
        r"\b(?:i|we)(?:'ll| will| am going to|'m going to|'m gonna| gonna) (?:find|hunt|kill|hurt|murder|beat|dox|swat) (?:you|u|ya|your)\b",
        0.95,
        "abuse.threat",
    ),
    (r"\bi know where (?:you|u) live\b", 0.95, "abuse.threat"),
    (
        r"\b(?:hope|wish) (?:you|u) (?:die|get cancer|get raped)\b",
        0.95,
        "abuse.threat",
    ),
    (
        r"\b(?:you|u) (?:should|deserve to) die\b",
        0.95,
        "abuse.threat",
    ),
    (
        r"\b(?:you'?re|you are|ur|u r|you) (?:a |an |such a |such an )?(?:fucking |stupid |dumb |worthless )?(?:idiot|moron|retard|loser|cunt|bitch|whore|slut|dumbass|piece of shit|waste of space|imbecile)s?\b",
        0.8,
        "abuse.insult",
    ),
    // "where the fuck you are" or "get him to fuck off" are not aimed at the reader; only
    // a stand-alone "fuck you/off" is.
    (
        r"(?:^|[.!?,:;] ?|\b(?:and|so|just|also|oh|lol|ok|well|no|yeah) )(?:fuck|screw) (?:you|u|off)\b",
        0.8,
        "abuse.insult",
    ),
    (
        r"\bshut (?:the fuck )?up,? (?:you|u)\b|\bstfu\b",
        0.7,
        "abuse.insult",
    ),
    (r"\b(?:son of a bitch|motherfucker)\b", 0.75, "abuse.insult"),
    // A small list of slurs; guilds add their own through the policy.
    (
        r"\b(?:nigg(?:er|a)s?|faggots?|fags|kikes?|chinks?|spics?|trannys?|trannies)\b",
        0.95,
        "abuse.slur",
    ),
    (r"\b(?:retards?)\b", 0.6, "abuse.slur"),
    // Other languages: the most common person-directed insults and threats.
    (
        r"\b(?:hijo de puta|pendejo|te voy a matar|vete a la mierda)\b",
        0.85,
        "abuse.insult",
    ),
    (
        r"\b(?:connard|connasse|fils de pute|ta gueule|je vais te tuer)\b",
        0.85,
        "abuse.insult",
    ),
    (
        r"\b(?:arschloch|hurensohn|ich bring dich um|fick dich)\b",
        0.85,
        "abuse.insult",
    ),
    (
        r"\b(?:filho da puta|vai se foder|vou te matar)\b",
        0.85,
        "abuse.insult",
    ),
    // Folded Cyrillic: "сука" and "нахуй" after homoglyph folding and mark stripping.
    (r"\bcyka\b|haxyи", 0.85, "abuse.insult"),
    (
        r"\b(?:you|u|ya) (?:stupid |dumb |fucking |little |absolute |complete )?(?:idiot|moron|retard|loser|clown|bitch|cunt|asshole|dumbass|prick|twat|wanker)s?\b",
        0.85,
        "abuse.insult",
    ),
    (
        r"\b(?:idiot|moron|dumbass|asshole|bitch|cunt|twat|wanker|prick)s?\b",
        0.45,
        "abuse.insult",
    ),
    (
        r"\b(?:die in a (?:fire|hole|ditch)|nobody (?:likes|wants|loves) you|go to hell)\b",
        0.8,
        "abuse.threat",
    ),
    (
        r"\b(?:you(?:\x27re| are)|ur|u r) (?:so |such an? )?(?:stupid|dumb|ugly|pathetic|worthless|disgusting|trash|garbage)\b",
        0.6,
        "abuse.insult",
    ),
];

pub(crate) fn check(ctx: &Ctx<'_>) -> Option<Hit> {
    let (score, rule) = ctx.phrases.get(Category::Abuse)?;
    Some(Hit::new(Category::Abuse, rule, score))
}
