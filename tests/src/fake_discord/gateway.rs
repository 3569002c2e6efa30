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
