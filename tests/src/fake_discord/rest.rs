//! REST: each request is recorded, matched against Discord's OpenAPI description, rate-limited,
//! checked against the limits the spec cannot express, then answered as Discord would given the
//! fake's world (permissions, channels, messages); the answer is checked against the spec too.
//! Anything wrong is recorded as a violation that fails the test; a refusal Discord would give a
//! correct request (Missing Permissions, say) is an answer, not a violation.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::form::{self, SentFile};
use super::limits;
use super::payloads::{
    BOT_ID, OWNER_ID, TIMESTAMP, TOKEN, bot_user, check, check_dispatch, posted_message, thread,
    user,
};
use super::ratelimit::{Headers, Verdict};
use super::spec::{Operation, Problem, SPEC, invalid_form_body};
use super::state::{Kind, Refusal, World, perm};
use super::{Answered, RestCall, Shared};

/// Discord forgets an interaction that was not acknowledged within 3 s.
pub const ACK_WINDOW: Duration = Duration::from_secs(3);
/// An interaction's token works for follow-ups for 15 minutes.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What the fake answers.
struct Reply {
    status: StatusCode,
    body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    fn empty() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }

    fn error(status: StatusCode, message: &str, code: u64) -> Reply {
        Reply {
            status,
            body: Some(json!({"message": message, "code": code})),
        }
    }

    /// Discord's answer when the world does not allow the request.
    fn refused(r: Refusal) -> Reply {
        let status = StatusCode::from_u16(r.status()).expect("a refusal's status is valid");
        Reply::error(status, r.message(), r.code())
    }

    fn into_response(self, headers: Headers) -> Response {
        let mut response = match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => self.status.into_response(),
        };
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

pub(super) async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if super::cdn::is_cdn(&headers) {
        return super::cdn::serve(&shared, &method, &uri, &headers);
    }
    let path = uri.path().to_string();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let multipart = form::is_multipart(&content_type);
    let (parsed, files): (Result<Option<Value>, String>, Vec<SentFile>) = if multipart {
        match form::parse(&content_type, body).await {
            Ok((json, files)) => (Ok(json), files),
            Err(e) => (Err(format!("not a valid multipart form: {e}")), Vec::new()),
        }
    } else if body.is_empty() {
        (Ok(None), Vec::new())
    } else {
        let json = serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| format!("not JSON: {e}"));
        (json, Vec::new())
    };
    let (failure, delay) = {
        let mut inner = shared.lock();
        let call = RestCall {
            method: method.clone(),
            path: path.clone(),
            body: parsed.clone().ok().flatten().unwrap_or(Value::Null),
            files: files.clone(),
            at: std::time::Instant::now(),
        };
        inner.calls.push(call);
        let failure = inner
            .failures
            .iter()
            .position(|f| f.method == method && path.contains(&f.path_part))
            .map(|i| inner.failures.remove(i));
        let delay = inner
            .delays
            .iter()
            .find(|(suffix, _)| path.ends_with(suffix.as_str()))
            .map(|(_, d)| *d);
        (failure, delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let violation = |what: String| shared.violation(&method, &path, what);

    let Some(op) = SPEC.find(method.as_str(), &path) else {
        violation("no such route in Discord's API".into());
        return Reply::error(StatusCode::NOT_FOUND, "404: Not Found", 0).into_response(Vec::new());
    };
    let body = match parsed {
        Ok(body) => body,
        Err(e) => {
            violation(format!("the body is {e}"));
            let problem = Problem::new(&[], "BASE_TYPE_INVALID", "Invalid JSON body");
            return finish(
                &shared,
                &method,
                &path,
                &op,
                invalid(&[problem]),
                Vec::new(),
            );
        }
    };
    let media = if multipart {
        "multipart/form-data"
    } else {
        "application/json"
    };
    let mut problems = SPEC.check_request_as(&op, uri.query(), body.as_ref(), media);
    problems.extend(form::check(&files, body.as_ref()));
    if !problems.is_empty() {
        violation(format!(
            "{} breaks Discord's API description: {}",
            op.id,
            describe(&problems)
        ));
        return finish(&shared, &method, &path, &op, invalid(&problems), Vec::new());
    }
    if let Some(f) = failure {
        let reply = Reply {
            status: f.status,
            body: Some(f.body),
        };
        return finish(&shared, &method, &path, &op, reply, Vec::new());
    }
    // Only the gateway's address is public; everything else needs the bot's token.
    let authorised = op.id == "get_gateway"
        || headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bot {TOKEN}"));
    if !authorised {
        let reply = Reply::error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0);
        return finish(&shared, &method, &path, &op, reply, Vec::new());
    }
    let verdict = shared
        .lock()
        .limiter
        .check(method.as_str(), &op, tokio::time::Instant::now());
    let headers = match verdict {
        Verdict::Pass(headers) => headers,
        Verdict::Limited {
            headers,
            retry_after,
            global,
        } => {
            let reply = Reply {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: Some(json!({
                    "message": "You are being rate limited.", "code": 0,
                    "retry_after": retry_after, "global": global
                })),
            };
            return finish(&shared, &method, &path, &op, reply, headers);
        }
    };
    let body = body.unwrap_or(Value::Null);
    let problems = limits::check(&op.id, &body, Utc::now());
    if !problems.is_empty() {
        violation(format!(
            "{} breaks Discord's limits: {}",
            op.id,
            describe(&problems)
        ));
        return finish(&shared, &method, &path, &op, invalid(&problems), headers);
    }
    let reply = answer(&shared, &op, &body, &files, &violation);
    finish(&shared, &method, &path, &op, reply, headers)
}

fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

fn invalid(problems: &[Problem]) -> Reply {
    Reply {
        status: StatusCode::BAD_REQUEST,
        body: Some(invalid_form_body(problems)),
    }
}

/// Checks the fake's own answer against the spec before it leaves, and counts it toward
/// Discord's invalid-request ban.
fn finish(
    shared: &Shared,
    method: &Method,
    path: &str,
    op: &Operation,
    reply: Reply,
    headers: Headers,
) -> Response {
    if let Err(e) = SPEC.check_response(op, reply.status.as_u16(), reply.body.as_ref()) {
        shared.violation(
            method,
            path,
            format!("the fake's own answer to {} breaks the spec: {e}", op.id),
        );
    }
    let banned = {
        let mut inner = shared.lock();
        let answered = Answered {
            method: method.clone(),
            path: path.to_string(),
            status: reply.status.as_u16(),
            at: std::time::Instant::now(),
        };
        inner.watchers.retain(|w| w.send(answered.clone()).is_ok());
        inner
            .limiter
            .record(reply.status.as_u16(), tokio::time::Instant::now())
    };
    if banned {
        shared.violation(
            method,
            path,
            "10,000 invalid requests (401, 403, 429) in 10 minutes: Discord would ban the bot"
                .into(),
        );
    }
    reply.into_response(headers)
}

/// What Discord does for each operation the bot uses.
fn answer(
    shared: &Shared,
    op: &Operation,
    body: &Value,
    files: &[SentFile],
    violation: &dyn Fn(String),
) -> Reply {
    match op.id.as_str() {
        "get_gateway" => Reply::ok(json!({"url": format!("ws://{}/gateway", shared.addr)})),
        "get_bot_gateway" => Reply::ok(shared.bot_gateway()),
        "get_my_user" => Reply::ok(bot_user()),
        "get_my_oauth2_application" => Reply::ok(json!({
            "id": BOT_ID.to_string(), "name": "supportbot", "icon": null, "description": "",
            "type": null, "bot_public": true, "bot_require_code_grant": false,
            "verify_key": "8e2f4c1a9b7d6e5f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f",
            "owner": user(OWNER_ID, false), "team": null, "flags": 0, "flags_new": "0",
            "redirect_uris": [], "interactions_endpoint_url": null,
            "role_connections_verification_url": null, "approximate_guild_count": 1,
            "approximate_user_install_count": 0, "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0, "eligible_oauth2_scopes": []
        })),
        "bulk_set_application_commands" | "bulk_set_guild_application_commands" => {
            let app = op.param("application_id");
            let commands: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    // Discord leaves out what was not set; serenity sends some of it as null.
                    strip_nulls(&mut c);
                    c["id"] = json!(shared.snowflake().to_string());
                    c["application_id"] = json!(app);
                    c["version"] = json!(shared.snowflake().to_string());
                    c["type"] = c.get("type").cloned().unwrap_or(json!(1));
                    c["description"] = c.get("description").cloned().unwrap_or(json!(""));
                    c["default_member_permissions"] = c
                        .get("default_member_permissions")
                        .cloned()
                        .unwrap_or(Value::Null);
                    c
                })
                .collect();
            Reply::ok(check::<Vec<serenity::model::application::Command>>(
                "command list",
                json!(commands),
            ))
        }
        "create_message" => {
            let channel: u64 = op.param("channel_id").parse().unwrap_or(0);
            if let Err(r) = shared.lock().world.may_post(channel) {
                return Reply::refused(r);
            }
            let id = shared.snowflake();
            {
                let mut inner = shared.lock();
                inner.world.messages.insert(id, (channel, BOT_ID));
                inner.world.shown.insert(id, shown(body));
            }
            let mut message = posted_message(id, channel, body);
            message["attachments"] = json!(form::attachments(files, channel, shared.snowflake()));
            Reply::ok(check::<serenity::model::channel::Message>(
                "message", message,
            ))
        }
        "update_message" => update_message(shared, op, body),
        "create_thread_from_message" => {
            let channel: u64 = op.param("channel_id").parse().unwrap_or(0);
            let message: u64 = op.param("message_id").parse().unwrap_or(0);
            let name = body["name"].as_str().unwrap_or("thread");
            let archive = body["auto_archive_duration"].as_u64().unwrap_or(4320);
            let guild = {
                let mut inner = shared.lock();
                if let Err(r) = inner.world.may_start_thread(channel, message) {
                    return Reply::refused(r);
                }
                // A thread started on a message has the message's ID.
                inner.world.add_thread(channel, message, name);
                inner.world.guild_of(channel)
            };
            let thread = thread(guild, message, channel, BOT_ID, name, archive);
            // Discord tells the gateway about the new thread too.
            let mut d = thread.clone();
            d["newly_created"] = json!(true);
            check_dispatch("THREAD_CREATE", &d);
            shared.dispatch_frame("THREAD_CREATE", &d);
            Reply {
                status: StatusCode::CREATED,
                body: Some(thread),
            }
        }
        "get_channel" => get_channel(shared, op),
        "update_channel" => update_channel(shared, op, body),
        "create_interaction_response" => interaction_callback(shared, op, violation),
        "execute_webhook"
        | "get_original_webhook_message"
        | "update_original_webhook_message"
        | "update_webhook_message"
        | "delete_original_webhook_message" => follow_up(shared, op, body, files, violation),
        "create_dm" => {
            let recipient: u64 = body["recipient_id"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            // One DM channel per recipient: opening it again returns the same one.
            let id = {
                let mut inner = shared.lock();
                let existing = inner
                    .world
                    .channels
                    .iter()
                    .find(|(_, c)| c.kind == Kind::Dm { recipient })
                    .map(|(id, _)| *id);
                match existing {
                    Some(id) => id,
                    None => {
                        let id = shared.snowflake();
                        inner.world.channels.insert(
                            id,
                            super::state::Channel {
                                guild: None,
                                kind: Kind::Dm { recipient },
                                name: String::new(),
                                overwrites: Vec::new(),
                            },
                        );
                        id
                    }
                }
            };
            Reply::ok(check::<serenity::model::channel::PrivateChannel>(
                "DM channel",
                json!({
                    "id": id.to_string(), "type": 1, "last_message_id": null,
                    "flags": 0, "recipients": [user(recipient, false)]
                }),
            ))
        }
        "update_guild_member" => {
            let member: u64 = op.param("user_id").parse().unwrap_or(0);
            if !body["communication_disabled_until"].is_null()
                && let Err(r) = shared.lock().world.may_time_out(member)
            {
                return Reply::refused(r);
            }
            Reply::ok(check::<serenity::model::guild::Member>(
                "member",
                json!({
                    "guild_id": op.param("guild_id"),
                    "user": user(member, false),
                    "roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0,
                    "pending": false, "premium_since": null, "nick": null, "avatar": null,
                    "banner": null,
                    "communication_disabled_until": body["communication_disabled_until"].clone()
                }),
            ))
        }
        "trigger_typing_indicator" => {
            let channel: u64 = op.param("channel_id").parse().unwrap_or(0);
            match shared.lock().world.may_post(channel) {
                Ok(()) => Reply::empty(),
                Err(r) => Reply::refused(r),
            }
        }
        "delete_message" => {
            let channel: u64 = op.param("channel_id").parse().unwrap_or(0);
            let message: u64 = op.param("message_id").parse().unwrap_or(0);
            let (allowed, guild) = {
                let mut inner = shared.lock();
                let allowed = inner.world.may_delete(channel, message);
                if allowed.is_ok() {
                    inner.world.messages.remove(&message);
                    inner.world.shown.remove(&message);
                }
                (allowed, inner.world.guild_of(channel))
            };
            match allowed {
                Ok(()) => {
                    // Discord tells every client with the intent, the one that deleted it
                    // included.
                    let d = json!({
                        "id": op.param("message_id"),
                        "channel_id": op.param("channel_id"),
                        "guild_id": guild.to_string()
                    });
                    check_dispatch("MESSAGE_DELETE", &d);
                    shared.dispatch_frame("MESSAGE_DELETE", &d);
                    Reply::empty()
                }
                Err(r) => Reply::refused(r),
            }
        }
        other => {
            violation(format!(
                "the fake does not model {other}; teach it before the bot relies on it"
            ));
            Reply::error(StatusCode::NOT_FOUND, "404: Not Found", 0)
        }
    }
}

/// A channel as Discord describes it: a text channel, a forum with its tags, or a thread with
/// the tags applied to it (a forum post).
/// What a message body shows: its content and components.
fn shown(body: &Value) -> (String, Value) {
    let content = body["content"].as_str().unwrap_or_default().to_owned();
    let components = body.get("components").cloned().unwrap_or(json!([]));
    (content, components)
}

/// An edit of the bot's own message: the fields sent replace the ones shown, and the gateway
/// hears of it (MESSAGE_UPDATE) as Discord tells every client with the intent.
fn update_message(shared: &Shared, op: &Operation, body: &Value) -> Reply {
    let channel: u64 = op.param("channel_id").parse().unwrap_or(0);
    let id: u64 = op.param("message_id").parse().unwrap_or(0);
    let (content, guild) = {
        let mut inner = shared.lock();
        if let Err(r) = inner.world.may_edit(channel, id) {
            return Reply::refused(r);
        }
        let guild = inner.world.guild_of(channel);
        let entry = inner.world.shown.entry(id).or_default();
        if let Some(content) = body["content"].as_str() {
            entry.0 = content.to_owned();
        }
        if let Some(components) = body.get("components").filter(|c| !c.is_null()) {
            entry.1 = components.clone();
        }
        (entry.0.clone(), guild)
    };
    let mut message = posted_message(id, channel, &json!({"content": content}));
    message["edited_timestamp"] = json!(Utc::now().to_rfc3339());
    let mut d = message.clone();
    d["guild_id"] = json!(guild.to_string());
    check_dispatch("MESSAGE_UPDATE", &d);
    shared.dispatch_frame("MESSAGE_UPDATE", &d);
    Reply::ok(check::<serenity::model::channel::Message>(
        "message", message,
    ))
}

fn channel_json(world: &World, id: u64) -> Option<Value> {
    let c = world.channels.get(&id)?;
    let guild = world.guild_of(id);
    Some(match c.kind {
        Kind::Text => json!({
            "id": id.to_string(), "type": 0, "name": c.name, "guild_id": guild.to_string(),
            "permission_overwrites": [], "position": 0, "nsfw": false, "flags": 0
        }),
        Kind::Forum => super::payloads::forum_channel(world, id, &c.name, Vec::new()),
        Kind::Thread { parent } => {
            let owner = world.messages.get(&id).map_or(BOT_ID, |(_, a)| *a);
            let mut t = super::payloads::thread(guild, id, parent, owner, &c.name, 4320);
            if let Some(tags) = world.applied_tags.get(&id) {
                t["applied_tags"] = json!(tags.iter().map(u64::to_string).collect::<Vec<_>>());
            }
            t
        }
        Kind::Dm { .. } => return None,
    })
}

fn get_channel(shared: &Shared, op: &Operation) -> Reply {
    let id: u64 = op.param("channel_id").parse().unwrap_or(0);
    let inner = shared.lock();
    if let Err(r) = inner.world.require(id, perm::VIEW_CHANNEL) {
        return Reply::refused(r);
    }
    match channel_json(&inner.world, id) {
        Some(c) => Reply::ok(check::<serenity::model::channel::GuildChannel>(
            "channel", c,
        )),
        None => Reply::refused(Refusal::UnknownChannel),
    }
}

/// Editing a forum post's tags, as Discord allows it: only tags of the post's forum, at most
/// five, by the post's owner or with Manage Threads. Discord tells the gateway with
/// THREAD_UPDATE.
fn update_channel(shared: &Shared, op: &Operation, body: &Value) -> Reply {
    let id: u64 = op.param("channel_id").parse().unwrap_or(0);
    let mut inner = shared.lock();
    let Some(Kind::Thread { parent }) = inner.world.channels.get(&id).map(|c| c.kind) else {
        return Reply::refused(Refusal::UnknownChannel);
    };
    let owner = inner.world.messages.get(&id).map(|(_, a)| *a);
    if owner != Some(BOT_ID)
        && let Err(r) = inner.world.require(id, perm::MANAGE_THREADS)
    {
        return Reply::refused(r);
    }
    if let Some(tags) = body.get("applied_tags") {
        let available: Vec<u64> = inner
            .world
            .forum_tags
            .get(&parent)
            .map(|t| t.iter().map(|(id, _)| *id).collect())
            .unwrap_or_default();
        let tags: Vec<u64> = tags
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().and_then(|t| t.parse().ok()))
            .collect();
        if tags.len() > 5 || tags.iter().any(|t| !available.contains(t)) {
            return Reply::error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
        }
        inner.world.applied_tags.insert(id, tags);
    }
    let Some(thread) = channel_json(&inner.world, id) else {
        return Reply::refused(Refusal::UnknownChannel);
    };
    drop(inner);
    let thread = check::<serenity::model::channel::GuildChannel>("thread", thread);
    check_dispatch("THREAD_UPDATE", &thread);
    shared.dispatch_frame("THREAD_UPDATE", &thread);
    Reply::ok(thread)
}

/// The one initial response an interaction gets, within 3 s of its creation.
fn interaction_callback(shared: &Shared, op: &Operation, violation: &dyn Fn(String)) -> Reply {
    let id: u64 = op.param("interaction_id").parse().unwrap_or(0);
    let mut inner = shared.lock();
    let Some(interaction) = inner
        .interactions
        .get_mut(&id)
        .filter(|i| i.token == op.param("interaction_token"))
    else {
        drop(inner);
        violation(format!("interaction {id} is unknown or its token is wrong"));
        return Reply::error(StatusCode::NOT_FOUND, "Unknown interaction", 10062);
    };
    if interaction.acknowledged {
        drop(inner);
        violation(format!("interaction {id} was already acknowledged"));
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "Interaction has already been acknowledged.",
            40060,
        );
    }
    let age = interaction.created.elapsed();
    if age > ACK_WINDOW {
        drop(inner);
        violation(format!(
            "interaction {id} was answered after {age:?}, past Discord's 3 s"
        ));
        return Reply::error(StatusCode::NOT_FOUND, "Unknown interaction", 10062);
    }
    interaction.acknowledged = true;
    Reply::empty()
}

/// Follow-ups and edits through the interaction's webhook: only after the initial response and
/// within the token's 15 minutes.
fn follow_up(
    shared: &Shared,
    op: &Operation,
    body: &Value,
    files: &[SentFile],
    violation: &dyn Fn(String),
) -> Reply {
    let token = op.param("webhook_token");
    let channel = {
        let inner = shared.lock();
        inner
            .interactions
            .values()
            .find(|i| i.token == token && i.acknowledged && i.created.elapsed() < TOKEN_LIFETIME)
            .filter(|_| op.param("webhook_id") == BOT_ID.to_string())
            .map(|i| i.channel_id)
    };
    let Some(channel) = channel else {
        violation(format!(
            "{} on a webhook that is not an acknowledged interaction of this application",
            op.id
        ));
        return Reply::error(StatusCode::NOT_FOUND, "Unknown Webhook", 10015);
    };
    if op.id == "delete_original_webhook_message" {
        return Reply::empty();
    }
    let mut message = posted_message(shared.snowflake(), channel, body);
    message["attachments"] = json!(form::attachments(files, channel, shared.snowflake()));
    message["webhook_id"] = json!(BOT_ID.to_string());
    message["application_id"] = json!(BOT_ID.to_string());
    Reply::ok(check::<serenity::model::channel::Message>(
        "follow-up message",
        message,
    ))
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, child| !child.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
