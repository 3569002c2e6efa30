//! Discord's CDN as `https://cdn.discordapp.com`: the files members attach to slash commands
//! (ephemeral attachments), served the way Discord serves them — signed URLs (`ex`, `is`, `hm`)
//! that stop working when they expire, no bot token needed, and a plain 404 for anything
//! unknown, unsigned or expired.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;

pub(super) const HOST: &str = "cdn.discordapp.com";
/// How long a signed attachment URL works: Discord's are valid for about a day.
const URL_LIFETIME_SECS: u64 = 24 * 60 * 60;

/// A file on the CDN.
pub(super) struct Stored {
    bytes: Vec<u8>,
    content_type: String,
    /// The signature query the URL carries (`ex=…&is=…&hm=…`).
    signature: String,
    expires: u64,
}

/// Whether a request to the fake's HTTPS side is for the CDN host.
pub(super) fn is_cdn(headers: &HeaderMap) -> bool {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h))
        == Some(HOST)
}

impl Shared {
    /// Stores `bytes` as an ephemeral attachment of an interaction in `channel_id` and returns
    /// Discord's attachment object for it (as in `resolved.attachments`).
    pub(super) fn store_attachment(
        &self,
        channel_id: u64,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Value {
        let id = self.snowflake();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let expires = now + URL_LIFETIME_SECS;
        // Discord's `hm` is an HMAC; any value the fake can check again will do.
        let hm = format!(
            "{:064x}",
            u128::from(id.rotate_left(17)) * 0x9e37_79b9_7f4a_7c15
        );
        let signature = format!("ex={expires:x}&is={now:x}&hm={hm}&");
        let path = format!("/ephemeral-attachments/{channel_id}/{id}/{filename}");
        let size = bytes.len();
        self.lock().cdn.insert(
            path.clone(),
            Stored {
                bytes,
                content_type: content_type.to_string(),
                signature: signature.clone(),
                expires,
            },
        );
        json!({
            "id": id.to_string(),
            "filename": filename,
            "size": size,
            "url": format!("https://{HOST}{path}?{signature}"),
            "proxy_url": format!("https://media.discordapp.net{path}?{signature}"),
            "content_type": content_type,
            "ephemeral": true
        })
    }
}

/// Answers a request to the CDN host. The bot's token has no business there: sending it is
/// recorded as a violation (it would hand the token to whoever serves the URL).
pub(super) fn serve(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
    let path = uri.path().to_string();
    shared.lock().cdn_requests.push(path.clone());
    if headers.contains_key(header::AUTHORIZATION) {
        shared.violation(
            method,
            &path,
            "an Authorization header was sent to Discord's CDN".into(),
        );
    }
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            "This content is no longer available.",
        )
            .into_response()
    };
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let inner = shared.lock();
    let Some(stored) = inner.cdn.get(&path) else {
        return not_found();
    };
    if uri.query() != Some(stored.signature.as_str()) || stored.expires < now {
        return not_found();
    }
    let mut response = (StatusCode::OK, stored.bytes.clone()).into_response();
    if let Ok(value) = HeaderValue::from_str(&stored.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
