//! Jailbreaks and prompt injection aimed at the support agent: instruction overrides, DAN and
//! "developer mode" personas, role-play framings that remove limits, system-prompt extraction.
//! Single weak cues (e.g. "act as", "developer mode") are common in ordinary questions, so they
//! only count in combination.

use super::{Ctx, Hit, Phrase};
use crate::classifier::verdict::Category;

pub(super) const PHRASES: &[Phrase] = &[
    // Instruction override and prompt extraction in other languages (accents are folded away).
    (
        r"\b(?:ignorier\w*|vergiss|missachte\w*) (?:\w+ ){0,3}(?:anweisungen|instruktionen|regeln|vorgaben|befehle|richtlinien)\b",
        0.85,
        "prompt_injection.override",
    ),
    (
        r"\b(?:ignore[rz]?|oublie[rz]?) (?:\w+ ){0,3}(?:instructions|consignes|regles|directives)\b",
        0.85,
        "prompt_injection.override",
    ),
    (
        r"\b(?:ignora|ignore|ignorar|olvida|olvidar|esquece|esqueca|esquecer|dimentica|dimenticare) (?:\w+ ){0,3}(?:instrucciones|instrucoes|istruzioni|reglas|regole|regras|indicaciones|indicazioni|directrices|diretrizes)\b",
        0.85,
        "prompt_injection.override",
    ),
    (
        r"\b(?:negeer|vergeet) (?:\w+ ){0,3}(?:instructies|regels|richtlijnen|opdrachten)\b|\b(?:zignoruj|zapomnij) (?:\w+ ){0,3}(?:instrukcj\w*|polece\w*|zasad\w*|regul\w*)\b",
        0.85,
        "prompt_injection.override",
    ),
    (
        r"\b(?:systemprompt|systemnachricht|systemanweisung\w*|prompt (?:du )?systeme|message systeme|prompt (?:del |de |di |do )?sistema|mensaje (?:del )?sistema|messaggio di sistema|systeemprompt|prompt systemow\w*)\b",
        0.45,
        "prompt_injection.prompt_extraction",
    ),
    (
        r"\b(?:zeig\w*|gib|verrat\w*|nenn\w*|montre\w*|affiche\w*|revele\w*|donne\w*|muestra\w*|revela\w*|dime|ensena\w*|mostra\w*|rivela\w*|dimmi|stampa|mostre|toon|geef|pokaz\w*|ujawnij|wypisz)\b.{0,40}\b(?:system ?prompt|systemprompt|systemnachricht|anweisungen|prompt (?:du )?systeme|consignes|instructions initiales|prompt (?:del |de |di |do )?sistema|instrucciones|istruzioni|instrucoes|systeemprompt|instructies|prompt systemow\w*|instrukcje)\b",
        0.8,
        "prompt_injection.prompt_extraction",
    ),
    (
        r"\b(?:entwicklermodus|mode developpeur|modo (?:de )?desarrollador|modalita sviluppatore|modo (?:de )?desenvolvedor|ontwikkelaarsmodus|tryb (?:dewelopera|programisty))\b",
        0.6,
        "prompt_injection.developer_mode",
    ),
    // Fake turns and delimiters: chat-template tokens and invented system lines.
    (
        r"<\|(?:im_start|im_end|system|endoftext|start_header_id)\|>|\[/?inst\]|<</?sys>>",
        0.85,
        "prompt_injection.fake_turn",
    ),
    (
        r"(?:^|\n)\s*(?:\[|#+\s*)?(?:system|assistant|sys)\s*(?:\]|message|prompt|override|note|update)?\s*:",
        0.5,
        "prompt_injection.fake_turn",
    ),
    (
        r"\b(?:end of (?:the )?(?:user (?:input|message|prompt)|input|conversation|context|instructions)|(?:begin|start) (?:of )?(?:new|admin|system) (?:instructions|prompt|session))\b",
        0.55,
        "prompt_injection.fake_turn",
    ),
    (
        r"\b(?:print|dump|output|show|reveal|display|repeat|list) (?:me )?(?:your |the )?(?:full |entire |whole |complete )?(?:context window|hidden (?:rules|instructions)|system message|initial instructions|configuration prompt|pre-?prompt)\b",
        0.8,
        "prompt_injection.prompt_extraction",
    ),
    // Instructions planted in a document for the model that reads it.
    (
        r"\b(?:call|invoke|use|run|trigger) the (?:\w+ ){0,2}(?:tool|function|api)\b.{0,80}\b(?:without (?:asking|telling|confirmation)|silently|immediately|do not (?:tell|mention))\b",
        0.75,
        "prompt_injection.planted",
    ),
    (
        r"\b(?:send|post|forward|upload|exfiltrate|transmit) (?:all |the |every |any )?(?:\w+ )?(?:data|conversation|messages|history|chat logs?|user (?:data|info\w*)|emails?|tokens?|api keys?|credentials) to (?:https?://|this (?:url|address|endpoint|webhook)|the following (?:url|address|endpoint|webhook))",
        0.8,
        "prompt_injection.planted",
    ),
    (
        r"\b(?:append|add|include|insert) (?:this|the following|these) (?:\w+ )?(?:link|url|token|text|string|message|line) (?:to|at the end of|in) (?:every|all|each|your) (?:answer|response|reply|replies|answers|responses|output)s?\b",
        0.8,
        "prompt_injection.planted",
    ),
    (
        r"\b(?:ai|assistant|model|llm|bot|chatbot)s? (?:reading|processing|summari[sz]ing) this\b|\bnote to (?:the )?(?:ai|assistant|model|llm|bot)\b|\bif you are an? (?:ai|language model|llm|assistant)\b",
        0.6,
        "prompt_injection.planted",
    ),
    // Instruction override.
    (
        r"\b(?:ignore|disregard|forget|override|bypass|skip) (?:all |any |the |your |my |every )*(?:previous|prior|above|earlier|preceding|initial|original|system|former|past)? ?(?:instructions|prompts?|rules|directives|guidelines|context|programming|restrictions|guardrails|policies)\b",
        0.8,
        "prompt_injection.override",
    ),
    (
        r"\b(?:ignore|disregard|forget) (?:everything|all) (?:you were told|above|before|previously)\b",
        0.85,
        "prompt_injection.override",
    ),
    (
        r"\bnew (?:instructions|rules|system prompt)\s*:",
        0.6,
        "prompt_injection.override",
    ),
    // System prompt extraction.
    (
        r"\b(?:reveal|show|print|repeat|tell me|what (?:is|are)|output|display|leak|give me|write out) (?:me )?(?:your|the) (?:full |entire |exact |original |initial |hidden |secret )*(?:system prompt|system message|initial prompt|hidden prompt|prompt|instructions|rules you (?:were|are) given)\b",
        0.75,
        "prompt_injection.prompt_extraction",
    ),
    (
        r"\b(?:repeat|print) (?:the )?(?:words|text) above\b|\beverything above this line\b",
        0.8,
        "prompt_injection.prompt_extraction",
    ),
    (
        r"\bsystem prompt\b",
        0.35,
        "prompt_injection.prompt_extraction",
    ),
    // Known personas.
    (r"\bdo anything now\b", 0.95, "prompt_injection.dan"),
    (
        r"\b(?:dan|stan|dude|aim|anti-dan|betterdan|evil-?bot|devmode|jailbreak(?:ed)?) mode\b",
        0.85,
        "prompt_injection.dan",
    ),
    (
        r"\b(?:you are|you're|act as|pretend to be|become) (?:now )?(?:a |an )?(?:dan|stan|dude|aim|unfiltered|uncensored|jailbroken|evil|amoral)\b",
        0.85,
        "prompt_injection.dan",
    ),
    (
        r"\bdeveloper mode (?:enabled|output|response|is enabled)\b|\benable developer mode\b.*\b(?:chatgpt|ai|model|respond)\b",
        0.85,
        "prompt_injection.developer_mode",
    ),
    (
        r"\bjailbr(?:oken|eak)\b",
        0.45,
        "prompt_injection.jailbreak",
    ),
    // Limit removal.
    (
        r"\b(?:no|without|free (?:of|from)|not bound by|doesn'?t (?:have|follow)|don'?t have) (?:any )?(?:ethical|moral|content|openai'?s?|safety)? ?(?:restrictions|filters?|censorship|limitations|limits|guidelines|rules|policies|morals|ethics|boundaries)\b",
        0.5,
        "prompt_injection.limit_removal",
    ),
    (
        r"\b(?:unfiltered|uncensored)\b",
        0.4,
        "prompt_injection.limit_removal",
    ),
    (
        r"\b(?:never|not|don'?t|won'?t|will not|cannot|can'?t) (?:ever )?(?:refuse|decline|say no|apologi[sz]e|warn)\b",
        0.45,
        "prompt_injection.limit_removal",
    ),
    (
        r"\b(?:openai|anthropic|content) (?:content )?polic(?:y|ies)\b",
        0.45,
        "prompt_injection.limit_removal",
    ),
    (
        r"\bas an ai (?:language )?model\b|\bi'?m sorry,? but\b",
        0.3,
        "prompt_injection.limit_removal",
    ),
    (
        r"\b(?:chatgpt|gpt-?[345]|claude|bard|llm|language model|ai assistant)\b",
        0.25,
        "prompt_injection.role_play",
    ),
    // Role-play framing.
    (
        r"\b(?:stay|remain|break|breaking) (?:in )?character\b",
        0.55,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:pretend|imagine) (?:to be|you are|you're|that you)\b",
        0.35,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:act|respond|answer|behave|reply) (?:as|like) (?:if you were |a |an |my )",
        0.3,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:roleplay|role-play|role play)\b",
        0.35,
        "prompt_injection.role_play",
    ),
    (
        r"\bfrom now on,? (?:you|u) (?:are|will|must|shall)\b",
        0.55,
        "prompt_injection.role_play",
    ),
    (
        r"\byou (?:are going to|will|must|shall) (?:act|pretend|play|simulate|answer|respond|imitate|emulate|roleplay|always)\b",
        0.45,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:two|2) (?:different |separate )?(?:responses|answers|paragraphs|ways)\b",
        0.35,
        "prompt_injection.role_play",
    ),
    (
        r"\bhypothetical(?:ly)? (?:story|scenario|response|world)\b",
        0.3,
        "prompt_injection.role_play",
    ),
    (
        r"\[(?:🔒|🔓)|\b(?:classic|jailbreak)\]",
        0.6,
        "prompt_injection.dan",
    ),
    (
        r"\bforget everything (?:you|that you|above|before)\b",
        0.6,
        "prompt_injection.override",
    ),
    (r"\bfrom now on\b", 0.3, "prompt_injection.role_play"),
    (
        r"\byou are now (?:a |an |the |in |my )?[a-z]",
        0.45,
        "prompt_injection.role_play",
    ),
    (
        r"\byou are to (?:act|pretend|play|respond|answer|be)\b",
        0.5,
        "prompt_injection.role_play",
    ),
    (
        r"\blet'?s play a (?:game|role)",
        0.45,
        "prompt_injection.role_play",
    ),
    (
        r"\bpersonify\b|\bsimulate\b|\bfictional (?:world|universe|story|api|ai)\b|\bfake universe\b",
        0.3,
        "prompt_injection.role_play",
    ),
    // Jailbreak templates leave their placeholders in: `[your prompt here]`, `<prompt>`.
    (
        r"[\[<{(](?:insert |put |enter )?(?:your )?(?:prompt|request|question|input|topic|keyword|targetlanguage)(?: here)?[\]>})]",
        0.8,
        "prompt_injection.template",
    ),
    (
        r"\b(?:developer|debug(?:ging)?|god|admin|sudo)[ _]?mode ?:? ?(?:enabled|on|activated)\b",
        0.8,
        "prompt_injection.developer_mode",
    ),
    (
        r"\b(?:don'?t|do not|never|stop) (?:respond|answer|reply|act)(?:ing)? (?:as|like) (?:chatgpt|gpt|an ai|a language model|openai)\b",
        0.75,
        "prompt_injection.dan",
    ),
    (
        r"\b(?:hi|hello|hey|dear) (?:chatgpt|gpt|bard|claude)\b",
        0.4,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:act|acting|behave) (?:as|like)\b",
        0.35,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:emulate|imitate|impersonate|alter ego|persona|in the role of|play (?:2|two|the) characters?)\b",
        0.35,
        "prompt_injection.role_play",
    ),
    (
        r"\byou(?: are|'re) no longer (?:chatgpt|gpt|an ai|a language model|bound|restricted|limited)\b",
        0.7,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:every|any|all) (?:prompts?|requests?)\b",
        0.3,
        "prompt_injection.limit_removal",
    ),
    (
        r"\b(?:ethic(?:s|al)|morals?|morality|legality)\b",
        0.3,
        "prompt_injection.limit_removal",
    ),
    (
        r"\b(?:does|do|can do) anything\b",
        0.45,
        "prompt_injection.dan",
    ),
    (
        r"\bi am (?:one of )?your (?:developers?|creators?|programmers?|owners?)\b|\bopenai employee\b",
        0.7,
        "prompt_injection.override",
    ),
    (
        r"\bsystem (?:instruction|message|override)s?\b",
        0.4,
        "prompt_injection.override",
    ),
    (
        r"\b(?:chatbot|ai model|gpt)\b",
        0.2,
        "prompt_injection.role_play",
    ),
    (r"\bin character\b", 0.45, "prompt_injection.role_play"),
    (
        r"\b(?:do not|don'?t|never|without) (?:filter|censor)(?:ing)?\b",
        0.55,
        "prompt_injection.limit_removal",
    ),
    (
        r"\b(?:amoral|unethical|immoral|unrestricted)\b",
        0.4,
        "prompt_injection.limit_removal",
    ),
    (
        r"^(?:chatgpt|gpt|bard|claude)[,:]",
        0.4,
        "prompt_injection.role_play",
    ),
    (
        r"\bconversation with an ai\b|\b(?:at|from|of) openai\b",
        0.45,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:two|2) (?:entities|characters|personalities|personas)\b",
        0.4,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:ignora|olvida|descarta) (?:todas |todo |las |tus )*(?:instrucciones|reglas|indicaciones)(?: anteriores| previas)?\b",
        0.8,
        "prompt_injection.override",
    ),
    (
        r"\b(?:ignore[sz]?|oublie[sz]?) (?:toutes |tes |vos |les )*(?:instructions|consignes|regles)(?: precedentes| anterieures)?\b",
        0.8,
        "prompt_injection.override",
    ),
    (
        r"\b(?:ignoriere|ignorier|vergiss) (?:alle |deine |die |bisherigen |vorherigen )*(?:anweisungen|instruktionen|regeln|vorgaben)\b",
        0.8,
        "prompt_injection.override",
    ),
    (
        r"\b(?:ignore|ignora|esqueca|esquece) (?:todas |as |suas )*(?:instrucoes|regras)(?: anteriores)?\b",
        0.8,
        "prompt_injection.override",
    ),
    (
        r"\b(?:ignora|dimentica) (?:tutte |le )*(?:istruzioni|regole)(?: precedenti)?\b",
        0.8,
        "prompt_injection.override",
    ),
    (
        "(?:иrhopиpyи|зaбyдb) (?:bce )?(?:npeдыдyщиe )?(?:иhctpykции|npabилa)",
        0.8,
        "prompt_injection.override",
    ),
    (
        "忽略(?:之前|以上|先前|前面|所有)|以前の指示を無視|前の指示を無視|指示を無視して",
        0.8,
        "prompt_injection.override",
    ),
    (
        r"\b(?:modo desarrollador|mode developpeur|entwicklermodus|modo desenvolvedor|modalita sviluppatore)\b",
        0.6,
        "prompt_injection.developer_mode",
    ),
    (
        r"\b(?:sin restricciones|sin filtros|sans (?:aucune )?(?:restriction|limite|filtre)s?|ohne (?:jegliche )?(?:einschrankungen|beschrankungen|filter|zensur)|sem (?:restricoes|filtros)|senza (?:restrizioni|filtri))\b",
        0.5,
        "prompt_injection.limit_removal",
    ),
    (
        r"\b(?:actua como|haz como si|agis comme|fais semblant|tu so,? als|aja como|finja que|fingi di)\b",
        0.35,
        "prompt_injection.role_play",
    ),
    (
        r"\b(?:revela|muestra|montre|affiche|zeig|mostre) (?:me |moi |mir )?(?:tu|ton|ta|tes|dein|deine|seu|sua) (?:prompt|instrucciones|instructions|anweisungen|systemprompt|prompt del sistema|prompt systeme)\b",
        0.75,
        "prompt_injection.prompt_extraction",
    ),
];

pub(crate) fn check(ctx: &Ctx<'_>) -> Option<Hit> {
    let (score, rule) = ctx.phrases.get(Category::PromptInjection)?;
    Some(Hit::new(Category::PromptInjection, rule, score))
}
