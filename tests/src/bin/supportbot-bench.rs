//! Load and memory benchmarks of the real bot, run as its own process against the fakes.
//!
//! ```text
//! cargo run --release -p tests --bin supportbot-bench -- soak [--messages N] [--rate R] [--json]
//! cargo build --release -p supportbot && cargo run --release -p tests --bin supportbot-bench -- idle-rss
//! ```
//!
//! The bot is this binary started again as `bot`: the same `app::run_wired` that `supportbot
//! run` calls, with a REST client that reaches the fake Discord as `https://discord.com` (so
//! serenity's rate limiter is on). It runs in a process of its own so its memory is measured
//! without the fakes' records.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;
use clap::{Parser, Subcommand};
use serde_json::json;
use sqlx::Connection;
use store::Store;
use supportbot::app::Wiring;
use supportbot::config::Config;
use tests::fake_discord::{Answered, Author, FakeDiscord, TOKEN};
use tests::fake_openai::FakeOpenAi;
use tests::{BENCH_QUESTIONS, PrivatePostgres};
use tokio_util::sync::CancellationToken;

/// Names the address of the fake's HTTPS side for the bot process.
const FAKE_DISCORD_ENV: &str = "BENCH_FAKE_DISCORD_ADDR";

#[derive(Parser)]
#[command(
    name = "supportbot-bench",
    about = "Load and memory benchmarks of the real bot"
)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Drives messages across many guilds at a steady rate, with a gateway drop, a model
    /// outage and a Postgres restart on the way, and counts what was lost or done twice.
    Soak(SoakArgs),
    /// The resident memory of an idle bot with one guild's knowledge open.
    IdleRss,
    /// The bot itself (started by the benchmarks; configured from the environment).
    #[command(hide = true)]
    Bot,
}

#[derive(clap::Args)]
struct SoakArgs {
    /// Messages to send.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Messages per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Guilds the messages are spread over.
    #[arg(long, default_value_t = 20)]
    guilds: u64,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    if let Some(exit) = knowledge::pdf::worker_if_asked() {
        return exit;
    }
    agent::tls::install_crypto_provider();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the async runtime");
    match cli.command {
        Bench::Bot => runtime.block_on(bot()),
        Bench::Soak(args) => runtime.block_on(soak(args)),
        Bench::IdleRss => runtime.block_on(idle_rss()),
    }
}

/// `supportbot run`, with the fake's HTTPS client.
async fn bot() -> ExitCode {
    let config = match Config::load(None) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    supportbot::telemetry::init(&config.log);
    let addr: SocketAddr = std::env::var(FAKE_DISCORD_ENV)
        .ok()
        .and_then(|a| a.parse().ok())
        .expect("the benchmark names the fake Discord's address");
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            supportbot::app::shutdown_signal().await;
            shutdown.cancel();
        }
    });
    let wiring = Wiring {
        discord_http: Some(tests::fake_discord::https_client(addr)),
        outcomes: None,
    };
    match supportbot::app::run_wired(config, shutdown, wiring).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

const SCAM: &str = "Free nitro for everyone! claim here https://dlscord-gift.com/claim";
const HUMAN: &str = "can I talk to a human please?";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Answered in a thread of its own.
    Question,
    /// Deleted, with an audit row.
    Scam,
    /// Handed to a person in a thread of its own, with an audit row.
    Human,
}

fn kind_of(i: usize) -> Kind {
    match i % 20 {
        0 | 1 => Kind::Scam,
        2 => Kind::Human,
        _ => Kind::Question,
    }
}

/// What the bot did about one message, from the REST calls it made.
#[derive(Default)]
struct Seen {
    threads: u32,
    /// Posts in the message's thread (a thread started on a message has the message's ID).
    posts: u32,
    deletes: u32,
    done_at: Option<Instant>,
}

struct Sent {
    kind: Kind,
    at: Instant,
}

/// Where soak guild `k` and its support channel live.
fn soak_guild(k: u64) -> (u64, u64) {
    let guild = 1_200_000_000_000_000_000 + (k << 23);
    (guild, guild + (1 << 22))
}

/// `/api/v10/channels/{a}/messages[/{b}[/threads]]` → (a, b, threads?).
fn channel_call(path: &str) -> Option<(u64, Option<u64>, bool)> {
    let rest = path.strip_prefix("/api/v10/channels/")?;
    let mut parts = rest.split('/');
    let channel = parts.next()?.parse().ok()?;
    if parts.next()? != "messages" {
        return None;
    }
    let message = parts.next().and_then(|m| m.parse().ok());
    let threads = parts.next() == Some("threads");
    Some((channel, message, threads))
}

/// Counts what the bot got done: a refused or rate-limited attempt changed nothing a member
/// could see.
fn record(seen: &mut HashMap<u64, Seen>, sent: &HashMap<u64, Sent>, call: &Answered) {
    if !(200..300).contains(&call.status) {
        return;
    }
    let Some((channel, message, threads)) = channel_call(&call.path) else {
        return;
    };
    match (&call.method, message, threads) {
        (&Method::POST, Some(m), true) if sent.contains_key(&m) => {
            seen.entry(m).or_default().threads += 1;
        }
        (&Method::POST, None, false) if sent.contains_key(&channel) => {
            let s = seen.entry(channel).or_default();
            s.posts += 1;
            s.done_at.get_or_insert(call.at);
        }
        (&Method::DELETE, Some(m), false) if sent.contains_key(&m) => {
            let s = seen.entry(m).or_default();
            s.deletes += 1;
            s.done_at.get_or_insert(call.at);
        }
        _ => {}
    }
}

fn rss_mb(pid: u32) -> f64 {
    status_mb(pid, "VmRSS:")
}

/// A memory line of `/proc/<pid>/status` (`VmRSS:`, `RssAnon:`, `RssFile:`), in MB.
fn status_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Starts this binary as the bot, configured by `env`, logging to `<dir>/bot.log`.
fn spawn_bot(dir: &Path, fake: &FakeDiscord, env: &[(&str, String)]) -> Child {
    spawn(dir, fake, env, None)
}

/// The `supportbot` binary built next to this one, if there is one.
fn real_binary() -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name("supportbot");
    path.exists().then_some(path)
}

/// Starts the bot: this binary as `bot`, or `real` (`supportbot run`, its REST through the
/// fake's plain-HTTP side as `discord.api_proxy`).
fn spawn(dir: &Path, fake: &FakeDiscord, env: &[(&str, String)], real: Option<&Path>) -> Child {
    let log = std::fs::File::create(dir.join("bot.log")).expect("create the bot's log");
    // Only what the benchmark sets: the bot refuses SUPPORTBOT_* settings it does not know
    // (the test suite's SUPPORTBOT_TEST_* among them).
    let mut cmd = match real {
        Some(binary) => {
            let mut cmd = Command::new(binary);
            cmd.env_clear()
                .arg("run")
                .env("SUPPORTBOT_DISCORD__API_PROXY", fake.http_url());
            cmd
        }
        None => {
            let mut cmd = Command::new(std::env::current_exe().expect("this binary's path"));
            cmd.env_clear()
                .arg("bot")
                .env(FAKE_DISCORD_ENV, fake.https_addr().to_string());
            cmd
        }
    };
    cmd.current_dir(dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SUPPORTBOT_DISCORD__TOKEN", TOKEN)
        .env("SUPPORTBOT_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start the bot")
}

async fn registered(fake: &FakeDiscord, child: &mut Child, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if fake
            .calls()
            .iter()
            .any(|c| c.method == Method::PUT && c.path.ends_with("/commands"))
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("bot.log")).unwrap_or_default();
            panic!("the bot ended before it was ready ({status}):\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "the bot was not ready within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM, then the exit status (killed after 30 s).
async fn stop(mut child: Child) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    None
}

fn model_reply() -> String {
    json!({
        "action": "reply",
        "answer": "Open **Settings → API** and click **Reset key** [1].",
        "citations": [1],
        "confidence": 0.9
    })
    .to_string()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn soak(args: SoakArgs) -> ExitCode {
    let n = args.messages;
    let say = |line: String| {
        if !args.json {
            eprintln!("{line}");
        }
    };
    let pg = Arc::new(
        tokio::task::spawn_blocking(PrivatePostgres::start)
            .await
            .unwrap(),
    );
    let work = tempfile::tempdir().expect("a working directory");
    let model = Arc::new(FakeOpenAi::with_responder(|_| model_reply()).await);
    let fake = FakeDiscord::start().await;

    let mut config = Config {
        data_dir: work.path().join("data"),
        ..Config::default()
    };
    config.database.url = Some(secrecy::SecretString::from(pg.url()));
    let store = Store::open(&config.database_settings())
        .await
        .expect("open the soak database");
    let guilds: Vec<(u64, u64)> = (0..args.guilds).map(soak_guild).collect();
    for &(guild, channel) in &guilds {
        fake.add_text_channel(channel, "support");
        let now = chrono::Utc::now();
        store.upsert_guild(guild as i64, now).await.unwrap();
        store
            .set_channel_enabled(guild as i64, channel as i64, true, None, now)
            .await
            .unwrap();
        tests::seed_knowledge(&config, guild, tests::BENCH_DOCS).await;
    }
    store.close().await;

    let mut child = spawn_bot(
        work.path(),
        &fake,
        &[
            ("SUPPORTBOT_DATABASE__URL", pg.url()),
            ("SUPPORTBOT_LLM__BASE_URL", model.base_url()),
            ("SUPPORTBOT_LLM__MODEL", "soak-model".into()),
        ],
    );
    let pid = child.id();
    registered(&fake, &mut child, work.path()).await;
    let rss_ready = rss_mb(pid);
    say(format!(
        "bot ready, RSS {rss_ready:.1} MB; sending {n} messages at {}/s over {} guilds",
        args.rate, args.guilds
    ));

    let sent: Arc<Mutex<HashMap<u64, Sent>>> = Arc::default();
    let seen: Arc<Mutex<HashMap<u64, Seen>>> = Arc::default();
    let mut calls = fake.watch_calls();
    let watcher = tokio::spawn({
        let sent = Arc::clone(&sent);
        let seen = Arc::clone(&seen);
        async move {
            while let Some(call) = calls.recv().await {
                let sent = sent.lock().unwrap();
                record(&mut seen.lock().unwrap(), &sent, &call);
            }
        }
    });
    // Locks in the watcher's order (sent, then seen).
    let progress = |sent: &Mutex<HashMap<u64, Sent>>, seen: &Mutex<HashMap<u64, Seen>>| {
        let sent = sent.lock().unwrap();
        let seen = seen.lock().unwrap();
        sent.iter()
            .filter(|(id, s)| {
                seen.get(id).is_some_and(|x| match s.kind {
                    Kind::Scam => x.deletes > 0,
                    Kind::Question | Kind::Human => x.posts > 0,
                })
            })
            .count()
    };

    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let started = Instant::now();
    let warm_up = (n / 20).max(1);
    let mut rss_start = f64::NAN;
    let mut faults: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    for i in 0..n {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let (guild, channel) = guilds[i % guilds.len()];
        let kind = kind_of(i);
        let text = match kind {
            Kind::Question => BENCH_QUESTIONS[(i / guilds.len()) % BENCH_QUESTIONS.len()],
            Kind::Scam => SCAM,
            Kind::Human => HUMAN,
        };
        let author = Author::Member(700_000_000_000_000_000 + (i % 3_000) as u64);
        // Recorded before the dispatch, so the watcher knows the message when its effects come.
        let mut sent_now = sent.lock().unwrap();
        let id = fake.send_message_in(guild, channel, author, text);
        sent_now.insert(
            id,
            Sent {
                kind,
                at: Instant::now(),
            },
        );
        drop(sent_now);

        if i == warm_up {
            rss_start = rss_mb(pid);
        }
        if i == n / 4 {
            say(format!("{i}: the gateway connection drops"));
            fake.drop_connection();
        }
        if i == n * 2 / 5 {
            say(format!("{i}: the model provider answers 503 for 15 s"));
            let model = Arc::clone(&model);
            faults.push(tokio::spawn(async move {
                model.set_outage(Some(503));
                tokio::time::sleep(Duration::from_secs(15)).await;
                model.set_outage(None);
            }));
        }
        if i == n * 7 / 10 {
            say(format!("{i}: Postgres restarts (down for 3 s)"));
            let pg = Arc::clone(&pg);
            faults.push(tokio::task::spawn_blocking(move || {
                pg.down();
                std::thread::sleep(Duration::from_secs(3));
                pg.up();
            }));
        }
        if i > 0 && i % 1_000 == 0 {
            let finished = progress(&sent, &seen);
            say(format!(
                "{i} sent, {finished} done, RSS {:.1} MB",
                rss_mb(pid)
            ));
        }
    }
    for fault in faults {
        let _ = fault.await;
    }
    let sending = started.elapsed();

    // Drain: wait until everything is done, or nothing has moved for 60 s.
    let mut last = (0, Instant::now());
    loop {
        let finished = progress(&sent, &seen);
        if finished == n {
            break;
        }
        if finished != last.0 {
            last = (finished, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(60) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            say(format!("the bot ended during the soak: {status}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Late duplicates would show in the next second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_end = rss_mb(pid);
    let exit = stop(child).await;
    watcher.abort();

    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let mut lost = 0;
    let mut duplicated = 0;
    let mut latencies = Vec::with_capacity(n);
    for (id, s) in sent.iter() {
        let x = seen.get(id);
        let finished = x.and_then(|x| x.done_at);
        match finished {
            Some(at) => latencies.push(at.duration_since(s.at).as_secs_f64() * 1000.0),
            None => lost += 1,
        }
        if let Some(x) = x {
            let twice = match s.kind {
                Kind::Scam => x.deletes > 1 || x.threads > 0,
                Kind::Question | Kind::Human => x.threads > 1 || x.posts > 1,
            };
            duplicated += usize::from(twice);
            if twice && std::env::var_os("BENCH_SHOW_DUPLICATES").is_some() {
                eprintln!(
                    "twice: {id} {} threads {} posts {} deletes {}",
                    match s.kind {
                        Kind::Question => "question",
                        Kind::Scam => "scam",
                        Kind::Human => "human",
                    },
                    x.threads,
                    x.posts,
                    x.deletes
                );
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let expected_audit: HashSet<i64> = sent
        .iter()
        .filter(|(_, s)| s.kind != Kind::Question)
        .map(|(id, _)| *id as i64)
        .collect();
    let mut db = sqlx::PgConnection::connect(&pg.url())
        .await
        .expect("reach the soak database");
    let present: HashSet<i64> = sqlx::query_scalar::<_, i64>("SELECT message_id FROM audit_log")
        .fetch_all(&mut db)
        .await
        .expect("read the audit log")
        .into_iter()
        .collect();
    let audit_missing = expected_audit.difference(&present).count();
    let growth = (rss_end - rss_start) / rss_start * 100.0;
    let summary = json!({
        "messages": n,
        "rate": args.rate,
        "guilds": args.guilds,
        "lost": lost,
        "duplicated": duplicated,
        "audit_expected": expected_audit.len(),
        "audit_missing": audit_missing,
        "p50_ms": (percentile(&latencies, 50.0) * 10.0).round() / 10.0,
        "p99_ms": (percentile(&latencies, 99.0) * 10.0).round() / 10.0,
        "rss_ready_mb": (rss_ready * 10.0).round() / 10.0,
        "rss_start_mb": (rss_start * 10.0).round() / 10.0,
        "rss_end_mb": (rss_end * 10.0).round() / 10.0,
        "model_requests": model.chat_requests().len(),
        "clean_exit": exit.is_some_and(|s| s.success()),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{n} messages over {} guilds at {}/s (sent in {:.0} s), with a gateway drop, a 15 s \
             model outage and a Postgres restart:\n  lost {lost}, duplicated {duplicated}\n  audit \
             rows expected {}, missing {audit_missing}\n  latency (MESSAGE_CREATE → reply posted \
             or message deleted) p50 {:.1} ms, p99 {:.1} ms\n  bot RSS: ready {rss_ready:.1} MB, \
             after warm-up ({warm_up} messages) {rss_start:.1} MB, end {rss_end:.1} MB ({growth:+.1} %)\n  \
             model requests {}; SIGTERM exit {}",
            args.guilds,
            args.rate,
            sending.as_secs_f64(),
            expected_audit.len(),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            model.chat_requests().len(),
            match exit {
                Some(s) if s.success() => "clean".to_string(),
                Some(s) => format!("failed ({s})"),
                None => "timed out".to_string(),
            }
        );
    }
    if lost > 0 || duplicated > 0 || audit_missing > 0 {
        let log = std::fs::read_to_string(work.path().join("bot.log")).unwrap_or_default();
        eprintln!("bot log (last 40 lines):");
        for line in log
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            eprintln!("  {line}");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The Pi-hole documentation: one guild's real knowledge base.
fn pihole_docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/support-docs/pihole/docs")
}

async fn idle_rss() -> ExitCode {
    const GUILD: u64 = tests::fake_discord::GUILD_ID;
    const CHANNEL: u64 = tests::fake_discord::SUPPORT_CHANNEL;
    for (label, local_model) in [
        ("local sentence model found", None),
        ("local model off", Some("off")),
    ] {
        let work = tempfile::tempdir().expect("a working directory");
        let mut config = Config {
            data_dir: work.path().join("data"),
            ..Config::default()
        };
        if let Some(off) = local_model {
            config.knowledge.local_model = Some(off.to_string());
        }
        let store = Store::open(&config.database_settings())
            .await
            .expect("open the embedded database");
        let now = chrono::Utc::now();
        store.upsert_guild(GUILD as i64, now).await.unwrap();
        store
            .set_channel_enabled(GUILD as i64, CHANNEL as i64, true, None, now)
            .await
            .unwrap();
        let kb = knowledge::KnowledgeBase::open(
            config.knowledge_config().expect("knowledge settings"),
            store.clone(),
        )
        .await
        .expect("open the knowledge base");
        kb.add(
            GUILD as i64,
            knowledge::SourceSpec::Path(pihole_docs()),
            &knowledge::NoProgress,
        )
        .await
        .expect("index the Pi-hole docs");
        drop(kb);
        store.close().await;

        let fake = FakeDiscord::start().await;
        let mut env = Vec::new();
        if let Some(off) = local_model {
            env.push(("SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL", off.to_string()));
        }
        let real = real_binary();
        let mut child = spawn(work.path(), &fake, &env, real.as_deref());
        let pid = child.id();
        registered(&fake, &mut child, work.path()).await;
        // One question opens the guild's knowledge; then the bot idles.
        let message = fake.send_message(
            CHANNEL,
            Author::Member(700_000_000_000_000_001),
            "how do I whitelist a domain?",
        );
        fake.wait_for_call("the answer", Duration::from_secs(60), |c| {
            c.method == Method::POST && c.path == format!("/api/v10/channels/{message}/messages")
        })
        .await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rss = rss_mb(pid);
        let anon = status_mb(pid, "RssAnon:");
        let file = status_mb(pid, "RssFile:");
        let exit = stop(child).await;
        println!(
            "idle RSS of {} with one guild's knowledge open ({label}; the Pi-hole docs on \
             SQLite + Qdrant Edge): {rss:.1} MB ({anon:.1} MB anonymous, {file:.1} MB mapped \
             files: the program's own code and the index); SIGTERM exit {}",
            if real.is_some() {
                "`supportbot run`"
            } else {
                "the bot (this binary; build `supportbot` in release to measure it instead)"
            },
            exit.map_or("timed out".to_string(), |s| s.to_string())
        );
        drop(fake);
    }
    ExitCode::SUCCESS
}
