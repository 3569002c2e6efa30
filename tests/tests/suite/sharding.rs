//! Several bot processes, one shard each, against one fake Discord and one Postgres: Discord
//! sends each guild's events to shard `(guild_id >> 22) % total` only, so each process answers
//! its own guilds, every question once, and a thread's follow-ups where the thread began.
//! Each instance keeps its own data directory, as the embedded index is one process's at a
//! time (a sharded deployment shares a Qdrant server instead, which CI does not have). And the
//! maintenance every process runs against the shared database does not trip over itself.

use std::collections::BTreeSet;

use axum::http::Method;
use chrono::Utc;
use supportbot::clock::{Clock, SystemClock};
use supportbot::config::{Config, RetentionConfig, ShardRange};
use supportbot::retention;
use tests::fake_discord::{Author, BOT_ID, FakeDiscord, FakeGuild, shard_of};
use tests::{RunningBot, TestDb};

use crate::e2e::{DOCS, MEMBER, WAIT, is_post_to, is_thread_on, posts};

const TOTAL: u32 = 2;

/// A bot process running shard `shard` of [`TOTAL`], with the docs in `guilds`' knowledge
/// bases (its own index; the database is shared).
async fn instance(fake: &FakeDiscord, db: &TestDb, shard: u32, guilds: &[FakeGuild]) -> RunningBot {
    let ids: Vec<u64> = guilds.iter().map(|g| g.id).collect();
    let bot = RunningBot::launch_for(fake, db, &ids, DOCS, |config: &mut Config| {
        config.discord.shards = Some(TOTAL);
        config.discord.shard_range = Some(ShardRange {
            first: shard,
            last: shard,
        });
    })
    .await;
    fake.wait_for_shard(shard, WAIT).await;
    bot
}

/// How many times a bot's pipeline has finished with `message`.
fn times_handled(bot: &RunningBot, message: u64) -> usize {
    bot.handled()
        .iter()
        .filter(|h| h.message_id == message)
        .count()
}

#[tokio::test]
async fn two_processes_with_a_shard_each_answer_their_own_guilds_once() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::postgres().await;
    let on_zero = [
        fake.add_guild_on_shard(0, TOTAL),
        fake.add_guild_on_shard(0, TOTAL),
    ];
    let on_one = [
        fake.add_guild_on_shard(1, TOTAL),
        fake.add_guild_on_shard(1, TOTAL),
    ];
    for g in on_zero {
        assert_eq!(shard_of(g.id, TOTAL), 0, "{g:?}");
    }
    for g in on_one {
        assert_eq!(shard_of(g.id, TOTAL), 1, "{g:?}");
    }
    let store = db.store().await;
    for g in on_zero.iter().chain(&on_one) {
        store.upsert_guild(g.id as i64, Utc::now()).await.unwrap();
        store
            .set_channel_enabled(g.id as i64, g.channel as i64, true, None, Utc::now())
            .await
            .unwrap();
    }

    let zero = instance(&fake, &db, 0, &on_zero).await;
    let one = instance(&fake, &db, 1, &on_one).await;
    // Only shard 0's process registers the commands.
    fake.wait_for_call("command registration", WAIT, |c| {
        c.method == Method::PUT && c.path == format!("/api/v10/applications/{BOT_ID}/commands")
    })
    .await;

    // A question in every guild, shards interleaved.
    let questions: Vec<(FakeGuild, u64)> = [on_zero[0], on_one[0], on_zero[1], on_one[1]]
        .into_iter()
        .map(|g| {
            let id = fake.send_message(
                g.channel,
                Author::Member(MEMBER),
                "how do i restore a backup?",
            );
            (g, id)
        })
        .collect();
    for &(g, question) in &questions {
        let (owner, other) = if shard_of(g.id, TOTAL) == 0 {
            (&zero, &one)
        } else {
            (&one, &zero)
        };
        let outcome = owner.outcome(question).await;
        assert_eq!(outcome.kind(), "answered", "{outcome:?}");
        fake.wait_for_call(
            "a thread on the question",
            WAIT,
            is_thread_on(g.channel, question),
        )
        .await;
        fake.wait_for_call("the answer in its thread", WAIT, is_post_to(question))
            .await;
        assert_eq!(
            times_handled(other, question),
            0,
            "the other process saw {g:?}"
        );
    }

    // A follow-up in a thread on each shard goes to the process that answered the question.
    let mut follow_ups = Vec::new();
    for &(g, question) in &[questions[0], questions[1]] {
        let thread = fake.thread_on(question).expect("the bot opened a thread");
        let id = fake.send_message(
            thread,
            Author::Member(MEMBER),
            "and which snapshot dates can I pick?",
        );
        let owner = if shard_of(g.id, TOTAL) == 0 {
            &zero
        } else {
            &one
        };
        let outcome = owner.outcome(id).await;
        assert_eq!(outcome.kind(), "answered", "{outcome:?}");
        follow_ups.push((thread, id));
    }

    let (handled_zero, handled_one) = (zero.handled(), one.handled());
    zero.stop().await.unwrap();
    one.stop().await.unwrap();

    let guilds = |gs: &[FakeGuild]| gs.iter().map(|g| g.id).collect::<BTreeSet<u64>>();
    let seen_zero: BTreeSet<u64> = handled_zero.iter().map(|h| h.guild_id).collect();
    let seen_one: BTreeSet<u64> = handled_one.iter().map(|h| h.guild_id).collect();
    assert_eq!(
        seen_zero,
        guilds(&on_zero),
        "shard 0's process saw only its guilds"
    );
    assert_eq!(
        seen_one,
        guilds(&on_one),
        "shard 1's process saw only its guilds"
    );
    for (thread, id) in &follow_ups {
        let handled: usize = [&handled_zero, &handled_one]
            .iter()
            .map(|hs| hs.iter().filter(|h| h.message_id == *id).count())
            .sum();
        assert_eq!(
            handled, 1,
            "the follow-up {id} was handled once, by one process"
        );
        let replies = posts(&fake)
            .iter()
            .filter(|c| is_post_to(*thread)(c))
            .count();
        assert_eq!(
            replies, 2,
            "the answer and the follow-up's answer in {thread}"
        );
    }
    for &(_, question) in &questions[2..] {
        let replies = posts(&fake)
            .iter()
            .filter(|c| is_post_to(question)(c))
            .count();
        assert_eq!(replies, 1, "one answer to {question}");
    }
    let threads = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::POST && c.path.ends_with("/threads"))
        .count();
    assert_eq!(threads, questions.len(), "one thread per question");
    let registrations = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::PUT && c.path.ends_with("/commands"))
        .count();
    assert_eq!(
        registrations, 1,
        "the commands are registered once, by shard 0's process"
    );
}

#[tokio::test]
async fn two_processes_purging_the_same_departed_guilds_at_once_both_succeed() {
    tests::init_tracing();
    let db = TestDb::postgres().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = |dir: &tempfile::TempDir| {
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.database.url = Some(secrecy::SecretString::from(db.url.clone()));
        config
    };
    let (config_a, config_b) = (config(&dir_a), config(&dir_b));
    let guilds = [
        1_150_000_000_000_000_001_u64,
        1_150_000_000_000_000_002,
        1_150_000_000_000_000_003,
    ];
    let left = Utc::now() - chrono::Duration::days(31);
    for g in guilds {
        // Knowledge source rows in the shared database, vectors in the first process's index.
        tests::seed_knowledge(&config_a, g, DOCS).await;
        let store = db.store().await;
        store.upsert_guild(g as i64, left).await.unwrap();
        store
            .set_channel_enabled(g as i64, 42, true, None, left)
            .await
            .unwrap();
        store.mark_guild_left(g as i64, left).await.unwrap();
    }
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
    let a = tests::services(&config_a, std::sync::Arc::clone(&clock)).await;
    let b = tests::services(&config_b, std::sync::Arc::clone(&clock)).await;
    let periods = RetentionConfig::default();
    let now = clock.now();

    let (ran_a, ran_b) = tokio::join!(
        retention::pass(
            &a.store,
            &periods,
            now,
            retention::Mode::Apply {
                knowledge: &a.knowledge
            }
        ),
        retention::pass(
            &b.store,
            &periods,
            now,
            retention::Mode::Apply {
                knowledge: &b.knowledge
            }
        ),
    );
    let ran_a = ran_a.expect("the first process's pass");
    let ran_b = ran_b.expect("the second process's pass");
    assert!(
        !ran_a.left_guilds.is_empty() || !ran_b.left_guilds.is_empty(),
        "someone purged the guilds"
    );
    for g in guilds {
        assert!(
            a.store.guild(g as i64).await.unwrap().is_none(),
            "guild {g} is gone"
        );
        for c in a.store.guild_row_counts(g as i64).await.unwrap() {
            assert_eq!(c.rows, 0, "{} keeps rows of the purged guild {g}", c.table);
        }
    }
}

#[tokio::test]
async fn a_process_running_some_of_the_shards_refuses_an_sqlite_database() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::launch(&fake, &db, &[], |config: &mut Config| {
        config.discord.shards = Some(TOTAL);
        config.discord.shard_range = Some(ShardRange { first: 1, last: 1 });
    })
    .await;
    let refused = tokio::time::timeout(WAIT, bot.handle)
        .await
        .expect("run stops at once")
        .expect("the bot task did not panic")
        .expect_err("a partial shard range on SQLite is refused")
        .to_string();
    assert!(
        refused.contains("SUPPORTBOT_DISCORD__SHARD_RANGE"),
        "{refused}"
    );
    assert!(refused.contains("postgres://"), "{refused}");
    assert!(fake.gateway_ops().is_empty(), "it never connected");
}

#[tokio::test]
async fn the_fakes_gateway_bot_recommends_shards_and_counts_session_starts() {
    let fake = FakeDiscord::start().await;
    let (status, before) = fake.raw_request("GET", "/api/v10/gateway/bot", None).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        before["shards"], 1,
        "one shard for a bot in one guild: {before}"
    );
    let limit = &before["session_start_limit"];
    assert_eq!(
        (limit["total"].as_u64(), limit["remaining"].as_u64()),
        (Some(1000), Some(1000))
    );
    assert_eq!(limit["max_concurrency"], 1, "{before}");

    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;
    let (_, after) = fake.raw_request("GET", "/api/v10/gateway/bot", None).await;
    let limit = &after["session_start_limit"];
    assert_eq!(limit["remaining"], 999, "an IDENTIFY counts: {after}");
    assert!(
        limit["reset_after"].as_u64().is_some_and(|ms| ms > 0),
        "{after}"
    );
    bot.stop().await.unwrap();
}
