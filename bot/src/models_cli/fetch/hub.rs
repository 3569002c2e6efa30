//! The hub's side of a fetch: the file URLs, one GET per file with redirects followed (the hub
//! sends large files to its CDN), a few patient retries after 429 and 5xx, and errors that
//! carry what the hub says in its `X-Error-Code` and `X-Error-Message` headers.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};
use secrecy::ExposeSecret;

use super::{FetchError, FetchOptions, ModelFile, REPO};

/// When to ask again after a 429 or a 5xx: a few times, briefly.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Requests per file, the first included.
    pub attempts: u32,
    /// Wait before the first retry when the hub sends no `Retry-After`; doubles each time.
    pub base_delay: Duration,
    /// Longest wait; a `Retry-After` asking for more ends the fetch with an error.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(self.max_delay)
    }
}

/// The hub as one fetch talks to it.
pub(super) struct Hub<'a> {
    client: reqwest::Client,
    base: Url,
    options: &'a FetchOptions,
}

impl<'a> Hub<'a> {
    pub(super) fn new(options: &'a FetchOptions) -> Result<Self, FetchError> {
        let base = hub_url(&options.hub_url)?;
        agent::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(concat!("supportbot/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .build()
            .map_err(FetchError::Client)?;
        Ok(Self {
            client,
            base,
            options,
        })
    }

    /// Asks for `file`, following redirects (the hub sends large files to its CDN), and asks
    /// again after a 429 or 5xx as `options.retry` allows. Returns the successful response and
    /// how many requests it took.
    pub(super) async fn get(&self, file: &ModelFile) -> Result<(Response, u32), FetchError> {
        let options = self.options;
        let url = file_url(&self.base, &options.revision, file);
        let mut attempt = 1;
        loop {
            let mut request = self.client.get(url.clone());
            if let Some(token) = &options.token {
                request = request.bearer_auth(token.expose_secret());
            }
            let response = request.send().await.map_err(|e| {
                if e.is_connect() {
                    FetchError::Unreachable {
                        hub: options.hub_url.clone(),
                        source: e,
                    }
                } else if e.is_timeout() {
                    FetchError::TimedOut {
                        file: file.name,
                        source: e,
                    }
                } else {
                    FetchError::Request {
                        file: file.name,
                        source: e,
                    }
                }
            })?;
            let status = response.status();
            if status.is_success() {
                return Ok((response, attempt));
            }
            if !(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) {
                return Err(refusal(&response, options, file));
            }
            if attempt >= options.retry.attempts {
                return Err(FetchError::Unavailable {
                    file: file.name,
                    status: status.as_u16(),
                    attempts: attempt,
                });
            }
            let wait =
                retry_after(response.headers()).unwrap_or_else(|| options.retry.backoff(attempt));
            if wait > options.retry.max_delay {
                return Err(FetchError::WaitTooLong {
                    file: file.name,
                    status: status.as_u16(),
                    wait,
                });
            }
            options.progress.note(&format!(
                "{}: the hub answered HTTP {}; asking again in {} s",
                file.name,
                status.as_u16(),
                wait.as_secs_f32()
            ));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn hub_url(url: &str) -> Result<Url, FetchError> {
    Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
        .ok_or_else(|| FetchError::HubUrl(url.to_string()))
}

/// `{hub}/{REPO}/resolve/{revision}/{file}`, the revision as one path segment (`refs/pr/1`
/// becomes `refs%2Fpr%2F1`, as the hub expects).
fn file_url(hub: &Url, revision: &str, file: &ModelFile) -> Url {
    let mut url = hub.clone();
    url.path_segments_mut()
        .expect("hub_url() accepts only base URLs")
        .pop_if_empty()
        .extend(REPO.split('/'))
        .push("resolve")
        .push(revision)
        .push(file.name);
    url
}

/// `Retry-After` in seconds. (An HTTP date, which the hub does not send, falls back to the
/// backoff.)
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

/// The error for a status that asking again will not fix, with what the hub says about it
/// (its `X-Error-Code` and `X-Error-Message` headers).
fn refusal(response: &Response, options: &FetchOptions, file: &ModelFile) -> FetchError {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect::<String>())
    };
    let code = header("x-error-code");
    let detail = match (&code, header("x-error-message")) {
        (_, Some(message)) => format!(": {message}"),
        (Some(code), None) => format!(": {code}"),
        (None, None) => String::new(),
    };
    let status = response.status().as_u16();
    match status {
        404 if code.as_deref() == Some("RevisionNotFound") => FetchError::RevisionNotFound {
            revision: options.revision.clone(),
            hub: options.hub_url.clone(),
        },
        404 => FetchError::FileNotFound {
            file: file.name,
            revision: options.revision.clone(),
            hub: options.hub_url.clone(),
            detail,
        },
        401 | 403 if options.token.is_some() => FetchError::TokenRefused {
            file: file.name,
            status,
            detail,
        },
        401 | 403 => FetchError::NeedsToken {
            file: file.name,
            status,
            detail,
        },
        _ => FetchError::Status {
            file: file.name,
            status,
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::FILES;
    use super::*;

    #[test]
    fn file_urls_follow_the_hub_layout() {
        let hub = hub_url("https://huggingface.co").unwrap();
        assert_eq!(
            file_url(&hub, "main", &FILES[2]).as_str(),
            "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/model.safetensors"
        );
        let mirror = hub_url("http://127.0.0.1:8080/hf/").unwrap();
        assert_eq!(
            file_url(&mirror, "refs/pr/1", &FILES[0]).as_str(),
            "http://127.0.0.1:8080/hf/sentence-transformers/all-MiniLM-L6-v2/resolve/refs%2Fpr%2F1/config.json"
        );
        assert!(matches!(
            hub_url("huggingface.co"),
            Err(FetchError::HubUrl(_))
        ));
        assert!(matches!(
            hub_url("ftp://huggingface.co"),
            Err(FetchError::HubUrl(_))
        ));
    }

    #[test]
    fn retries_back_off_and_honour_retry_after_in_seconds() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_secs(1));
        assert_eq!(policy.backoff(3), Duration::from_secs(4));
        assert_eq!(policy.backoff(30), policy.max_delay);

        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
