//! Agent traces: how each answer was decided (prompt, response, model, provider, tokens,
//! latency, action). They hold message text, so they expire (`trace_days`) and the retention
//! pass deletes them; analytics read only their metadata columns.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::{Result, Store, on_pool, ts};

#[derive(Debug, Clone)]
pub struct NewTrace<'a> {
    pub guild_id: i64,
    pub conversation_id: Option<i64>,
    pub message_id: Option<i64>,
    /// The action taken: reply, ask, handoff, escalate.
    pub kind: &'a str,
    pub model: Option<&'a str>,
    pub latency_ms: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// The full trace as JSON.
    pub payload: &'a serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredTrace {
    pub id: i64,
    pub guild_id: i64,
    pub conversation_id: Option<i64>,
    pub message_id: Option<i64>,
    pub kind: String,
    pub model: Option<String>,
    pub latency_ms: i64,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct TraceRow {
    id: i64,
    guild_id: i64,
    conversation_id: Option<i64>,
    message_id: Option<i64>,
    kind: String,
    model: Option<String>,
    latency_ms: i64,
    tokens_in: Option<i64>,
    tokens_out: Option<i64>,
    payload: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl Store {
    pub async fn insert_trace(&self, t: &NewTrace<'_>) -> Result<i64> {
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "INSERT INTO traces (guild_id, conversation_id, message_id, kind, model, latency_ms, tokens_in, tokens_out, payload, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             RETURNING id",
        )
        .bind(t.guild_id)
        .bind(t.conversation_id)
        .bind(t.message_id)
        .bind(t.kind)
        .bind(t.model)
        .bind(t.latency_ms)
        .bind(t.tokens_in)
        .bind(t.tokens_out)
        .bind(Json(t.payload))
        .bind(ts(t.created_at))
        .bind(ts(t.expires_at))
        .fetch_one(pool)
        .await)?;
        Ok(id)
    }

    /// A guild's traces, newest first.
    pub async fn traces(&self, guild_id: i64, limit: i64) -> Result<Vec<StoredTrace>> {
        let rows: Vec<TraceRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, guild_id, conversation_id, message_id, kind, model, latency_ms, tokens_in, tokens_out, payload, created_at, expires_at
             FROM traces WHERE guild_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(guild_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(StoredTrace::from).collect())
    }

    /// A guild's traces, or (with `member`) those of the member's conversations and messages,
    /// for an export.
    pub(crate) async fn export_traces(
        &self,
        guild_id: i64,
        member: Option<i64>,
    ) -> Result<Vec<StoredTrace>> {
        let rows: Vec<TraceRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, guild_id, conversation_id, message_id, kind, model, latency_ms, tokens_in, tokens_out, payload, created_at, expires_at
             FROM traces
             WHERE guild_id = $1
               AND ($2 IS NULL
                    OR conversation_id IN (SELECT id FROM conversations WHERE guild_id = $1 AND author_id = $2)
                    OR message_id IN (SELECT discord_message_id FROM messages WHERE guild_id = $1 AND author_id = $2))
             ORDER BY id",
        )
        .bind(guild_id)
        .bind(member)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(StoredTrace::from).collect())
    }

    /// Model tokens (prompt and completion) a guild spent since `since`, for its daily budget.
    pub async fn tokens_used_since(&self, guild_id: i64, since: DateTime<Utc>) -> Result<u64> {
        let used: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT CAST(SUM(COALESCE(tokens_in, 0) + COALESCE(tokens_out, 0)) AS BIGINT)
             FROM traces WHERE guild_id = $1 AND created_at >= $2",
        )
        .bind(guild_id)
        .bind(ts(since))
        .fetch_one(pool)
        .await)?;
        Ok(used.unwrap_or(0).max(0) as u64)
    }
}

impl From<TraceRow> for StoredTrace {
    fn from(r: TraceRow) -> Self {
        StoredTrace {
            id: r.id,
            guild_id: r.guild_id,
            conversation_id: r.conversation_id,
            message_id: r.message_id,
            kind: r.kind,
            model: r.model,
            latency_ms: r.latency_ms,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            payload: r.payload.0,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}
