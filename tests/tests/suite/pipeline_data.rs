//! What the pipeline and the retention job keep, and for how long: deleted messages, leaked
//! secrets, audit excerpts, traces, a guild's own periods and guilds that removed the bot.
//! Real store and knowledge base, recorded delivery, manual clock.

use agent::classifier::Category;
use chrono::Duration;
use store::{AuditEntry, AuditFilter, Needle};
use supportbot::clock::Clock;
use supportbot::config::RetentionConfig;
use supportbot::pipeline::Outcome;
use supportbot::retention;

use crate::pipeline::{GUILD, Harness, harness};

const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB";
const SCAM: &str = "Free nitro for everyone! claim here https://dlscord-gift.com/claim";

impl Harness {
    async fn audit(&self) -> Vec<AuditEntry> {
        self.store()
            .list_audit(
                GUILD as i64,
                &AuditFilter {
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
    }

    async fn retention(&self, config: &RetentionConfig) {
        retention::run_once(
            self.store(),
            &self.services.knowledge,
            config,
            self.clock.now(),
        )
        .await;
    }

    /// Where `text` survives: (table, column, rows).
    async fn kept(&self, text: &str) -> Vec<(String, String, u64)> {
        self.store()
            .occurrences(&Needle::Contains(text.into()))
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_question_deleted_on_discord_loses_its_stored_text_and_trace() {
    let mut h = harness(true, |_| {}).await;
    let outcome = h.say(1, None, "how do I restore a backup? ZQX-ASKED").await;
    assert!(matches!(outcome, Outcome::Responded { .. }), "{outcome:?}");
    let question = h.next_id;
    assert_eq!(
        h.kept("ZQX-ASKED").await.len(),
        2,
        "the message and its trace"
    );

    let forgotten = h
        .services
        .pipeline
        .messages_deleted(GUILD, &[question])
        .await
        .unwrap();
    assert_eq!(
        (forgotten.messages_zeroed, forgotten.traces_deleted),
        (1, 1)
    );
    assert_eq!(h.kept("ZQX-ASKED").await, Vec::new());
    let conversation = h
        .store()
        .conversations(GUILD as i64)
        .await
        .unwrap()
        .remove(0);
    let messages = h
        .store()
        .conversation_messages(GUILD as i64, conversation.id)
        .await
        .unwrap();
    assert_eq!(messages.len(), 2, "the rows stay, with their IDs");
    assert_eq!(messages[0].content, "");
    assert!(!messages[1].content.is_empty(), "the bot's answer stays");
}

#[tokio::test]
async fn a_leaked_token_is_audited_without_any_excerpt() {
    let mut h = harness(true, |_| {}).await;
    let outcome = h.say(1, None, &format!("my bot token is {TOKEN}")).await;
    let Outcome::Moderated(m) = outcome else {
        panic!("expected moderation, got {outcome:?}");
    };
    assert_eq!(m.category, Category::Secret);
    let entry = h.audit().await.remove(0);
    assert_eq!(entry.category, "secret");
    assert_eq!(
        entry.rule, "secret.discord_token",
        "the kind of secret is kept"
    );
    assert_eq!(entry.excerpt, None);
    assert_eq!(
        h.kept("GaBcDe").await,
        Vec::new(),
        "no table holds the token"
    );
    assert_eq!(h.kept("my bot token").await, Vec::new());
}

#[tokio::test]
async fn a_message_the_bot_deleted_keeps_its_verdict_not_its_text() {
    let mut h = harness(true, |_| {}).await;
    let outcome = h.say(1, None, SCAM).await;
    assert!(matches!(outcome, Outcome::Moderated(_)), "{outcome:?}");
    let scam = h.next_id;
    assert!(
        h.delivery.deleted().iter().any(|&(_, id)| id == scam),
        "the bot deleted it"
    );
    let entry = h.audit().await.remove(0);
    assert!(entry.excerpt.as_deref().unwrap().contains("dlscord-gift"));

    // Discord tells the bot its own deletion happened.
    let forgotten = h
        .services
        .pipeline
        .messages_deleted(GUILD, &[scam])
        .await
        .unwrap();
    assert_eq!(forgotten.audit_excerpts_cleared, 1);
    let after = h.audit().await.remove(0);
    assert_eq!(after.excerpt, None);
    assert_eq!(
        (after.id, after.verdict.as_str(), after.category.as_str()),
        (entry.id, "block", "scam")
    );
    assert_eq!(h.kept("dlscord-gift").await, Vec::new());
}

#[tokio::test]
async fn audit_excerpts_follow_message_text_retention_not_the_audit_entry() {
    let mut h = harness(true, |_| {}).await;
    h.say(1, None, SCAM).await;
    let config = RetentionConfig::default();
    h.clock.advance(Duration::days(89));
    h.retention(&config).await;
    assert!(h.audit().await[0].excerpt.is_some(), "kept 90 days");
    h.clock.advance(Duration::days(2));
    h.retention(&config).await;
    let entry = h.audit().await.remove(0);
    assert_eq!(entry.excerpt, None, "gone with message text at 90 days");
    assert_eq!(entry.verdict, "block", "the entry stays for 365");
    h.clock.advance(Duration::days(275));
    h.retention(&config).await;
    assert!(h.audit().await.is_empty());
}

#[tokio::test]
async fn trace_days_is_read_by_each_pass_not_only_when_a_trace_is_written() {
    let mut h = harness(true, |_| {}).await;
    h.say(1, None, "how do I restore a backup?").await;
    assert_eq!(h.store().traces(GUILD as i64, 10).await.unwrap().len(), 1);
    h.clock.advance(Duration::days(4));
    let mut config = RetentionConfig::default();
    h.retention(&config).await;
    assert_eq!(h.store().traces(GUILD as i64, 10).await.unwrap().len(), 1);
    config.trace_days = 3;
    h.retention(&config).await;
    assert!(h.store().traces(GUILD as i64, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_guild_keeps_text_for_less_time_when_it_chooses_and_never_longer() {
    let mut h = harness(true, |_| {}).await;
    h.say(1, None, "how do I restore a backup? ZQX-SHORT").await;
    let config = RetentionConfig::default();
    let too_long = supportbot::guild_settings::RetentionOverrides {
        message_days: Some(120),
        ..Default::default()
    };
    let err = too_long.check(&config).unwrap_err();
    assert!(err.to_string().contains("from 1 to 90 days"), "{err}");
    h.services
        .pipeline
        .guild_settings()
        .update(GUILD, |s| {
            s.retention.message_days = Some(7);
            s.retention.trace_days = Some(7);
            Ok(())
        })
        .await
        .unwrap();
    h.clock.advance(Duration::days(6));
    h.retention(&config).await;
    assert_eq!(
        h.kept("ZQX-SHORT").await.len(),
        2,
        "the message and its trace"
    );
    h.clock.advance(Duration::days(2));
    let preview = retention::pass(h.store(), &config, h.clock.now(), retention::Mode::DryRun)
        .await
        .unwrap();
    assert_eq!(preview.guilds_with_own_periods, 1);
    assert_eq!(
        (
            preview.report.message_contents_zeroed,
            preview.report.traces_deleted
        ),
        (2, 1),
        "the question and the answer, and the trace: the guild's 7 days, not 90 and 14"
    );
    assert_eq!(
        h.kept("ZQX-SHORT").await.len(),
        2,
        "a dry run changes nothing"
    );
    h.retention(&config).await;
    assert_eq!(h.kept("ZQX-SHORT").await, Vec::new());
}

#[tokio::test]
async fn a_guild_that_removed_the_bot_is_purged_after_the_grace_period() {
    let mut h = harness(true, |_| {}).await;
    h.say(1, None, "how do I restore a backup? ZQX-LEFT").await;
    let knowledge = &h.services.knowledge;
    assert!(knowledge.chunk_count(GUILD as i64).await.unwrap() > 0);
    let shard = h.dir.path().join("knowledge/edge").join(GUILD.to_string());
    assert!(
        shard.is_dir(),
        "the guild's shard is at {}",
        shard.display()
    );

    h.store()
        .mark_guild_left(GUILD as i64, h.clock.now())
        .await
        .unwrap();
    let config = RetentionConfig::default();
    h.clock.advance(Duration::days(29));
    h.retention(&config).await;
    assert!(
        h.store().guild(GUILD as i64).await.unwrap().is_some(),
        "within grace"
    );
    h.clock.advance(Duration::days(2));
    h.retention(&config).await;

    assert!(h.store().guild(GUILD as i64).await.unwrap().is_none());
    for c in h.store().guild_row_counts(GUILD as i64).await.unwrap() {
        assert_eq!(c.rows, 0, "{} keeps rows of the purged guild", c.table);
    }
    assert_eq!(h.kept("ZQX-LEFT").await, Vec::new());
    assert_eq!(knowledge.chunk_count(GUILD as i64).await.unwrap(), 0);
    assert!(!shard.exists(), "the shard directory is gone");
}
