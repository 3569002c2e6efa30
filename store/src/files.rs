//! The SQLite file and its directory are private to the account running the bot: message text
//! lives there, so the directory is created 0700 and the database file 0600 (SQLite gives its
//! WAL and shared-memory files the database file's mode). A file an older version left readable
//! by others is tightened.

use std::path::Path;

use crate::{Result, StoreError};

pub(crate) fn prepare_sqlite_file(file: &Path) -> Result<()> {
    let create_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| StoreError::CreateDir { path, source }
    };
    if let Some(dir) = file.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        private_dir_builder().create(dir).map_err(create_err(dir))?;
    }
    create_private_file(file).map_err(create_err(file))
}

#[cfg(unix)]
fn private_dir_builder() -> std::fs::DirBuilder {
    use std::os::unix::fs::DirBuilderExt;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder
}

#[cfg(not(unix))]
fn private_dir_builder() -> std::fs::DirBuilder {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    builder
}

#[cfg(unix)]
fn create_private_file(file: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    // An empty file is a valid, empty SQLite database.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(file)?.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn create_private_file(_file: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::{DatabaseSettings, Store};

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn the_database_and_its_directory_are_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data/db");
        let file = dir.join("supportbot.db");
        let store = Store::open(&DatabaseSettings::new(format!(
            "sqlite://{}",
            file.display()
        )))
        .await
        .unwrap();
        store.ping().await.unwrap();
        assert_eq!(mode(&root.path().join("data")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        let wal = dir.join("supportbot.db-wal");
        assert!(wal.exists(), "WAL mode writes a -wal file");
        assert_eq!(mode(&wal), 0o600, "the WAL holds message text too");
        store.close().await;
    }

    #[tokio::test]
    async fn a_readable_database_left_by_an_older_version_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("supportbot.db");
        std::fs::write(&file, b"").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = Store::open(&DatabaseSettings::new(format!(
            "sqlite://{}",
            file.display()
        )))
        .await
        .unwrap();
        assert_eq!(mode(&file), 0o600);
        store.close().await;
    }

    #[tokio::test]
    async fn sqlite_overwrites_deleted_content() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(&DatabaseSettings::new(format!(
            "sqlite://{}",
            root.path().join("s.db").display()
        )))
        .await
        .unwrap();
        let crate::Pool::Sqlite(pool) = &store.pool else {
            unreachable!("a sqlite URL opens a SQLite pool")
        };
        // Every pooled connection, not only the first, must have it on.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = pool.acquire().await.unwrap();
            let on: i64 = sqlx::query_scalar("PRAGMA secure_delete")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(on, 1);
            held.push(conn);
        }
        drop(held);
        store.close().await;
    }
}
