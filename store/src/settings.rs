//! How to reach the database: URL (a secret, it may hold a password), TLS mode, pool size.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// Postgres TLS modes, as in libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl std::str::FromStr for TlsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(format!(
                "unknown TLS mode {other:?}; expected disable, prefer, require, verify-ca or verify-full"
            )),
        }
    }
}

impl From<TlsMode> for sqlx::postgres::PgSslMode {
    fn from(mode: TlsMode) -> Self {
        use sqlx::postgres::PgSslMode;
        match mode {
            TlsMode::Disable => PgSslMode::Disable,
            TlsMode::Prefer => PgSslMode::Prefer,
            TlsMode::Require => PgSslMode::Require,
            TlsMode::VerifyCa => PgSslMode::VerifyCa,
            TlsMode::VerifyFull => PgSslMode::VerifyFull,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    /// Overrides any `sslmode` in the URL (Postgres only).
    pub tls: Option<TlsMode>,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// How long a statement is retried while the database is unreachable (a restart or a
    /// failover); past it the error reaches the caller.
    pub retry_for: Duration,
}

impl DatabaseSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            tls: None,
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            retry_for: Duration::from_secs(30),
        }
    }
}

/// The URL with any password replaced, safe for logs and error messages. People write
/// passwords into URLs unescaped, `/`, `?` and `@` included, so the user's part is taken to end
/// at the last `@`, and everything from its first `:` to there is hidden; a URL without a
/// password there may still carry one in its query (`?password=`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    if let Some((userinfo, after)) = rest.rsplit_once('@')
        && let Some((user, _password)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{}", redact_query_password(after));
    }
    format!("{scheme}://{}", redact_query_password(rest))
}

/// `host/db?user=u&password=p` with the password hidden.
fn redact_query_password(rest: &str) -> String {
    let Some((path, query)) = rest.split_once('?') else {
        return rest.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(
            redact_url("postgres://bob:hunter2@db.internal:5432/sb?sslmode=require"),
            "postgres://bob:***@db.internal:5432/sb?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/sb?user=bob&password=hunter2"),
            "postgres://db/sb?user=bob&password=***"
        );
        assert_eq!(
            redact_url("sqlite://./data/supportbot.db"),
            "sqlite://./data/supportbot.db"
        );
        assert_eq!(
            redact_url("postgres://bob@db.internal/sb"),
            "postgres://bob@db.internal/sb"
        );
    }

    #[test]
    fn a_password_with_url_punctuation_is_hidden_whole() {
        // Each password's pieces, between the punctuation, are distinctive.
        for (url, pieces) in [
            (
                "postgres://bob:Qx7/Kz9@db.internal:5432/sb",
                &["Qx7", "Kz9"][..],
            ),
            (
                "postgres://bob:Qx7?Kz9@db.internal/sb?sslmode=require",
                &["Qx7", "Kz9"],
            ),
            (
                "postgres://bob:Qx7@Kz9/Wy5?Vu3@db.internal/sb",
                &["Qx7", "Kz9", "Wy5", "Vu3"],
            ),
            ("postgres://bob:Qx7:Kz9@db.internal/sb", &["Qx7", "Kz9"]),
            (
                "postgres://db.internal/sb?user=bob&password=Qx7@Kz9/Wy5?Vu3",
                &["Qx7", "Kz9", "Wy5", "Vu3"],
            ),
        ] {
            let shown = redact_url(url);
            for piece in pieces {
                assert!(!shown.contains(piece), "{url} -> {shown}");
            }
            assert!(shown.contains("db.internal"), "{url} -> {shown}");
        }
        assert_eq!(
            redact_url("postgres://bob:pa/ss@db.internal:5432/sb?sslmode=require"),
            "postgres://bob:***@db.internal:5432/sb?sslmode=require"
        );
    }

    #[test]
    fn tls_modes_parse_like_libpq() {
        assert_eq!("verify-full".parse::<TlsMode>(), Ok(TlsMode::VerifyFull));
        assert!(
            "strict"
                .parse::<TlsMode>()
                .unwrap_err()
                .contains("verify-ca")
        );
    }
}
