//! The long half of `/knowledge add` and `reindex`: fetching an uploaded file from Discord's
//! CDN (and nothing else), and turning an ingest's progress into edits of the deferred reply,
//! at most one every [`EDIT_EVERY`].

use std::sync::Mutex;
use std::time::Duration;

use knowledge::{Progress, Stage};
use serenity::all::{Attachment, EditInteractionResponse};
use tracing::warn;

use crate::discord::{Context, Error};

/// Discord allows many edits, but a progress line needs no more than this.
pub(super) const EDIT_EVERY: Duration = Duration::from_millis(1_500);

/// The only host an attachment is downloaded from.
const CDN_HOST: &str = "cdn.discordapp.com";

/// Why an attachment was not downloaded, said to the admin.
#[derive(Debug, thiserror::Error)]
pub(super) enum UploadRefused {
    #[error("`{name}` is {size} bytes; files up to {limit} bytes can be added")]
    TooLarge { name: String, size: u64, limit: u64 },
    #[error("that attachment does not come from Discord's CDN; nothing was downloaded")]
    NotDiscord,
    #[error("could not download `{name}` from Discord ({reason}); nothing was added")]
    Download { name: String, reason: String },
}

/// Downloads an attachment of the invoking interaction (its `resolved` data): only over HTTPS
/// from Discord's CDN, without following redirects elsewhere, and never more than `limit`
/// bytes whatever the attachment claimed.
pub(super) async fn download(
    client: &serenity_reqwest::Client,
    attachment: &Attachment,
    limit: u64,
) -> Result<Vec<u8>, UploadRefused> {
    let name = attachment.filename.clone();
    if u64::from(attachment.size) > limit {
        return Err(UploadRefused::TooLarge {
            name,
            size: attachment.size.into(),
            limit,
        });
    }
    let url =
        serenity_reqwest::Url::parse(&attachment.url).map_err(|_| UploadRefused::NotDiscord)?;
    if url.scheme() != "https" || url.host_str() != Some(CDN_HOST) || url.port().is_some() {
        return Err(UploadRefused::NotDiscord);
    }
    let failed = |reason: String| UploadRefused::Download {
        name: name.clone(),
        reason,
    };
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("HTTP {}", response.status().as_u16())));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > limit {
            return Err(UploadRefused::TooLarge {
                name,
                size: bytes.len() as u64,
                limit,
            });
        }
    }
    Ok(bytes)
}

/// What an ingest is doing, as the progress callbacks leave it.
#[derive(Debug, Default)]
struct Snapshot {
    stage: Option<Stage>,
    total: Option<u64>,
    done: u64,
    /// Bumped on every change, so an unchanged line is not sent again.
    version: u64,
}

/// Collects an ingest's progress; the command's loop reads it between edits.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    now: Mutex<Snapshot>,
}

impl Progress for Tracker {
    fn stage(&self, stage: Stage, total: Option<u64>) {
        if let Ok(mut s) = self.now.lock() {
            s.stage = Some(stage);
            s.total = total;
            s.done = 0;
            s.version += 1;
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(mut s) = self.now.lock() {
            s.done += n;
            s.version += 1;
        }
    }
}

impl Tracker {
    /// The progress line, if it changed since version `seen`.
    fn line_since(&self, seen: u64) -> Option<(u64, String)> {
        let s = self.now.lock().ok()?;
        if s.version == seen {
            return None;
        }
        let stage = match s.stage? {
            Stage::Loading => "loading",
            Stage::Embedding => "embedding",
            Stage::Indexing => "indexing",
        };
        let counts = match s.total {
            Some(total) => format!(" {}/{total} chunks", s.done.min(total)),
            None if s.done > 0 => format!(" {} done", s.done),
            None => String::new(),
        };
        Some((s.version, format!("{stage}{counts}")))
    }
}

/// Replaces the deferred reply's text (a PATCH of the original response).
pub(super) async fn edit(ctx: Context<'_>, text: &str) -> Result<(), Error> {
    let poise::Context::Application(app) = ctx else {
        return Err("the knowledge commands are slash commands".into());
    };
    app.interaction
        .edit_response(ctx.http(), EditInteractionResponse::new().content(text))
        .await?;
    Ok(())
}

/// Runs `work` while editing the deferred reply with `heading` and the tracker's progress line
/// whenever it changed, at most once every [`EDIT_EVERY`]. A failed progress edit is logged and
/// the work goes on: the final reply is what matters.
pub(super) async fn with_progress<T>(
    ctx: Context<'_>,
    heading: &str,
    tracker: &Tracker,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(EDIT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = 0;
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = tick.tick() => {
                if let Some((version, line)) = tracker.line_since(seen) {
                    seen = version;
                    if let Err(e) = edit(ctx, &format!("{heading}: {line}…")).await {
                        warn!(error = %e, "could not edit a progress reply");
                    }
                }
            }
        }
    }
}
