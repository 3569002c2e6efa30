//! One TLS crypto provider for the whole process: rustls on ring, as sqlx and serenity use.
//! reqwest (under async-openai) needs it installed before it builds a client.

/// Installs ring as the process-wide rustls provider; harmless when one is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
