//! Requests with files: Discord takes them as `multipart/form-data`, the JSON body in a
//! `payload_json` field (or as plain form fields) and each file in a `files[n]` part (`file`
//! in older clients). Any route may carry them; the body is then checked against the spec's
//! multipart schema like any JSON body, and the files against Discord's upload limits.

use axum::body::Bytes;
use serde_json::{Map, Value};

use super::spec::Problem;

/// Files in one request, at most (Discord: "a maximum of 10 attachments").
const MAX_FILES: usize = 10;
/// Bytes in all the files of one request without a boosted server.
const MAX_UPLOAD: usize = 10 * 1024 * 1024;

/// A file the bot sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentFile {
    /// The form field: `files[0]`, `files[1]`, … (or `file`).
    pub field: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl SentFile {
    /// The `n` of `files[n]`, which the body's `attachments[].id` refers to.
    pub fn index(&self) -> Option<u64> {
        self.field
            .strip_prefix("files[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
    }
}

pub fn is_multipart(content_type: &str) -> bool {
    content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
}

/// The JSON body (`None` when the form had none) and the files of a multipart request.
pub async fn parse(
    content_type: &str,
    body: Bytes,
) -> Result<(Option<Value>, Vec<SentFile>), String> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut payload: Option<Value> = None;
    let mut fields = Map::new();
    let mut files = Vec::new();
    while let Some(part) = form.next_field().await.map_err(|e| e.to_string())? {
        let name = part.name().unwrap_or_default().to_string();
        let filename = part.file_name().map(str::to_string);
        let content_type = part.content_type().map(|m| m.to_string());
        let bytes = part.bytes().await.map_err(|e| e.to_string())?;
        if name == "payload_json" {
            let json = serde_json::from_slice(&bytes)
                .map_err(|e| format!("payload_json is not JSON ({e})"))?;
            payload = Some(json);
        } else if name == "file" || name.starts_with("files[") {
            files.push(SentFile {
                field: name,
                filename: filename.ok_or("a file part has no filename")?,
                content_type,
                bytes: bytes.to_vec(),
            });
        } else if !name.is_empty() {
            fields.insert(
                name,
                Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            );
        }
    }
    // Discord reads `payload_json` when present and plain fields otherwise; files alone make
    // a message too.
    let body = payload
        .or_else(|| (!fields.is_empty()).then_some(Value::Object(fields)))
        .or_else(|| (!files.is_empty()).then(|| Value::Object(Map::new())));
    Ok((body, files))
}

/// What Discord refuses about a request's files: too many, too large, or an attachment in the
/// body naming a file that was not sent.
pub fn check(files: &[SentFile], body: Option<&Value>) -> Vec<Problem> {
    let mut problems = Vec::new();
    if files.len() > MAX_FILES {
        problems.push(Problem::new(
            &["files"],
            "BASE_TYPE_MAX_LENGTH",
            format!(
                "Must be {MAX_FILES} or fewer in length (was {}).",
                files.len()
            ),
        ));
    }
    let total: usize = files.iter().map(|f| f.bytes.len()).sum();
    if total > MAX_UPLOAD {
        problems.push(Problem::new(
            &["files"],
            "BASE_TYPE_MAX_LENGTH",
            format!("Request entity too large: {total} bytes of files, at most {MAX_UPLOAD}."),
        ));
    }
    let attachments = body
        .and_then(|b| {
            b.get("attachments")
                .or_else(|| b["data"].get("attachments"))
        })
        .and_then(Value::as_array);
    for (i, a) in attachments.into_iter().flatten().enumerate() {
        let id = a["id"]
            .as_u64()
            .or_else(|| a["id"].as_str().and_then(|s| s.parse().ok()));
        // A small id names a new file (`files[id]`); a snowflake keeps an existing attachment.
        if let Some(id) = id.filter(|id| *id < 1 << 22)
            && !files.iter().any(|f| f.index() == Some(id))
        {
            problems.push(Problem::new(
                &["attachments", &i.to_string(), "id"],
                "BASE_TYPE_INVALID",
                format!("names files[{id}], which the request did not carry"),
            ));
        }
    }
    problems
}

/// The attachment objects of a message Discord made from `files`.
pub fn attachments(files: &[SentFile], channel: u64, first_id: u64) -> Vec<Value> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let id = first_id + i as u64;
            let mut a = serde_json::json!({
                "id": id.to_string(),
                "filename": f.filename,
                "size": f.bytes.len(),
                "url": format!("https://cdn.discordapp.com/attachments/{channel}/{id}/{}", f.filename),
                "proxy_url": format!("https://media.discordapp.net/attachments/{channel}/{id}/{}", f.filename)
            });
            if let Some(t) = &f.content_type {
                a["content_type"] = Value::String(t.clone());
            }
            a
        })
        .collect()
}
