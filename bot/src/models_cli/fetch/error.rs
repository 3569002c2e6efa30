//! How a fetch fails, each error saying what to do about it.

use std::path::PathBuf;
use std::time::Duration;

use super::REPO;
use crate::models_cli::progress::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the hub URL `{0}` is not an http:// or https:// URL")]
    HubUrl(String),
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error(
        "cannot reach the model hub at {hub}: check this machine's internet access, or --hub-url \
         (SUPPORTBOT_MODELS__HUB_URL)"
    )]
    Unreachable {
        hub: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the hub stopped answering while sending {file}; run the command again")]
    TimedOut {
        file: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("the request for {file} failed")]
    Request {
        file: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "revision `{revision}` does not exist in {REPO} on {hub} (HTTP 404): check --revision, a \
         branch, tag or commit (default: main)"
    )]
    RevisionNotFound { revision: String, hub: String },
    #[error(
        "{file} was not found in {REPO} at revision `{revision}` on {hub} (HTTP 404{detail}): \
         check --revision and --hub-url"
    )]
    FileNotFound {
        file: &'static str,
        revision: String,
        hub: String,
        detail: String,
    },
    #[error(
        "the hub refused {file} (HTTP {status}{detail}): it may need a Hugging Face access token; \
         set HF_TOKEN to one (https://huggingface.co/settings/tokens) and run the command again"
    )]
    NeedsToken {
        file: &'static str,
        status: u16,
        detail: String,
    },
    #[error(
        "the hub refused {file} with the token from HF_TOKEN (HTTP {status}{detail}): check that \
         the token is valid and may read {REPO}"
    )]
    TokenRefused {
        file: &'static str,
        status: u16,
        detail: String,
    },
    #[error(
        "the hub answered HTTP {status} for {file} {attempts} times; it is busy or down, try again \
         later"
    )]
    Unavailable {
        file: &'static str,
        status: u16,
        attempts: u32,
    },
    #[error(
        "the hub answered HTTP {status} for {file} and asks to wait {} s; try again later",
        wait.as_secs()
    )]
    WaitTooLong {
        file: &'static str,
        status: u16,
        wait: Duration,
    },
    #[error("the hub answered HTTP {status} for {file}{detail}")]
    Status {
        file: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{file} from the hub is larger than {limit}, far more than the model's; refused")]
    TooLarge { file: &'static str, limit: Bytes },
    #[error(
        "the download of {file} broke off after {received}{}; nothing was kept, run the command \
         again",
        expected.map(|e| format!(" of {e}")).unwrap_or_default()
    )]
    Interrupted {
        file: &'static str,
        received: Bytes,
        expected: Option<Bytes>,
        #[source]
        source: Option<reqwest::Error>,
    },
    #[error(
        "{file} does not have the pinned SHA-256: expected {expected}, got {actual}; the download \
         was discarded"
    )]
    HashMismatch {
        file: &'static str,
        expected: &'static str,
        actual: String,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
