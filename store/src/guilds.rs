//! Guild rows: IDs and settings only, never user tokens.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::{Result, Store, on_pool, ts};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct Guild {
    pub guild_id: i64,
    pub settings: Json<serde_json::Value>,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Records that the bot is in a guild (GUILD_CREATE). A guild that had left and came back
    /// is marked present again; its settings are kept.
    pub async fn upsert_guild(&self, guild_id: i64, now: DateTime<Utc>) -> Result<()> {
        let now = ts(now);
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO guilds (guild_id, joined_at, created_at, updated_at) VALUES ($1, $2, $2, $2)
             ON CONFLICT (guild_id) DO UPDATE SET left_at = NULL, updated_at = $2
             WHERE guilds.left_at IS NOT NULL",
        )
        .bind(guild_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Makes sure a guild row exists without touching an existing one.
    pub async fn ensure_guild(&self, guild_id: i64, now: DateTime<Utc>) -> Result<()> {
        let now = ts(now);
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO guilds (guild_id, joined_at, created_at, updated_at) VALUES ($1, $2, $2, $2)
             ON CONFLICT (guild_id) DO NOTHING",
        )
        .bind(guild_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Marks a guild as left (GUILD_DELETE without `unavailable`); purging happens after a grace
    /// period elsewhere.
    pub async fn mark_guild_left(&self, guild_id: i64, now: DateTime<Utc>) -> Result<()> {
        let now = ts(now);
        on_pool!(self, pool => sqlx::query(
            "UPDATE guilds SET left_at = $2, updated_at = $2 WHERE guild_id = $1 AND left_at IS NULL",
        )
        .bind(guild_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn guild(&self, guild_id: i64) -> Result<Option<Guild>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT guild_id, settings, joined_at, left_at, created_at, updated_at FROM guilds WHERE guild_id = $1",
        )
        .bind(guild_id)
        .fetch_optional(pool)
        .await)?)
    }
}

impl Store {
    /// A guild's settings document (`{}` for a guild we have not seen).
    pub async fn guild_settings(&self, guild_id: i64) -> Result<serde_json::Value> {
        let settings: Option<Json<serde_json::Value>> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT settings FROM guilds WHERE guild_id = $1",
        )
        .bind(guild_id)
        .fetch_optional(pool)
        .await)?;
        Ok(settings
            .map(|s| s.0)
            .unwrap_or_else(|| serde_json::json!({})))
    }

    /// Replaces a guild's settings document, creating the guild row if needed.
    pub async fn set_guild_settings(
        &self,
        guild_id: i64,
        settings: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO guilds (guild_id, settings, joined_at, created_at, updated_at) VALUES ($1, $2, $3, $3, $3)
             ON CONFLICT (guild_id) DO UPDATE SET settings = $2, updated_at = $3",
        )
        .bind(guild_id)
        .bind(Json(settings))
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
