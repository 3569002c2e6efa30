//! The gateway WebSocket: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME, and the
//! dispatches tests inject.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::payloads::{check_dispatch, guild, ready};
use super::{Command, GatewayOp, Shared};

pub(super) async fn gateway(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
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
        let mut d = super::message_payload(id, channel_id, author, content, &[]);
        d["edited_timestamp"] = json!("2024-01-01T00:05:00.000000+00:00");
        self.dispatch("MESSAGE_UPDATE", d);
    }

    /// A MESSAGE_DELETE: someone deleted message `id` in `channel_id`.
    pub fn inject_message_delete(&self, id: u64, channel_id: u64) {
        self.dispatch(
            "MESSAGE_DELETE",
            json!({
                "id": id.to_string(),
                "channel_id": channel_id.to_string(),
                "guild_id": super::GUILD_ID.to_string()
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
                "guild_id": super::GUILD_ID.to_string()
            }),
        );
    }
}
