//! What Discord enforces that its OpenAPI description cannot say: a bot's message content is at
//! most 2,000 characters (the spec allows 4,000, a Nitro member's limit), at most five action
//! rows of five buttons with unique `custom_id`s of at most 100 characters, at most ten embeds
//! holding 6,000 characters in all, thread names of 1–100 characters with one of four archive
//! durations, and timeouts at most 28 days ahead.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::spec::Problem;

pub const CONTENT_LIMIT: usize = 2000;
const ACTION_ROWS: usize = 5;
const ROW_BUTTONS: usize = 5;
const CUSTOM_ID_LIMIT: usize = 100;
const EMBEDS: usize = 10;
const EMBED_CHARS: usize = 6000;
const THREAD_NAME_LIMIT: usize = 100;
const ARCHIVE_MINUTES: [u64; 4] = [60, 1440, 4320, 10080];
const MAX_TIMEOUT_DAYS: i64 = 28;

/// Everything this layer finds wrong with a request to operation `op` (the spec's operationId).
pub fn check(op: &str, body: &Value, now: DateTime<Utc>) -> Vec<Problem> {
    match op {
        "create_message"
        | "update_message"
        | "execute_webhook"
        | "update_original_webhook_message"
        | "update_webhook_message" => message(body, &[]),
        "create_interaction_response" if body["data"].is_object() => {
            message(&body["data"], &["data"])
        }
        "create_thread_from_message" | "create_thread" | "update_channel" => thread(body),
        "update_guild_member" => timeout(body, now),
        _ => Vec::new(),
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn at(prefix: &[&str], field: &str) -> Vec<String> {
    prefix
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once(field.to_string()))
        .collect()
}

fn message(body: &Value, prefix: &[&str]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let content = chars(&body["content"]);
    if content > CONTENT_LIMIT {
        problems.push(Problem {
            field: at(prefix, "content"),
            code: "BASE_TYPE_MAX_LENGTH",
            message: format!("Must be {CONTENT_LIMIT} or fewer in length (was {content})."),
        });
    }
    if let Some(embeds) = body["embeds"].as_array() {
        if embeds.len() > EMBEDS {
            problems.push(Problem {
                field: at(prefix, "embeds"),
                code: "BASE_TYPE_MAX_LENGTH",
                message: format!("Must be {EMBEDS} or fewer in length."),
            });
        }
        let total: usize = embeds.iter().map(embed_chars).sum();
        if total > EMBED_CHARS {
            problems.push(Problem {
                field: at(prefix, "embeds"),
                code: "MAX_EMBED_SIZE_EXCEEDED",
                message: format!("Embed size exceeds maximum size of {EMBED_CHARS} (was {total})."),
            });
        }
    }
    if let Some(rows) = body["components"].as_array() {
        if rows.len() > ACTION_ROWS {
            problems.push(Problem {
                field: at(prefix, "components"),
                code: "BASE_TYPE_MAX_LENGTH",
                message: format!("Must be {ACTION_ROWS} or fewer in length."),
            });
        }
        let mut seen: Vec<&str> = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let items = row["components"].as_array().map_or(&[][..], Vec::as_slice);
            let row_field = at(prefix, "components")
                .into_iter()
                .chain([r.to_string(), "components".into()])
                .collect::<Vec<_>>();
            if row["type"] == 1 && items.len() > ROW_BUTTONS {
                problems.push(Problem {
                    field: row_field.clone(),
                    code: "BASE_TYPE_MAX_LENGTH",
                    message: format!("Must be {ROW_BUTTONS} or fewer in length."),
                });
            }
            for (i, item) in items.iter().enumerate() {
                let Some(id) = item["custom_id"].as_str() else {
                    continue;
                };
                let field: Vec<String> = row_field
                    .iter()
                    .cloned()
                    .chain([i.to_string(), "custom_id".into()])
                    .collect();
                let len = id.chars().count();
                if len == 0 || len > CUSTOM_ID_LIMIT {
                    problems.push(Problem {
                        field: field.clone(),
                        code: "BASE_TYPE_BAD_LENGTH",
                        message: format!("Must be between 1 and {CUSTOM_ID_LIMIT} in length."),
                    });
                }
                if seen.contains(&id) {
                    problems.push(Problem {
                        field,
                        code: "COMPONENT_CUSTOM_ID_DUPLICATED",
                        message: "Component custom id cannot be duplicated".into(),
                    });
                }
                seen.push(id);
            }
        }
    }
    problems
}

/// The characters Discord counts towards an embed's 6,000.
fn embed_chars(embed: &Value) -> usize {
    let fields: usize = embed["fields"].as_array().map_or(0, |fs| {
        fs.iter()
            .map(|f| chars(&f["name"]) + chars(&f["value"]))
            .sum()
    });
    chars(&embed["title"])
        + chars(&embed["description"])
        + chars(&embed["footer"]["text"])
        + chars(&embed["author"]["name"])
        + fields
}

fn thread(body: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(name) = body["name"].as_str() {
        let len = name.chars().count();
        if len == 0 || len > THREAD_NAME_LIMIT {
            problems.push(Problem::new(
                &["name"],
                "BASE_TYPE_BAD_LENGTH",
                format!("Must be between 1 and {THREAD_NAME_LIMIT} in length (was {len})."),
            ));
        }
    }
    let archive = &body["auto_archive_duration"];
    if !archive.is_null()
        && !archive
            .as_u64()
            .is_some_and(|m| ARCHIVE_MINUTES.contains(&m))
    {
        problems.push(Problem::new(
            &["auto_archive_duration"],
            "BASE_TYPE_CHOICES",
            format!("Value must be one of {ARCHIVE_MINUTES:?}."),
        ));
    }
    problems
}

fn timeout(body: &Value, now: DateTime<Utc>) -> Vec<Problem> {
    let Some(until) = body["communication_disabled_until"].as_str() else {
        return Vec::new();
    };
    match DateTime::parse_from_rfc3339(until) {
        Ok(t) if t.with_timezone(&Utc) > now + Duration::days(MAX_TIMEOUT_DAYS) => {
            vec![Problem::new(
                &["communication_disabled_until"],
                "BASE_TYPE_BAD_TIME",
                format!("Must be at most {MAX_TIMEOUT_DAYS} days in the future."),
            )]
        }
        Ok(_) => Vec::new(),
        Err(_) => vec![Problem::new(
            &["communication_disabled_until"],
            "DATE_TIME_TYPE_PARSE",
            "Could not parse the timestamp.",
        )],
    }
}
