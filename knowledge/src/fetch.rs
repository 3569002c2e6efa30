//! Fetching web sources: single pages and sitemaps. Private, loopback and link-local
//! addresses are refused (unless configured) after DNS resolution, by the resolver the HTTP
//! client connects through, and for IP literals on every redirect hop, which are followed by
//! hand. Responses, page counts and time are capped.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::document::{Document, Format};
use crate::error::{KnowledgeError, Result};
use crate::pdf::ParserConfig;
use crate::source::{Loaded, Skipped};

/// Limits and policy for web sources.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchConfig {
    /// Allow private, loopback and link-local addresses (intranet docs, tests).
    pub allow_private: bool,
    /// Largest response body accepted, per request.
    pub max_bytes: u64,
    /// Pages fetched from one sitemap at most.
    pub max_pages: usize,
    /// Sitemap files (the root, indexes and the sitemaps they list) fetched for one sitemap
    /// source at most; with `max_pages` it bounds every request one ingest makes.
    pub max_sitemaps: usize,
    /// How deep sitemap indexes may nest.
    pub max_depth: usize,
    /// Bytes fetched for one sitemap source at most, pages included.
    pub max_total_bytes: u64,
    pub max_redirects: usize,
    /// Per request.
    pub timeout: Duration,
    /// For a whole sitemap crawl.
    pub total_timeout: Duration,
    /// Skip sitemap pages the site's `robots.txt` disallows for `supportbot` (RFC 9309).
    pub respect_robots_txt: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            max_bytes: 5 * 1024 * 1024,
            max_pages: 500,
            max_sitemaps: 50,
            max_depth: 2,
            max_total_bytes: 100 * 1024 * 1024,
            max_redirects: 5,
            timeout: Duration::from_secs(20),
            total_timeout: Duration::from_secs(600),
            respect_robots_txt: true,
        }
    }
}

/// Whether an address is on the public internet: not private (RFC 1918, unique local),
/// loopback, link-local, CGNAT, multicast, documentation or otherwise reserved. IPv6 forms
/// that carry an IPv4 address (mapped, IPv4-compatible, NAT64, 6to4) are judged by that IPv4
/// address, so `64:ff9b::7f00:1` is as private as `127.0.0.1`.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inside)
                || seg[..3] == [0x64, 0xff9b, 1] // NAT64 local-use prefix, an operator's own
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)) // documentation
        }
    }
}

/// The IPv4 address inside an IPv6 one that stands for it.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = v6.segments();
    let o = v6.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        Some(v4) // ::ffff:a.b.c.d
    } else if (seg[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified())
        || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        Some(last) // ::a.b.c.d (IPv4-compatible, deprecated), or NAT64's well-known prefix
    } else if seg[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])) // 6to4
    } else {
        None
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240)
}

/// The resolver every connection goes through: it drops non-public addresses, so a name
/// that resolves (or is re-bound) to an internal address cannot be reached.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs = checked_addrs(&host, allow_private).await.map_err(
                |e| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(std::io::Error::other(e))
                },
            )?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

async fn checked_addrs(
    host: &str,
    allow_private: bool,
) -> std::result::Result<Vec<SocketAddr>, String> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let allowed: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| allow_private || is_public(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(format!(
            "refused: {host} resolves only to private, loopback or link-local addresses"
        ));
    }
    Ok(allowed)
}

pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
    parser: ParserConfig,
}

struct Page {
    url: Url,
    content_type: String,
    body: Vec<u8>,
}

impl Fetcher {
    pub fn new(config: FetchConfig, parser: ParserConfig) -> Result<Self> {
        let client = guarded_client(&config)?;
        Ok(Self {
            client,
            config,
            parser,
        })
    }

    fn err(url: &str, reason: impl Into<String>) -> KnowledgeError {
        KnowledgeError::Fetch {
            url: url.to_string(),
            reason: reason.into(),
        }
    }

    /// Refuses URLs the policy forbids before any connection is made.
    async fn check(&self, url: &Url) -> Result<()> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Self::err(
                url.as_str(),
                "only http and https URLs are fetched",
            ));
        }
        match url.host() {
            None => Err(Self::err(url.as_str(), "URL has no host")),
            Some(url::Host::Ipv4(ip)) => self.check_ip(url, IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(url, IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) => checked_addrs(d, self.config.allow_private)
                .await
                .map(|_| ())
                .map_err(|reason| Self::err(url.as_str(), reason)),
        }
    }

    fn check_ip(&self, url: &Url, ip: IpAddr) -> Result<()> {
        if self.config.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(Self::err(
                url.as_str(),
                format!("refused: {ip} is a private, loopback or link-local address"),
            ))
        }
    }

    /// GET with redirects followed by hand, each hop checked; a status other than success is
    /// an error.
    async fn get(&self, url: &str) -> Result<Page> {
        match self.fetch(url).await? {
            Fetched::Page(page) => Ok(page),
            Fetched::Status(status, at) => Err(Self::err(at.as_str(), format!("HTTP {status}"))),
        }
    }

    async fn fetch(&self, url: &str) -> Result<Fetched> {
        let mut current = Url::parse(url).map_err(|e| Self::err(url, e.to_string()))?;
        for _ in 0..=self.config.max_redirects {
            self.check(&current).await?;
            let resp = self
                .client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| Self::err(current.as_str(), error_chain(&e)))?;
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Self::err(current.as_str(), "redirect without Location"))?;
                current = current
                    .join(location)
                    .map_err(|e| Self::err(current.as_str(), e.to_string()))?;
                continue;
            }
            if !status.is_success() {
                return Ok(Fetched::Status(status, current));
            }
            if resp
                .content_length()
                .is_some_and(|n| n > self.config.max_bytes)
            {
                return Err(self.too_large(&current));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| Self::err(current.as_str(), error_chain(&e)))?
            {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > self.config.max_bytes {
                    return Err(self.too_large(&current));
                }
            }
            return Ok(Fetched::Page(Page {
                url: current,
                content_type,
                body,
            }));
        }
        Err(Self::err(
            url,
            format!("more than {} redirects", self.config.max_redirects),
        ))
    }

    fn too_large(&self, url: &Url) -> KnowledgeError {
        Self::err(
            url.as_str(),
            format!("response larger than {} bytes", self.config.max_bytes),
        )
    }

    /// Decoding a PDF takes real CPU time, so documents are parsed off the async threads.
    async fn parse(&self, page: Page) -> Result<Document> {
        let parser = self.parser.clone();
        tokio::task::spawn_blocking(move || Self::document(page, &parser)).await?
    }

    fn document(page: Page, parser: &ParserConfig) -> Result<Document> {
        let ct = page.content_type.as_str();
        let format = if ct.starts_with("text/markdown") {
            Format::Markdown
        } else if ct.starts_with("text/plain") {
            Format::Text
        } else if ct.is_empty() || ct.contains("html") {
            Format::Html
        } else if ct.starts_with("application/pdf") {
            Format::Pdf
        } else {
            return Err(Self::err(
                page.url.as_str(),
                format!("unsupported content type {ct}"),
            ));
        };
        let body = match format {
            Format::Pdf => crate::pdf::pdf_text(&page.body, parser),
            _ => crate::source::decode_text(page.body),
        }
        .and_then(|body| crate::chunk::check_nesting(format, &body).map(|()| body))
        .map_err(|reason| Self::err(page.url.as_str(), reason))?;
        let url = page.url.to_string();
        Ok(Document {
            location: url.clone(),
            url: Some(url.clone()),
            fallback_title: url,
            format,
            body,
        })
    }

    /// One page.
    pub async fn page(&self, url: &str) -> Result<Document> {
        self.parse(self.get(url).await?).await
    }

    /// Every page a sitemap lists (following sitemap indexes up to `max_depth`), on the
    /// sitemap's own host only. One budget covers the whole crawl — sitemap files, pages and
    /// bytes fetched, and time — so no sitemap, however built, makes more than
    /// `max_sitemaps + max_pages + 1` requests. What the budget leaves out is reported in
    /// `skipped`, once per sitemap or page for what was listed and never fetched, and once in
    /// all for pages listed beyond `max_pages`.
    pub async fn sitemap(&self, url: &str) -> Result<Loaded> {
        let root = Url::parse(url).map_err(|e| Self::err(url, e.to_string()))?;
        let mut budget = Budget::new(&self.config);
        let mut loaded = Loaded::default();
        let mut pages: Vec<Url> = Vec::new();
        let mut listed: HashSet<Url> = HashSet::new();
        let mut unlisted = 0usize;
        let mut sitemaps_seen: HashSet<Url> = HashSet::from([root.clone()]);
        let mut queue: VecDeque<(Url, usize)> = VecDeque::from([(root.clone(), 0)]);
        while let Some((sitemap, depth)) = queue.pop_front() {
            if let Some(reason) = budget.refuses_sitemap() {
                if sitemap == root {
                    return Err(Self::err(sitemap.as_str(), reason));
                }
                loaded.skipped.push(Skipped {
                    location: sitemap.to_string(),
                    reason,
                });
                continue;
            }
            let page = match self.get(sitemap.as_str()).await {
                Ok(p) => p,
                Err(e) if sitemap != root => {
                    loaded.skipped.push(skipped(sitemap.as_str(), e));
                    continue;
                }
                Err(e) => return Err(e),
            };
            budget.spent(page.body.len());
            let body = self.gunzip(&sitemap, page.body)?;
            let xml = String::from_utf8_lossy(&body);
            let doc = roxmltree::Document::parse(&xml)
                .map_err(|e| Self::err(sitemap.as_str(), format!("invalid sitemap XML: {e}")))?;
            let is_index = doc.root_element().tag_name().name() == "sitemapindex";
            for loc in doc
                .descendants()
                .filter(|n| n.tag_name().name() == "loc")
                .filter_map(|n| n.text())
            {
                let Ok(u) = sitemap.join(loc.trim()) else {
                    loaded.skipped.push(Skipped {
                        location: loc.chars().take(200).collect(),
                        reason: "invalid URL".into(),
                    });
                    continue;
                };
                if u.host() != root.host() {
                    loaded.skipped.push(Skipped {
                        location: u.to_string(),
                        reason: "not on the sitemap's host; not fetched".into(),
                    });
                } else if is_index {
                    if depth >= self.config.max_depth {
                        loaded.skipped.push(Skipped {
                            location: u.to_string(),
                            reason: format!("sitemap nested deeper than {}", self.config.max_depth),
                        });
                    } else if sitemaps_seen.insert(u.clone()) {
                        queue.push_back((u, depth + 1));
                    }
                } else if listed.contains(&u) {
                    // Listed twice: fetched once.
                } else if pages.len() < self.config.max_pages {
                    listed.insert(u.clone());
                    pages.push(u);
                } else {
                    listed.insert(u);
                    unlisted += 1;
                }
            }
        }
        if unlisted > 0 {
            loaded.skipped.push(Skipped {
                location: root.to_string(),
                reason: format!(
                    "{unlisted} more pages listed beyond the first {}; not fetched",
                    self.config.max_pages
                ),
            });
        }
        let robots = if self.config.respect_robots_txt {
            self.robots(&root).await
        } else {
            Robots::AllowAll
        };
        for page_url in pages {
            if let Some(reason) = robots.refuses(&page_url).or_else(|| budget.refuses_page()) {
                loaded.skipped.push(Skipped {
                    location: page_url.to_string(),
                    reason,
                });
                continue;
            }
            match self.get(page_url.as_str()).await {
                Ok(page) => {
                    budget.spent(page.body.len());
                    match self.parse(page).await {
                        Ok(d) => loaded.documents.push(d),
                        Err(e) => loaded.skipped.push(skipped(page_url.as_str(), e)),
                    }
                }
                Err(e) => loaded.skipped.push(skipped(page_url.as_str(), e)),
            }
        }
        Ok(loaded)
    }
}

/// What one sitemap crawl may still spend: sitemap files, pages, bytes and time.
struct Budget {
    started: Instant,
    sitemaps: usize,
    pages: usize,
    bytes: u64,
    max_sitemaps: usize,
    max_pages: usize,
    max_bytes: u64,
    max_time: Duration,
}

impl Budget {
    fn new(config: &FetchConfig) -> Self {
        Self {
            started: Instant::now(),
            sitemaps: 0,
            pages: 0,
            bytes: 0,
            max_sitemaps: config.max_sitemaps,
            max_pages: config.max_pages,
            max_bytes: config.max_total_bytes,
            max_time: config.total_timeout,
        }
    }

    /// Records a finished request and the bytes it brought.
    fn spent(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }

    /// Why no more may be fetched at all, if so.
    fn exhausted(&self) -> Option<String> {
        if self.bytes >= self.max_bytes {
            Some(format!(
                "the sitemap crawl reached {} bytes in total; not fetched",
                self.max_bytes
            ))
        } else if self.started.elapsed() >= self.max_time {
            Some(format!(
                "the sitemap crawl exceeded {:?}; not fetched",
                self.max_time
            ))
        } else {
            None
        }
    }

    /// Takes one sitemap file from the budget, or says why not.
    fn refuses_sitemap(&mut self) -> Option<String> {
        if let Some(reason) = self.exhausted() {
            return Some(reason);
        }
        if self.sitemaps >= self.max_sitemaps {
            return Some(format!(
                "more than {} sitemap files in one crawl; not fetched",
                self.max_sitemaps
            ));
        }
        self.sitemaps += 1;
        None
    }

    /// Takes one page from the budget, or says why not.
    fn refuses_page(&mut self) -> Option<String> {
        if let Some(reason) = self.exhausted() {
            return Some(reason);
        }
        if self.pages >= self.max_pages {
            return Some(format!("more than {} pages in the sitemap", self.max_pages));
        }
        self.pages += 1;
        None
    }
}

/// The crawler's name in `User-Agent` and in `robots.txt` groups.
const ROBOTS_AGENT: &str = "supportbot";

enum Fetched {
    Page(Page),
    /// A final status other than success, and the URL that answered it.
    Status(reqwest::StatusCode, Url),
}

/// What a site's `robots.txt` lets the crawler fetch.
enum Robots {
    AllowAll,
    Rules(Box<texting_robots::Robot>),
    /// The file could not be fetched for a reason other than "not there" (a 5xx or a network
    /// error): RFC 9309 says to assume everything is disallowed.
    DisallowAll(String),
}

impl Robots {
    fn refuses(&self, url: &Url) -> Option<String> {
        match self {
            Robots::AllowAll => None,
            Robots::Rules(r) if r.allowed(url.as_str()) => None,
            Robots::Rules(_) => Some("disallowed by the site's robots.txt; not fetched".into()),
            Robots::DisallowAll(why) => {
                Some(format!("robots.txt unavailable ({why}); not fetched"))
            }
        }
    }
}

impl Fetcher {
    async fn robots(&self, site: &Url) -> Robots {
        let Ok(url) = site.join("/robots.txt") else {
            return Robots::AllowAll;
        };
        match self.fetch(url.as_str()).await {
            Ok(Fetched::Page(page)) => {
                match texting_robots::Robot::new(ROBOTS_AGENT, &page.body) {
                    Ok(r) => Robots::Rules(Box::new(r)),
                    // An unparseable file states no rules.
                    Err(_) => Robots::AllowAll,
                }
            }
            Ok(Fetched::Status(status, _)) if status.is_client_error() => Robots::AllowAll,
            Ok(Fetched::Status(status, _)) => Robots::DisallowAll(format!("HTTP {status}")),
            Err(e) => Robots::DisallowAll(skipped(url.as_str(), e).reason),
        }
    }

    /// Sitemaps may be gzip-compressed (`sitemap.xml.gz`); the inflated size is capped like
    /// any response, so a small bomb cannot expand without bound.
    fn gunzip(&self, url: &Url, body: Vec<u8>) -> Result<Vec<u8>> {
        use std::io::Read;
        if !body.starts_with(&[0x1f, 0x8b]) {
            return Ok(body);
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .take(self.config.max_bytes + 1)
            .read_to_end(&mut out)
            .map_err(|e| Self::err(url.as_str(), format!("invalid gzip data: {e}")))?;
        if out.len() as u64 > self.config.max_bytes {
            return Err(self.too_large(url));
        }
        Ok(out)
    }
}

fn skipped(location: &str, e: KnowledgeError) -> Skipped {
    let reason = match e {
        KnowledgeError::Fetch { reason, .. } => reason,
        other => other.to_string(),
    };
    Skipped {
        location: location.to_string(),
        reason,
    }
}

/// reqwest's top-level message hides the cause ("error sending request"); the chain says
/// what actually happened.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// reqwest is built without a bundled crypto provider; use ring, which the workspace already
/// compiles for sqlx. Installing twice is harmless (the first one stays).
pub(crate) fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client whose connections go through the guarded resolver, with redirects off so
/// the caller checks every hop itself.
fn guarded_client(config: &FetchConfig) -> Result<reqwest::Client> {
    ensure_crypto_provider();
    let builder = reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: config.allow_private,
        }))
        .timeout(config.timeout)
        .user_agent(concat!(
            "supportbot/",
            env!("CARGO_PKG_VERSION"),
            " (knowledge base crawler)"
        ))
        // A proxy would connect on our behalf and bypass the address checks.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    builder.build().map_err(|e| KnowledgeError::Fetch {
        url: String::new(),
        reason: format!("cannot build HTTP client: {}", error_chain(&e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
            "::ffff:0.0.0.0",
            // IPv4 inside IPv6: NAT64, IPv4-compatible, 6to4; and site-local.
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::c0a8:101",
            "::127.0.0.1",
            "::10.0.0.1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "fec0::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::101:101",
            "2002:101:101::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
