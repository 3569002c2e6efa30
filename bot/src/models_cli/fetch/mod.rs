//! Downloading all-MiniLM-L6-v2 from the Hugging Face hub: each file streams into a temporary
//! file beside its final name, is checked against its pinned SHA-256, then renamed into place,
//! so an interrupted or altered download never sits under the name the model loader reads.

mod error;
mod hub;

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::progress::{Bytes, ProgressDisplay};

pub use error::FetchError;
pub use hub::RetryPolicy;

/// The model's repository on the hub.
pub const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
pub const DEFAULT_REVISION: &str = "main";

const MB: u64 = 1_000_000;

/// One file of the model and what it must be.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    pub name: &'static str,
    pub sha256: &'static str,
    /// A response longer than this is refused, before or while it streams.
    pub max_bytes: u64,
}

/// The files of sentence-transformers/all-MiniLM-L6-v2 that supportbot loads, with the SHA-256
/// of each (model.safetensors's is the hub's LFS object id for it). Small files first, so a
/// connection that breaks costs little.
pub const FILES: [ModelFile; 3] = [
    ModelFile {
        name: "config.json",
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        max_bytes: 5 * MB,
    },
    ModelFile {
        name: "tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        max_bytes: 5 * MB,
    },
    ModelFile {
        name: "model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        max_bytes: 200 * MB,
    },
];

/// Everything one fetch needs.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The hub's base URL; files are at `{hub_url}/{REPO}/resolve/{revision}/{file}`.
    pub hub_url: String,
    /// A branch, tag or commit of the repository.
    pub revision: String,
    /// Where the files go.
    pub dir: PathBuf,
    /// Fetch files that are already present and verified.
    pub force: bool,
    /// Sent as `Authorization: Bearer`; never printed.
    pub token: Option<SecretString>,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Longest silence from the hub while a response streams.
    pub read_timeout: Duration,
    pub progress: ProgressDisplay,
}

impl FetchOptions {
    /// Fetching revision `main` from `hub_url` into `dir`: no token, the default retries, no
    /// progress shown.
    pub fn new(hub_url: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Self {
            hub_url: hub_url.into(),
            revision: DEFAULT_REVISION.into(),
            dir: dir.into(),
            force: false,
            token: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            progress: ProgressDisplay::Quiet,
        }
    }
}

/// What a fetch did, file by file, in `FILES` order.
#[derive(Debug, Clone)]
pub struct FetchReport {
    pub dir: PathBuf,
    pub files: Vec<FetchedFile>,
}

impl FetchReport {
    /// How many files were downloaded (the rest were already there).
    pub fn downloaded(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, FileOutcome::Downloaded { .. }))
            .count()
    }
}

#[derive(Debug, Clone)]
pub struct FetchedFile {
    pub name: &'static str,
    pub outcome: FileOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    /// Downloaded and verified, in `attempts` requests.
    Downloaded { bytes: u64, attempts: u32 },
    /// Already there with the pinned hash; not fetched again.
    AlreadyPresent,
}

/// Fetches the model's files into `options.dir`, skipping those already there with the pinned
/// hash (unless `force`), and says what it did.
pub async fn fetch(options: &FetchOptions) -> Result<FetchReport, FetchError> {
    let hub = hub::Hub::new(options)?;

    let dir = &options.dir;
    let mut undo = UndoNewDir {
        created: dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
            .map(Path::to_path_buf)
            .collect(),
        placed: Vec::new(),
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| FetchError::Write {
            path: dir.clone(),
            source,
        })?;

    let mut files = Vec::with_capacity(FILES.len());
    for file in &FILES {
        let target = dir.join(file.name);
        if !options.force && is_verified(&target, file, options.progress).await? {
            options.progress.note(&format!(
                "{}: already present and verified; not fetched again (--force fetches it anyway)",
                file.name
            ));
            files.push(FetchedFile {
                name: file.name,
                outcome: FileOutcome::AlreadyPresent,
            });
            continue;
        }
        let outcome = download(&hub, options, file).await?;
        undo.placed.push(target);
        files.push(FetchedFile {
            name: file.name,
            outcome,
        });
    }
    undo.created.clear();
    Ok(FetchReport {
        dir: dir.clone(),
        files,
    })
}

/// Whether `target` is already the pinned file. One with another hash is fetched again.
async fn is_verified(
    target: &Path,
    file: &ModelFile,
    progress: ProgressDisplay,
) -> Result<bool, FetchError> {
    if !target.is_file() {
        return Ok(false);
    }
    let path = target.to_path_buf();
    let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut hasher = Sha256::new();
        std::io::copy(&mut std::fs::File::open(&path)?, &mut hasher)?;
        Ok(format!("{:x}", hasher.finalize()))
    })
    .await
    .map_err(|e| FetchError::Read {
        path: target.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let actual = hashed.map_err(|source| FetchError::Read {
        path: target.to_path_buf(),
        source,
    })?;
    if actual == file.sha256 {
        return Ok(true);
    }
    progress.note(&format!(
        "{}: the copy in {} does not have the pinned SHA-256; fetching it again",
        file.name,
        target.parent().unwrap_or(target).display()
    ));
    Ok(false)
}

/// Streams one file into a temporary file in the target directory, counting and hashing, and
/// renames it into place once it has the pinned hash.
async fn download(
    hub: &hub::Hub<'_>,
    options: &FetchOptions,
    file: &ModelFile,
) -> Result<FileOutcome, FetchError> {
    let (mut response, attempts) = hub.get(file).await?;
    let too_large = || FetchError::TooLarge {
        file: file.name,
        limit: Bytes(file.max_bytes),
    };
    let announced = response.content_length();
    if announced.is_some_and(|n| n > file.max_bytes) {
        return Err(too_large());
    }

    let prefix = format!(".{}.", file.name);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".part");
    // tempfile's usual 0600 would leave the model unreadable to a service running as another
    // user; 0644 is what the umask then trims, as for any new file.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let part = builder
        .tempfile_in(&options.dir)
        .map_err(|source| FetchError::Write {
            path: options.dir.clone(),
            source,
        })?;
    let write_error = |source| FetchError::Write {
        path: part.path().to_path_buf(),
        source,
    };
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::from_std(
        part.as_file().try_clone().map_err(write_error)?,
    ));

    let progress = options.progress.start(file.name, announced);
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let broke_off = |received, source| FetchError::Interrupted {
        file: file.name,
        received: Bytes(received),
        expected: announced.map(Bytes),
        source,
    };
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                return Err(FetchError::TimedOut {
                    file: file.name,
                    source: e,
                });
            }
            Err(e) => return Err(broke_off(received, Some(e))),
        };
        received += chunk.len() as u64;
        if received > file.max_bytes {
            return Err(too_large());
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(write_error)?;
        progress.advance(chunk.len());
    }
    if announced.is_some_and(|n| n != received) {
        return Err(broke_off(received, None));
    }
    out.flush().await.map_err(write_error)?;
    // On disk before the rename makes it visible under its real name.
    out.into_inner().sync_all().await.map_err(write_error)?;

    let actual = format!("{:x}", hasher.finalize());
    if actual != file.sha256 {
        return Err(FetchError::HashMismatch {
            file: file.name,
            expected: file.sha256,
            actual,
        });
    }
    let target = options.dir.join(file.name);
    part.persist(&target).map_err(|e| FetchError::Write {
        path: target,
        source: e.error,
    })?;
    progress.finish(received);
    Ok(FileOutcome::Downloaded {
        bytes: received,
        attempts,
    })
}

/// Undoes a fetch that created the model directory and then failed or was interrupted. An
/// incomplete `<data_dir>/models/all-MiniLM-L6-v2` stops `supportbot run` (a half-copied model
/// is reported, not passed over), where no directory lets it fall back to the pip package.
struct UndoNewDir {
    /// The directories this fetch created, deepest first; none once it succeeded.
    created: Vec<PathBuf>,
    /// The files it put into them.
    placed: Vec<PathBuf>,
}

impl Drop for UndoNewDir {
    fn drop(&mut self) {
        if self.created.is_empty() {
            return;
        }
        for file in &self.placed {
            let _ = std::fs::remove_file(file);
        }
        for dir in &self.created {
            // Only empty directories go: one something else wrote into stays, with its parents.
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}
