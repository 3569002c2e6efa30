//! `/stats [days]`: a guild's support figures, privately, with a chart of daily volume by
//! outcome attached. Counts and timings only, never content.

use chrono::Utc;
use poise::CreateReply;
use serenity::all::CreateAttachment;
use tracing::warn;

use crate::discord::{Context, Error};
use crate::stats_view::{StatsDays, chart, render};

/// Questions, answers, resolutions, handoffs, escalations and blocks, with a daily chart.
#[poise::command(
    slash_command,
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD",
    // Drawing the chart is real work: once per admin every 10 s is plenty.
    member_cooldown = 10
)]
pub async fn stats(
    ctx: Context<'_>,
    #[description = "Days to cover, today included (1–90, default 7)"]
    #[min = 1]
    #[max = 90]
    days: Option<i64>,
) -> Result<(), Error> {
    let guild_id = ctx.guild_id().ok_or("guild only")?;
    let days = match days.map(StatsDays::new).transpose() {
        Ok(d) => d.unwrap_or(StatsDays::DEFAULT),
        Err(e) => {
            ctx.send(CreateReply::default().content(e).ephemeral(true))
                .await?;
            return Ok(());
        }
    };
    // The query and the chart can take longer than Discord's 3 s: acknowledge first.
    ctx.defer_ephemeral().await?;
    let (since, until) = days.window(Utc::now());
    let stats = ctx
        .data()
        .pipeline
        .store()
        .guild_stats(guild_id.get() as i64, since, until)
        .await?;
    let text = render(&stats, days);
    let series = stats.days.clone();
    let drawn = tokio::task::spawn_blocking(move || chart::daily_volume(&series)).await?;
    let mut reply = CreateReply::default().content(text).ephemeral(true);
    match drawn {
        Ok(chart) => {
            reply = reply.attachment(CreateAttachment::bytes(chart.png, "stats.png"));
        }
        // The figures are in the text; a chart that failed is logged, not fatal.
        Err(e) => warn!(guild_id = guild_id.get(), error = %e, "could not draw the stats chart"),
    }
    ctx.send(reply).await?;
    Ok(())
}
