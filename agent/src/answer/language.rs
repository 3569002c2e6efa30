//! The asker's language, and the bot's own sentences in it. A model answers in the member's
//! language when told to; extractive answers quote the docs as written but lead, ask and hand
//! off in the member's language when it is one we have words for.

use whatlang::{Detector, Lang};

/// Languages the bot's own sentences exist in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    German,
    French,
    Spanish,
    Italian,
    Portuguese,
    Dutch,
}

impl Language {
    /// ISO 639-1 code, for traces and prompts.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::German => "de",
            Language::French => "fr",
            Language::Spanish => "es",
            Language::Italian => "it",
            Language::Portuguese => "pt",
            Language::Dutch => "nl",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::English => "English",
            Language::German => "German",
            Language::French => "French",
            Language::Spanish => "Spanish",
            Language::Italian => "Italian",
            Language::Portuguese => "Portuguese",
            Language::Dutch => "Dutch",
        }
    }

    pub fn from_code(code: &str) -> Option<Language> {
        ALL.into_iter().find(|l| l.code() == code)
    }
}

const ALL: [Language; 7] = [
    Language::English,
    Language::German,
    Language::French,
    Language::Spanish,
    Language::Italian,
    Language::Portuguese,
    Language::Dutch,
];

fn to_whatlang(l: Language) -> Lang {
    match l {
        Language::English => Lang::Eng,
        Language::German => Lang::Deu,
        Language::French => Lang::Fra,
        Language::Spanish => Lang::Spa,
        Language::Italian => Lang::Ita,
        Language::Portuguese => Lang::Por,
        Language::Dutch => Lang::Nld,
    }
}

/// The language a message is written in, when it can be told with some confidence; short or
/// mixed messages (a command and two words) fall back to `fallback`.
pub fn detect(text: &str, fallback: Language) -> Language {
    // Code, paths and URLs say nothing about the member's language.
    let prose: String = text
        .split_whitespace()
        .filter(|w| {
            !w.contains('/')
                && !w.contains('`')
                && !w.contains('_')
                && !w.starts_with('-')
                && w.chars().any(char::is_alphabetic)
        })
        .collect::<Vec<_>>()
        .join(" ");
    if prose.split_whitespace().count() < 4 {
        return fallback;
    }
    let detector = Detector::with_allowlist(ALL.iter().map(|l| to_whatlang(*l)).collect());
    match detector.detect(&prose) {
        Some(info) if info.confidence() >= 0.5 => ALL
            .into_iter()
            .find(|l| to_whatlang(*l) == info.lang())
            .unwrap_or(fallback),
        _ => fallback,
    }
}

/// The bot's own sentences.
#[derive(Debug, Clone, Copy)]
pub struct Phrases {
    /// Above quoted passages.
    pub lead: &'static str,
    /// The docs don't cover it.
    pub not_in_docs: &'static str,
    /// The question is too short or vague to search well.
    pub ask_details: &'static str,
    /// The member asked for a person.
    pub requested: &'static str,
    /// No model could answer.
    pub provider_failed: &'static str,
    /// The guild's daily budget is spent.
    pub budget: &'static str,
    /// Staff will look at it.
    pub escalated: &'static str,
}

pub fn phrases(language: Language) -> Phrases {
    match language {
        Language::English => Phrases {
            lead: "Here's what the docs say:",
            not_in_docs: "I couldn't find this in the docs — I've let the team know, and someone will follow up here.",
            ask_details: "Could you tell me a bit more? What are you trying to do, what happens instead, and any error message you see?",
            requested: "Sure — I've let the team know, and a person will follow up in this thread.",
            provider_failed: "I can't put an answer together right now, so I've let the team know — someone will follow up here.",
            budget: "I've reached today's limit for written answers in this server, so I've let the team know — someone will follow up here.",
            escalated: "I've flagged this for the staff team; a person will follow up.",
        },
        Language::German => Phrases {
            lead: "Das steht dazu in der Dokumentation:",
            not_in_docs: "Dazu habe ich in der Dokumentation nichts gefunden — ich habe dem Team Bescheid gegeben, jemand meldet sich hier.",
            ask_details: "Kannst du etwas mehr erzählen? Was möchtest du erreichen, was passiert stattdessen, und gibt es eine Fehlermeldung?",
            requested: "Klar — ich habe dem Team Bescheid gegeben, eine Person meldet sich in diesem Thread.",
            provider_failed: "Ich kann gerade keine Antwort formulieren und habe dem Team Bescheid gegeben — jemand meldet sich hier.",
            budget: "Das heutige Kontingent für Antworten auf diesem Server ist aufgebraucht; ich habe dem Team Bescheid gegeben — jemand meldet sich hier.",
            escalated: "Ich habe das an das Team weitergegeben; eine Person meldet sich.",
        },
        Language::French => Phrases {
            lead: "Voici ce qu'en dit la documentation :",
            not_in_docs: "Je n'ai rien trouvé à ce sujet dans la documentation — j'ai prévenu l'équipe, quelqu'un vous répondra ici.",
            ask_details: "Pouvez-vous m'en dire un peu plus ? Que cherchez-vous à faire, que se passe-t-il à la place, et voyez-vous un message d'erreur ?",
            requested: "Bien sûr — j'ai prévenu l'équipe, une personne vous répondra dans ce fil.",
            provider_failed: "Je ne peux pas rédiger de réponse pour le moment, j'ai donc prévenu l'équipe — quelqu'un vous répondra ici.",
            budget: "La limite de réponses du jour est atteinte sur ce serveur ; j'ai prévenu l'équipe — quelqu'un vous répondra ici.",
            escalated: "J'ai signalé ceci à l'équipe ; une personne va vous répondre.",
        },
        Language::Spanish => Phrases {
            lead: "Esto es lo que dice la documentación:",
            not_in_docs: "No encontré esto en la documentación — he avisado al equipo y alguien te responderá aquí.",
            ask_details: "¿Puedes contarme un poco más? ¿Qué intentas hacer, qué pasa en su lugar y ves algún mensaje de error?",
            requested: "Claro — he avisado al equipo y una persona te responderá en este hilo.",
            provider_failed: "Ahora mismo no puedo redactar una respuesta, así que he avisado al equipo — alguien te responderá aquí.",
            budget: "Se alcanzó el límite diario de respuestas en este servidor; he avisado al equipo — alguien te responderá aquí.",
            escalated: "He pasado esto al equipo; una persona te responderá.",
        },
        Language::Italian => Phrases {
            lead: "Ecco cosa dice la documentazione:",
            not_in_docs: "Non ho trovato nulla nella documentazione — ho avvisato il team, qualcuno ti risponderà qui.",
            ask_details: "Puoi dirmi qualcosa in più? Cosa stai cercando di fare, cosa succede invece e vedi qualche messaggio di errore?",
            requested: "Certo — ho avvisato il team, una persona ti risponderà in questo thread.",
            provider_failed: "Al momento non riesco a preparare una risposta, quindi ho avvisato il team — qualcuno ti risponderà qui.",
            budget: "È stato raggiunto il limite giornaliero di risposte su questo server; ho avvisato il team — qualcuno ti risponderà qui.",
            escalated: "Ho segnalato la cosa al team; una persona ti risponderà.",
        },
        Language::Portuguese => Phrases {
            lead: "Isto é o que a documentação diz:",
            not_in_docs: "Não encontrei isto na documentação — avisei a equipe e alguém vai responder aqui.",
            ask_details: "Pode me contar um pouco mais? O que você está tentando fazer, o que acontece em vez disso e aparece alguma mensagem de erro?",
            requested: "Claro — avisei a equipe e uma pessoa vai responder neste tópico.",
            provider_failed: "Não consigo montar uma resposta agora, então avisei a equipe — alguém vai responder aqui.",
            budget: "O limite diário de respostas deste servidor foi atingido; avisei a equipe — alguém vai responder aqui.",
            escalated: "Encaminhei isto para a equipe; uma pessoa vai responder.",
        },
        Language::Dutch => Phrases {
            lead: "Dit staat er in de documentatie:",
            not_in_docs: "Ik kon dit niet in de documentatie vinden — ik heb het team ingelicht, iemand reageert hier.",
            ask_details: "Kun je iets meer vertellen? Wat probeer je te doen, wat gebeurt er in plaats daarvan, en zie je een foutmelding?",
            requested: "Natuurlijk — ik heb het team ingelicht, een persoon reageert in deze thread.",
            provider_failed: "Ik kan nu geen antwoord opstellen, dus ik heb het team ingelicht — iemand reageert hier.",
            budget: "De daglimiet voor antwoorden op deze server is bereikt; ik heb het team ingelicht — iemand reageert hier.",
            escalated: "Ik heb dit doorgegeven aan het team; een persoon reageert.",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_members_language_and_falls_back_on_short_text() {
        assert_eq!(
            detect(
                "Wie kann ich die Blockliste aktualisieren, wenn der Container läuft?",
                Language::English
            ),
            Language::German
        );
        assert_eq!(
            detect(
                "Comment est-ce que je peux mettre à jour la liste de blocage ?",
                Language::English
            ),
            Language::French
        );
        assert_eq!(
            detect("pihole -up fails", Language::English),
            Language::English
        );
        assert_eq!(
            detect(
                "can i talk to an actual human please, the bot isn't getting it",
                Language::German
            ),
            Language::English
        );
    }
}
