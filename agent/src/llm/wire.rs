//! What goes over the wire: chat-completion request bodies (one shape per structured-output
//! dialect) and reading answers back out of the provider's JSON, leniently, since servers differ.

use serde_json::{Map, Value, json};

use super::transport::AttemptError;
use super::{ChatMessage, Dialect, StructuredRequest, Usage};

/// Which field carries the token limit. `max_tokens` is what every OpenAI-compatible server
/// reads; OpenAI's newer models refuse it and want `max_completion_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenField {
    MaxTokens,
    MaxCompletionTokens,
}

impl TokenField {
    fn key(self) -> &'static str {
        match self {
            TokenField::MaxTokens => "max_tokens",
            TokenField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// How one attempt asks: the request parameters a provider may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    /// `None` for text requests.
    pub dialect: Option<Dialect>,
    pub tokens: TokenField,
    /// Whether a structured answer may be streamed.
    pub stream: bool,
}

impl Shape {
    /// The shape to try next when `error` is the provider refusing this one rather than
    /// failing; `None` when it is a plain failure or nothing is left to try.
    pub(super) fn after_refusal(self, error: &AttemptError) -> Option<Shape> {
        let AttemptError::Status { status, hints, .. } = error else {
            return None;
        };
        if *status == 400 && hints.max_tokens && self.tokens == TokenField::MaxTokens {
            return Some(Shape {
                tokens: TokenField::MaxCompletionTokens,
                ..self
            });
        }
        if self.stream && hints.stream && matches!(status, 400 | 422 | 501) {
            return Some(Shape {
                stream: false,
                ..self
            });
        }
        let refused = match self.dialect? {
            // llama-cpp-python answers 500 to a json_schema response format it cannot read.
            Dialect::JsonSchema => {
                matches!(status, 400 | 422 | 501) || (*status == 500 && hints.response_format)
            }
            Dialect::ToolCall => {
                matches!(status, 400 | 422 | 501) || (*status == 500 && hints.tools)
            }
            Dialect::JsonObject => false,
        };
        let next = self.dialect?.next().filter(|_| refused)?;
        Some(Shape {
            dialect: Some(next),
            ..self
        })
    }
}

fn messages(messages: &[ChatMessage]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect()
}

fn base(
    model: &str,
    messages: Vec<Value>,
    max_tokens: u32,
    tokens: TokenField,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert(tokens.key().into(), json!(max_tokens));
    body
}

pub(super) fn text_body(
    model: &str,
    chat: &[ChatMessage],
    max_tokens: u32,
    tokens: TokenField,
    stream: bool,
) -> Value {
    let mut body = Value::Object(base(model, messages(chat), max_tokens, tokens));
    if stream {
        ask_to_stream(&mut body);
    }
    body
}

/// Asks for the answer as server-sent events.
pub(super) fn ask_to_stream(body: &mut Value) {
    body["stream"] = json!(true);
    // Without this OpenAI leaves usage out of streams.
    body["stream_options"] = json!({"include_usage": true});
}

/// Letters, digits, `_` and `-`, at most 64: what OpenAI accepts for schema and tool names.
fn schema_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "answer".to_owned()
    } else {
        cleaned
    }
}

pub(super) fn structured_body(
    model: &str,
    request: &StructuredRequest,
    max_tokens: u32,
    tokens: TokenField,
    dialect: Dialect,
) -> Value {
    let name = schema_name(&request.schema_name);
    let schema = &request.schema;
    let mut chat = messages(&request.messages);
    let extra = match dialect {
        Dialect::JsonSchema => json!({
            "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
        }),
        Dialect::ToolCall => json!({
            "tools": [{"type": "function", "function": {
                "name": name, "description": "Give the answer.", "parameters": schema
            }}],
            "tool_choice": {"type": "function", "function": {"name": name}}
        }),
        Dialect::JsonObject => {
            spell_out_schema(&mut chat, schema);
            json!({"response_format": {"type": "json_object", "schema": schema}})
        }
    };
    let mut body = base(model, chat, max_tokens, tokens);
    if let Value::Object(extra) = extra {
        body.extend(extra);
    }
    Value::Object(body)
}

/// JSON mode constrains the syntax at best; the schema goes into the system message.
fn spell_out_schema(chat: &mut Vec<Value>, schema: &Value) {
    let note = format!(
        "Answer with one JSON object and nothing else. It must match this JSON schema:\n{schema}"
    );
    match chat.first_mut() {
        Some(first) if first["role"] == "system" => {
            let content = first["content"].as_str().unwrap_or_default();
            first["content"] = json!(format!("{content}\n\n{note}"));
        }
        _ => chat.insert(0, json!({"role": "system", "content": note})),
    }
}

/// A provider's answer, read out of its JSON.
#[derive(Debug)]
pub(super) struct Answer {
    pub content: String,
    pub model: Option<String>,
    pub usage: Usage,
}

fn usage(value: &Value) -> Option<Usage> {
    let usage = value.get("usage").filter(|u| u.is_object())?;
    let tokens = |key: &str| {
        usage[key]
            .as_u64()
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    Some(Usage {
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
    })
}

fn model(value: &Value) -> Option<String> {
    value["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
}

fn answer(response: &Value, content: String) -> Answer {
    Answer {
        content,
        model: model(response),
        usage: usage(response).unwrap_or_default(),
    }
}

/// A text answer: the first choice's content, which must not be empty.
pub(super) fn read_text(response: &Value) -> Result<Answer, AttemptError> {
    let content = response["choices"][0]["message"]["content"]
        .as_str()
        .filter(|c| !c.trim().is_empty())
        .ok_or(AttemptError::Malformed)?;
    Ok(answer(response, content.to_owned()))
}

/// Any well-formed completion, empty or not: what `probe` accepts.
pub(super) fn read_probe(response: &Value) -> Result<Answer, AttemptError> {
    if !response["choices"].is_array() {
        return Err(AttemptError::Malformed);
    }
    let content = response["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    Ok(answer(response, content.to_owned()))
}

/// A structured answer: the JSON object from the tool call's arguments or the content.
pub(super) fn read_structured(response: &Value, dialect: Dialect) -> Result<Answer, AttemptError> {
    let message = &response["choices"][0]["message"];
    let arguments = match &message["tool_calls"][0]["function"]["arguments"] {
        Value::String(text) => Some(text.clone()),
        // Some servers send the arguments as an object rather than its text.
        object @ Value::Object(_) => Some(object.to_string()),
        _ => None,
    };
    let text = match (dialect, arguments) {
        (Dialect::ToolCall, Some(arguments)) => arguments,
        // A server that ignored the forced tool may still have answered in the content.
        _ => message["content"]
            .as_str()
            .ok_or(AttemptError::Malformed)?
            .to_owned(),
    };
    let object = json_object(&text).ok_or(AttemptError::Malformed)?;
    Ok(answer(response, object.to_owned()))
}

/// The JSON object in `text`, tolerating a code fence or prose around it.
pub(super) fn json_object(text: &str) -> Option<&str> {
    let is_object = |s: &str| serde_json::from_str::<Map<String, Value>>(s).is_ok();
    let trimmed = text.trim();
    if is_object(trimmed) {
        return Some(trimmed);
    }
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    let inner = text.get(start..=end)?;
    is_object(inner).then_some(inner)
}

/// What one streamed chunk carries.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Chunk<'a> {
    pub delta: Option<&'a str>,
    pub finished: bool,
    pub usage: Option<Usage>,
    pub model: Option<String>,
    /// The server reported an error inside the stream.
    pub error: bool,
}

pub(super) fn read_chunk(chunk: &Value) -> Chunk<'_> {
    let choice = &chunk["choices"][0];
    Chunk {
        delta: choice["delta"]["content"]
            .as_str()
            .filter(|d| !d.is_empty()),
        finished: choice["finish_reason"].is_string(),
        usage: usage(chunk),
        model: model(chunk),
        error: chunk.get("error").is_some_and(|e| !e.is_null()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::transport::BodyHints;

    fn request() -> StructuredRequest {
        StructuredRequest {
            messages: vec![
                ChatMessage::system("Decide."),
                ChatMessage::user("Question"),
            ],
            schema_name: "support decision!".into(),
            schema: json!({"type": "object", "properties": {"answer": {"type": "string"}}}),
            max_tokens: None,
        }
    }

    #[test]
    fn each_dialect_asks_in_its_own_shape() {
        let r = request();
        let schema = r.schema.clone();
        let body = structured_body("m", &r, 50, TokenField::MaxTokens, Dialect::JsonSchema);
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(
            body["response_format"]["json_schema"]["name"],
            "support_decision_"
        );
        assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(body["max_tokens"], 50);
        assert!(body.get("tools").is_none());

        let body = structured_body(
            "m",
            &r,
            50,
            TokenField::MaxCompletionTokens,
            Dialect::ToolCall,
        );
        assert_eq!(body["tools"][0]["function"]["parameters"], schema);
        assert_eq!(body["tool_choice"]["function"]["name"], "support_decision_");
        assert_eq!(body["max_completion_tokens"], 50);
        assert!(body.get("max_tokens").is_none() && body.get("response_format").is_none());

        let body = structured_body("m", &r, 50, TokenField::MaxTokens, Dialect::JsonObject);
        assert_eq!(
            body["response_format"],
            json!({"type": "json_object", "schema": schema})
        );
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(system.starts_with("Decide.\n\n") && system.contains(&schema.to_string()));
        assert_eq!(body["messages"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn json_mode_adds_a_system_message_when_there_is_none() {
        let mut r = request();
        r.messages.remove(0);
        let body = structured_body("m", &r, 50, TokenField::MaxTokens, Dialect::JsonObject);
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][1]["content"], "Question");
    }

    #[test]
    fn refusals_move_to_the_next_shape_and_failures_do_not() {
        let status = |status, hints| AttemptError::Status {
            status,
            retry_after: None,
            hints,
        };
        let plain = BodyHints::default();
        let mentions_format = BodyHints {
            response_format: true,
            ..plain
        };
        let schema = Shape {
            dialect: Some(Dialect::JsonSchema),
            tokens: TokenField::MaxTokens,
            stream: false,
        };
        let next = |shape: Shape, e| shape.after_refusal(&e).and_then(|s| s.dialect);
        assert_eq!(next(schema, status(400, plain)), Some(Dialect::ToolCall));
        assert_eq!(next(schema, status(422, plain)), Some(Dialect::ToolCall));
        assert_eq!(
            next(schema, status(500, mentions_format)),
            Some(Dialect::ToolCall)
        );
        assert_eq!(next(schema, status(500, plain)), None);
        assert_eq!(next(schema, status(429, mentions_format)), None);
        assert_eq!(next(schema, AttemptError::Timeout), None);
        let json_mode = Shape {
            dialect: Some(Dialect::JsonObject),
            ..schema
        };
        assert_eq!(json_mode.after_refusal(&status(400, plain)), None);

        let wants_new_field = BodyHints {
            max_tokens: true,
            ..plain
        };
        let text = Shape {
            dialect: None,
            tokens: TokenField::MaxTokens,
            stream: false,
        };
        let switched = text.after_refusal(&status(400, wants_new_field)).unwrap();
        assert_eq!(switched.tokens, TokenField::MaxCompletionTokens);
        assert_eq!(switched.after_refusal(&status(400, wants_new_field)), None);
        assert_eq!(text.after_refusal(&status(400, plain)), None);
    }

    #[test]
    fn a_refused_stream_is_asked_again_whole_in_the_same_dialect() {
        let refused = AttemptError::Status {
            status: 400,
            retry_after: None,
            hints: BodyHints {
                stream: true,
                ..BodyHints::default()
            },
        };
        let streamed = Shape {
            dialect: Some(Dialect::JsonSchema),
            tokens: TokenField::MaxTokens,
            stream: true,
        };
        let whole = streamed.after_refusal(&refused).unwrap();
        assert_eq!((whole.stream, whole.dialect), (false, streamed.dialect));
        assert_eq!(
            whole.after_refusal(&refused).and_then(|s| s.dialect),
            Some(Dialect::ToolCall),
            "a whole request refused again moves on to the next dialect"
        );
    }

    #[test]
    fn the_object_is_found_in_fences_and_prose_and_nothing_else_passes() {
        assert_eq!(json_object(" {\"a\": 1} "), Some("{\"a\": 1}"));
        assert_eq!(
            json_object("```json\n{\"a\": {\"b\": 2}}\n```"),
            Some("{\"a\": {\"b\": 2}}")
        );
        assert_eq!(
            json_object("Sure! {\"a\": 1} Hope that helps."),
            Some("{\"a\": 1}")
        );
        assert_eq!(json_object("[1, 2]"), None);
        assert_eq!(json_object("\"text\""), None);
        assert_eq!(json_object("{\"a\": 1} and {\"b\": 2}"), None);
        assert_eq!(json_object("no json"), None);
    }

    #[test]
    fn structured_answers_come_from_the_tool_call_or_the_content() {
        let tool = json!({"model": "served", "choices": [{"message": {"content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "x", "arguments": "{\"a\":1}"}}
        ]}}], "usage": {"prompt_tokens": 7, "completion_tokens": 3}});
        let answer = read_structured(&tool, Dialect::ToolCall).unwrap();
        assert_eq!(answer.content, "{\"a\":1}");
        assert_eq!(answer.model.as_deref(), Some("served"));
        assert_eq!(
            answer.usage,
            Usage {
                prompt_tokens: 7,
                completion_tokens: 3
            }
        );

        let object_arguments = json!({"choices": [{"message": {"tool_calls": [
            {"function": {"name": "x", "arguments": {"a": 1}}}
        ]}}]});
        assert_eq!(
            read_structured(&object_arguments, Dialect::ToolCall)
                .unwrap()
                .content,
            "{\"a\":1}"
        );

        let ignored_tool =
            json!({"choices": [{"message": {"content": "```json\n{\"a\":2}\n```"}}]});
        let answer = read_structured(&ignored_tool, Dialect::ToolCall).unwrap();
        assert_eq!(answer.content, "{\"a\":2}");
        assert_eq!(answer.usage, Usage::default());

        let list = json!({"choices": [{"message": {"content": "[1]"}}]});
        assert!(matches!(
            read_structured(&list, Dialect::JsonSchema),
            Err(AttemptError::Malformed)
        ));
    }

    #[test]
    fn text_answers_must_say_something_but_probes_need_not() {
        let empty = json!({"choices": [{"message": {"content": ""}}]});
        assert!(matches!(read_text(&empty), Err(AttemptError::Malformed)));
        assert_eq!(read_probe(&empty).unwrap().content, "");
        assert!(matches!(
            read_probe(&json!({"id": "x"})),
            Err(AttemptError::Malformed)
        ));
    }

    #[test]
    fn chunks_give_deltas_the_end_and_usage() {
        let delta = json!({"choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]});
        assert_eq!(read_chunk(&delta).delta, Some("Hi"));
        assert!(!read_chunk(&delta).finished);
        let end = json!({"choices": [{"delta": {}, "finish_reason": "stop"}]});
        assert!(read_chunk(&end).finished);
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}});
        assert_eq!(
            read_chunk(&usage).usage,
            Some(Usage {
                prompt_tokens: 4,
                completion_tokens: 2
            })
        );
        assert!(read_chunk(&json!({"error": {"message": "x"}})).error);
    }
}
