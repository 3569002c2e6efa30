//! The search query made from a member's message: mention markup removed and common chat
//! abbreviations written out ("pw" → "password", "msgs" → "messages"), because docs spell
//! words out and BM25 matches only what is written. The member's text itself is unchanged.

/// Chat shorthand and its spelled-out form: general English chat, not any product's terms.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("acct", "account"),
    ("admin", "administrator admin"),
    ("admins", "administrators admins"),
    ("app", "app application"),
    ("auth", "authentication"),
    ("b4", "before"),
    ("bc", "because"),
    ("btw", "by the way"),
    ("cfg", "config configuration"),
    ("config", "config configuration"),
    ("convo", "conversation"),
    ("convos", "conversations"),
    ("cmd", "command"),
    ("db", "database"),
    ("dm", "direct message dm"),
    ("dms", "direct messages dms"),
    ("docs", "documentation docs"),
    ("env", "environment"),
    ("idk", "i don't know"),
    ("imo", "in my opinion"),
    ("incl", "including"),
    ("info", "information"),
    ("msg", "message"),
    ("msgs", "messages"),
    ("mod", "moderator"),
    ("mods", "moderators"),
    ("notif", "notification"),
    ("notifs", "notifications"),
    ("pic", "picture image"),
    ("pics", "pictures images"),
    ("pls", "please"),
    ("plz", "please"),
    ("ppl", "people"),
    ("pw", "password"),
    ("pwd", "password"),
    ("perms", "permissions"),
    ("pref", "preference"),
    ("prefs", "preferences"),
    ("q", "question"),
    ("repo", "repository"),
    ("rn", "right now"),
    ("tmrw", "tomorrow"),
    ("tho", "though"),
    ("thx", "thanks"),
    ("u", "you"),
    ("ur", "your"),
    ("w/", "with"),
    ("w/o", "without"),
    ("wanna", "want to"),
    ("gonna", "going to"),
    ("yr", "year"),
];

/// The text to search with for a member's message.
pub fn search_text(text: &str) -> String {
    let text = crate::intent::strip_mentions(text);
    let mut out = String::with_capacity(text.len() + 32);
    for word in text.split_whitespace() {
        let start = word.len()
            - word
                .trim_start_matches(|c: char| !c.is_alphanumeric())
                .len();
        let core = word[start..].trim_end_matches(|c: char| !c.is_alphanumeric() && c != '/');
        let end = start + core.len();
        let bare = core.to_lowercase();
        match ABBREVIATIONS.iter().find(|(short, _)| *short == bare) {
            Some((_, long)) => {
                out.push_str(&word[..start]);
                out.push_str(long);
                out.push_str(&word[end..]);
            }
            None => out.push_str(word),
        }
        out.push(' ');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_go_and_chat_shorthand_is_spelled_out() {
        assert_eq!(
            search_text("<@12> forgot my pw, can u reset it? thx"),
            "forgot my password, can you reset it? thanks"
        );
        assert_eq!(
            search_text("how do mods move msgs"),
            "how do moderators move messages"
        );
    }
}
