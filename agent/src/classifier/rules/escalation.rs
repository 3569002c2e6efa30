//! Messages that need a person rather than a block: asking for a human, legal threats, crisis
//! language, security reports, billing disputes and repeated frustration.

use super::{Ctx, Hit, Phrase};
use crate::classifier::policy::Sensitivity;
use crate::classifier::verdict::Category;

pub(super) const HUMAN: &[Phrase] = &[
    (
        r"\b(?:talk|speak|chat|get in touch) (?:to|with) (?:a |an |the |some |real )*(?:human|person|people|staff|moderator|mod|admin|agent|representative|someone real|support team|dev|developer)s?\b",
        0.9,
        "human_request.ask",
    ),
    (
        // "someone from the actual zulip team", "anyone on your support staff"
        r"\b(?:talk|speak|chat) (?:to|with) (?:someone|somebody|anyone|anybody|a person) (?:from|on|at|in|of) (?:the |your |ur )?(?:[a-z0-9-]+ ){0,2}(?:team|staff|support|company|devs?|developers?|mods?|moderators?|admins?)\b",
        0.9,
        "human_request.ask",
    ),
    (
        r"\b(?:real|actual|live) (?:human|person|agent)\b",
        0.85,
        "human_request.ask",
    ),
    (
        r"\b(?:is|are) (?:this|you) (?:a )?(?:bot|ai|robot)\b",
        0.5,
        "human_request.is_bot",
    ),
    (
        r"\b(?:get|need|want) (?:me )?(?:a |an )?(?:human|mod|moderator|admin|staff)\b",
        0.85,
        "human_request.ask",
    ),
    (
        r"\b(?:hablar|contactar) con (?:un |una |el |la )?(?:humano|persona|agente|moderador|administrador|soporte)\b",
        0.9,
        "human_request.ask",
    ),
    (
        r"\b(?:parler|discuter) (?:a|avec) (?:un |une |quelqu'un )?(?:humain|personne|agent|moderateur|admin)\b",
        0.9,
        "human_request.ask",
    ),
    (
        r"\b(?:mit|zu) (?:einem |einer )?(?:menschen|mensch|mitarbeiter|moderator|admin)\b.*\b(?:sprechen|reden)\b",
        0.9,
        "human_request.ask",
    ),
    (
        r"\b(?:falar|conversar) com (?:um |uma |o |a )?(?:humano|pessoa|atendente|moderador|admin)\b",
        0.9,
        "human_request.ask",
    ),
];

pub(super) const LEGAL: &[Phrase] = &[
    (
        r"\b(?:sue|suing) (?:you|u|them|your company|this company)\b",
        0.9,
        "legal_threat.lawsuit",
    ),
    (
        r"\b(?:lawsuit|legal action|take (?:you|this) to court|small claims|class action)\b",
        0.9,
        "legal_threat.lawsuit",
    ),
    (
        r"\b(?:my )?(?:lawyer|attorney|solicitor)s?\b",
        0.6,
        "legal_threat.lawyer",
    ),
    (
        r"\b(?:contact|call|talk to|hear from|get) (?:my |a )?(?:lawyer|attorney|solicitor)s?\b",
        0.9,
        "legal_threat.lawyer",
    ),
    (
        r"\bcease and desist\b",
        0.9,
        "legal_threat.cease_and_desist",
    ),
    (
        r"\b(?:report|reporting) (?:you|this) to the (?:ftc|authorities|police|regulator|data protection)\b",
        0.85,
        "legal_threat.regulator",
    ),
    (
        r"\b(?:abogado|demandar|demanda judicial|avocat|poursuites? judiciaires?|anwalt|verklagen|advogado|processar)\b",
        0.75,
        "legal_threat.lawyer",
    ),
];

pub(super) const SELF_HARM: &[Phrase] = &[
    (
        r"\b(?:kill|hurt|harm|cut) my ?self\b|\bkms\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:want|wanna|going|ready) to (?:die|end it all|end my life|disappear forever)\b",
        0.9,
        "self_harm.crisis",
    ),
    (r"\bend (?:my|it) (?:life|all)\b", 0.9, "self_harm.crisis"),
    (r"\bsuicid(?:e|al)\b", 0.85, "self_harm.crisis"),
    (r"\bself[- ]?harm", 0.85, "self_harm.crisis"),
    (
        r"\b(?:don'?t|do not) want to (?:live|be alive|exist) anymore\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:no (?:reason|point) (?:to|in) (?:live|living|go on)|better off (?:dead|without me))\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:quiero morir|me quiero matar|quitarme la vida|suicidarme)\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:je veux mourir|me suicider|en finir avec la vie)\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:ich will sterben|mich umbringen|selbstmord)\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:quero morrer|me matar|suicidio)\b",
        0.9,
        "self_harm.crisis",
    ),
];

pub(super) const SECURITY: &[Phrase] = &[
    (
        r"\b(?:found|discovered|reporting|report|disclose|there is|there's) (?:a |an )?(?:potential |possible |critical |serious )?(?:security )?(?:vulnerability|vuln|exploit|security (?:issue|bug|hole|flaw|problem))\b",
        0.9,
        "security_report.vulnerability",
    ),
    (
        r"\b(?:responsible|coordinated) disclosure\b|\bbug bounty\b|\bcve-\d{4}-\d+\b",
        0.85,
        "security_report.vulnerability",
    ),
    (
        r"\b(?:xss|csrf|ssrf|rce|sql injection|remote code execution|privilege escalation|auth(?:entication)? bypass)\b",
        0.6,
        "security_report.vulnerability",
    ),
    (
        // "think i found an xss bug", "discovered an auth bypass in the api"
        r"\b(?:found|discovered|spotted|came across) (?:a |an |what looks like an? )?(?:[a-z0-9-]+ ){0,2}(?:xss|csrf|ssrf|rce|sqli|sql injection|idor|open redirect|auth(?:entication)? bypass|privilege escalation)\b",
        0.9,
        "security_report.vulnerability",
    ),
    (
        // Asking to disclose privately: not enough alone, decisive with a vulnerability term.
        r"\b(?:report|send|disclose|share|dm) (?:it |this |them |details |the details )?(?:to (?:you |someone |somebody )?)?(?:privately|in private|confidentially)\b|\b(?:don'?t|do not|dont) want to post (?:it |this |the details |details )?(?:in public|publicly)\b",
        0.5,
        "security_report.private",
    ),
    (
        r"\b(?:vulnerabilidad|faille de securite|sicherheitslucke|vulnerabilidade)\b",
        0.85,
        "security_report.vulnerability",
    ),
];

pub(super) const BILLING: &[Phrase] = &[
    (
        r"\b(?:refund|chargeback|charge ?back)s?\b",
        0.8,
        "billing.refund",
    ),
    (
        r"\b(?:charged|billed) (?:me )?(?:twice|two times|double|again|without|after i cancel)",
        0.9,
        "billing.dispute",
    ),
    (
        r"\b(?:double|over)[- ]?(?:charged|billed)\b",
        0.9,
        "billing.dispute",
    ),
    (
        r"\b(?:cancel|cancelled|canceled) (?:my )?(?:subscription|plan|membership)\b",
        0.75,
        "billing.cancel",
    ),
    (
        r"\b(?:billing|payment|invoice) (?:issue|problem|error|dispute)\b",
        0.8,
        "billing.dispute",
    ),
    (
        r"\b(?:reembolso|remboursement|ruckerstattung|erstattung|reembolsar|rembourser)\b",
        0.8,
        "billing.refund",
    ),
];

pub(super) const FRUSTRATION: &[Phrase] = &[
    (
        r"\b(?:still|again) (?:not|doesn'?t|does not|isn'?t|won'?t) (?:work|working|fixed|help)",
        0.6,
        "frustration.cue",
    ),
    (
        r"\b(?:this|it) (?:is|'s) (?:useless|ridiculous|a joke|garbage|broken again|so frustrating)\b",
        0.6,
        "frustration.cue",
    ),
    (
        r"\b(?:waste of (?:my )?time|so frustrat|fed up|sick of this|i give up|ugh+|wtf|for the (?:third|fourth|fifth|nth) time)\b",
        0.6,
        "frustration.cue",
    ),
    (
        r"\b(?:not helpful|didn'?t help|doesn'?t help|you(?:'re| are) not helping)\b",
        0.6,
        "frustration.cue",
    ),
    (r"\?\?+|!!", 0.3, "frustration.cue"),
];

pub(crate) fn self_harm(ctx: &Ctx<'_>) -> Option<Hit> {
    let (s, rule) = ctx.phrases.get(Category::SelfHarm)?;
    Some(Hit::new(Category::SelfHarm, rule, s))
}

/// The message itself sounds frustrated (counted by the bot per conversation).
pub(crate) fn frustration_cue(ctx: &Ctx<'_>) -> bool {
    ctx.phrases
        .get(Category::Frustration)
        .is_some_and(|(s, _)| s >= 0.5)
}

pub(crate) fn check(ctx: &Ctx<'_>, hits: &mut Vec<Hit>) {
    for category in [
        Category::HumanRequest,
        Category::LegalThreat,
        Category::SecurityReport,
        Category::Billing,
    ] {
        if let Some((s, rule)) = ctx.phrases.get(category) {
            hits.push(Hit::new(category, rule, s));
        }
    }
    // The bot counts frustrated messages per conversation; this message may add one more.
    let needed = match ctx.policy.setting(Category::Frustration).sensitivity {
        Sensitivity::Low => 5,
        Sensitivity::Medium => 3,
        Sensitivity::High => 2,
    };
    let count = ctx.input.conversation_frustration_count + u32::from(frustration_cue(ctx));
    if count >= needed {
        hits.push(Hit::new(Category::Frustration, "frustration.repeated", 0.9));
    }
}
