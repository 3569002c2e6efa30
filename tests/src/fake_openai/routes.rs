//! The fake's HTTP side: one handler per endpoint, each recording the request, then answering
//! as a real server would (key, model, validation), as the imitated server would (quirks), and
//! as the script says.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::reply::{self, Envelope, Said};
use super::validate::{self, Invalid};
use super::{Behaviour, Inner, RecordedRequest, Shared, UsageMode, embed, prompt_text};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .fallback(unknown)
        .with_state(shared)
}

fn record(
    shared: &Shared,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Value> {
    let json = serde_json::from_slice::<Value>(body).ok();
    shared.lock().requests.push(RecordedRequest {
        method,
        path: path.to_owned(),
        headers: headers.clone(),
        body: json.clone().unwrap_or(Value::Null),
        at: Instant::now(),
    });
    json
}

fn refuse(invalid: Invalid) -> Response {
    reply::error(
        StatusCode::BAD_REQUEST,
        &invalid.message,
        "invalid_request_error",
        invalid.param.as_deref(),
        invalid.code,
    )
}

fn unparseable() -> Response {
    reply::error(
        StatusCode::BAD_REQUEST,
        "We could not parse the JSON body of your request.",
        "invalid_request_error",
        None,
        None,
    )
}

/// The checks every endpoint shares: the key, then the model.
fn gatekeep(inner: &Inner, headers: &HeaderMap, request: Option<&Value>) -> Option<Response> {
    if let Some(key) = &inner.api_key {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if sent != Some(format!("Bearer {key}").as_str()) {
            let message = if sent.is_none() {
                "You didn't provide an API key."
            } else {
                "Incorrect API key provided."
            };
            return Some(reply::error(
                StatusCode::UNAUTHORIZED,
                message,
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ));
        }
    }
    let model = request?["model"].as_str()?;
    let served = inner.models.as_ref()?;
    if !served.iter().any(|m| m == model) {
        return Some(reply::error(
            StatusCode::NOT_FOUND,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            None,
            Some("model_not_found"),
        ));
    }
    None
}

/// The refusals of the servers the fake can imitate.
fn quirk(inner: &Inner, request: &Value) -> Option<Response> {
    if inner.reject_json_schema && request["response_format"]["type"] == "json_schema" {
        return Some(reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input \
             should be 'text' or 'json_object' [type=literal_error, input_value='json_schema', \
             input_type=str]",
            "internal_server_error",
            None,
            None,
        ));
    }
    if inner.without_tools && request.get("tools").is_some_and(|t| !t.is_null()) {
        let model = request["model"].as_str().unwrap_or_default();
        return Some(reply::error(
            StatusCode::BAD_REQUEST,
            &format!("{model} does not support tools"),
            "api_error",
            None,
            None,
        ));
    }
    let structured = request.get("response_format").is_some_and(|f| !f.is_null())
        || request.get("tools").is_some_and(|t| !t.is_null());
    if inner.without_streaming && request["stream"] == true && structured {
        return Some(reply::error(
            StatusCode::BAD_REQUEST,
            "Streaming is not supported with structured output for this model.",
            "invalid_request_error",
            Some("stream"),
            None,
        ));
    }
    if inner.max_completion_tokens_only && request.get("max_tokens").is_some_and(|t| !t.is_null()) {
        return Some(reply::error(
            StatusCode::BAD_REQUEST,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use \
             'max_completion_tokens' instead.",
            "invalid_request_error",
            Some("max_tokens"),
            Some("unsupported_parameter"),
        ));
    }
    None
}

/// The function a request forces, and whether it named it (rather than `"required"`).
fn forced_tool(request: &Value) -> Option<(String, bool)> {
    let choice = &request["tool_choice"];
    if let Some(name) = choice["function"]["name"].as_str() {
        return Some((name.to_owned(), true));
    }
    let first = request["tools"][0]["function"]["name"].as_str()?;
    (choice == "required").then(|| (first.to_owned(), false))
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = record(
        &shared,
        Method::POST,
        "/v1/chat/completions",
        &headers,
        &body,
    );
    let admitted = admit(&mut shared.lock(), &headers, parsed);
    match admitted {
        Ok((request, behaviour)) => answer(&shared, &request, behaviour).await,
        Err(refused) => *refused,
    }
}

/// A real server's checks, then the imitated server's refusals, then the script's next turn.
fn admit(
    inner: &mut Inner,
    headers: &HeaderMap,
    parsed: Option<Value>,
) -> Result<(Value, Behaviour), Box<Response>> {
    if let Some(refused) = gatekeep(inner, headers, parsed.as_ref()) {
        return Err(Box::new(refused));
    }
    let request = parsed.ok_or_else(|| Box::new(unparseable()))?;
    validate::chat(&request).map_err(|invalid| Box::new(refuse(invalid)))?;
    if let Some(refused) = quirk(inner, &request) {
        return Err(Box::new(refused));
    }
    let behaviour = match inner.outage {
        Some(status) => Behaviour::status(status),
        None => inner.script.pop_front().unwrap_or(Behaviour::Respond),
    };
    Ok((request, behaviour))
}

async fn answer(shared: &Shared, request: &Value, mut behaviour: Behaviour) -> Response {
    let forced = forced_tool(request);
    let tool_name = forced
        .as_ref()
        .map(|(name, _)| name.clone())
        .or_else(|| {
            request["tools"][0]["function"]["name"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "answer".to_owned());
    let shaped = |text: String| match &forced {
        Some((name, _)) => Said::ToolCall {
            name: name.clone(),
            arguments: text,
        },
        None => Said::Content(text),
    };
    let (said, deltas, cut) = loop {
        match behaviour {
            Behaviour::Respond => {
                let responder = Arc::clone(&shared.lock().responder);
                let text = responder(request);
                let deltas = reply::split_deltas(&text);
                break (shaped(text), deltas, false);
            }
            Behaviour::Reply(text) => {
                let deltas = reply::split_deltas(&text);
                break (shaped(text), deltas, false);
            }
            Behaviour::ToolCall(arguments) => {
                let said = Said::ToolCall {
                    name: tool_name,
                    arguments,
                };
                break (said, Vec::new(), false);
            }
            Behaviour::Stream(deltas) => break (Said::Content(deltas.concat()), deltas, false),
            Behaviour::TruncatedStream(deltas) => {
                break (Said::Content(deltas.concat()), deltas, true);
            }
            Behaviour::Status {
                status,
                retry_after,
                message,
            } => return status_response(status, retry_after.as_deref(), &message),
            Behaviour::Delay(by, then) => {
                tokio::time::sleep(by).await;
                behaviour = *then;
            }
            Behaviour::MalformedBody => {
                return (
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"id\": \"chatcmpl-x\", \"choices\": [",
                )
                    .into_response();
            }
            Behaviour::Garbage(body) => {
                return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
            }
        }
    };
    let (envelope, usage) = {
        let mut inner = shared.lock();
        inner.served += 1;
        let created = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        let envelope = Envelope {
            id: format!("chatcmpl-fake-{}", inner.served),
            model: request["model"].as_str().unwrap_or_default().to_owned(),
            created,
        };
        let usage = match inner.usage {
            UsageMode::Fixed(p, c) => Some((p, c)),
            UsageMode::Omitted => None,
            UsageMode::Estimate => {
                let said_len = match &said {
                    Said::Content(text) => text.len(),
                    Said::ToolCall { arguments, .. } => arguments.len(),
                };
                let tokens = |chars: usize| u32::try_from(chars / 4 + 1).unwrap_or(u32::MAX);
                Some((tokens(prompt_text(request).len()), tokens(said_len)))
            }
        };
        (envelope, usage)
    };
    let named = forced.as_ref().is_some_and(|(_, named)| *named);
    if request["stream"] == true {
        let include_usage = request["stream_options"]["include_usage"] == true;
        let events = reply::chunks(&envelope, &said, &deltas, named, usage, include_usage);
        // Cut off: the role and the deltas arrive, the finish reason and usage never do.
        let sent = if cut { 1 + deltas.len() } else { events.len() };
        let pace = shared.lock().pace;
        return reply::event_stream(&events[..sent.min(events.len())], cut, pace);
    }
    let body = reply::completion(&envelope, &said, named, usage);
    if cut {
        return reply::cut_json(&body.to_string());
    }
    axum::Json(body).into_response()
}

fn status_response(status: u16, retry_after: Option<&str>, message: &str) -> Response {
    let code = StatusCode::from_u16(status).expect("a scripted status is a valid HTTP status");
    let (kind, error_code) = match status {
        429 => ("requests", Some("rate_limit_exceeded")),
        500.. => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    let mut response = reply::error(code, message, kind, None, error_code);
    if let Some(value) = retry_after {
        let value =
            HeaderValue::from_str(value).expect("a scripted Retry-After is a valid header value");
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = record(&shared, Method::POST, "/v1/embeddings", &headers, &body);
    let inner = shared.lock();
    if let Some(refused) = gatekeep(&inner, &headers, parsed.as_ref()) {
        return refused;
    }
    let Some(request) = parsed else {
        return unparseable();
    };
    let texts = match validate::embeddings(&request) {
        Ok(texts) => texts,
        Err(invalid) => return refuse(invalid),
    };
    let dimensions = request["dimensions"]
        .as_u64()
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(inner.dimensions);
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let vectors = texts.iter().map(|t| embed(t, dimensions)).collect();
    let model = request["model"].as_str().unwrap_or_default();
    let prompt_tokens = u32::try_from(words).unwrap_or(u32::MAX);
    axum::Json(reply::embeddings(model, vectors, prompt_tokens)).into_response()
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    record(&shared, Method::GET, "/v1/models", &headers, b"");
    let inner = shared.lock();
    if let Some(refused) = gatekeep(&inner, &headers, None) {
        return refused;
    }
    let listed = inner
        .models
        .clone()
        .unwrap_or_else(|| vec!["fake-model".to_owned()]);
    axum::Json(reply::models(&listed)).into_response()
}

async fn unknown(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, method.clone(), uri.path(), &headers, &body);
    reply::error(
        StatusCode::NOT_FOUND,
        &format!("Invalid URL ({method} {})", uri.path()),
        "invalid_request_error",
        None,
        None,
    )
}
