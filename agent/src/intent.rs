//! Is this a message that needs an answer? Thanks, greetings, laughter, reactions and talk
//! addressed to other members get none; questions and problem reports do. Cheap (no model, no
//! search), so every channel mode can run it on every message.

/// What the detector needs to know besides the text.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageContext {
    /// The message mentions the bot.
    pub mentions_bot: bool,
    /// The message mentions other members (not the bot) or replies to one of them.
    pub addresses_others: bool,
}

/// Words that carry no request on their own: thanks, greetings, laughter, agreement, in the
/// languages members most often write in. A message made only of these (and emoji,
/// punctuation, filler) needs no answer.
const SOCIAL: &[&str] = &[
    // thanks
    "thanks",
    "thank",
    "thx",
    "thnx",
    "tnx",
    "ty",
    "tysm",
    "tyvm",
    "cheers",
    "appreciate",
    "appreciated",
    "grateful",
    "kudos",
    "danke",
    "dankeschön",
    "merci",
    "gracias",
    "grazie",
    "obrigado",
    "obrigada",
    "bedankt",
    "dank",
    "tack",
    "takk",
    "dzięki",
    "dziękuję",
    "спасибо",
    "дякую",
    "arigato",
    "ありがとう",
    "谢谢",
    "감사합니다",
    // greetings and goodbyes
    "hi",
    "hello",
    "hey",
    "heya",
    "hiya",
    "yo",
    "sup",
    "howdy",
    "greetings",
    "morning",
    "evening",
    "afternoon",
    "night",
    "gm",
    "gn",
    "bye",
    "cya",
    "later",
    "hallo",
    "moin",
    "servus",
    "bonjour",
    "salut",
    "coucou",
    "hola",
    "buenos",
    "buenas",
    "ciao",
    "buongiorno",
    "olá",
    "oi",
    "hej",
    "привет",
    "welcome",
    // laughter and reactions
    "lol",
    "lmao",
    "lmfao",
    "rofl",
    "haha",
    "hahaha",
    "hehe",
    "xd",
    "omg",
    "wow",
    "nice",
    "cool",
    "great",
    "awesome",
    "perfect",
    "amazing",
    "brilliant",
    "sweet",
    "neat",
    "yay",
    "gg",
    "wp",
    "ok",
    "okay",
    "okey",
    "kk",
    "k",
    "alright",
    "sure",
    "yes",
    "yep",
    "yeah",
    "yup",
    "no",
    "nope",
    "nah",
    "got",
    "it",
    "makes",
    "sense",
    "understood",
    "noted",
    "fine",
    "good",
    "works",
    "worked",
    "working",
    "now",
    "fixed",
    "solved",
    "done",
    "+1",
    "same",
    "agreed",
    "true",
    "indeed",
    "exactly",
    "super",
    "genial",
    "parfait",
    "perfecto",
    "vale",
    "bueno",
    "gut",
    "super",
    "klasse",
    "top",
    "legend",
    "hero",
    "champ",
    "lifesaver",
    "wild",
    "crazy",
    "funny",
    "fair",
    "enough",
    "brb",
    "afk",
    "np",
    "yw",
    "ofc",
    "rip",
    "oof",
    "ugh",
    "meh",
    "hmm",
    "hm",
    "wb",
];

/// Filler that may sit around social words without turning them into a request.
const FILLER: &[&str] = &[
    "a",
    "all",
    "so",
    "very",
    "much",
    "lot",
    "lots",
    "you",
    "u",
    "ya",
    "guys",
    "folks",
    "everyone",
    "everybody",
    "team",
    "again",
    "for",
    "the",
    "help",
    "that",
    "this",
    "your",
    "man",
    "mate",
    "bro",
    "dude",
    "just",
    "really",
    "soooo",
    "sooo",
    "soo",
    "that's",
    "thats",
    "it's",
    "its",
    "is",
    "was",
    "has",
    "have",
    "been",
    "be",
    "and",
    "oh",
    "ah",
    "aha",
    "ahh",
    "well",
    "there",
    "here",
    "to",
    "of",
    "me",
    "my",
    "we",
    "our",
    "i",
    "im",
    "i'm",
    "am",
    "did",
    "trick",
    "both",
    "ever",
    "de",
    "la",
    "le",
    "à",
    "tous",
    "todos",
    "tutti",
    "allerseits",
    "euch",
    "dir",
    "vielen",
    "viele",
    "muchas",
    "mille",
    "beaucoup",
    "mucho",
    "tanto",
    "tante",
    "y'all",
    "yall",
    "again",
    "buddy",
    "friend",
    "friends",
    "update",
    "happy",
    "day",
    "weekend",
    "good",
    "bot",
    "ur",
    "first",
    "time",
    "new",
    "one",
    "such",
    "an",
];

/// Words that turn a message into a request even without a question mark.
const ASKING: &[&str] = &[
    "how", "what", "why", "where", "when", "which", "who", "can", "could", "should", "would",
    "does", "do", "is", "are", "will", "any", "anyone", "anybody", "help", "error", "errors",
    "fail", "fails", "failed", "failing", "broken", "broke", "crash", "crashes", "crashed",
    "issue", "problem", "stuck", "wrong", "cant", "can't", "cannot", "won't", "wont", "doesnt",
    "doesn't", "isnt", "isn't", "unable", "trying", "need", "want", "wie", "was", "warum", "wo",
    "comment", "pourquoi", "quoi", "cómo", "como", "qué", "porque", "come", "perché",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '!' | ';' | ':' | '…'))
        .map(|w| {
            squeeze(
                &w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '+')
                    .to_lowercase(),
            )
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Chat stretches words ("lmaooo", "thxxx", "hahahaha", "sooo"): letters repeated three or
/// more times count once, and laughter is laughter however long.
fn squeeze(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut run = 0;
    let mut last = None;
    for c in word.chars() {
        run = if Some(c) == last { run + 1 } else { 1 };
        last = Some(c);
        if run < 3 {
            out.push(c);
        }
    }
    if out.len() > 2 && out.chars().all(|c| matches!(c, 'h' | 'a' | 'e')) {
        return "haha".into();
    }
    let trimmed = out.trim_end_matches('o');
    if trimmed == "lma" || trimmed == "lmf" {
        return "lmao".into();
    }
    out
}

/// Whether a member's message should get an answer from the bot.
pub fn needs_answer(text: &str, ctx: MessageContext) -> bool {
    let text = strip_mentions(text);
    let words = words(&text);
    if words.is_empty() {
        // Only emoji, punctuation or mentions.
        return false;
    }
    // Talk between members: someone else is addressed and the bot is not.
    if ctx.addresses_others && !ctx.mentions_bot {
        return false;
    }
    let asks = text.contains('?') || words.iter().any(|w| ASKING.contains(&w.as_str()));
    let social = words
        .iter()
        .filter(|w| SOCIAL.contains(&w.as_str()))
        .count();
    let substantive = words
        .iter()
        .filter(|w| !SOCIAL.contains(&w.as_str()) && !FILLER.contains(&w.as_str()))
        .count();
    if substantive == 0 {
        // "thanks!!", "good morning all ☕", "lol", "ok got it"
        return false;
    }
    if social > 0 && !asks && substantive <= 2 && words.len() <= 8 {
        // "thanks, that fixed it", "hi from berlin": a social message with a word or two more.
        return false;
    }
    true
}

/// Words that open a question: at the start of the message or of one of its clauses ("hi, how
/// do I…"). English, German, French, Spanish, Italian and Portuguese.
const OPENERS: &[&str] = &[
    "how", "what", "what's", "whats", "why", "where", "where's", "when", "which", "who", "whom",
    "whose", "can", "could", "should", "would", "will", "does", "do", "did", "is", "are", "was",
    "were", "has", "have", "may", "might", "shall", "anyone", "anybody", "someone", "somebody",
    "wie", "was", "warum", "wieso", "weshalb", "wo", "wann", "welche", "welcher", "welches", "wer",
    "kann", "können", "gibt", "comment", "pourquoi", "quoi", "où", "quand", "quel", "quelle",
    "quels", "quelles", "qui", "est-ce", "peut", "peux", "puis", "cómo", "como", "qué", "dónde",
    "donde", "cuándo", "cuál", "cual", "quién", "puedo", "puede", "alguien", "perché", "dove",
    "quale", "chi", "posso", "onde", "porque", "qual", "alguém",
];

/// Words that may come before the opener of a clause without being the point of it.
const LEAD_INS: &[&str] = &[
    "but", "and", "so", "also", "ok", "okay", "hey", "hi", "hello", "btw", "pls", "please",
    "quick", "um", "uh", "aber", "und", "mais", "et", "pero", "y", "ma", "mas",
];

/// Words that report a problem or ask for help anywhere in a message.
const PROBLEM: &[&str] = &[
    "error",
    "errors",
    "exception",
    "traceback",
    "panic",
    "panics",
    "crash",
    "crashes",
    "crashed",
    "crashing",
    "fail",
    "fails",
    "failed",
    "failing",
    "failure",
    "broken",
    "broke",
    "bug",
    "issue",
    "issues",
    "problem",
    "problems",
    "stuck",
    "wrong",
    "unable",
    "keeps",
    "never",
    "stopped",
    "help",
    "question",
    "timeout",
    "denied",
    "refused",
    "missing",
    "invalid",
    "doesn't",
    "doesnt",
    "don't",
    "dont",
    "didn't",
    "didnt",
    "isn't",
    "isnt",
    "aren't",
    "won't",
    "wont",
    "can't",
    "cant",
    "cannot",
    "couldn't",
    "couldnt",
    "fehler",
    "hilfe",
    "kaputt",
    "erreur",
    "problème",
    "aide",
    "bloqué",
    "problema",
    "ayuda",
    "falla",
    "errore",
    "aiuto",
    "erro",
    "ajuda",
];

/// A verb that works, negated, reports a problem: "will not start", "funktioniert nicht",
/// "marche pas", "no funciona". The verb comes before "not", "nicht" and "pas", after "no",
/// "non" and "não".
const NEGATED_BEFORE: &[(&str, &[&str])] = &[
    (
        "not",
        &[
            "does", "do", "did", "will", "can", "is", "are", "was", "would",
        ],
    ),
    (
        "nicht",
        &["funktioniert", "geht", "klappt", "läuft", "kann", "startet"],
    ),
    (
        "pas",
        &[
            "marche",
            "fonctionne",
            "peux",
            "arrive",
            "démarre",
            "charge",
        ],
    ),
];
const NEGATED_AFTER: &[&str] = &["funciona", "funziona", "puedo", "posso", "consigo", "carga"];
const NEGATIONS: &[&str] = &["no", "non", "não"];

fn negated(first: &str, second: &str) -> bool {
    NEGATED_BEFORE
        .iter()
        .any(|(negation, verbs)| second == *negation && verbs.contains(&first))
        || (NEGATIONS.contains(&first) && NEGATED_AFTER.contains(&second))
}

/// Whether a message asks something or reports a problem: a question mark, a question word
/// opening it or one of its clauses, or a problem word ("error", "doesn't", "keeps", "help").
/// For channels where the bot answers without being mentioned, where statements and chat are
/// not for it.
pub fn asks_for_help(text: &str) -> bool {
    let text = strip_mentions(text);
    if text.contains(['?', '？', '¿']) {
        return true;
    }
    let clauses = text.split([',', '.', '!', ';', ':', '\n', '…']);
    for clause in clauses {
        let clause_words: Vec<String> = clause
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect();
        let opener = clause_words
            .iter()
            .find(|w| !LEAD_INS.contains(&w.as_str()));
        if opener.is_some_and(|w| OPENERS.contains(&w.as_str())) {
            return true;
        }
        if clause_words.iter().any(|w| PROBLEM.contains(&w.as_str())) {
            return true;
        }
        if clause_words.windows(2).any(|p| negated(&p[0], &p[1])) {
            return true;
        }
    }
    false
}

/// Removes Discord mention markup (`<@123>`, `<@!123>`, `<@&123>`, `<#123>`).
pub fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find('>');
        let is_mention = end.is_some_and(|e| {
            let inner = &tail[1..e];
            let inner = inner
                .strip_prefix("@!")
                .or_else(|| inner.strip_prefix("@&"))
                .or_else(|| inner.strip_prefix('@'))
                .or_else(|| inner.strip_prefix('#'));
            inner.is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        });
        match (is_mention, end) {
            (true, Some(e)) => {
                out.push(' ');
                rest = &tail[e + 1..];
            }
            _ => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> bool {
        needs_answer(text, MessageContext::default())
    }

    #[test]
    fn social_messages_need_no_answer() {
        for text in [
            "thanks that worked!! 🙏",
            "lol",
            "good morning all ☕",
            "ty",
            "ok got it, thanks a lot",
            "merci beaucoup !",
            "danke dir",
            "👍",
            "<@1000>",
            "hey everyone",
            "haha nice",
            "lmaooo ok fair enough bot",
            "hahahahaha",
        ] {
            assert!(!plain(text), "{text:?} should need no answer");
        }
    }

    #[test]
    fn questions_and_problem_reports_need_an_answer() {
        for text in [
            "how do i update?",
            "thanks, but how do I reset the password?",
            "pihole -up fails: Repository changed its Suite value",
            "hi, my login code never shows up",
            "wie kann ich das Passwort ändern",
            "docker container keeps restarting after the upgrade",
            "<@1000> where are the logs",
        ] {
            assert!(plain(text), "{text:?} should need an answer");
        }
    }

    #[test]
    fn questions_and_problem_reports_ask_for_help() {
        for text in [
            "how do i update?",
            "anyone know the default port",
            "hi, how do I reset the password",
            "pihole -up fails: Repository changed its Suite value",
            "hi, my login code never shows up",
            "docker container keeps restarting after the upgrade",
            "my bot will not start, pasting the config in a sec",
            "the export button doesn't work for me",
            "getting error 502 on every upload",
            "wie kann ich das Passwort ändern",
            "das Backup funktioniert nicht mehr",
            "comment changer mon mot de passe",
            "no puedo entrar",
            "ça ne marche pas depuis hier",
            "<@1000> where are the logs",
            "quick question about billing",
        ] {
            assert!(asks_for_help(text), "{text:?} asks for help");
        }
    }

    #[test]
    fn statements_and_chat_do_not_ask_for_help() {
        for text in [
            "thanks!",
            "good morning all",
            "the new release looks great",
            "I'm heading to lunch, back in an hour",
            "lol same here",
            "just upgraded to 2.3 today",
            "bonne journée à tous",
            "ça marche, merci",
        ] {
            assert!(!asks_for_help(text), "{text:?} asks nothing");
        }
    }

    #[test]
    fn talk_addressed_to_other_members_is_left_alone() {
        let ctx = MessageContext {
            mentions_bot: false,
            addresses_others: true,
        };
        assert!(!needs_answer("<@42> did you try restarting it?", ctx));
        let both = MessageContext {
            mentions_bot: true,
            addresses_others: true,
        };
        assert!(needs_answer("<@1000> <@42> how do we restart it?", both));
    }
}
