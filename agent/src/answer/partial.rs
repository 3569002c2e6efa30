//! Reading a decision while the model is still writing it: the `action` and the growing
//! `answer` string out of partial JSON, fed in whatever pieces the stream delivers. A piece may
//! end anywhere: inside a key, inside an escape, between the two halves of a surrogate pair.
//! Only the final text is trusted; this only shows the member what is coming.

/// What a JSON string escape has read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    Backslash,
    /// `\u` and the hex digits read so far.
    Hex {
        value: u32,
        digits: u8,
    },
}

/// Decodes the body of one JSON string, a character at a time.
#[derive(Debug, Clone, Default)]
struct StringBody {
    escape: Escape,
    /// A high surrogate waiting for its low half.
    high: Option<u32>,
}

impl StringBody {
    /// Feeds one character after the opening quote; decoded text goes to `out`. `true` at the
    /// closing quote. Invalid escapes become U+FFFD rather than stopping the reading: the
    /// final check judges the JSON, this only previews it.
    fn feed(&mut self, c: char, out: &mut String) -> bool {
        match self.escape {
            Escape::None => match c {
                '"' => {
                    self.lone_high(out);
                    return true;
                }
                '\\' => self.escape = Escape::Backslash,
                c => self.push(c, out),
            },
            Escape::Backslash => {
                self.escape = Escape::None;
                let decoded = match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' => {
                        self.escape = Escape::Hex {
                            value: 0,
                            digits: 0,
                        };
                        return false;
                    }
                    other => other,
                };
                self.push(decoded, out);
            }
            Escape::Hex { value, digits } => {
                let Some(digit) = c.to_digit(16) else {
                    self.escape = Escape::None;
                    self.push(char::REPLACEMENT_CHARACTER, out);
                    return self.feed(c, out);
                };
                let value = value * 16 + digit;
                if digits < 3 {
                    self.escape = Escape::Hex {
                        value,
                        digits: digits + 1,
                    };
                    return false;
                }
                self.escape = Escape::None;
                self.code_unit(value, out);
            }
        }
        false
    }

    fn code_unit(&mut self, unit: u32, out: &mut String) {
        match unit {
            0xD800..=0xDBFF => {
                self.lone_high(out);
                self.high = Some(unit);
            }
            0xDC00..=0xDFFF => {
                let c = self
                    .high
                    .take()
                    .and_then(|high| {
                        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00))
                    })
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                out.push(c);
            }
            other => self.push(
                char::from_u32(other).unwrap_or(char::REPLACEMENT_CHARACTER),
                out,
            ),
        }
    }

    fn push(&mut self, c: char, out: &mut String) {
        self.lone_high(out);
        out.push(c);
    }

    fn lone_high(&mut self, out: &mut String) {
        if self.high.take().is_some() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

/// A top-level member of the decision this reader keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Action,
    Answer,
    Other,
}

/// Where the reader is in the object.
#[derive(Debug, Clone)]
enum State {
    /// Before the object's `{` (a code fence or a word of prose may come first).
    Before,
    /// Expecting a key, `,` or `}`.
    Key,
    InKey(StringBody),
    Colon,
    Value,
    InString(StringBody),
    /// Skipping a value this reader does not keep: a number, a literal, an array or object.
    Skipping {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    Done,
}

/// The decision so far: the action once its string is complete, the answer as it grows.
#[derive(Debug, Clone)]
pub struct PartialDecision {
    state: State,
    key: String,
    field: Field,
    action: Option<String>,
    answer: String,
    /// The action's text while it is being read.
    action_text: String,
}

impl Default for PartialDecision {
    fn default() -> Self {
        PartialDecision {
            state: State::Before,
            key: String::new(),
            field: Field::Other,
            action: None,
            answer: String::new(),
            action_text: String::new(),
        }
    }
}

impl PartialDecision {
    /// Reads the next piece of the model's output.
    pub fn push(&mut self, piece: &str) {
        for c in piece.chars() {
            self.feed(c);
        }
    }

    /// The action, lower-cased, once its value is complete.
    pub fn action(&self) -> Option<&str> {
        self.action.as_deref()
    }

    /// The answer's text read so far.
    pub fn answer(&self) -> &str {
        &self.answer
    }

    /// Whether the model is writing a reply (so its text may be shown as it grows).
    pub fn is_reply(&self) -> bool {
        self.action() == Some("reply")
    }

    fn feed(&mut self, c: char) {
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match state {
            State::Before if c == '{' => State::Key,
            State::Before => State::Before,
            State::Key => match c {
                '"' => {
                    self.key.clear();
                    State::InKey(StringBody::default())
                }
                '}' => State::Done,
                _ => State::Key,
            },
            State::InKey(mut body) => {
                if body.feed(c, &mut self.key) {
                    self.field = match self.key.as_str() {
                        "action" => Field::Action,
                        "answer" => Field::Answer,
                        _ => Field::Other,
                    };
                    State::Colon
                } else {
                    State::InKey(body)
                }
            }
            State::Colon if c == ':' => State::Value,
            State::Colon => State::Colon,
            State::Value => self.value_start(c),
            State::InString(mut body) => {
                let out = match self.field {
                    Field::Answer => &mut self.answer,
                    _ => &mut self.action_text,
                };
                if body.feed(c, out) {
                    if self.field == Field::Action {
                        self.action = Some(self.action_text.trim().to_ascii_lowercase());
                    }
                    State::Key
                } else {
                    State::InString(body)
                }
            }
            State::Skipping {
                depth,
                in_string,
                escaped,
            } => skip(c, depth, in_string, escaped),
            State::Done => State::Done,
        };
    }

    fn value_start(&mut self, c: char) -> State {
        if c.is_whitespace() {
            return State::Value;
        }
        if c == '"' && self.field != Field::Other {
            match self.field {
                Field::Answer => self.answer.clear(),
                _ => self.action_text.clear(),
            }
            return State::InString(StringBody::default());
        }
        match c {
            '"' => State::Skipping {
                depth: 0,
                in_string: true,
                escaped: false,
            },
            '{' | '[' => State::Skipping {
                depth: 1,
                in_string: false,
                escaped: false,
            },
            // A number or a literal runs to the next `,` or `}`.
            _ => State::Skipping {
                depth: 0,
                in_string: false,
                escaped: false,
            },
        }
    }
}

/// One character of a skipped value. A value at depth 0 that is not a string ends at `,` or
/// `}`; a nested one when its brackets close.
fn skip(c: char, depth: u32, in_string: bool, escaped: bool) -> State {
    if in_string {
        let done_string = !escaped && c == '"';
        if done_string && depth == 0 {
            return State::Key;
        }
        return State::Skipping {
            depth,
            in_string: !done_string,
            escaped: !escaped && c == '\\',
        };
    }
    match c {
        '"' => State::Skipping {
            depth,
            in_string: true,
            escaped: false,
        },
        '{' | '[' => State::Skipping {
            depth: depth + 1,
            in_string: false,
            escaped: false,
        },
        '}' | ']' if depth > 1 => State::Skipping {
            depth: depth - 1,
            in_string: false,
            escaped: false,
        },
        '}' | ']' if depth == 1 => State::Key,
        '}' if depth == 0 => State::Done,
        ',' if depth == 0 => State::Key,
        _ => State::Skipping {
            depth,
            in_string: false,
            escaped: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn read(pieces: &[&str]) -> PartialDecision {
        let mut p = PartialDecision::default();
        for piece in pieces {
            p.push(piece);
        }
        p
    }

    /// The answer `serde_json` reads from the whole text.
    fn expected(json: &str) -> String {
        let v: Value = serde_json::from_str(json).unwrap();
        v["answer"].as_str().unwrap().to_owned()
    }

    /// Every split into two pieces gives the final answer, and what is read before the split
    /// is always a start of it.
    fn every_split_agrees(json: &str) {
        let want = expected(json);
        let bounds: Vec<usize> = json.char_indices().map(|(i, _)| i).collect();
        for &i in &bounds {
            let mut p = PartialDecision::default();
            p.push(&json[..i]);
            assert!(want.starts_with(p.answer()), "at {i}: {:?}", p.answer());
            p.push(&json[i..]);
            assert_eq!(p.answer(), want, "split at {i} of {json}");
            assert!(p.is_reply());
        }
    }

    #[test]
    fn action_and_answer_are_read_as_they_arrive() {
        let mut p = PartialDecision::default();
        p.push(r#"{"action": "rep"#);
        assert_eq!(p.action(), None);
        p.push(r#"ly", "answer": "Open **Set"#);
        assert!(p.is_reply());
        assert_eq!(p.answer(), "Open **Set");
        p.push(r#"tings** [1]", "citations": [1], "confidence": 0.9}"#);
        assert_eq!(p.answer(), "Open **Settings** [1]");
    }

    #[test]
    fn escapes_and_surrogate_pairs_survive_every_split_point() {
        every_split_agrees(
            r#"{"action":"reply","answer":"Line one\nTab\there \"quoted\" back\\slash \u00e9t\u00E9 \ud83d\ude00 ok\/done","citations":[1],"confidence":0.8}"#,
        );
    }

    #[test]
    fn any_field_order_and_nested_values_are_skipped() {
        let json = r#"{"citations": [1, [2, {"a": "}\"]"}]], "confidence": 1e-1, "ok": true, "note": "x\"y", "answer": "Hi {there}, [1]", "action": "REPLY"}"#;
        every_split_agrees(json);
        assert_eq!(read(&[json]).action(), Some("reply"));
    }

    #[test]
    fn a_fence_or_prose_before_the_object_is_ignored() {
        let p = read(&[
            "Sure!\n```json\n{\"action\":\"reply\",\"ans",
            "wer\":\"Yes\"}\n```",
        ]);
        assert_eq!(p.answer(), "Yes");
        assert!(p.is_reply());
    }

    #[test]
    fn a_lone_surrogate_becomes_a_replacement_character_and_a_split_half_waits() {
        let mut p = read(&[r#"{"action":"reply","answer":"a\ud83d"#]);
        assert_eq!(p.answer(), "a", "the high half waits for its partner");
        p.push(r#"b"}"#);
        assert_eq!(p.answer(), "a\u{FFFD}b");
        let p = read(&[r#"{"action":"reply","answer":"\ude00\u12G4"}"#]);
        assert_eq!(p.answer(), "\u{FFFD}\u{FFFD}G4");
    }

    #[test]
    fn other_actions_are_known_and_not_replies() {
        let p = read(&[r#"{"action": "handoff", "answer": "A team member will help."#]);
        assert_eq!(p.action(), Some("handoff"));
        assert!(!p.is_reply());
    }

    /// Random answers (quotes, backslashes, control characters, accents, emoji), written by
    /// `serde_json` and again with every non-ASCII character as `\u` escapes, read in random
    /// pieces.
    #[test]
    fn random_answers_in_random_pieces_read_back_exactly() {
        let alphabet: Vec<char> = "ab \"\\/\n\t\u{1}é€😀{}[],:".chars().collect();
        let mut rng = fastrand::Rng::with_seed(13);
        for _ in 0..300 {
            let len = rng.usize(0..40);
            let answer: String = (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let plain = json!({"action": "reply", "answer": answer, "citations": [1]}).to_string();
            for json in [plain.clone(), ascii_only(&plain)] {
                let mut p = PartialDecision::default();
                let mut rest = json.as_str();
                while !rest.is_empty() {
                    let mut cut = rng.usize(0..=rest.len().min(6));
                    while !rest.is_char_boundary(cut) {
                        cut += 1;
                    }
                    p.push(&rest[..cut]);
                    assert!(answer.starts_with(p.answer()), "{json}: {:?}", p.answer());
                    rest = &rest[cut..];
                }
                assert_eq!(p.answer(), answer, "{json}");
            }
        }
    }

    /// The JSON with every non-ASCII character escaped as UTF-16 code units.
    fn ascii_only(json: &str) -> String {
        let mut out = String::new();
        for c in json.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        out
    }
}
