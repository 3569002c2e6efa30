//! A guild's settings as the bot uses them: staff channel, support role, optional timeout for
//! blocked authors, and the classifier policy. Stored as one JSON document per guild; validated
//! before saving so a bad pattern is refused when the admin sets it, not when a message arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::classifier::{Category, Policy, PolicyConfig, PolicyError};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use store::Store;
use tracing::warn;

use crate::config::RetentionConfig;

/// Longest timeout Discord allows (28 days), in minutes.
pub const MAX_TIMEOUT_MINUTES: u32 = 28 * 24 * 60;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuildSettings {
    /// Where block and escalation notices go; none means notices are skipped.
    pub staff_channel_id: Option<u64>,
    /// Pinged when the bot hands a conversation to people; without one, the staff channel is
    /// notified instead.
    pub support_role_id: Option<u64>,
    /// Time out the author of a blocked message for this long; 0 = never.
    pub timeout_minutes: u32,
    pub policy: PolicyConfig,
    /// The guild's own, shorter retention periods.
    #[serde(skip_serializing_if = "RetentionOverrides::is_empty")]
    pub retention: RetentionOverrides,
    /// The guild's language (ISO 639-1): answers fall back to it when a member's language
    /// cannot be told, and its knowledge is stemmed in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl GuildSettings {
    /// Whether a member is staff here: they may manage messages (or administer), or hold the
    /// support role.
    pub fn is_staff(&self, roles: &[u64], manages_messages: bool) -> bool {
        manages_messages
            || self
                .support_role_id
                .is_some_and(|role| roles.contains(&role))
    }

    /// The guild's language, when it set one the agent knows.
    pub fn language(&self) -> Option<agent::answer::Language> {
        self.language
            .as_deref()
            .and_then(agent::answer::Language::from_code)
    }
}

/// A guild may keep its data for less time than the instance does, never for more: each period
/// is at least one day and at most the instance's own (`retention.*_days`). The retention job
/// applies the shorter of the two, so lowering the instance's period later lowers every guild's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_days: Option<u32>,
}

impl RetentionOverrides {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Refuses a period outside 1 day ..= the instance's period.
    pub fn check(&self, instance: &RetentionConfig) -> Result<(), SettingsError> {
        for (what, chosen, max) in [
            ("message_days", self.message_days, instance.message_days),
            ("trace_days", self.trace_days, instance.trace_days),
            ("audit_days", self.audit_days, instance.audit_days),
        ] {
            if let Some(days) = chosen
                && !(1..=max).contains(&days)
            {
                return Err(SettingsError::Retention { what, days, max });
            }
        }
        Ok(())
    }

    /// The periods that apply to the guild: the shorter of its own and the instance's.
    pub fn apply_to(&self, instance: &RetentionConfig) -> RetentionConfig {
        let shorter = |own: Option<u32>, max: u32| own.map_or(max, |d| d.clamp(1, max));
        RetentionConfig {
            message_days: shorter(self.message_days, instance.message_days),
            trace_days: shorter(self.trace_days, instance.trace_days),
            audit_days: shorter(self.audit_days, instance.audit_days),
            left_guild_grace_days: instance.left_guild_grace_days,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("timeout must be between 0 and {MAX_TIMEOUT_MINUTES} minutes (28 days), got {0}")]
    Timeout(u32),
    #[error(
        "{what} must be from 1 to {max} days (a guild may keep data for less time than this instance, not more), got {days}"
    )]
    Retention {
        what: &'static str,
        days: u32,
        max: u32,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// How ids are written when settings are described: as Discord mentions, or as plain numbers
/// for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdStyle {
    Mention,
    Plain,
}

impl GuildSettings {
    /// Adds an example message for a category (or `benign`); `false` when it was already there.
    /// Limits are checked when the settings are saved.
    pub fn add_example(&mut self, category: &str, text: &str) -> bool {
        let texts = self
            .policy
            .examples
            .entry(category.trim().to_lowercase())
            .or_default();
        let text = text.trim();
        if texts.iter().any(|t| t == text) {
            return false;
        }
        texts.push(text.to_owned());
        true
    }

    /// Removes one example, compared after trimming as examples are stored; `false` when the
    /// category had no such example.
    pub fn remove_example(&mut self, category: &str, text: &str) -> bool {
        let category = category.trim().to_lowercase();
        let Some(texts) = self.policy.examples.get_mut(&category) else {
            return false;
        };
        let before = texts.len();
        texts.retain(|t| t != text.trim());
        let found = texts.len() < before;
        if texts.is_empty() {
            self.policy.examples.remove(&category);
        }
        found
    }

    /// One line per setting, for `/policy show` and `supportbot policy show`. Example texts are
    /// counted, not quoted: they may be the very messages the guild wants to catch.
    pub fn describe(&self, policy: &Policy, ids: IdStyle) -> Vec<String> {
        let channel = |c: u64| match ids {
            IdStyle::Mention => format!("<#{c}>"),
            IdStyle::Plain => format!("channel {c}"),
        };
        let role = |r: u64| match ids {
            IdStyle::Mention => format!("<@&{r}>"),
            IdStyle::Plain => format!("role {r}"),
        };
        let mut lines = vec![format!(
            "Staff channel: {}. Support role: {}. Timeout for blocked authors: {}. Shadow mode: {}.",
            self.staff_channel_id.map_or("none".to_string(), channel),
            self.support_role_id.map_or("none".to_string(), role),
            if self.timeout_minutes == 0 {
                "off".to_string()
            } else {
                format!("{} min", self.timeout_minutes)
            },
            if self.policy.shadow { "on" } else { "off" },
        )];
        for c in Category::ALL {
            let setting = policy.setting(c);
            lines.push(format!(
                "`{}`: {:?}, {:?} sensitivity",
                c.as_str(),
                setting.action,
                setting.sensitivity
            ));
        }
        let list = |name: &str, items: Vec<String>| {
            format!(
                "{name}: {}",
                if items.is_empty() {
                    "none".to_string()
                } else {
                    items.join(", ")
                }
            )
        };
        let p = &self.policy;
        let quoted = |items: &[String]| items.iter().map(|w| format!("`{w}`")).collect();
        lines.push(list("Blocked words", quoted(&p.blocked_words)));
        lines.push(list("Blocked patterns", quoted(&p.blocked_patterns)));
        lines.push(list("Allowed domains", p.allowed_domains.clone()));
        lines.push(list(
            "Exempt roles",
            p.exempt_roles.iter().map(|&r| role(r)).collect(),
        ));
        lines.push(list(
            "Exempt channels",
            p.exempt_channels.iter().map(|&c| channel(c)).collect(),
        ));
        lines.push(list(
            "Examples",
            p.examples
                .iter()
                .map(|(label, texts)| format!("`{label}` {}", texts.len()))
                .collect(),
        ));
        lines
    }
}

/// Settings plus the compiled policy, shared by every message of a guild.
pub struct GuildContext {
    pub settings: GuildSettings,
    pub policy: Policy,
}

/// Caches compiled guild contexts. Entries expire so that several processes (shards) sharing one
/// database pick up each other's changes within `ttl`.
pub struct GuildSettingsCache {
    store: Store,
    ttl: Duration,
    entries: Mutex<HashMap<u64, (Instant, Arc<GuildContext>)>>,
}

impl GuildSettingsCache {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Instant, Arc<GuildContext>)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn get(&self, guild_id: u64) -> Result<Arc<GuildContext>, store::StoreError> {
        if let Some((at, ctx)) = self.entries().get(&guild_id)
            && at.elapsed() < self.ttl
        {
            return Ok(Arc::clone(ctx));
        }
        let raw = self.store.guild_settings(guild_id as i64).await?;
        let settings: GuildSettings = serde_json::from_value(raw).unwrap_or_else(|e| {
            warn!(guild_id, error = %e, "stored guild settings unreadable; using defaults");
            GuildSettings::default()
        });
        let policy = Policy::new(settings.policy.clone()).unwrap_or_else(|e| {
            warn!(guild_id, error = %e, "stored policy invalid; using the default policy");
            Policy::default()
        });
        let ctx = Arc::new(GuildContext { settings, policy });
        self.entries()
            .insert(guild_id, (Instant::now(), Arc::clone(&ctx)));
        Ok(ctx)
    }

    /// Applies a change, validates it (the policy compiles, the timeout is in range), saves it
    /// and refreshes the cache. Nothing is saved when validation fails.
    pub async fn update(
        &self,
        guild_id: u64,
        change: impl FnOnce(&mut GuildSettings) -> Result<(), SettingsError>,
    ) -> Result<GuildSettings, SettingsError> {
        let raw = self.store.guild_settings(guild_id as i64).await?;
        let mut settings: GuildSettings = serde_json::from_value(raw).unwrap_or_default();
        change(&mut settings)?;
        if settings.timeout_minutes > MAX_TIMEOUT_MINUTES {
            return Err(SettingsError::Timeout(settings.timeout_minutes));
        }
        let policy = Policy::new(settings.policy.clone())?;
        let json = serde_json::to_value(&settings).expect("settings serialize to JSON");
        self.store
            .set_guild_settings(guild_id as i64, &json, Utc::now())
            .await?;
        self.entries().insert(
            guild_id,
            (
                Instant::now(),
                Arc::new(GuildContext {
                    settings: settings.clone(),
                    policy,
                }),
            ),
        );
        Ok(settings)
    }

    /// Drops a guild's entry, so its next message reads the store (after a purge).
    pub fn forget(&self, guild_id: u64) {
        self.entries().remove(&guild_id);
    }

    /// Drops entries older than the TTL, bounding memory.
    pub fn maintain(&self) {
        let ttl = self.ttl;
        self.entries().retain(|_, (at, _)| at.elapsed() < ttl);
    }
}
