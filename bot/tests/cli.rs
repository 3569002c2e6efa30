//! The `supportbot` binary as a newcomer meets it: help, fast failures, migrate, doctor.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn supportbot(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_supportbot"));
    cmd.current_dir(dir).args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the supportbot binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = supportbot(dir.path(), &["--help"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    for command in ["run", "migrate", "doctor", "models", "data"] {
        assert!(
            text.contains(&format!("  {command}")),
            "{command} missing from:\n{text}"
        );
    }
    for command in [
        &["run"][..],
        &["migrate"],
        &["doctor"],
        &["models", "fetch"],
        &["data", "purge"],
    ] {
        let args = [command, &["--help"]].concat();
        assert!(
            supportbot(dir.path(), &args, &[]).status.success(),
            "{args:?}"
        );
    }
}

#[test]
fn run_without_a_token_fails_at_once_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = supportbot(dir.path(), &["run"], &[]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("DISCORD_TOKEN"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

/// A Discord that refuses the bot at the gateway: REST answers every request with the
/// gateway's address, and the WebSocket says HELLO, reads IDENTIFY and closes with `code`.
/// Returns the runtime serving it and the REST base URL.
fn gateway_closing_with(code: u16) -> (tokio::runtime::Runtime, String) {
    let (rt, api, _) = gateway(Some(code));
    (rt, api)
}

/// A gateway that says HELLO and reads IDENTIFY, then closes with `close` or, without one,
/// keeps the connection open and silent. The flag is set once IDENTIFY arrived.
fn gateway(
    close: Option<u16>,
) -> (
    tokio::runtime::Runtime,
    String,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let identified = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = std::sync::Arc::clone(&identified);
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (rest, gateway) = rt.block_on(async {
        (
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        )
    });
    let rest_addr = rest.local_addr().unwrap();
    let gateway_addr = gateway.local_addr().unwrap();
    rt.spawn(async move {
        while let Ok((mut conn, _)) = rest.accept().await {
            tokio::spawn(async move {
                // The whole request head before answering: closing a socket with unread bytes
                // resets the connection, and the client could lose the answer (serenity then
                // falls back to Discord's real gateway address, which tests cannot reach).
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = format!(r#"{{"url":"ws://{gateway_addr}"}}"#);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    rt.spawn(async move {
        while let Ok((conn, _)) = gateway.accept().await {
            let seen = std::sync::Arc::clone(&seen);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(conn).await else {
                    return;
                };
                let hello = r#"{"op":10,"d":{"heartbeat_interval":41250},"s":null,"t":null}"#;
                let _ = ws.send(Message::Text(hello.into())).await;
                while let Some(Ok(frame)) = ws.next().await {
                    if frame.to_text().is_ok_and(|t| t.contains(r#""op":2"#)) {
                        seen.store(true, std::sync::atomic::Ordering::SeqCst);
                        let Some(code) = close else {
                            continue;
                        };
                        let close = CloseFrame {
                            code: code.into(),
                            reason: "refused".into(),
                        };
                        let _ = ws.send(Message::Close(Some(close))).await;
                        break;
                    }
                }
            });
        }
    });
    (rt, format!("http://{rest_addr}"), identified)
}

#[test]
fn sigterm_stops_run_cleanly_within_ten_seconds() {
    let (_discord, api, identified) = gateway(None);
    let dir = tempfile::tempdir().unwrap();
    // A clean environment, as `supportbot()` gives: the binary refuses settings it does not
    // know, and CI exports SUPPORTBOT_TEST_* variables for the test suite.
    let mut child = Command::new(env!("CARGO_BIN_EXE_supportbot"))
        .arg("run")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SUPPORTBOT_DISCORD__TOKEN", "MTA4.some.token")
        .env("SUPPORTBOT_DISCORD__API_PROXY", &api)
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Up and connecting: it has identified itself at the gateway.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !identified.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "run never reached the gateway");
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("run ended before reaching the gateway: {status:?} {err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "run still up 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        status.success(),
        "SIGTERM is a clean stop: {status:?} {err}"
    );
}

#[test]
fn run_refused_at_the_gateway_exits_non_zero_with_one_line_saying_what_to_change() {
    for (code, says) in [
        (4004, "rejected the bot token"),
        (4014, "turn on \"Message Content Intent\""),
    ] {
        let (_discord, api) = gateway_closing_with(code);
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        // Logs off: what is left on stderr is what `run` itself says.
        let out = supportbot(
            dir.path(),
            &["run"],
            &[
                ("SUPPORTBOT_DISCORD__TOKEN", "MTA4.refused.token"),
                ("SUPPORTBOT_DISCORD__API_PROXY", &api),
                ("RUST_LOG", "off"),
            ],
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        assert!(
            !out.status.success(),
            "close {code} ends run with a failure"
        );
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "close {code}: {err}");
        assert!(err.contains(says), "close {code}: {err}");
        assert!(err.contains("Developer Portal"), "close {code}: {err}");
        assert!(!err.contains("MTA4.refused.token"), "{err}");
    }
}

#[test]
fn shard_settings_come_from_the_environment_and_a_range_needs_a_total() {
    let dir = tempfile::tempdir().unwrap();
    for range in ["1", "0-1"] {
        let out = supportbot(
            dir.path(),
            &["migrate"],
            &[
                ("SUPPORTBOT_DISCORD__SHARDS", "2"),
                ("SUPPORTBOT_DISCORD__SHARD_RANGE", range),
            ],
        );
        assert!(out.status.success(), "{range}: {}", stderr(&out));
    }
    for (env, says) in [
        (
            &[("SUPPORTBOT_DISCORD__SHARD_RANGE", "1")][..],
            "SUPPORTBOT_DISCORD__SHARDS set too",
        ),
        (
            &[
                ("SUPPORTBOT_DISCORD__SHARDS", "2"),
                ("SUPPORTBOT_DISCORD__SHARD_RANGE", "0-2"),
            ],
            "shard IDs below SUPPORTBOT_DISCORD__SHARDS",
        ),
    ] {
        let out = supportbot(dir.path(), &["migrate"], env);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("SUPPORTBOT_DISCORD__SHARD_RANGE"), "{err}");
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn a_bad_setting_is_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = supportbot(
        dir.path(),
        &["doctor"],
        &[("SUPPORTBOT_DISCORD__THREAD_ARCHIVE_MINUTES", "90")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("SUPPORTBOT_DISCORD__THREAD_ARCHIVE_MINUTES"),
        "{err}"
    );

    let out = supportbot(
        dir.path(),
        &["doctor"],
        &[("SUPPORTBOT_PIPELINE__MAX_IN_FLIGHT", "many")],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("max_in_flight") && err.contains("SUPPORTBOT_PIPELINE__MAX_IN_FLIGHT"),
        "{err}"
    );

    let out = supportbot(
        dir.path(),
        &["doctor"],
        &[("DATABASE_URL", "mysql://root@localhost/x")],
    );
    assert!(stderr(&out).contains("DATABASE_URL"), "{}", stderr(&out));
}

#[test]
fn a_config_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("supportbot.toml"),
        "data_dir = \"from-file\"\n[discord]\nthread_archive_minutes = 60\n",
    )
    .unwrap();
    let out = supportbot(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("from-file/supportbot.db").exists());

    let out = supportbot(
        dir.path(),
        &["migrate"],
        &[("SUPPORTBOT_DATA_DIR", "from-env")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("from-env/supportbot.db").exists());

    let out = supportbot(dir.path(), &["--config", "missing.toml", "migrate"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.toml"));
}

#[test]
fn migrate_creates_the_embedded_database_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = supportbot(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("5 migrations applied"),
        "{}",
        stdout(&out)
    );
    assert!(dir.path().join("data/supportbot.db").exists());
    let again = supportbot(dir.path(), &["migrate"], &[]);
    assert!(
        stdout(&again).contains("0 migrations applied"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn doctor_explains_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = supportbot(dir.path(), &["doctor"], &[]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "missing token and pending migrations only warn:\n{text}"
    );
    assert!(text.contains("DISCORD_TOKEN is not set"), "{text}");
    assert!(
        text.contains("supportbot migrate"),
        "pending migrations come with the fix:\n{text}"
    );

    supportbot(dir.path(), &["migrate"], &[]);
    let text = stdout(&supportbot(dir.path(), &["doctor"], &[]));
    assert!(text.contains("schema up to date"), "{text}");

    let out = supportbot(
        dir.path(),
        &["doctor"],
        &[
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("SUPPORTBOT_DATABASE__CONNECT_TIMEOUT_SECS", "2"),
        ],
    );
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("[FAIL] database unreachable"), "{text}");
    assert!(text.contains("fix: check DATABASE_URL"), "{text}");
}

#[test]
fn doctor_checks_the_knowledge_index() {
    let dir = tempfile::tempdir().unwrap();
    let text = stdout(&supportbot(dir.path(), &["doctor"], &[]));
    assert!(
        text.contains("[ok  ] knowledge index: Qdrant Edge"),
        "{text}"
    );

    // Nothing listens on port 1: the server backend is reported with its fix.
    let out = supportbot(
        dir.path(),
        &["doctor"],
        &[
            ("QDRANT_URL", "http://127.0.0.1:1"),
            ("QDRANT_API_KEY", "sekrit-qdrant-key"),
        ],
    );
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("[FAIL] knowledge index unavailable"),
        "{text}"
    );
    assert!(text.contains("fix: check QDRANT_URL"), "{text}");
    assert!(
        !text.contains("sekrit") && !stderr(&out).contains("sekrit"),
        "the API key is never printed:\n{text}"
    );
}

#[test]
fn demo_runs_the_whole_pipeline_with_no_token_servers_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = supportbot(dir.path(), &["demo"], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}\n{text}", stderr(&out));
    for expected in [
        "decision reply",
        "decision handoff",
        "decision blocked",
        "self_harm",
        "Sources",
        "Audit log",
        "Connect a real Discord bot",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "the demo keeps its data in a temporary directory"
    );
}

#[test]
fn ask_answers_from_a_guilds_docs_as_json_and_its_blocks_land_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("keys.md"),
        "# API keys\n\n## Reset your API key\n\nOpen Settings → API and click Reset key. The old \
         key stops working at once.\n",
    )
    .unwrap();
    let added = supportbot(
        dir.path(),
        &["knowledge", "add", "--guild", "5", "docs"],
        &[],
    );
    assert!(added.status.success(), "{}", stderr(&added));

    let out = supportbot(
        dir.path(),
        &[
            "ask",
            "--guild",
            "5",
            "--json",
            "how do I reset my API key?",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    let json: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON object");
    assert_eq!(json["action"], "reply", "{json}");
    assert!(
        json["answer"].as_str().unwrap().contains("Reset key"),
        "{json}"
    );
    assert_eq!(json["citations"][0]["path"], "keys.md", "{json}");
    assert!(
        json["citations"][0]["source"]
            .as_str()
            .unwrap()
            .ends_with("docs")
    );
    assert_eq!(json["verdict"], "allow");
    assert!(json["latency_ms"].as_f64().unwrap() > 0.0);

    let scam = supportbot(
        dir.path(),
        &[
            "ask",
            "--guild",
            "5",
            "--json",
            "FREE NITRO!! claim at https://dlscord-nitro.gift/claim",
        ],
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(stdout(&scam).trim()).unwrap();
    assert_eq!(json["action"], "blocked", "{json}");
    let audit = supportbot(dir.path(), &["audit", "list", "--guild", "5"], &[]);
    assert!(stdout(&audit).contains("scam"), "{}", stdout(&audit));
}

#[test]
fn models_fetch_from_an_unreachable_hub_says_so_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hub = format!("http://{closed}");
    let out = supportbot(
        dir.path(),
        &["models", "fetch"],
        &[("SUPPORTBOT_MODELS__HUB_URL", &hub)],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.starts_with("error: cannot reach the model hub"),
        "{err}"
    );
    assert!(err.contains(&hub), "{err}");
    assert!(!dir.path().join("data/models").exists(), "{err}");
}

#[test]
fn a_guilds_policy_is_imported_shown_and_taught_by_example_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| supportbot(dir.path(), args, &[]);
    std::fs::write(
        dir.path().join("policy.toml"),
        r#"
staff_channel_id = 1187465109473443860
timeout_minutes = 10

[policy]
blocked_words = ["badword"]

[policy.categories.spam]
action = "block"
sensitivity = "high"

[policy.examples]
benign = ["this boss is killing me"]
"#,
    )
    .unwrap();
    let imported = run(&["policy", "import", "--guild", "7", "policy.toml"]);
    assert!(imported.status.success(), "{}", stderr(&imported));

    let shown = run(&["policy", "show", "--guild", "7", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&shown)).expect("JSON settings");
    assert_eq!(json["staff_channel_id"], 1187465109473443860u64);
    assert_eq!(json["policy"]["categories"]["spam"]["sensitivity"], "high");
    assert_eq!(
        json["policy"]["examples"]["benign"][0],
        "this boss is killing me"
    );
    // Another guild is untouched.
    let other = run(&["policy", "show", "--guild", "8", "--json"]);
    let other: serde_json::Value = serde_json::from_str(&stdout(&other)).unwrap();
    assert!(other["staff_channel_id"].is_null(), "{other}");

    // A misspelt setting or an invalid pattern is refused and nothing changes.
    std::fs::write(dir.path().join("typo.toml"), "staf_channel_id = 1\n").unwrap();
    let typo = run(&["policy", "import", "--guild", "7", "typo.toml"]);
    assert!(!typo.status.success());
    assert!(
        stderr(&typo).contains("staf_channel_id"),
        "{}",
        stderr(&typo)
    );
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"policy": {"blocked_patterns": ["(unclosed"]}}"#,
    )
    .unwrap();
    let bad = run(&["policy", "import", "--guild", "7", "bad.json"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).starts_with("error: not saved"),
        "{}",
        stderr(&bad)
    );
    let after = run(&["policy", "show", "--guild", "7", "--json"]);
    assert_eq!(
        stdout(&after),
        stdout(&shown),
        "a refused import changed nothing"
    );

    // Examples: added, listed, not duplicated, checked, removed.
    let text = "selling my old account with rare skins, dm offers";
    let added = run(&["policy", "example", "add", "--guild", "7", "custom", text]);
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(
        stdout(&added).contains("semantic stage"),
        "{}",
        stdout(&added)
    );
    let again = run(&["policy", "example", "add", "--guild", "7", "Custom", text]);
    assert!(stdout(&again).contains("already"), "{}", stdout(&again));
    let listed = run(&["policy", "example", "list", "--guild", "7"]);
    assert_eq!(
        stdout(&listed),
        format!("benign\tthis boss is killing me\ncustom\t{text}\n")
    );
    let unknown = run(&["policy", "example", "add", "--guild", "7", "scams", "x"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("unknown category"),
        "{}",
        stderr(&unknown)
    );
    let long = "x".repeat(501);
    let too_long = run(&["policy", "example", "add", "--guild", "7", "spam", &long]);
    assert!(!too_long.status.success());
    assert!(stderr(&too_long).contains("500"), "{}", stderr(&too_long));
    let summary = run(&["policy", "show", "--guild", "7"]);
    assert!(
        stdout(&summary).contains("Examples: `benign` 1, `custom` 1"),
        "{}",
        stdout(&summary)
    );
    assert!(
        !stdout(&summary).contains(text),
        "the summary counts examples without quoting them"
    );

    let removed = run(&[
        "policy", "example", "remove", "--guild", "7", "custom", text,
    ]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let gone = run(&[
        "policy", "example", "remove", "--guild", "7", "custom", text,
    ]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("no such example"),
        "{}",
        stderr(&gone)
    );
    let listed = run(&[
        "policy",
        "example",
        "list",
        "--guild",
        "7",
        "--category",
        "custom",
    ]);
    assert_eq!(stdout(&listed), "no examples\n");
}

#[test]
fn an_example_added_from_the_terminal_catches_a_paraphrase_when_the_semantic_stage_is_on() {
    let dir = tempfile::tempdir().unwrap();
    // The static table is distilled once and cached under HOME, as the bot does.
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let env = [
        ("HOME", home.as_str()),
        ("SUPPORTBOT_CLASSIFIER__SEMANTIC", "true"),
    ];
    let run = |args: &[&str]| supportbot(dir.path(), args, &env);
    let ask = |text: &str| -> serde_json::Value {
        let out = run(&["ask", "--guild", "9", "--json", text]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(stdout(&out).trim()).expect("one JSON object")
    };
    let paraphrase = "anyone want to buy an account with rare skins? dm me";
    assert_eq!(ask(paraphrase)["verdict"], "allow", "nothing taught yet");

    let added = run(&[
        "policy",
        "example",
        "add",
        "--guild",
        "9",
        "custom",
        "selling my old account with rare skins, dm offers",
    ]);
    assert!(added.status.success(), "{}", stderr(&added));
    let caught = ask(paraphrase);
    assert!(
        caught["verdict"].as_str().unwrap().contains("(custom)"),
        "{caught}"
    );
    assert_eq!(
        ask("how do I change the language of the bot's replies?")["verdict"],
        "allow"
    );
}

/// A page whose form XObject draws itself: a PDF parser that follows it recurses until its
/// stack overflows, which no `catch_unwind` can stop.
fn self_drawing_pdf() -> Vec<u8> {
    let objects: [&[u8]; 5] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
          /Resources << /XObject << /X1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length 6 >>\nstream\n/X1 Do\nendstream",
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] \
          /Resources << /XObject << /X1 5 0 R >> >> /Length 6 >>\nstream\n/X1 Do\nendstream",
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 6\n0000000000 65535 f \n");
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

#[test]
fn a_pdf_that_overflows_the_parser_costs_one_file_not_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("recursive.pdf"), self_drawing_pdf()).unwrap();
    std::fs::write(
        docs.join("ports.md"),
        "# Ports\n\nThe admin panel listens on port 8443.\n",
    )
    .unwrap();
    let added = supportbot(
        dir.path(),
        &["knowledge", "add", "--guild", "5", "docs"],
        &[],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let out = stdout(&added);
    assert!(out.contains("1 documents"), "{out}");
    assert!(
        out.contains("skipped recursive.pdf: the PDF is malformed or hostile"),
        "{out}"
    );
    let ask = supportbot(
        dir.path(),
        &[
            "ask",
            "--guild",
            "5",
            "--json",
            "which port does the admin panel use?",
        ],
        &[],
    );
    assert!(stdout(&ask).contains("8443"), "{}", stdout(&ask));
}

#[test]
fn data_export_erase_and_purge_say_what_they_delete_and_refuse_without_yes() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("keys.md"),
        "# API keys\n\n## Reset your API key\n\nOpen Settings → API and click Reset key.\n",
    )
    .unwrap();
    let run = |args: &[&str]| supportbot(dir.path(), args, &[]);
    assert!(
        run(&["knowledge", "add", "--guild", "5", "docs"])
            .status
            .success()
    );
    let asked = run(&[
        "ask",
        "--guild",
        "5",
        "--member",
        "77",
        "how do I reset my API key?",
    ]);
    assert!(asked.status.success(), "{}", stderr(&asked));

    let export = run(&["data", "export", "--guild", "5", "--member", "77"]);
    assert!(export.status.success(), "{}", stderr(&export));
    let json: serde_json::Value = serde_json::from_str(&stdout(&export)).unwrap();
    assert_eq!(json["member_id"], 77);
    assert!(
        json["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("reset my API key"),
        "{json}"
    );

    let refused = run(&["data", "erase", "--guild", "5", "--member", "77"]);
    assert_eq!(refused.status.code(), Some(2), "refused without --yes");
    let said = stderr(&refused);
    assert!(
        said.contains("--yes") && said.contains("conversations they started"),
        "{said}"
    );
    let erased = run(&["data", "erase", "--guild", "5", "--member", "77", "--yes"]);
    assert!(erased.status.success(), "{}", stderr(&erased));
    let after = run(&["data", "export", "--guild", "5", "--member", "77"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&after)).unwrap();
    assert_eq!(json["messages"], serde_json::json!([]), "{json}");

    let refused = run(&["data", "purge", "--guild", "5"]);
    assert_eq!(refused.status.code(), Some(2));
    let said = stderr(&refused);
    assert!(
        said.contains("knowledge chunks") && said.contains("rows of knowledge_sources"),
        "{said}"
    );
    let sources = run(&["knowledge", "list", "--guild", "5"]);
    assert!(stdout(&sources).contains("docs"), "nothing purged yet");
    let purged = run(&["data", "purge", "--guild", "5", "--yes"]);
    assert!(purged.status.success(), "{}", stderr(&purged));
    let export = run(&["data", "export", "--guild", "5"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&export)).unwrap();
    for table in ["guilds", "knowledge_sources", "audit_log", "conversations"] {
        assert_eq!(json[table], serde_json::json!([]), "{table}: {json}");
    }
    assert!(
        !dir.path().join("data/knowledge/edge/5").exists(),
        "the guild's shard is gone"
    );

    let dry = run(&["data", "retention", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("message texts zeroed"),
        "{}",
        stdout(&dry)
    );
}

/// Runs the binary with `input` on its standard input.
fn supportbot_with_input(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: &str,
) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_supportbot"));
    cmd.current_dir(dir)
        .args(args)
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run the supportbot binary");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("write the input");
    child.wait_with_output().expect("wait for supportbot")
}

/// Base64 of 32 bytes of 1s and of 2s: two master keys.
const KEY_ONE: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_TWO: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// Every byte of the database files, WAL included.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.join("data")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    bytes
}

#[test]
fn a_guilds_llm_key_is_read_from_stdin_sealed_exported_as_present_rotated_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let key = "MKR-cli-guild-key-0042";
    let set = |env: &[(&str, &str)]| {
        supportbot_with_input(
            dir.path(),
            &["data", "set-llm-key", "--guild", "5"],
            env,
            &format!("{key}\n"),
        )
    };

    let refused = set(&[]);
    assert!(!refused.status.success());
    let said = stderr(&refused);
    assert!(
        said.contains("SUPPORTBOT_MASTER_KEY") && said.contains("not set"),
        "{said}"
    );
    let bad = set(&[("SUPPORTBOT_MASTER_KEY", "c2hvcnQta2V5")]);
    assert!(!bad.status.success());
    let said = stderr(&bad);
    assert!(
        said.contains("SUPPORTBOT_MASTER_KEY is invalid")
            && said.contains("32 random bytes in base64")
            && said.contains("9 bytes"),
        "{said}"
    );
    assert!(!said.contains("c2hvcnQta2V5"), "{said}");

    let stored = set(&[("SUPPORTBOT_MASTER_KEY", KEY_ONE)]);
    assert!(stored.status.success(), "{}", stderr(&stored));
    let said = format!("{}{}", stdout(&stored), stderr(&stored));
    assert!(said.contains("sealed under master key"), "{said}");
    assert!(!said.contains(key), "the key is never shown back: {said}");
    let on_disk = database_bytes(dir.path());
    assert!(
        !on_disk.windows(key.len()).any(|w| w == key.as_bytes()),
        "the database files never hold the key in the clear"
    );

    let export = supportbot(dir.path(), &["data", "export", "--guild", "5"], &[]);
    assert!(export.status.success(), "{}", stderr(&export));
    let text = stdout(&export);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["guild_secrets"][0]["name"], "llm_api_key", "{json}");
    assert!(!text.contains(key), "an export never holds the value");

    let missing_old = supportbot(
        dir.path(),
        &["data", "rotate-master-key"],
        &[("SUPPORTBOT_MASTER_KEY", KEY_TWO)],
    );
    assert!(!missing_old.status.success());
    assert!(
        stderr(&missing_old).contains("SUPPORTBOT_MASTER_KEY_OLD"),
        "{}",
        stderr(&missing_old)
    );
    let rotated = supportbot(
        dir.path(),
        &["data", "rotate-master-key"],
        &[
            ("SUPPORTBOT_MASTER_KEY", KEY_TWO),
            ("SUPPORTBOT_MASTER_KEY_OLD", KEY_ONE),
        ],
    );
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(
        stdout(&rotated).contains("re-sealed 1 secrets"),
        "{}",
        stdout(&rotated)
    );

    let cleared = supportbot(dir.path(), &["data", "clear-llm-key", "--guild", "5"], &[]);
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    assert!(stdout(&cleared).contains("deleted"), "{}", stdout(&cleared));
    let export = supportbot(dir.path(), &["data", "export", "--guild", "5"], &[]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&export)).unwrap();
    assert_eq!(json["guild_secrets"], serde_json::json!([]));
}

#[test]
fn an_all_digit_api_key_is_taken_as_it_is_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    // figment would read this as the number 12345678901234567 and refuse it, quoting it.
    let digits = "0012345678901234567";
    let out = supportbot(
        dir.path(),
        &["data", "export", "--guild", "5"],
        &[("SUPPORTBOT_LLM__API_KEY", digits)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("12345678901234567"));

    std::fs::write(
        dir.path().join("supportbot.toml"),
        "[llm]\napi_key = 98765432109876\n",
    )
    .unwrap();
    let out = supportbot(dir.path(), &["data", "export", "--guild", "5"], &[]);
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(said.contains("SUPPORTBOT_LLM__API_KEY"), "{said}");
    assert!(!said.contains("98765432109876"), "{said}");
}

#[test]
fn purge_while_another_process_holds_the_index_says_to_stop_the_bot() {
    let dir = tempfile::tempdir().unwrap();
    let knowledge = dir.path().join("data/knowledge");
    std::fs::create_dir_all(&knowledge).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(knowledge.join("knowledge.lock"))
        .unwrap();
    lock.try_lock().expect("the test holds the index lock");
    for args in [
        &["data", "purge", "--guild", "5", "--yes"][..],
        &["data", "retention"],
    ] {
        let out = supportbot(dir.path(), args, &[]);
        assert!(!out.status.success(), "{args:?}");
        let said = stderr(&out);
        assert!(
            said.contains("supportbot run") && said.contains("stop the bot"),
            "{args:?}: {said}"
        );
    }
    let dry = supportbot(dir.path(), &["data", "retention", "--dry-run"], &[]);
    assert!(
        dry.status.success(),
        "a dry run needs no index: {}",
        stderr(&dry)
    );
}
