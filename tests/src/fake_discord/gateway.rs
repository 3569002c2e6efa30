//! The gateway WebSocket: HELLO, IDENTIFY -> READY + GUILD_CREATE for the guilds on the
//! connection's shard (or a close code for a wrong token, a refused intent or an invalid shard),
//! heartbeats (some left unacknowledged on request), RESUME that replays what the client
//! missed, and the dispatches tests inject. Several connections, one per shard, at once.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::payloads::{TOKEN, check_dispatch, guild, ready};
use super::{Command, GatewayOp, Session, Shared};

/// Intents Discord grants only when the Developer Portal allows them: GUILD_MEMBERS,
/// GUILD_PRESENCES, MESSAGE_CONTENT.
const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);

pub(super) async fn gateway(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    ws.on_upgrade(move |socket| session(socket, shared))
}

/// What one frame from the client makes the fake do.
enum Step {
    Reply(Vec<String>),
    Close(u16, &'static str),
}

async fn session(socket: WebSocket, shared: Arc<Shared>) {
    let (mut tx, mut rx) = socket.split();
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    let heartbeat_ms = {
        let mut inner = shared.lock();
        inner.connections += 1;
        inner.gateway.heartbeat_ms
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": heartbeat_ms}, "s": null, "t": null});
    if tx
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            frame = rx.next() => {
                let text = match frame {
                    Some(Ok(WsMessage::Text(t))) => t.to_string(),
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else { continue };
                match step(&shared, &payload, &cmd_tx) {
                    Step::Reply(frames) => {
                        for frame in frames {
                            if tx.send(WsMessage::Text(frame.into())).await.is_err() {
                                break;
                            }
                        }
                    }
                    Step::Close(code, reason) => {
                        let _ = tx
                            .send(WsMessage::Close(Some(CloseFrame { code, reason: reason.into() })))
                            .await;
                        break;
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
    let mut inner = shared.lock();
    for session in inner.gateway.sessions.values_mut() {
        if session
            .connection
            .as_ref()
            .is_some_and(|c| c.same_channel(&cmd_tx))
        {
            session.connection = None;
        }
    }
}

fn step(shared: &Shared, payload: &Value, cmd_tx: &mpsc::UnboundedSender<Command>) -> Step {
    match payload["op"].as_u64() {
        Some(1) => {
            let mut inner = shared.lock();
            if inner.gateway.withhold_acks > 0 {
                inner.gateway.withhold_acks -= 1;
                return Step::Reply(Vec::new());
            }
            Step::Reply(vec![json!({"op": 11}).to_string()])
        }
        Some(2) => identify(shared, &payload["d"], cmd_tx),
        Some(6) => resume(shared, &payload["d"], cmd_tx),
        _ => Step::Reply(Vec::new()),
    }
}

/// IDENTIFY's `shard: [shard_id, num_shards]`; a client that sends none is shard 0 of 1.
/// `None` for a shard Discord would refuse.
fn identified_shard(d: &Value) -> Option<[u32; 2]> {
    let shard = &d["shard"];
    if shard.is_null() {
        return Some([0, 1]);
    }
    let part = |i: usize| shard[i].as_u64().and_then(|v| u32::try_from(v).ok());
    let (id, total) = (part(0)?, part(1)?);
    (shard.as_array().map(Vec::len) == Some(2) && id < total).then_some([id, total])
}

fn identify(shared: &Shared, d: &Value, cmd_tx: &mpsc::UnboundedSender<Command>) -> Step {
    let (shard, session_id, guilds) = {
        let mut inner = shared.lock();
        inner.gateway_ops.push(GatewayOp::Identify(d.clone()));
        if d["token"] != format!("Bot {TOKEN}") {
            return Step::Close(4004, "Authentication failed.");
        }
        let intents = d["intents"].as_u64().unwrap_or(0);
        if inner.gateway.refuse_privileged && intents & PRIVILEGED_INTENTS != 0 {
            return Step::Close(4014, "Disallowed intent(s).");
        }
        let Some(shard) = identified_shard(d) else {
            return Step::Close(4010, "Invalid shard.");
        };
        // Sessions of another shard count are from an earlier run of the bot: events go by
        // the new count now.
        inner.gateway.sessions.retain(|_, s| s.shard[1] == shard[1]);
        // A new session: sequence numbers start again and nothing earlier can be resumed.
        inner.gateway.started += 1;
        inner
            .gateway
            .first_start
            .get_or_insert_with(std::time::Instant::now);
        let id = format!("session-{}", inner.gateway.started);
        inner.gateway.sessions.insert(
            shard[0],
            Session {
                id: id.clone(),
                shard,
                seq: 0,
                log: Vec::new(),
                connection: Some(cmd_tx.clone()),
            },
        );
        let guilds: Vec<u64> = inner
            .world
            .guilds
            .iter()
            .copied()
            .filter(|g| super::shard_of(*g, shard[1]) == shard[0])
            .collect();
        (shard, id, guilds)
    };
    let sharded = (!d["shard"].is_null()).then_some(shard);
    let ready = ready(&session_id, shared.addr, &guilds, sharded);
    check_dispatch("READY", &ready);
    shared.dispatch_to(shard[0], "READY", &ready);
    for id in guilds {
        let created = guild(&shared.lock().world, id);
        check_dispatch("GUILD_CREATE", &created);
        shared.dispatch_to(shard[0], "GUILD_CREATE", &created);
    }
    Step::Reply(Vec::new())
}

/// RESUME: the events of that session after the client's last sequence number, then
/// RESUMED; an unknown session gets op 9 (not resumable).
fn resume(shared: &Shared, d: &Value, cmd_tx: &mpsc::UnboundedSender<Command>) -> Step {
    let (shard, missed) = {
        let mut inner = shared.lock();
        inner.gateway_ops.push(GatewayOp::Resume(d.clone()));
        if d["token"] != format!("Bot {TOKEN}") {
            return Step::Close(4004, "Authentication failed.");
        }
        let Some((&shard, session)) = inner
            .gateway
            .sessions
            .iter_mut()
            .find(|(_, s)| d["session_id"] == s.id.as_str())
        else {
            return Step::Reply(vec![json!({"op": 9, "d": false}).to_string()]);
        };
        let after = d["seq"].as_u64().unwrap_or(0);
        let missed: Vec<String> = session
            .log
            .iter()
            .filter(|(s, _)| *s > after)
            .map(|(_, frame)| frame.clone())
            .collect();
        // Later dispatches go out live, after the replay below.
        session.connection = Some(cmd_tx.clone());
        (shard, missed)
    };
    shared.dispatch_to(shard, "RESUMED", &json!({}));
    Step::Reply(missed)
}

/// Edits and deletions, as Discord sends them to the bot.
impl super::FakeDiscord {
    /// A MESSAGE_UPDATE: `author` edited message `id` in `channel_id` to `content`. Discord
    /// sends the whole message again, with `edited_timestamp` set.
    pub fn inject_message_update(
        &self,
        id: u64,
        channel_id: u64,
        author: super::Author,
        content: &str,
    ) {
        let mut d =
            self.in_guild_of_channel(super::message_payload(id, channel_id, author, content, &[]));
        d["edited_timestamp"] = json!("2024-01-01T00:05:00.000000+00:00");
        self.dispatch("MESSAGE_UPDATE", d);
    }

    fn guild_of(&self, channel: u64) -> u64 {
        self.shared.lock().world.guild_of(channel)
    }

    /// A MESSAGE_DELETE: someone deleted message `id` in `channel_id`.
    pub fn inject_message_delete(&self, id: u64, channel_id: u64) {
        self.dispatch(
            "MESSAGE_DELETE",
            json!({
                "id": id.to_string(),
                "channel_id": channel_id.to_string(),
                "guild_id": self.guild_of(channel_id).to_string()
            }),
        );
    }

    /// A MESSAGE_DELETE_BULK: a moderator purged `ids` in `channel_id`.
    pub fn inject_message_delete_bulk(&self, ids: &[u64], channel_id: u64) {
        self.dispatch(
            "MESSAGE_DELETE_BULK",
            json!({
                "ids": ids.iter().map(u64::to_string).collect::<Vec<_>>(),
                "channel_id": channel_id.to_string(),
                "guild_id": self.guild_of(channel_id).to_string()
            }),
        );
    }
}
