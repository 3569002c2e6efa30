//! A fake Discord on 127.0.0.1: the gateway WebSocket and the REST API, faithful enough for the
//! real serenity/poise client (see shared/notes/fake-discord.md), and an oracle independent of
//! serenity: every request is checked against Discord's official OpenAPI description and the
//! limits it cannot express. Anything wrong is a violation, and a fake that recorded one fails
//! its test when dropped, even if the bot coped. It also keeps the guild's state and the bot's
//! permissions (`state`), rate-limits like Discord (`ratelimit`), and fails on the gateway the
//! ways Discord does (`gateway`). REST answers on a plain port and, as `https://discord.com`,
//! on a TLS port (`tls`).

mod cdn;
mod form;
mod gateway;
pub mod limits;
mod payloads;
pub mod ratelimit;
mod rest;
pub mod spec;
pub mod state;
mod tls;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use payloads::{
    Author, BOT_ID, BOT_ROLE, GUILD_ID, MOD_ROLE, OTHER_CHANNEL, OWNER_ID, STAFF_CHANNEL,
    SUPPORT_CHANNEL, TOKEN, interaction_token, message_payload, names,
};

/// Who starts a thread in `start_member_thread`: a member since 2020.
const MEMBER_THREAD_OWNER: u64 = 771_093_525_617_459_201;
pub use form::SentFile;
pub use ratelimit::{RateLimited, RateLimits};
pub use rest::ACK_WINDOW;
pub use state::{Refusal, perm};
pub use tls::client as https_client;

use payloads::{FIRST_SNOWFLAKE, check_dispatch, command_data, interaction_base};
use state::{Kind, Overwrite};

/// One REST request the bot made.
#[derive(Debug, Clone)]
pub struct RestCall {
    pub method: Method,
    pub path: String,
    /// The JSON body, or a multipart form's `payload_json`.
    pub body: Value,
    /// The files of a multipart request, in the order sent.
    pub files: Vec<SentFile>,
    /// When the request arrived (for latency benchmarks).
    pub at: std::time::Instant,
}

/// A REST call the fake has answered, and the status it answered with.
#[derive(Debug, Clone)]
pub struct Answered {
    pub method: Method,
    pub path: String,
    pub status: u16,
    /// When the answer was decided.
    pub at: std::time::Instant,
}

/// Something the bot did that real Discord would refuse, or an answer of the fake's own that
/// breaks the spec.
#[derive(Debug, Clone)]
pub struct Violation {
    pub method: Method,
    pub path: String,
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.method, self.path, self.what)
    }
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

/// One shard's gateway session: what RESUME replays.
struct Session {
    id: String,
    /// `[shard_id, num_shards]` from IDENTIFY; `[0, 1]` when the client sent none.
    shard: [u32; 2],
    /// Sequence number of the session's last dispatch.
    seq: u64,
    /// Every dispatch of the session, for RESUME to replay what the client missed.
    log: Vec<(u64, String)>,
    /// The live connection, once it has identified or resumed.
    connection: Option<mpsc::UnboundedSender<Command>>,
}

/// The gateway: a session per shard, and the knobs tests turn.
struct GatewayState {
    /// Shard ID -> its session; a new IDENTIFY for a shard replaces the old session.
    sessions: BTreeMap<u32, Session>,
    /// Sessions started (IDENTIFYs accepted), which names them and counts against the daily
    /// session start limit.
    started: u32,
    /// When the first session started: the daily limit resets 24 hours later.
    first_start: Option<std::time::Instant>,
    heartbeat_ms: u64,
    /// Heartbeats left unanswered from now on.
    withhold_acks: usize,
    /// As for a bot whose privileged intents are off in the Developer Portal.
    refuse_privileged: bool,
}

impl Default for GatewayState {
    fn default() -> Self {
        GatewayState {
            sessions: BTreeMap::new(),
            started: 0,
            first_start: None,
            heartbeat_ms: 41_250,
            withhold_acks: 0,
            refuse_privileged: false,
        }
    }
}

impl GatewayState {
    /// The shard count the client identified with (every connection must use the same).
    fn total(&self) -> u32 {
        self.sessions.values().next().map_or(1, |s| s.shard[1])
    }

    /// The shard whose connection gets events about `guild`: Discord's
    /// `(guild_id >> 22) % num_shards`.
    fn shard_of(&self, guild: u64) -> u32 {
        shard_of(guild, self.total())
    }
}

/// The shard `guild`'s events go to when the bot runs `total` shards.
pub fn shard_of(guild: u64, total: u32) -> u32 {
    ((guild >> 22) % u64::from(total.max(1))) as u32
}

/// Discord's daily limit on IDENTIFYs for a bot of fewer than 1,000 guilds.
const SESSION_START_TOTAL: u32 = 1000;
/// Guilds per shard above which Discord recommends another shard.
const GUILDS_PER_SHARD: usize = 1000;

/// The guild a dispatch is about, which picks the shard it goes to; `None` (DMs, READY) goes to
/// shard 0, as Discord sends DMs.
fn dispatch_guild(event: &str, d: &Value) -> Option<u64> {
    let id = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok());
    match event {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" => id(&d["id"]),
        _ => id(&d["guild_id"]),
    }
}

/// A canned failure for the next request matching a method and path part.
struct Failure {
    method: Method,
    path_part: String,
    status: StatusCode,
    body: Value,
}

/// An interaction the fake created: it takes one initial response within 3 s, then follow-ups.
struct Interaction {
    token: String,
    channel_id: u64,
    created: tokio::time::Instant,
    acknowledged: bool,
}

#[derive(Default)]
struct Inner {
    calls: Vec<RestCall>,
    violations: Vec<Violation>,
    gateway_ops: Vec<GatewayOp>,
    /// WebSocket connections opened so far.
    connections: usize,
    gateway: GatewayState,
    world: state::World,
    limiter: ratelimit::Limiter,
    interactions: HashMap<u64, Interaction>,
    failures: Vec<Failure>,
    delays: HashMap<String, Duration>,
    /// Files on the fake CDN, by path.
    cdn: HashMap<String, cdn::Stored>,
    /// Paths requested from the CDN, in order.
    cdn_requests: Vec<String>,
    /// Who is told of each REST call as it is answered (benchmarks that cannot afford `calls()`).
    watchers: Vec<mpsc::UnboundedSender<Answered>>,
}

struct Shared {
    addr: SocketAddr,
    next_id: AtomicU64,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake discord state poisoned")
    }

    /// A new snowflake, a millisecond after the last one.
    fn snowflake(&self) -> u64 {
        self.next_id.fetch_add(1 << 22, Ordering::SeqCst)
    }

    /// Sends a dispatch to the shard Discord would send it to (the guild's, or shard 0), on its
    /// live connection if any, and keeps it for RESUME. A message it carries becomes part of the
    /// fake's world. With no session for that shard nobody is told, as on Discord.
    fn dispatch_frame(&self, event: &str, d: &Value) {
        let shard = {
            let mut inner = self.lock();
            if event == "MESSAGE_CREATE" {
                let id = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok());
                if let (Some(m), Some(c), Some(a)) =
                    (id(&d["id"]), id(&d["channel_id"]), id(&d["author"]["id"]))
                {
                    inner.world.messages.insert(m, (c, a));
                }
            }
            dispatch_guild(event, d).map_or(0, |g| inner.gateway.shard_of(g))
        };
        self.dispatch_to(shard, event, d);
    }

    /// Sends a dispatch in `shard`'s session.
    fn dispatch_to(&self, shard: u32, event: &str, d: &Value) {
        let mut inner = self.lock();
        let Some(session) = inner.gateway.sessions.get_mut(&shard) else {
            return;
        };
        session.seq += 1;
        let s = session.seq;
        let frame = json!({"op": 0, "s": s, "t": event, "d": d}).to_string();
        session.log.push((s, frame.clone()));
        if let Some(conn) = &session.connection {
            // A connection that just died leaves the frame to RESUME.
            let _ = conn.send(Command::Send(frame));
        }
    }

    /// GET /gateway/bot: the recommended shard count (one per 1,000 guilds) and the session
    /// start limit Discord gives a bot of this size (1,000 IDENTIFYs a day, one at a time).
    fn bot_gateway(&self) -> Value {
        let inner = self.lock();
        let shards = inner.world.guilds.len().div_ceil(GUILDS_PER_SHARD).max(1);
        let reset_after = inner.gateway.first_start.map_or(0, |t| {
            let day = Duration::from_secs(24 * 60 * 60);
            day.saturating_sub(t.elapsed()).as_millis() as u64
        });
        json!({
            "url": format!("ws://{}/gateway", self.addr),
            "shards": shards,
            "session_start_limit": {
                "total": SESSION_START_TOTAL,
                "remaining": SESSION_START_TOTAL.saturating_sub(inner.gateway.started),
                "reset_after": reset_after,
                "max_concurrency": 1
            }
        })
    }

    /// The live connections, shard by shard.
    fn live_connections(&self) -> Vec<mpsc::UnboundedSender<Command>> {
        self.lock()
            .gateway
            .sessions
            .values()
            .filter_map(|s| s.connection.clone())
            .collect()
    }

    fn violation(&self, method: &Method, path: &str, what: String) {
        self.lock().violations.push(Violation {
            method: method.clone(),
            path: path.to_string(),
            what,
        });
    }
}

/// A guild added with [`FakeDiscord::add_guild_on_shard`]: its ID and its `#support` channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeGuild {
    pub id: u64,
    pub channel: u64,
}

/// Milliseconds since Discord's epoch (2015) of the fake's extra guilds: mid-2023.
const GUILD_EPOCH_MS: u64 = 266_000_000_000;

pub struct FakeDiscord {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    tls_addr: SocketAddr,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.server.abort();
        if std::thread::panicking() {
            return;
        }
        let violations = self.take_violations();
        assert!(
            violations.is_empty(),
            "the fake Discord recorded {} violation(s); real Discord would have refused:\n{}",
            violations.len(),
            violations
                .iter()
                .map(|v| format!("  - {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

impl FakeDiscord {
    pub async fn start() -> Self {
        // Read and index the spec before the bot's first request, outside any timeout.
        std::sync::LazyLock::force(&spec::SPEC);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Discord");
        let addr = listener.local_addr().expect("listener has an address");
        let tls = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake's HTTPS side");
        let tls_addr = tls.local_addr().expect("listener has an address");
        let shared = Arc::new(Shared {
            addr,
            next_id: AtomicU64::new(FIRST_SNOWFLAKE),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route("/gateway", get(gateway::gateway))
            .fallback(rest::rest)
            .with_state(Arc::clone(&shared));
        let https = app.clone();
        let server = tokio::spawn(async move {
            // Like Discord's own servers, the fake writes small frames at once: with Nagle's
            // algorithm on, an event written while the previous one is unacknowledged waits
            // for the bot's delayed ACK (40 ms on Linux), which the latency bench would count.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let plain = axum::serve(listener, app);
            let secure = axum::serve(tls::TlsListener::new(tls), https);
            let _ = tokio::join!(plain, secure);
        });
        FakeDiscord {
            shared,
            server,
            tls_addr,
        }
    }

    /// serenity's HTTPS client for the bot: it reaches this fake as `https://discord.com`, so
    /// serenity's rate limiter stays on.
    pub fn discord_http_client(&self) -> serenity_reqwest::Client {
        tls::client(self.tls_addr)
    }

    /// Where the HTTPS side listens: a bot in another process builds its client with
    /// [`https_client`] from it.
    pub fn https_addr(&self) -> SocketAddr {
        self.tls_addr
    }

    /// Every REST call answered from now on (except those to routes Discord does not have),
    /// as it is answered.
    pub fn watch_calls(&self) -> mpsc::UnboundedReceiver<Answered> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.lock().watchers.push(tx);
        rx
    }

    /// A text channel of another guild the bot is in, for tests and benchmarks with many
    /// guilds (messages there come from [`FakeDiscord::send_message_in`]).
    pub fn add_text_channel(&self, channel: u64, name: &str) {
        self.shared.lock().world.channels.insert(
            channel,
            state::Channel {
                guild: Some(GUILD_ID),
                kind: Kind::Text,
                name: name.to_string(),
                overwrites: Vec::new(),
            },
        );
    }

    /// A forum channel in the test guild with tags named `tags`; returns the tags' IDs. Add it
    /// before the bot connects: GUILD_CREATE describes it.
    pub fn add_forum_channel(&self, channel: u64, name: &str, tags: &[&str]) -> Vec<u64> {
        let ids: Vec<u64> = tags.iter().map(|_| self.next_id()).collect();
        let mut inner = self.shared.lock();
        inner.world.channels.insert(
            channel,
            state::Channel {
                guild: Some(GUILD_ID),
                kind: Kind::Forum,
                name: name.to_string(),
                overwrites: Vec::new(),
            },
        );
        inner.world.forum_tags.insert(
            channel,
            ids.iter()
                .zip(tags)
                .map(|(id, name)| (*id, name.to_string()))
                .collect(),
        );
        ids
    }

    /// A member opens a post in `forum`: THREAD_CREATE for the post, then MESSAGE_CREATE for
    /// its first message, which has the post's own ID. Returns that ID.
    pub fn create_forum_post(&self, forum: u64, author: Author, title: &str, body: &str) -> u64 {
        let id = self.next_id();
        let (Author::Member(owner) | Author::Bot(owner)) = author;
        let guild = {
            let mut inner = self.shared.lock();
            inner.world.add_thread(forum, id, title);
            inner.world.messages.insert(id, (id, owner));
            inner.world.applied_tags.insert(id, Vec::new());
            inner.world.guild_of(forum)
        };
        let mut thread = payloads::thread(guild, id, forum, owner, title, 4320);
        thread["applied_tags"] = json!([]);
        thread["newly_created"] = json!(true);
        self.dispatch("THREAD_CREATE", thread);
        let d = self.in_guild_of_channel(message_payload(id, id, author, body, &[]));
        self.dispatch("MESSAGE_CREATE", d);
        id
    }

    /// The names of the tags applied to a forum post.
    pub fn post_tags(&self, post: u64) -> Vec<String> {
        let inner = self.shared.lock();
        let Some(Kind::Thread { parent }) = inner.world.channels.get(&post).map(|c| c.kind) else {
            return Vec::new();
        };
        let available = inner
            .world
            .forum_tags
            .get(&parent)
            .cloned()
            .unwrap_or_default();
        inner
            .world
            .applied_tags
            .get(&post)
            .into_iter()
            .flatten()
            .filter_map(|id| {
                available
                    .iter()
                    .find(|(t, _)| t == id)
                    .map(|(_, n)| n.clone())
            })
            .collect()
    }

    /// The value for `discord.api_proxy`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// serenity's HTTP client pointed at the fake, rate limiter on, for tests that call REST
    /// themselves.
    pub fn http(&self) -> serenity::http::Http {
        serenity::http::HttpBuilder::new(TOKEN)
            .application_id(BOT_ID.into())
            .client(self.discord_http_client())
            .build()
    }

    pub fn calls(&self) -> Vec<RestCall> {
        self.shared.lock().calls.clone()
    }

    /// Every file the bot sent, with the request that carried it, in order.
    pub fn files_sent(&self) -> Vec<(RestCall, SentFile)> {
        self.calls()
            .into_iter()
            .flat_map(|call| {
                let files = call.files.clone();
                files.into_iter().map(move |f| (call.clone(), f))
            })
            .collect()
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.shared.lock().violations.clone()
    }

    /// Returns the violations so far and forgets them: for tests that provoke them on purpose.
    pub fn take_violations(&self) -> Vec<Violation> {
        std::mem::take(&mut self.shared.lock().violations)
    }

    pub fn gateway_ops(&self) -> Vec<GatewayOp> {
        self.shared.lock().gateway_ops.clone()
    }

    /// The thread started on `message`, if any (Discord gives it the message's ID).
    pub fn thread_on(&self, message: u64) -> Option<u64> {
        let inner = self.shared.lock();
        matches!(
            inner.world.channels.get(&message).map(|c| c.kind),
            Some(Kind::Thread { .. })
        )
        .then_some(message)
    }

    /// The DM channel opened to `user`, if any.
    pub fn dm_channel_of(&self, user: u64) -> Option<u64> {
        self.shared
            .lock()
            .world
            .channels
            .iter()
            .find(|(_, c)| c.kind == Kind::Dm { recipient: user })
            .map(|(id, _)| *id)
    }

    /// Sets what the bot's role grants guild-wide (the default is Manage Messages and Moderate
    /// Members). Set it before the bot connects: GUILD_CREATE carries it.
    pub fn set_bot_role_permissions(&self, bits: u64) {
        self.shared.lock().world.bot_role = bits;
    }

    /// Denies the bot's role `bits` in `channel` (a channel permission overwrite).
    pub fn deny_bot_in(&self, channel: u64, bits: u64) {
        if let Some(c) = self.shared.lock().world.channels.get_mut(&channel) {
            c.overwrites.push(Overwrite {
                id: BOT_ROLE,
                member: false,
                allow: 0,
                deny: bits,
            });
        }
    }

    /// A permission overwrite in `channel` for a role (`member` false) or a member; set it
    /// before the bot connects, as GUILD_CREATE describes the channel's overwrites.
    pub fn overwrite_in(&self, channel: u64, id: u64, member: bool, allow: u64, deny: u64) {
        if let Some(c) = self.shared.lock().world.channels.get_mut(&channel) {
            c.overwrites.push(Overwrite {
                id,
                member,
                allow,
                deny,
            });
        }
    }

    /// `user` accepts no direct messages from this server's members: a DM to them is 50007.
    pub fn refuse_dms_from(&self, user: u64) {
        self.shared.lock().world.closed_dms.insert(user);
    }

    /// Whether Discord still has `message` (the bot's delete removes it).
    pub fn has_message(&self, message: u64) -> bool {
        self.shared.lock().world.messages.contains_key(&message)
    }

    /// The content and components a message of the bot's shows now (after its edits).
    pub fn shown(&self, message: u64) -> Option<(String, Value)> {
        self.shared.lock().world.shown.get(&message).cloned()
    }

    /// The edits (PATCH) of `message`, in order, each with the time it arrived.
    pub fn edits_of(&self, message: u64) -> Vec<RestCall> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.method == Method::PATCH && c.path.ends_with(&format!("/messages/{message}"))
            })
            .collect()
    }

    /// The message is gone from Discord (its author deleted it), without a gateway event.
    pub fn remove_message(&self, message: u64) {
        self.shared.lock().world.messages.remove(&message);
    }

    /// A member starts a thread on `message` before the bot does; Discord tells the gateway.
    pub fn start_member_thread(&self, channel: u64, message: u64, name: &str) {
        let guild = {
            let mut inner = self.shared.lock();
            inner.world.add_thread(channel, message, name);
            inner.world.guild_of(channel)
        };
        let mut d = payloads::thread(guild, message, channel, MEMBER_THREAD_OWNER, name, 1440);
        d["newly_created"] = json!(true);
        self.dispatch("THREAD_CREATE", d);
    }

    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.shared.lock().limiter.limits = limits;
    }

    /// The next request gets a global 429 asking the client to wait `retry_after`.
    pub fn force_global_rate_limit(&self, retry_after: Duration) {
        self.shared.lock().limiter.force_global(retry_after);
    }

    /// Every 429 the fake answered.
    pub fn rate_limited(&self) -> Vec<RateLimited> {
        self.shared.lock().limiter.answered_429.clone()
    }

    /// Invalid requests (401, 403, 429) in the last ten minutes, as Discord counts them
    /// toward its ban at 10,000.
    pub fn invalid_requests(&self) -> usize {
        self.shared.lock().limiter.invalid_count()
    }

    /// The heartbeat interval the next HELLO asks for.
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.shared.lock().gateway.heartbeat_ms = interval.as_millis() as u64;
    }

    /// Leaves the next `n` heartbeats unacknowledged, as a half-dead connection does.
    pub fn withhold_heartbeat_acks(&self, n: usize) {
        self.shared.lock().gateway.withhold_acks = n;
    }

    /// As for a bot whose Message Content intent is off in the Developer Portal: an IDENTIFY
    /// asking for a privileged intent is closed with 4014.
    pub fn refuse_privileged_intents(&self) {
        self.shared.lock().gateway.refuse_privileged = true;
    }

    /// Op 7: Discord asks the client to reconnect and resume.
    pub fn request_reconnect(&self) {
        self.send_frame(json!({"op": 7, "d": null}).to_string());
    }

    /// Op 9: the session is invalid; `resumable` says whether RESUME may still work.
    pub fn invalidate_session(&self, resumable: bool) {
        self.send_frame(json!({"op": 9, "d": resumable}).to_string());
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
        self.shared.dispatch_frame(event, &d);
    }

    /// Sends a raw frame on every live connection (the one, without sharding).
    pub fn send_frame(&self, frame: String) {
        let connections = self.shared.live_connections();
        assert!(
            !connections.is_empty(),
            "the bot is connected to the fake gateway"
        );
        for conn in connections {
            conn.send(Command::Send(frame.clone()))
                .expect("gateway connection task is alive");
        }
    }

    /// Drops every gateway connection without a close frame, as a network failure would.
    pub fn drop_connection(&self) {
        let mut inner = self.shared.lock();
        for session in inner.gateway.sessions.values_mut() {
            if let Some(conn) = session.connection.take() {
                let _ = conn.send(Command::Drop);
            }
        }
    }

    /// Shards with a live, identified connection, lowest first.
    pub fn connected_shards(&self) -> Vec<u32> {
        self.shared
            .lock()
            .gateway
            .sessions
            .iter()
            .filter(|(_, s)| s.connection.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Waits until `shard` has a live, identified connection, or panics after `timeout`.
    pub async fn wait_for_shard(&self, shard: u32, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.connected_shards().contains(&shard) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "shard {shard} did not connect within {timeout:?}; connected: {:?}",
                self.connected_shards()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Adds a guild the bot is in whose events go to `shard` of `total` (its snowflake is
    /// picked so that `(id >> 22) % total == shard`), with one text channel, `#support`. Made
    /// before the bot connects, it is in READY; after, a GUILD_CREATE tells the shard, as when
    /// the bot is added to a server.
    pub fn add_guild_on_shard(&self, shard: u32, total: u32) -> FakeGuild {
        assert!(shard < total, "shard {shard} is not one of {total}");
        let (id, channel) = {
            let mut inner = self.shared.lock();
            // Guilds made in 2023, a few milliseconds apart, on the shard asked for.
            let mut ms = GUILD_EPOCH_MS + inner.world.guilds.len() as u64 * 7;
            while shard_of(ms << 22, total) != shard {
                ms += 1;
            }
            let mut id = (ms << 22) | (1 << 17) | 42;
            while inner.world.guilds.contains(&id) {
                id += u64::from(total) << 22;
            }
            inner.world.guilds.insert(id);
            let channel = self.shared.snowflake();
            inner.world.channels.insert(
                channel,
                state::Channel {
                    guild: Some(id),
                    kind: Kind::Text,
                    name: "support".into(),
                    overwrites: Vec::new(),
                },
            );
            (id, channel)
        };
        let created = payloads::guild(&self.shared.lock().world, id);
        self.dispatch("GUILD_CREATE", created);
        FakeGuild { id, channel }
    }

    pub fn next_id(&self) -> u64 {
        self.shared.snowflake()
    }

    /// A MESSAGE_CREATE from a member (or a bot) in a channel; returns the message ID.
    pub fn send_message(&self, channel_id: u64, author: Author, content: &str) -> u64 {
        self.send_message_with(channel_id, author, content, &[])
    }

    /// A MESSAGE_CREATE from a member of `guild` in one of its channels; returns the message ID.
    pub fn send_message_in(
        &self,
        guild: u64,
        channel_id: u64,
        author: Author,
        content: &str,
    ) -> u64 {
        let id = self.next_id();
        let mut payload = message_payload(id, channel_id, author, content, &[]);
        payload["guild_id"] = Value::from(guild.to_string());
        self.dispatch("MESSAGE_CREATE", payload);
        id
    }

    pub fn send_message_with(
        &self,
        channel_id: u64,
        author: Author,
        content: &str,
        mentions: &[u64],
    ) -> u64 {
        let id = self.next_id();
        let d =
            self.in_guild_of_channel(message_payload(id, channel_id, author, content, mentions));
        self.dispatch("MESSAGE_CREATE", d);
        id
    }

    /// A MESSAGE_CREATE from a member holding `roles`; returns the message ID.
    pub fn send_message_with_roles(
        &self,
        channel_id: u64,
        author: Author,
        content: &str,
        roles: &[u64],
    ) -> u64 {
        let id = self.next_id();
        let mut d = self.in_guild_of_channel(message_payload(id, channel_id, author, content, &[]));
        d["member"]["roles"] = roles.iter().map(|r| json!(r.to_string())).collect();
        self.dispatch("MESSAGE_CREATE", d);
        id
    }

    /// `d` (a message) with the `guild_id` of the guild its channel belongs to.
    fn in_guild_of_channel(&self, mut d: Value) -> Value {
        let channel = d["channel_id"].as_str().and_then(|c| c.parse().ok());
        if let Some(channel) = channel {
            let guild = self.shared.lock().world.guild_of(channel);
            d["guild_id"] = Value::from(guild.to_string());
        }
        d
    }

    /// Creates an interaction in `channel_id` that Discord would have sent `age` ago, without
    /// dispatching it: for tests that answer it over REST themselves. Returns its ID and token.
    pub fn open_interaction(&self, channel_id: u64, age: Duration) -> (u64, String) {
        let id = self.next_id();
        let token = interaction_token(id);
        let created = tokio::time::Instant::now()
            .checked_sub(age)
            .expect("the interaction's age fits the clock");
        self.shared.lock().interactions.insert(
            id,
            Interaction {
                token: token.clone(),
                channel_id,
                created,
                acknowledged: false,
            },
        );
        (id, token)
    }

    fn dispatch_interaction(&self, id: u64, d: Value) {
        let channel_id = d["channel_id"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        self.shared.lock().interactions.insert(
            id,
            Interaction {
                token: interaction_token(id),
                channel_id,
                created: tokio::time::Instant::now(),
                acknowledged: false,
            },
        );
        self.dispatch("INTERACTION_CREATE", d);
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
        self.command_interaction(name, options, None, channel_id, user_id, permissions)
    }

    /// A slash command whose options name channels: Discord sends what it resolved them to
    /// (`resolved`, `{"channels": {id: channel}}`) beside the options.
    pub fn send_command_resolved(
        &self,
        name: &str,
        options: Value,
        resolved: Value,
        channel_id: u64,
        user_id: u64,
        permissions: u64,
    ) -> u64 {
        self.command_interaction(
            name,
            options,
            Some(resolved),
            channel_id,
            user_id,
            permissions,
        )
    }

    fn command_interaction(
        &self,
        name: &str,
        options: Value,
        resolved: Option<Value>,
        channel_id: u64,
        user_id: u64,
        permissions: u64,
    ) -> u64 {
        let id = self.next_id();
        let mut d = interaction_base(id, 2, channel_id, user_id, permissions);
        d["data"] = command_data(name, options);
        if let Some(resolved) = resolved {
            d["data"]["resolved"] = resolved;
        }
        self.dispatch_interaction(id, d);
        id
    }

    /// A slash command with a file attached to its option `option` (Discord's type 11): the
    /// file goes on the fake CDN and the interaction carries it in `resolved.attachments`.
    /// `options` are the command's other options; `subcommand` nests them all under it.
    #[allow(clippy::too_many_arguments)]
    pub fn send_command_with_file(
        &self,
        name: &str,
        subcommand: &str,
        option: &str,
        (filename, content_type, bytes): (&str, &str, Vec<u8>),
        channel_id: u64,
        user_id: u64,
        permissions: u64,
    ) -> u64 {
        let attachment = self
            .shared
            .store_attachment(channel_id, filename, content_type, bytes);
        let id = attachment["id"].clone();
        let options = json!([{
            "name": subcommand, "type": 1,
            "options": [{"name": option, "type": 11, "value": id}]
        }]);
        let resolved = json!({"attachments": {id.as_str().unwrap_or_default(): attachment}});
        self.send_command_resolved(name, options, resolved, channel_id, user_id, permissions)
    }

    /// Paths the bot downloaded (or tried to) from the fake CDN, in order.
    pub fn cdn_requests(&self) -> Vec<String> {
        self.shared.lock().cdn_requests.clone()
    }

    /// A click on a button with `custom_id`, on a message the bot posted.
    pub fn click_button(
        &self,
        custom_id: &str,
        channel_id: u64,
        user_id: u64,
        permissions: u64,
    ) -> u64 {
        let message = self.next_id();
        self.click_button_on(custom_id, channel_id, message, user_id, permissions, &[])
    }

    /// A click on a button with `custom_id` under the bot's message `message_id`, by a member
    /// holding `roles` with `permissions` in the channel. Returns the interaction's ID.
    pub fn click_button_on(
        &self,
        custom_id: &str,
        channel_id: u64,
        message_id: u64,
        user_id: u64,
        permissions: u64,
        roles: &[u64],
    ) -> u64 {
        let id = self.next_id();
        let mut d = interaction_base(id, 3, channel_id, user_id, permissions);
        d["member"]["roles"] = roles.iter().map(|r| json!(r.to_string())).collect();
        d["data"] = json!({"custom_id": custom_id, "component_type": 2});
        d["message"] = message_payload(message_id, channel_id, Author::Bot(BOT_ID), "page", &[]);
        self.dispatch_interaction(id, d);
        id
    }

    /// A member submitting a form (modal) the bot showed: `fields` are the text inputs'
    /// custom IDs and what was typed, each in its own action row as Discord sends them.
    pub fn submit_modal(
        &self,
        custom_id: &str,
        fields: &[(&str, &str)],
        channel_id: u64,
        user_id: u64,
        permissions: u64,
    ) -> u64 {
        let id = self.next_id();
        let mut d = interaction_base(id, 5, channel_id, user_id, permissions);
        let rows: Vec<Value> = fields
            .iter()
            .map(|(field, value)| {
                json!({"type": 1, "components": [
                    {"type": 4, "custom_id": field, "value": value}
                ]})
            })
            .collect();
        d["data"] = json!({"custom_id": custom_id, "components": rows});
        self.dispatch_interaction(id, d);
        id
    }

    /// Sends one raw HTTP/1.1 request to the fake's REST side, as any client could, and returns
    /// the status and JSON body (`Null` when empty).
    pub async fn raw_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut stream = tokio::net::TcpStream::connect(self.shared.addr)
            .await
            .expect("connect to the fake");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bot {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.shared.addr,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("read the answer");
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response
            .split_once("\r\n\r\n")
            .expect("an HTTP answer has a head");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("an HTTP status");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}
