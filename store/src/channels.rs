//! Per-channel settings: where the bot answers on its own (the channel's mode) and how long it
//! leaves a question to people first (the human-first delay). A channel without a row has the
//! defaults: mentions only, no delay.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::{Result, Store, StoreError, on_pool, ts};

/// Where the bot answers in a channel (and the threads under it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelMode {
    /// Never answers, not even when mentioned; moderation still runs.
    Off,
    /// Answers when mentioned, and follow-ups in the threads it opened.
    #[default]
    Mention,
    /// Answers questions that need an answer without a mention; thanks, greetings, chit-chat
    /// and talk between members are left alone.
    Auto,
    /// A forum channel: every new post is answered inside the post, and the forum's status
    /// tags ("answered", "needs human", "solved") are applied when it has them.
    Forum,
}

impl ChannelMode {
    pub const ALL: [ChannelMode; 4] = [
        ChannelMode::Off,
        ChannelMode::Mention,
        ChannelMode::Auto,
        ChannelMode::Forum,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Mention => "mention",
            Self::Auto => "auto",
            Self::Forum => "forum",
        }
    }
}

impl fmt::Display for ChannelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel mode {0:?} (expected off, mention, auto or forum)")]
pub struct UnknownChannelMode(pub String);

impl FromStr for ChannelMode {
    type Err = UnknownChannelMode;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownChannelMode(s.to_string()))
    }
}

/// How long the bot waits before answering, so people can answer first: 0 (answer at once) up
/// to an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(transparent)]
pub struct HumanFirstDelay(u32);

impl HumanFirstDelay {
    pub const MAX_SECS: u32 = 3600;

    /// `None` beyond `MAX_SECS`.
    pub fn from_secs(secs: u32) -> Option<Self> {
        (secs <= Self::MAX_SECS).then_some(Self(secs))
    }

    pub fn secs(self) -> u32 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0))
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChannelSetting {
    pub guild_id: i64,
    pub channel_id: i64,
    pub mode: ChannelMode,
    #[serde(rename = "human_first_seconds")]
    pub human_first: HumanFirstDelay,
    pub updated_by: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ChannelSettingRow {
    guild_id: i64,
    channel_id: i64,
    mode: String,
    human_first_seconds: i64,
    updated_by: Option<i64>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ChannelSettingRow> for ChannelSetting {
    type Error = StoreError;

    fn try_from(r: ChannelSettingRow) -> Result<Self> {
        let mode = r
            .mode
            .parse()
            .map_err(|e: UnknownChannelMode| StoreError::Corrupt(e.to_string()))?;
        let human_first = u32::try_from(r.human_first_seconds)
            .ok()
            .and_then(HumanFirstDelay::from_secs)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "human-first delay of {} s out of range",
                    r.human_first_seconds
                ))
            })?;
        Ok(ChannelSetting {
            guild_id: r.guild_id,
            channel_id: r.channel_id,
            mode,
            human_first,
            updated_by: r.updated_by,
            updated_at: r.updated_at,
        })
    }
}

macro_rules! channel_columns {
    () => {
        "guild_id, channel_id, mode, human_first_seconds, updated_by, updated_at"
    };
}

impl Store {
    /// Sets a channel's mode and, when given, its human-first delay (left as it was when not).
    pub async fn set_channel_mode(
        &self,
        guild_id: i64,
        channel_id: i64,
        mode: ChannelMode,
        human_first: Option<HumanFirstDelay>,
        updated_by: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        self.ensure_guild(guild_id, now).await?;
        let delay = human_first.map(|d| i64::from(d.secs()));
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO channel_settings (guild_id, channel_id, mode, human_first_seconds, updated_by, updated_at)
             VALUES ($1, $2, $3, COALESCE($4, 0), $5, $6)
             ON CONFLICT (guild_id, channel_id)
             DO UPDATE SET mode = $3,
                           human_first_seconds = COALESCE($4, channel_settings.human_first_seconds),
                           updated_by = $5, updated_at = $6",
        )
        .bind(guild_id)
        .bind(channel_id)
        .bind(mode.as_str())
        .bind(delay)
        .bind(updated_by)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// `/support enable` and `disable`, the shorthand from before modes: enabled is `auto`,
    /// disabled is `mention`. The delay is kept.
    pub async fn set_channel_enabled(
        &self,
        guild_id: i64,
        channel_id: i64,
        enabled: bool,
        updated_by: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mode = if enabled {
            ChannelMode::Auto
        } else {
            ChannelMode::Mention
        };
        self.set_channel_mode(guild_id, channel_id, mode, None, updated_by, now)
            .await
    }

    /// Whether the bot answers questions in the channel without a mention (`auto`).
    pub async fn is_channel_enabled(&self, guild_id: i64, channel_id: i64) -> Result<bool> {
        Ok(self
            .channel_setting(guild_id, channel_id)
            .await?
            .is_some_and(|s| s.mode == ChannelMode::Auto))
    }

    /// The channel's own row; `None` when it has the defaults.
    pub async fn channel_setting(
        &self,
        guild_id: i64,
        channel_id: i64,
    ) -> Result<Option<ChannelSetting>> {
        let row: Option<ChannelSettingRow> = on_pool!(self, pool => sqlx::query_as(concat!(
            "SELECT ", channel_columns!(), " FROM channel_settings
             WHERE guild_id = $1 AND channel_id = $2"
        ))
        .bind(guild_id)
        .bind(channel_id)
        .fetch_optional(pool)
        .await)?;
        row.map(ChannelSetting::try_from).transpose()
    }

    pub async fn channel_settings(&self, guild_id: i64) -> Result<Vec<ChannelSetting>> {
        self.export_channel_settings(guild_id, None).await
    }

    /// A guild's channel settings, or (with `member`) those the member last changed, for an
    /// export.
    pub(crate) async fn export_channel_settings(
        &self,
        guild_id: i64,
        member: Option<i64>,
    ) -> Result<Vec<ChannelSetting>> {
        let rows: Vec<ChannelSettingRow> = on_pool!(self, pool => sqlx::query_as(concat!(
            "SELECT ", channel_columns!(), " FROM channel_settings
             WHERE guild_id = $1 AND ($2 IS NULL OR updated_by = $2) ORDER BY channel_id"
        ))
        .bind(guild_id)
        .bind(member)
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(ChannelSetting::try_from).collect()
    }
}
