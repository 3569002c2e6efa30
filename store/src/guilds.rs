//! Guild rows (ID and settings only, never user tokens) and per-channel settings.

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

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct ChannelSetting {
    pub guild_id: i64,
    pub channel_id: i64,
    pub enabled: bool,
    pub updated_by: Option<i64>,
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

    /// Enables or disables the bot in one channel. Nothing is enabled by default.
    pub async fn set_channel_enabled(
        &self,
        guild_id: i64,
        channel_id: i64,
        enabled: bool,
        updated_by: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        self.ensure_guild(guild_id, now).await?;
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO channel_settings (guild_id, channel_id, enabled, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (guild_id, channel_id)
             DO UPDATE SET enabled = $3, updated_by = $4, updated_at = $5",
        )
        .bind(guild_id)
        .bind(channel_id)
        .bind(enabled)
        .bind(updated_by)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn is_channel_enabled(&self, guild_id: i64, channel_id: i64) -> Result<bool> {
        let enabled: Option<bool> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT enabled FROM channel_settings WHERE guild_id = $1 AND channel_id = $2",
        )
        .bind(guild_id)
        .bind(channel_id)
        .fetch_optional(pool)
        .await)?;
        Ok(enabled.unwrap_or(false))
    }

    /// A guild's channel settings, or (with `member`) those the member last changed, for an
    /// export.
    pub(crate) async fn export_channel_settings(
        &self,
        guild_id: i64,
        member: Option<i64>,
    ) -> Result<Vec<ChannelSetting>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT guild_id, channel_id, enabled, updated_by, updated_at FROM channel_settings
             WHERE guild_id = $1 AND ($2 IS NULL OR updated_by = $2) ORDER BY channel_id",
        )
        .bind(guild_id)
        .bind(member)
        .fetch_all(pool)
        .await)?)
    }

    pub async fn channel_settings(&self, guild_id: i64) -> Result<Vec<ChannelSetting>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT guild_id, channel_id, enabled, updated_by, updated_at FROM channel_settings
             WHERE guild_id = $1 ORDER BY channel_id",
        )
        .bind(guild_id)
        .fetch_all(pool)
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
