//! `/knowledge`: a guild's admins manage the documents the bot answers from — add a file or
//! a web page, list, remove, re-index, and search them the way the bot does. Every reply is
//! private; everything is scoped to the invoking guild, so another guild's source IDs are
//! "no such source". Long work is deferred at once and reported by editing the reply.

use knowledge::{IngestSummary, KnowledgeError, KnowledgeSource, SourceSpec};
use serenity::all::{Attachment, EditInteractionResponse, GuildId};
use tracing::info;

use super::confirm::{self, confirm, manages_guild, settle};
use super::knowledge_ingest::{Tracker, download, edit, with_progress};
use crate::discord::{Context, Error};
use crate::pipeline::MESSAGE_LIMIT;

/// Chunks `/knowledge search` shows: what the agent would read first.
const SEARCH_HITS: usize = 5;

/// Manage the documents supportbot answers from.
#[poise::command(
    slash_command,
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD",
    subcommands("add", "list", "remove", "reindex", "search"),
    subcommand_required
)]
pub async fn knowledge(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Add a file (Markdown, HTML, PDF, text) or a web page or sitemap; re-adding updates it.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn add(
    ctx: Context<'_>,
    #[description = "A Markdown, HTML, PDF or text file"] file: Option<Attachment>,
    #[description = "A web page, or a sitemap (.xml) whose pages to add"] url: Option<String>,
    #[description = "Treat the URL as a sitemap even without .xml"] sitemap: Option<bool>,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    ctx.defer_ephemeral().await?;
    let (spec, what) = match (file, url) {
        (Some(file), None) => {
            edit(ctx, &format!("Adding `{}`: downloading…", file.filename)).await?;
            let limit = ctx.data().knowledge.config().files.max_file_bytes;
            match download(&ctx.data().cdn, &file, limit).await {
                Ok(bytes) => (
                    SourceSpec::Upload {
                        name: file.filename.clone(),
                        bytes,
                    },
                    format!("`{}`", file.filename),
                ),
                Err(refused) => return edit(ctx, &format!("Not added: {refused}.")).await,
            }
        }
        (None, Some(url)) => {
            let url = url.trim().to_string();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return edit(
                    ctx,
                    "Not added: the URL must start with https:// or http://.",
                )
                .await;
            }
            let is_sitemap =
                sitemap.unwrap_or(false) || url.ends_with(".xml") || url.ends_with(".xml.gz");
            edit(ctx, &format!("Adding <{url}>: fetching…")).await?;
            let what = format!("<{url}>");
            let spec = if is_sitemap {
                SourceSpec::Sitemap(url)
            } else {
                SourceSpec::Url(url)
            };
            (spec, what)
        }
        _ => {
            return edit(
                ctx,
                "Give either a `file` or a `url` (one of them, not both).",
            )
            .await;
        }
    };
    let tracker = Tracker::default();
    let knowledge = &ctx.data().knowledge;
    let heading = format!("Adding {what}");
    let result = with_progress(
        ctx,
        &heading,
        &tracker,
        knowledge.add(guild.get() as i64, spec, &tracker),
    )
    .await;
    let text = match result {
        Ok(summary) => {
            info!(
                guild_id = guild.get(),
                source_id = summary.source_id,
                chunks = summary.chunks,
                skipped = summary.skipped.len(),
                "knowledge source added from Discord"
            );
            format!("Added {what}: {}", summarize(&summary))
        }
        Err(e) => {
            info!(
                guild_id = guild.get(),
                error_kind = kind_of(&e),
                "knowledge add failed"
            );
            format!("Not added: {}", explain(&e))
        }
    };
    edit(ctx, &fit(text)).await
}

/// This server's knowledge sources with their status and size.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn list(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    ctx.defer_ephemeral().await?;
    let sources = ctx.data().knowledge.list(guild.get() as i64).await?;
    if sources.is_empty() {
        return edit(
            ctx,
            "No knowledge sources yet: add one with `/knowledge add`.",
        )
        .await;
    }
    let lines: Vec<String> = sources.iter().map(describe).collect();
    edit(ctx, &pack("Knowledge sources (id, name, status):", &lines)).await
}

/// Remove a source and everything indexed from it (asks you to confirm).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn remove(
    ctx: Context<'_>,
    #[description = "The source's id, from /knowledge list"] source: i64,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let knowledge = &ctx.data().knowledge;
    let Some(found) = find(ctx, guild, source).await? else {
        return private(ctx, no_such_source(source)).await;
    };
    let question = format!(
        "This removes source {} ({}) and its {} chunks: supportbot stops answering from it at \
         once. Remove it?",
        found.id,
        name_of(&found),
        found.chunk_count
    );
    let Some(click) = confirm(ctx, &question, "Remove", "nothing was removed").await? else {
        return Ok(());
    };
    // Checked again at the click: the permission may have been taken away meanwhile.
    if !manages_guild(&click) || click.guild_id != Some(guild) {
        return settle(
            ctx,
            &click,
            "You need the **Manage Server** permission to do that; nothing was removed.",
        )
        .await;
    }
    settle(ctx, &click, &format!("Removing source {}…", found.id)).await?;
    let text = match knowledge.remove(guild.get() as i64, found.id).await {
        Ok(()) => {
            info!(
                guild_id = guild.get(),
                source_id = found.id,
                "knowledge source removed"
            );
            format!(
                "Removed source {} ({}) and its chunks.",
                found.id,
                name_of(&found)
            )
        }
        Err(KnowledgeError::UnknownSource { id }) => no_such_source(id),
        Err(e) => return Err(e.into()),
    };
    click
        .edit_response(ctx.http(), EditInteractionResponse::new().content(text))
        .await?;
    Ok(())
}

/// Fetch a source again (or all of them) and re-index what changed.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn reindex(
    ctx: Context<'_>,
    #[description = "The source's id (default: every source)"] source: Option<i64>,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    ctx.defer_ephemeral().await?;
    let knowledge = &ctx.data().knowledge;
    let sources = match source {
        Some(id) => match find(ctx, guild, id).await? {
            Some(found) => vec![found],
            None => return edit(ctx, &no_such_source(id)).await,
        },
        None => knowledge.list(guild.get() as i64).await?,
    };
    if sources.is_empty() {
        return edit(ctx, "No knowledge sources to re-index.").await;
    }
    let total = sources.len();
    let mut lines = Vec::with_capacity(total);
    for (i, found) in sources.iter().enumerate() {
        let line = match respec(found) {
            Err(why) => format!("{} {}: {why}", found.id, name_of(found)),
            Ok(spec) => {
                let heading = format!(
                    "Re-indexing {} of {total}: source {} ({})",
                    i + 1,
                    found.id,
                    name_of(found)
                );
                edit(ctx, &format!("{heading}…")).await?;
                let tracker = Tracker::default();
                let result = with_progress(
                    ctx,
                    &heading,
                    &tracker,
                    knowledge.add(guild.get() as i64, spec, &tracker),
                )
                .await;
                match result {
                    Ok(summary) => {
                        format!("{} {}: {}", found.id, name_of(found), summarize(&summary))
                    }
                    Err(e) => format!("{} {}: failed: {}", found.id, name_of(found), explain(&e)),
                }
            }
        };
        lines.push(line);
    }
    info!(
        guild_id = guild.get(),
        sources = total,
        "knowledge re-indexed"
    );
    edit(ctx, &pack("Re-indexed:", &lines)).await
}

/// The chunks supportbot would read for a question, best first: check your docs cover it.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
async fn search(
    ctx: Context<'_>,
    #[description = "A question as a member would ask it"]
    #[max_length = 300]
    query: String,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    ctx.defer_ephemeral().await?;
    let hits = ctx
        .data()
        .knowledge
        .search(guild.get() as i64, &query, SEARCH_HITS)
        .await?;
    if hits.is_empty() {
        return edit(
            ctx,
            "Nothing in this server's knowledge matches that: supportbot would have no \
             documents to answer from.",
        )
        .await;
    }
    let lines: Vec<String> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let heading = if h.heading_path.is_empty() {
                String::new()
            } else {
                format!(" › {}", h.heading_path.join(" › "))
            };
            let preview: String = h.text.chars().take(160).collect();
            format!(
                "{}. **{}**{heading} — score {:.3} (source {})\n> {}",
                i + 1,
                h.title,
                h.score,
                h.source_id,
                preview.replace('\n', " ")
            )
        })
        .collect();
    edit(ctx, &pack("What supportbot would read first:", &lines)).await
}

fn guild_of(ctx: Context<'_>) -> Result<GuildId, Error> {
    Ok(ctx.guild_id().ok_or("guild only")?)
}

async fn private(ctx: Context<'_>, text: impl Into<String>) -> Result<(), Error> {
    ctx.send(confirm::private(text)).await?;
    Ok(())
}

fn no_such_source(id: i64) -> String {
    format!("No such source: {id}. `/knowledge list` shows this server's sources.")
}

/// One of this guild's sources by id; another guild's id is not found.
async fn find(ctx: Context<'_>, guild: GuildId, id: i64) -> Result<Option<KnowledgeSource>, Error> {
    let sources = ctx.data().knowledge.list(guild.get() as i64).await?;
    Ok(sources.into_iter().find(|s| s.id == id))
}

/// How to fetch a source again, or why it cannot be.
fn respec(source: &KnowledgeSource) -> Result<SourceSpec, &'static str> {
    match source.kind.as_str() {
        "url" => Ok(SourceSpec::Url(source.location.clone())),
        "sitemap" => Ok(SourceSpec::Sitemap(source.location.clone())),
        "path" => Ok(SourceSpec::Path(source.location.clone().into())),
        "upload" => Err("an uploaded file; add it again with `/knowledge add` to update it"),
        _ => Err("added from the command line; re-add it there to update it"),
    }
}

/// A short name for a source: the page or sitemap URL, the file's name.
fn name_of(source: &KnowledgeSource) -> String {
    match source.kind.as_str() {
        "url" | "sitemap" => format!("<{}>", source.location),
        "path" => std::path::Path::new(&source.location)
            .file_name()
            .map(|n| format!("`{}`", n.to_string_lossy()))
            .unwrap_or_else(|| "a folder".into()),
        _ => format!("`{}`", source.location),
    }
}

fn describe(source: &KnowledgeSource) -> String {
    let status = format!("{:?}", source.status).to_lowercase();
    let updated = source
        .indexed_at
        .unwrap_or(source.updated_at)
        .format("%Y-%m-%d %H:%M UTC");
    let error = source
        .last_error
        .as_deref()
        .filter(|_| status != "indexed")
        .map(|e| format!(" (last error: {})", e.chars().take(120).collect::<String>()))
        .unwrap_or_default();
    format!(
        "`{}` {} — {status}, {} chunks, updated {updated}{error}",
        source.id,
        name_of(source),
        source.chunk_count
    )
}

fn summarize(s: &IngestSummary) -> String {
    let mut text = if s.unchanged {
        format!(
            "unchanged since the last time; nothing to re-index ({} chunks, source {}).",
            s.chunks, s.source_id
        )
    } else {
        format!(
            "{} chunks indexed from {} documents ({} new or changed, {} removed), {} skipped \
             (source {}).",
            s.chunks,
            s.documents,
            s.changed_documents,
            s.removed_documents,
            s.skipped.len(),
            s.source_id
        )
    };
    for skip in s.skipped.iter().take(5) {
        text.push_str(&format!("\n- skipped {}: {}", skip.location, skip.reason));
    }
    if s.skipped.len() > 5 {
        text.push_str(&format!("\n- and {} more skipped", s.skipped.len() - 5));
    }
    text
}

/// The admin-facing reason an ingest failed; nothing was lost (a source that was indexed
/// before keeps its chunks).
fn explain(e: &KnowledgeError) -> String {
    match e {
        KnowledgeError::Fetch { .. } | KnowledgeError::InvalidSource(_) => {
            format!("{e}. Nothing else was changed.")
        }
        KnowledgeError::UnknownSource { id } => no_such_source(*id),
        _ => "something went wrong on our side; nothing else was changed. Please try again \
              later."
            .into(),
    }
}

/// A log-safe label for an ingest error (its text may quote a URL or a file's name).
fn kind_of(e: &KnowledgeError) -> &'static str {
    match e {
        KnowledgeError::Fetch { .. } => "fetch",
        KnowledgeError::InvalidSource(_) => "invalid source",
        KnowledgeError::UnknownSource { .. } => "unknown source",
        _ => "internal",
    }
}

/// A heading and lines, cut to Discord's message limit with a note of what was left out.
fn pack(heading: &str, lines: &[String]) -> String {
    let mut text = heading.to_string();
    for (i, line) in lines.iter().enumerate() {
        let more = format!("\n… and {} more", lines.len() - i);
        if text.len() + 1 + line.len() + more.len() > MESSAGE_LIMIT {
            text.push_str(&more);
            return text;
        }
        text.push('\n');
        text.push_str(line);
    }
    text
}

/// Cuts a text to Discord's message limit.
fn fit(text: String) -> String {
    if text.chars().count() <= MESSAGE_LIMIT {
        return text;
    }
    let mut cut: String = text.chars().take(MESSAGE_LIMIT - 1).collect();
    cut.push('…');
    cut
}
