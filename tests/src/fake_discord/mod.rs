//! A fake Discord on 127.0.0.1: the gateway WebSocket and the REST routes the bot uses, faithful
//! enough for the real serenity/poise client (see shared/notes/fake-discord.md).
//!
//! Every dispatch is first deserialized into serenity's own event type, so a payload serenity
//! would silently drop fails the test instead. Every REST call is recorded; tests wait on them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use serenity::model::event::{
    GuildCreateEvent, InteractionCreateEvent, MessageCreateEvent, ReadyEvent, ThreadCreateEvent,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const BOT_ID: u64 = 1000;
pub const GUILD_ID: u64 = 2000;
pub const OWNER_ID: u64 = 3000;
pub const SUPPORT_CHANNEL: u64 = 4000;
pub const OTHER_CHANNEL: u64 = 4001;
pub const STAFF_CHANNEL: u64 = 4002;
pub const TOKEN: &str = "fake.bot.token";
const TIMESTAMP: &str = "2024-01-01T00:00:00.000000+00:00";

/// One REST request the bot made.
#[derive(Debug, Clone)]
pub struct RestCall {
    pub method: Method,
    pub path: String,
    pub body: Value,
    /// When the request arrived (for latency benchmarks).
    pub at: std::time::Instant,
}

/// What the fake saw on the gateway.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayOp {
    Identify(Value),
    Resume(Value),
}

enum Command {
    Send(String),
    Drop,
}

/// A canned failure for the next request matching a method and path suffix.
struct Failure {
    method: Method,
    path_part: String,
    status: StatusCode,
    body: Value,
}

#[derive(Default)]
struct Inner {
    calls: Vec<RestCall>,
    gateway_ops: Vec<GatewayOp>,
    connection: Option<mpsc::UnboundedSender<Command>>,
    connections: usize,
    /// (parent channel, message, thread) for each thread created.
    threads: Vec<(u64, u64, u64)>,
    failures: Vec<Failure>,
    delays: HashMap<String, Duration>,
}

struct Shared {
    addr: SocketAddr,
    seq: AtomicU64,
    next_id: AtomicU64,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake discord state poisoned")
    }

    fn snowflake(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }
}

pub struct FakeDiscord {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeDiscord {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Discord");
        let addr = listener.local_addr().expect("listener has an address");
        let shared = Arc::new(Shared {
            addr,
            seq: AtomicU64::new(0),
            next_id: AtomicU64::new(900_000_000_000_000_000),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route("/gateway", get(gateway))
            .fallback(rest)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord { shared, server }
    }

    /// The value for `discord.api_proxy`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    pub fn calls(&self) -> Vec<RestCall> {
        self.shared.lock().calls.clone()
    }

    pub fn gateway_ops(&self) -> Vec<GatewayOp> {
        self.shared.lock().gateway_ops.clone()
    }

    /// The thread created on `message`, if any.
    pub fn thread_on(&self, message: u64) -> Option<u64> {
        self.shared
            .lock()
            .threads
            .iter()
            .find(|(_, m, _)| *m == message)
            .map(|(_, _, t)| *t)
    }

    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Makes the next request `method` whose path contains `path_part` fail with `status`.
    pub fn fail_next(&self, method: Method, path_part: &str, status: StatusCode, body: Value) {
        self.shared.lock().failures.push(Failure {
            method,
            path_part: path_part.to_string(),
            status,
            body,
        });
    }

    /// Delays answers to requests whose path ends with `path_suffix`.
    pub fn delay(&self, path_suffix: &str, by: Duration) {
        self.shared
            .lock()
            .delays
            .insert(path_suffix.to_string(), by);
    }

    /// Waits until a recorded REST call matches, or panics after `timeout`.
    pub async fn wait_for_call(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&RestCall) -> bool,
    ) -> RestCall {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(call) = self.calls().into_iter().find(&pred) {
                return call;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; calls so far: {:#?}",
                    self.calls()
                        .iter()
                        .map(|c| format!("{} {}", c.method, c.path))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the gateway has seen `n` IDENTIFY or RESUME operations in total.
    pub async fn wait_for_gateway_ops(&self, n: usize, timeout: Duration) -> Vec<GatewayOp> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ops = self.gateway_ops();
            if ops.len() >= n {
                return ops;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("timed out waiting for {n} gateway operations; saw {ops:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a dispatch after checking that serenity can parse it.
    pub fn dispatch(&self, event: &str, d: Value) {
        check_dispatch(event, &d);
        self.send_raw_dispatch(event, d);
    }

    /// Sends a dispatch without checking it: for malformed-input tests.
    pub fn send_raw_dispatch(&self, event: &str, d: Value) {
        let s = self.shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let frame = json!({"op": 0, "s": s, "t": event, "d": d}).to_string();
        self.send_frame(frame);
    }

    pub fn send_frame(&self, frame: String) {
        let inner = self.shared.lock();
        let conn = inner
            .connection
            .as_ref()
            .expect("the bot is connected to the fake gateway");
        conn.send(Command::Send(frame))
            .expect("gateway connection task is alive");
    }

    /// Drops the gateway connection without a close frame, as a network failure would.
    pub fn drop_connection(&self) {
        if let Some(conn) = self.shared.lock().connection.take() {
            let _ = conn.send(Command::Drop);
        }
    }

    pub fn next_id(&self) -> u64 {
        self.shared.snowflake()
    }

    /// A MESSAGE_CREATE from a member (or a bot) in a channel; returns the message ID.
    pub fn send_message(&self, channel_id: u64, author: Author, content: &str) -> u64 {
        self.send_message_with(channel_id, author, content, &[])
    }

    pub fn send_message_with(
        &self,
        channel_id: u64,
        author: Author,
        content: &str,
        mentions: &[u64],
    ) -> u64 {
        let id = self.next_id();
        self.dispatch(
            "MESSAGE_CREATE",
            message_payload(id, channel_id, author, content, mentions),
        );
        id
    }

    /// An INTERACTION_CREATE for `/support <sub>` by a member with `permissions`.
    pub fn send_support_command(
        &self,
        sub: &str,
        channel_id: u64,
        user_id: u64,
        permissions: u64,
    ) -> u64 {
        self.send_command(
            "support",
            json!([{"name": sub, "type": 1, "options": []}]),
            channel_id,
            user_id,
            permissions,
        )
    }

    /// An INTERACTION_CREATE for a slash command with `options` (Discord's option tree).
    pub fn send_command(
        &self,
        name: &str,
        options: Value,
        channel_id: u64,
        user_id: u64,
        permissions: u64,
    ) -> u64 {
        let id = self.next_id();
        let mut d = interaction_base(id, 2, channel_id, user_id, permissions);
        d["data"] = json!({"id": "7000", "name": name, "type": 1, "options": options});
        self.dispatch("INTERACTION_CREATE", d);
        id
    }

    /// A click on a button with `custom_id`, on a message the bot posted.
    pub fn click_button(
        &self,
        custom_id: &str,
        channel_id: u64,
        user_id: u64,
        permissions: u64,
    ) -> u64 {
        let id = self.next_id();
        let mut d = interaction_base(id, 3, channel_id, user_id, permissions);
        d["data"] = json!({"custom_id": custom_id, "component_type": 2});
        d["message"] =
            message_payload(self.next_id(), channel_id, Author::Bot(BOT_ID), "page", &[]);
        self.dispatch("INTERACTION_CREATE", d);
        id
    }
}

fn interaction_base(id: u64, kind: u8, channel_id: u64, user_id: u64, permissions: u64) -> Value {
    json!({
        "id": id.to_string(), "application_id": BOT_ID.to_string(), "type": kind,
        "token": format!("itoken-{id}"), "version": 1,
        "guild_id": GUILD_ID.to_string(), "channel_id": channel_id.to_string(),
        "member": {
            "user": {"id": user_id.to_string(), "username": "member", "discriminator": "0", "avatar": null},
            "roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0,
            "permissions": permissions.to_string()
        },
        "app_permissions": "309237722112",
        "channel": {"id": channel_id.to_string(), "type": 0, "name": "support"},
        "locale": "en-US", "entitlements": [], "attachment_size_limit": 8388608
    })
}

#[derive(Debug, Clone, Copy)]
pub enum Author {
    Member(u64),
    Bot(u64),
}

pub fn message_payload(
    id: u64,
    channel_id: u64,
    author: Author,
    content: &str,
    mentions: &[u64],
) -> Value {
    let (author_id, is_bot) = match author {
        Author::Member(id) => (id, false),
        Author::Bot(id) => (id, true),
    };
    let mentions: Vec<Value> = mentions
        .iter()
        .map(|m| json!({"id": m.to_string(), "username": format!("user{m}"), "discriminator": "0", "avatar": null, "bot": *m == BOT_ID}))
        .collect();
    json!({
        "id": id.to_string(), "channel_id": channel_id.to_string(), "guild_id": GUILD_ID.to_string(),
        "author": {"id": author_id.to_string(), "username": format!("user{author_id}"), "discriminator": "0", "avatar": null, "bot": is_bot},
        "member": {"roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false},
        "content": content, "timestamp": TIMESTAMP, "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": mentions, "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0
    })
}

fn check_dispatch(event: &str, d: &Value) {
    let result = match event {
        "READY" => serde_json::from_value::<ReadyEvent>(d.clone()).map(|_| ()),
        "GUILD_CREATE" => serde_json::from_value::<GuildCreateEvent>(d.clone()).map(|_| ()),
        "MESSAGE_CREATE" => serde_json::from_value::<MessageCreateEvent>(d.clone()).map(|_| ()),
        "INTERACTION_CREATE" => {
            serde_json::from_value::<InteractionCreateEvent>(d.clone()).map(|_| ())
        }
        "THREAD_CREATE" => serde_json::from_value::<ThreadCreateEvent>(d.clone()).map(|_| ()),
        _ => Ok(()),
    };
    if let Err(e) = result {
        panic!("the fake built a {event} that serenity cannot parse: {e}\n{d:#}");
    }
}

fn check<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Value {
    if let Err(e) = serde_json::from_value::<T>(v.clone()) {
        panic!("the fake built a {what} that serenity cannot parse: {e}\n{v:#}");
    }
    v
}

fn bot_user() -> Value {
    json!({"id": BOT_ID.to_string(), "username": "supportbot", "discriminator": "0", "avatar": null, "bot": true})
}

fn ready(session: &str, addr: SocketAddr) -> Value {
    json!({
        "v": 10, "user": bot_user(), "guilds": [{"id": GUILD_ID.to_string(), "unavailable": true}],
        "session_id": session, "resume_gateway_url": format!("ws://{addr}/gateway"),
        "application": {"id": BOT_ID.to_string(), "flags": 0}
    })
}

fn guild() -> Value {
    // @everyone may view, send, create public threads and send in threads; the bot's role
    // adds Manage Messages.
    json!({
        "id": GUILD_ID.to_string(), "name": "Test Guild", "icon": null, "owner_id": OWNER_ID.to_string(),
        "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
        "roles": [
            {"id": GUILD_ID.to_string(), "name": "@everyone", "color": 0, "colors": {"primary_color": 0},
             "hoist": false, "managed": false, "permissions": "309237713920", "position": 0},
            {"id": "2001", "name": "supportbot", "color": 0, "colors": {"primary_color": 0},
             "hoist": false, "managed": true, "permissions": "8192", "position": 1}
        ],
        "emojis": [], "features": [], "mfa_level": 0, "system_channel_flags": 0, "premium_tier": 0,
        "preferred_locale": "en-US", "nsfw_level": 0, "stickers": [], "premium_progress_bar_enabled": false,
        "joined_at": TIMESTAMP, "large": false, "member_count": 2, "voice_states": [],
        "members": [{"user": bot_user(), "roles": ["2001"], "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0}],
        "channels": [
            {"id": SUPPORT_CHANNEL.to_string(), "type": 0, "name": "support"},
            {"id": OTHER_CHANNEL.to_string(), "type": 0, "name": "general"},
            {"id": STAFF_CHANNEL.to_string(), "type": 0, "name": "staff"}
        ],
        "threads": [], "presences": [], "stage_instances": [], "guild_scheduled_events": []
    })
}

async fn gateway(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    ws.on_upgrade(move |socket| session(socket, shared))
}

async fn session(socket: WebSocket, shared: Arc<Shared>) {
    let (mut tx, mut rx) = socket.split();
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    {
        let mut inner = shared.lock();
        inner.connection = Some(cmd_tx);
        inner.connections += 1;
    }
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}, "s": null, "t": null});
    if tx
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let dispatch = |event: &str, d: Value| {
        check_dispatch(event, &d);
        let s = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
        json!({"op": 0, "s": s, "t": event, "d": d}).to_string()
    };
    loop {
        tokio::select! {
            frame = rx.next() => {
                let text = match frame {
                    Some(Ok(WsMessage::Text(t))) => t.to_string(),
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else { continue };
                let replies: Vec<String> = match payload["op"].as_u64() {
                    Some(1) => vec![json!({"op": 11}).to_string()],
                    Some(2) => {
                        shared.lock().gateway_ops.push(GatewayOp::Identify(payload["d"].clone()));
                        vec![dispatch("READY", ready("session-1", shared.addr)), dispatch("GUILD_CREATE", guild())]
                    }
                    Some(6) => {
                        shared.lock().gateway_ops.push(GatewayOp::Resume(payload["d"].clone()));
                        vec![dispatch("RESUMED", json!({}))]
                    }
                    _ => vec![],
                };
                for reply in replies {
                    if tx.send(WsMessage::Text(reply.into())).await.is_err() {
                        return;
                    }
                }
            }
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Send(frame)) => {
                    if tx.send(WsMessage::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                Some(Command::Drop) | None => break,
            }
        }
    }
}

fn error(status: StatusCode, message: &str, code: u64) -> Response {
    (
        status,
        axum::Json(json!({"message": message, "code": code})),
    )
        .into_response()
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (failure, delay) = {
        let mut inner = shared.lock();
        inner.calls.push(RestCall {
            method: method.clone(),
            path: path.clone(),
            body: body.clone(),
            at: std::time::Instant::now(),
        });
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
    if let Some(f) = failure {
        return (f.status, axum::Json(f.body)).into_response();
    }
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bot {TOKEN}"));
    if !authorised {
        return error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0);
    }

    let segments: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
    let ok = |v: Value| axum::Json(v).into_response();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) | ("GET", ["gateway", "bot"]) => ok(json!({
            "url": format!("ws://{}/gateway", shared.addr),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        })),
        ("GET", ["users", "@me"]) => ok(bot_user()),
        ("GET", ["oauth2", "applications", "@me"]) => ok(json!({
            "id": BOT_ID.to_string(), "name": "supportbot", "icon": null, "description": "",
            "bot_public": true, "bot_require_code_grant": false, "verify_key": "00",
            "owner": {"id": OWNER_ID.to_string(), "username": "owner", "discriminator": "0", "avatar": null},
            "flags": 0
        })),
        ("PUT", ["applications", app, "commands"]) => {
            let commands: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["id"] = json!(shared.snowflake().to_string());
                    c["application_id"] = json!(app.to_string());
                    c["version"] = json!("1");
                    c["type"] = c.get("type").cloned().unwrap_or(json!(1));
                    c["description"] = c.get("description").cloned().unwrap_or(json!(""));
                    c
                })
                .collect();
            ok(check::<Vec<serenity::model::application::Command>>(
                "command list",
                json!(commands),
            ))
        }
        ("POST", ["channels", channel, "messages"]) => {
            let id = shared.snowflake();
            let channel_id: u64 = channel.parse().unwrap_or(0);
            let content = body["content"].as_str().unwrap_or("");
            let mut message = message_payload(id, channel_id, Author::Bot(BOT_ID), content, &[]);
            if let Some(obj) = message.as_object_mut() {
                obj.remove("member");
            }
            ok(check::<serenity::model::channel::Message>(
                "message", message,
            ))
        }
        ("POST", ["channels", channel, "messages", message, "threads"]) => {
            let id = shared.snowflake();
            shared.lock().threads.push((
                channel.parse().unwrap_or(0),
                message.parse().unwrap_or(0),
                id,
            ));
            let thread = json!({
                "id": id.to_string(), "type": 11, "guild_id": GUILD_ID.to_string(),
                "parent_id": channel.to_string(), "owner_id": BOT_ID.to_string(),
                "name": body["name"].as_str().unwrap_or("thread"),
                "rate_limit_per_user": 0, "message_count": 0, "member_count": 1, "flags": 0,
                "thread_metadata": {
                    "archived": false, "locked": false,
                    "auto_archive_duration": body["auto_archive_duration"].as_u64().unwrap_or(1440),
                    "archive_timestamp": TIMESTAMP
                }
            });
            let thread = check::<serenity::model::channel::GuildChannel>("thread", thread);
            // Discord tells the gateway about the new thread too.
            let conn = shared.lock().connection.clone();
            if let Some(conn) = conn {
                let mut d = thread.clone();
                d["newly_created"] = json!(true);
                check_dispatch("THREAD_CREATE", &d);
                let s = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
                let _ = conn.send(Command::Send(
                    json!({"op": 0, "s": s, "t": "THREAD_CREATE", "d": d}).to_string(),
                ));
            }
            (StatusCode::CREATED, axum::Json(thread)).into_response()
        }
        ("POST", ["interactions", _id, _token, "callback"]) => {
            StatusCode::NO_CONTENT.into_response()
        }
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = body["recipient_id"].as_str().unwrap_or("0").to_string();
            ok(check::<serenity::model::channel::PrivateChannel>(
                "DM channel",
                json!({
                    "id": shared.snowflake().to_string(), "type": 1, "last_message_id": null,
                    "recipients": [{"id": recipient, "username": "member", "discriminator": "0", "avatar": null}]
                }),
            ))
        }
        ("PATCH", ["guilds", guild, "members", user]) => {
            ok(check::<serenity::model::guild::Member>(
                "member",
                json!({
                    "guild_id": guild.to_string(),
                    "user": {"id": user.to_string(), "username": "member", "discriminator": "0", "avatar": null},
                    "roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0,
                    "communication_disabled_until": body["communication_disabled_until"].clone()
                }),
            ))
        }
        ("POST", ["channels", _channel, "typing"]) => StatusCode::NO_CONTENT.into_response(),
        ("DELETE", ["channels", _channel, "messages", _message]) => {
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "404: Not Found", 0),
    }
}
