//! The fake's REST side as `https://discord.com` (and its CDN as `https://cdn.discordapp.com`):
//! a TLS listener with a certificate for both names issued by a test-only CA (tests/fixtures/tls,
//! trusted by nothing but the client built here), and serenity's HTTP client resolving both
//! names to it. That way the bot keeps
//! serenity's rate limiter on, as in production; serenity's proxy setting only works with it off.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

const CA: &[u8] = include_bytes!("../../fixtures/tls/ca.der");
const CERT: &[u8] = include_bytes!("../../fixtures/tls/discord.com.der");
const KEY: &[u8] = include_bytes!("../../fixtures/tls/discord.com.key.der");

pub(super) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    pub fn new(tcp: TcpListener) -> Self {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(CERT.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY.to_vec())),
            )
            .expect("the fixture certificate and key match");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// serenity's HTTP client, reaching `https://discord.com` and `https://cdn.discordapp.com` at
/// `addr` and trusting only the test CA. Like the bot's own CDN client, it follows no redirects.
pub fn client(addr: SocketAddr) -> serenity_reqwest::Client {
    serenity_reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            serenity_reqwest::Certificate::from_der(CA).expect("the fixture CA parses"),
        )
        .resolve("discord.com", addr)
        .resolve(super::cdn::HOST, addr)
        .redirect(serenity_reqwest::redirect::Policy::none())
        .build()
        .expect("build the HTTPS client for the fake")
}
