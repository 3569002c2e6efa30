//! TLS to Postgres, for real. CI gives the local server a certificate signed by a CA of its own
//! (`.ci/postgres-tls`) and names the CA in `SUPPORTBOT_TEST_POSTGRES_CA`. A server without TLS
//! fails these tests; it never skips them.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::Connection;
use store::{DatabaseSettings, Store, TlsMode};

/// Where `.ci/postgres-tls` writes the CA unless told otherwise.
const DEFAULT_CA: &str = "/var/lib/supportbot-ci/pg-ca.crt";

fn ca() -> PathBuf {
    let path = std::env::var_os("SUPPORTBOT_TEST_POSTGRES_CA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CA));
    assert!(
        path.is_file(),
        "the TLS tests need the CA that signed the test Postgres server's certificate at {} \
         (SUPPORTBOT_TEST_POSTGRES_CA); `bash .ci/postgres-tls` as root sets both up",
        path.display()
    );
    path
}

/// A CA that signed nothing the server holds.
fn unrelated_ca() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/unrelated-ca.crt")
}

/// The test server's URL with `params` added.
fn url(params: &str) -> String {
    let base = tests::postgres_admin_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{params}")
}

fn settings(url: String, tls: TlsMode) -> DatabaseSettings {
    let mut settings = DatabaseSettings::new(url);
    settings.tls = Some(tls);
    settings.max_connections = 1;
    settings.connect_timeout = Duration::from_secs(5);
    settings
}

/// Whether the connection `url` opens is encrypted, as the server sees it.
async fn encrypted(url: &str) -> bool {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("read pg_stat_ssl");
    let _ = conn.close().await;
    ssl
}

#[tokio::test]
async fn sslmode_require_connects_encrypted() {
    let store = Store::connect(&settings(tests::postgres_admin_url(), TlsMode::Require))
        .await
        .unwrap_or_else(|e| {
            panic!("sslmode=require must connect; has the test server TLS (.ci/postgres-tls)? {e}")
        });
    store.ping().await.unwrap();
    store.close().await;
    assert!(
        encrypted(&url("sslmode=require")).await,
        "the server reports the connection unencrypted"
    );
}

#[tokio::test]
async fn sslmode_verify_full_with_the_right_ca_connects() {
    let ca = ca();
    let with_ca = url(&format!("sslrootcert={}", ca.display()));
    let store = Store::connect(&settings(with_ca.clone(), TlsMode::VerifyFull))
        .await
        .unwrap_or_else(|e| panic!("verify-full with {} must connect: {e}", ca.display()));
    store.ping().await.unwrap();
    store.close().await;
    assert!(
        encrypted(&url(&format!(
            "sslmode=verify-full&sslrootcert={}",
            ca.display()
        )))
        .await
    );
}

#[tokio::test]
async fn sslmode_verify_full_with_a_wrong_ca_is_refused_clearly() {
    ca();
    let wrong = url(&format!("sslrootcert={}", unrelated_ca().display()));
    let err = Store::connect(&settings(wrong, TlsMode::VerifyFull))
        .await
        .expect_err("a certificate from another CA must be refused");
    let text = err.to_string();
    assert!(
        text.contains("certificate was refused")
            && text.contains("CA file in sslrootcert")
            && text.contains("UnknownIssuer"),
        "the error says the server's certificate was refused: {text}"
    );
}
