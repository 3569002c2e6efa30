//! One process per data directory: Qdrant Edge shards must not be opened twice, so the
//! knowledge base holds an exclusive lock on a file in the directory for as long as it lives.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{KnowledgeError, Result};

const LOCK_FILE: &str = "knowledge.lock";

/// Held for the lifetime of a `KnowledgeBase`; the OS releases the lock when it is dropped
/// or the process dies, so a crash never leaves the directory stuck.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<Self> {
        private_dir(dir).map_err(|source| KnowledgeError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock: PathBuf = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|source| KnowledgeError::DataDir {
                path: lock.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(KnowledgeError::Locked {
                path: dir.to_path_buf(),
                lock,
            }),
            Err(TryLockError::Error(source)) => Err(KnowledgeError::DataDir { path: lock, source }),
        }
    }
}

/// Creates the directory (and any missing parents) readable by the owner only: the index holds
/// the guilds' documents.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, KnowledgeError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another process"));
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
