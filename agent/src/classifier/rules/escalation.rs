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
    (
        r"\b(?:(?:echte[nmr]?|richtige[nmr]?) (?:mensch|menschen|mitarbeiter(?:in)?|person)|(?:une? )?vraie personne|(?:un )?etre humain|persona (?:real|de verdad)|(?:un )?operatore (?:umano)?|persona vera|pessoa de verdade|atendente humano|echte persoon|echt mens|prawdziw\w+ czlowiek\w*|z czlowiekiem|z konsultantem)\b",
        0.85,
        "human_request.ask",
    ),
    (
        r"\bis (?:there )?(?:an? |any )?(?:actual|real) (?:staff|mod|moderator|admin|human|person|team member)\b|\b(?:any|an?) (?:actual|real) (?:staff|mod|moderator|admin|human|person)s? (?:around|here|online|available)\b",
        0.85,
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
    // Indirect crisis language: hopelessness, being a burden, saying goodbye.
    (
        r"\b(?:don'?t|do not|can'?t|cannot) see (?:the |any )?point (?:in (?:living|going on|anything|life)|anymore|of (?:living|life|going on))\b",
        0.8,
        "self_harm.indirect",
    ),
    (
        r"\b(?:everyone|everybody|they|people|my family|the world|you all) (?:would be|'d be|will be|are|is) better off without me\b",
        0.9,
        "self_harm.indirect",
    ),
    (
        r"\b(?:i'?m|i am|being) (?:just |only )?(?:a|such a) burden (?:to|on) (?:everyone|everybody|my|them|people)\b",
        0.8,
        "self_harm.indirect",
    ),
    (
        r"\b(?:fall asleep and|go to sleep and|just) never wake up\b|\bnot wake up (?:tomorrow|again)\b",
        0.85,
        "self_harm.indirect",
    ),
    (
        r"\b(?:no longer|don'?t|do not) want to (?:be here|be around|wake up)\b",
        0.8,
        "self_harm.indirect",
    ),
    (
        r"\b(?:take|taking|end|ending) my (?:own )?life\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:won'?t|will not) be (?:around|here|alive) (?:much longer|tomorrow|for long)\b",
        0.75,
        "self_harm.indirect",
    ),
    (
        r"\b(?:giving|gave|give) away (?:all )?(?:of )?my (?:stuff|things|belongings|possessions|accounts?)\b.*\b(?:won'?t need|goodbye|anymore)\b",
        0.8,
        "self_harm.indirect",
    ),
    // Other languages (matched after accents are folded away).
    (
        r"\b(?:will|mochte) nicht mehr leben\b|\bmir (?:etwas|was) antun\b|\bmein leben (?:ein )?ende (?:setzen|machen)\b|\bbesser (?:dran )?ohne mich\b|\bnicht mehr aufwachen\b|\b(?:mich )?ritzen\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:hat )?(?:alles )?keinen sinn mehr\b|\b(?:allen|jedem) (?:nur )?eine last\b",
        0.6,
        "self_harm.indirect",
    ),
    (
        r"\b(?:plus|pas) envie de vivre\b|\bmettre fin a (?:mes jours|ma vie)\b|\bme (?:faire du mal|mutiler|scarifier|tuer)\b|\bmieux sans moi\b|\bne (?:plus|jamais) me reveiller\b|\ba quoi bon (?:vivre|continuer)\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\bno quiero (?:vivir|seguir viviendo|despertar)\b|\b(?:hacerme dano|lastimarme|cortarme)\b|\bmejor sin mi\b|\bacabar con (?:todo|mi vida)\b|\bno despertar (?:mas|nunca)\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\bno (?:le )?veo (?:el |ningun )?sentido (?:a |de )?(?:la vida|vivir|seguir)\b",
        0.8,
        "self_harm.indirect",
    ),
    (
        r"\bnon voglio piu vivere\b|\bfarla finita\b|\b(?:farmi del male|tagliarmi|togliermi la vita|ammazzarmi)\b|\bmeglio senza di me\b|\bnon svegliarmi piu\b|\bsuicid(?:armi|io)\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\bnao quero (?:mais )?viver\b|\b(?:me machucar|me cortar|tirar (?:a )?minha (?:propria )?vida)\b|\bmelhor sem mim\b|\bacabar com (?:tudo|a minha vida|minha vida)\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\bwil niet meer leven\b|\bmezelf (?:iets aan ?doen|pijn doen|snijden|van kant maken)\b|\bbeter (?:af )?zonder mij\b|\bzelfmoord\b|\ber een einde aan maken\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\bnie chce (?:juz )?zyc\b|\bzabic sie\b|\bsamoboj|\b(?:skrzywdzic sie|ciac sie|tne sie)\b|\blepiej beze mnie\b",
        0.9,
        "self_harm.crisis",
    ),
    (
        r"\b(?:vill inte leva|ta mitt liv|sjalvmord|yasamak istemiyorum|kendimi oldur\w*|intihar)\b",
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
