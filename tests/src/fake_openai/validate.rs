//! What a real OpenAI-compatible server refuses with 400: a request the fake accepts, OpenAI
//! would accept too (llama-cpp-python's `schema` inside `json_object` aside, which OpenAI
//! ignores).

use serde_json::Value;

/// Why a request is refused, in OpenAI's error terms.
#[derive(Debug)]
pub(super) struct Invalid {
    pub message: String,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

fn invalid(message: impl Into<String>, param: Option<&str>) -> Invalid {
    Invalid {
        message: message.into(),
        param: param.map(str::to_owned),
        code: None,
    }
}

fn invalid_value(message: impl Into<String>, param: &str) -> Invalid {
    Invalid {
        code: Some("invalid_value"),
        ..invalid(message, Some(param))
    }
}

const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

/// Names of schemas and functions: `^[a-zA-Z0-9_-]{1,64}$`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn model(request: &Value) -> Result<&str, Invalid> {
    request["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("you must provide a model parameter", None))
}

pub(super) fn chat(request: &Value) -> Result<(), Invalid> {
    if !request.is_object() {
        return Err(invalid("the request body must be a JSON object", None));
    }
    model(request)?;
    let messages = request["messages"]
        .as_array()
        .ok_or_else(|| invalid("'messages' is a required property", Some("messages")))?;
    if messages.is_empty() {
        return Err(invalid("[] is too short - 'messages'", Some("messages")));
    }
    for (i, message) in messages.iter().enumerate() {
        check_message(i, message)?;
    }
    for key in ["stream", "logprobs"] {
        if request.get(key).is_some_and(|v| !v.is_boolean()) {
            return Err(invalid(format!("'{key}' must be a boolean"), Some(key)));
        }
    }
    if request.get("stream_options").is_some_and(|v| !v.is_null()) && request["stream"] != true {
        return Err(invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
        ));
    }
    for key in ["max_tokens", "max_completion_tokens", "n"] {
        if let Some(v) = request.get(key).filter(|v| !v.is_null())
            && v.as_u64().is_none_or(|n| n == 0)
        {
            return Err(invalid_value(
                format!("'{key}' must be a positive integer"),
                key,
            ));
        }
    }
    if let Some(t) = request.get("temperature").filter(|v| !v.is_null())
        && t.as_f64().is_none_or(|t| !(0.0..=2.0).contains(&t))
    {
        return Err(invalid_value(
            "'temperature' must be between 0 and 2",
            "temperature",
        ));
    }
    if let Some(format) = request.get("response_format").filter(|v| !v.is_null()) {
        check_response_format(format, messages)?;
    }
    check_tools(request)
}

fn check_message(i: usize, message: &Value) -> Result<(), Invalid> {
    let role_param = format!("messages.[{i}].role");
    let role = message["role"].as_str().ok_or_else(|| {
        invalid(
            format!("'role' is a required property - 'messages.{i}'"),
            Some(&role_param),
        )
    })?;
    if !ROLES.contains(&role) {
        return Err(invalid_value(
            format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'."
            ),
            &role_param,
        ));
    }
    let content_param = format!("messages.[{i}].content");
    let content = &message["content"];
    let has_tool_calls = message["tool_calls"]
        .as_array()
        .is_some_and(|c| !c.is_empty());
    match content {
        Value::String(_) => {}
        Value::Array(parts) if !parts.is_empty() && parts.iter().all(|p| p["type"].is_string()) => {
        }
        Value::Null if role == "assistant" && has_tool_calls => {}
        _ => {
            return Err(invalid(
                format!(
                    "Invalid type for '{content_param}': expected a string or an array of content parts"
                ),
                Some(&content_param),
            ));
        }
    }
    if role == "tool" && !message["tool_call_id"].is_string() {
        return Err(invalid(
            format!("Missing required parameter: 'messages.[{i}].tool_call_id'."),
            Some(&format!("messages.[{i}].tool_call_id")),
        ));
    }
    Ok(())
}

fn check_response_format(format: &Value, messages: &[Value]) -> Result<(), Invalid> {
    match format["type"].as_str() {
        Some("text") => Ok(()),
        Some("json_object") => {
            // OpenAI insists the prompt asks for JSON, so a model is never forced into it blind.
            let mentions_json = messages.iter().any(|m| {
                m["content"]
                    .to_string()
                    .to_ascii_lowercase()
                    .contains("json")
            });
            if !mentions_json {
                return Err(invalid(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                    Some("messages"),
                ));
            }
            if format.get("schema").is_some_and(|s| !s.is_object()) {
                return Err(invalid(
                    "'response_format.schema' must be an object",
                    Some("response_format.schema"),
                ));
            }
            Ok(())
        }
        Some("json_schema") => {
            let spec = &format["json_schema"];
            let name = spec["name"].as_str().ok_or_else(|| {
                invalid(
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    Some("response_format.json_schema.name"),
                )
            })?;
            if !valid_name(name) {
                return Err(invalid_value(
                    format!(
                        "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$', got '{name}'."
                    ),
                    "response_format.json_schema.name",
                ));
            }
            if spec.get("schema").is_some_and(|s| !s.is_object()) {
                return Err(invalid(
                    "Invalid type for 'response_format.json_schema.schema': expected an object",
                    Some("response_format.json_schema.schema"),
                ));
            }
            Ok(())
        }
        _ => Err(invalid_value(
            "Invalid value for 'response_format.type': expected one of 'text', 'json_object' or 'json_schema'.",
            "response_format.type",
        )),
    }
}

fn check_tools(request: &Value) -> Result<(), Invalid> {
    let mut names = Vec::new();
    if let Some(tools) = request.get("tools").filter(|v| !v.is_null()) {
        let tools = tools
            .as_array()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("'tools' must be a non-empty array", Some("tools")))?;
        for (i, tool) in tools.iter().enumerate() {
            let function = &tool["function"];
            let name = function["name"].as_str().filter(|n| valid_name(n));
            let (true, Some(name)) = (tool["type"] == "function", name) else {
                return Err(invalid(
                    format!(
                        "Invalid 'tools[{i}]': expected a function with a name matching '^[a-zA-Z0-9_-]{{1,64}}$'."
                    ),
                    Some(&format!("tools[{i}]")),
                ));
            };
            if function.get("parameters").is_some_and(|p| !p.is_object()) {
                return Err(invalid(
                    format!(
                        "Invalid type for 'tools[{i}].function.parameters': expected an object"
                    ),
                    Some(&format!("tools[{i}].function.parameters")),
                ));
            }
            names.push(name);
        }
    }
    let Some(choice) = request.get("tool_choice").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    if names.is_empty() {
        return Err(invalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            Some("tool_choice"),
        ));
    }
    match choice {
        Value::String(s) if ["none", "auto", "required"].contains(&s.as_str()) => Ok(()),
        Value::Object(_) if choice["type"] == "function" => {
            let name = choice["function"]["name"].as_str().unwrap_or_default();
            if names.contains(&name) {
                Ok(())
            } else {
                Err(invalid_value(
                    format!(
                        "Invalid value for 'tool_choice': no function named '{name}' was specified in 'tools'."
                    ),
                    "tool_choice",
                ))
            }
        }
        _ => Err(invalid_value(
            "Invalid value for 'tool_choice'.",
            "tool_choice",
        )),
    }
}

/// The texts to embed: a string, strings, or token arrays (embedded by their numbers).
pub(super) fn embeddings(request: &Value) -> Result<Vec<String>, Invalid> {
    if !request.is_object() {
        return Err(invalid("the request body must be a JSON object", None));
    }
    model(request)?;
    match request["encoding_format"].as_str() {
        None | Some("float") => {}
        // Real servers also speak base64; nothing here asks for it.
        Some(other) => {
            return Err(invalid_value(
                format!("'{other}' is not a supported encoding_format in this fake; use 'float'."),
                "encoding_format",
            ));
        }
    }
    if let Some(d) = request.get("dimensions").filter(|v| !v.is_null())
        && d.as_u64().is_none_or(|d| d == 0)
    {
        return Err(invalid_value(
            "'dimensions' must be a positive integer",
            "dimensions",
        ));
    }
    let bad_input = || {
        invalid(
            "'$.input' is invalid. Please check the API reference.",
            Some("input"),
        )
    };
    let tokens = |v: &Value| -> Option<String> {
        let tokens = v.as_array().filter(|t| !t.is_empty())?;
        tokens
            .iter()
            .map(|t| t.as_u64().map(|n| n.to_string()))
            .collect::<Option<Vec<_>>>()
            .map(|words| words.join(" "))
    };
    let texts = match &request["input"] {
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        Value::Array(items) if !items.is_empty() && items.len() <= 2048 => {
            if items.iter().all(Value::is_u64) {
                vec![tokens(&request["input"]).ok_or_else(bad_input)?]
            } else {
                items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) if !s.is_empty() => Some(s.clone()),
                        Value::Array(_) => tokens(item),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad_input)?
            }
        }
        _ => return Err(bad_input()),
    };
    Ok(texts)
}
