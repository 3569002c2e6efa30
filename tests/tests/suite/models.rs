//! `supportbot models fetch` against the fake Hugging Face hub serving the real model: a fetch
//! the knowledge base then loads, nothing fetched twice, retries, and every way a download goes
//! wrong leaving nothing under a final name.

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use supportbot::cli::{Cli, Command};
use supportbot::config::Config;
use supportbot::models_cli::{
    self, FILES, FetchError, FetchOptions, FileOutcome, ModelsCommand, ProgressDisplay, RetryPolicy,
};
use tests::fake_hub::{FakeHub, Fault};

/// Fetch options for the fake: retries without waiting.
fn options(hub: &FakeHub, dir: &Path) -> FetchOptions {
    let mut options = FetchOptions::new(hub.url(), dir);
    options.retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::ZERO,
        max_delay: Duration::from_secs(1),
    };
    options
}

/// The files in `dir`, sorted; none when it does not exist.
fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn sha256(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

/// `supportbot models fetch <args>`, parsed as the binary parses it, with the options it builds.
fn parsed(config: &Config, args: &[&str]) -> FetchOptions {
    let cli = Cli::try_parse_from(["supportbot", "models", "fetch"].iter().chain(args))
        .expect("the command line parses");
    let Command::Models {
        command: ModelsCommand::Fetch(args),
    } = cli.command
    else {
        panic!("`models fetch` parsed as {:?}", cli.command);
    };
    let mut options = models_cli::options(config, args);
    options.progress = ProgressDisplay::Quiet;
    options
}

#[tokio::test]
async fn a_fetch_puts_the_verified_model_where_supportbot_finds_and_loads_it() {
    let hub = FakeHub::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    };
    config.models.hub_url = hub.url();

    let report = models_cli::fetch(&parsed(&config, &[])).await.unwrap();

    let dir = data.path().join(knowledge::local_model::DATA_DIR_MODEL);
    assert_eq!(report.dir, dir);
    assert_eq!(
        listing(&dir),
        ["config.json", "model.safetensors", "tokenizer.json"]
    );
    for file in FILES {
        assert_eq!(sha256(&dir.join(file.name)), file.sha256, "{}", file.name);
    }
    assert!(
        report
            .files
            .iter()
            .all(|f| matches!(f.outcome, FileOutcome::Downloaded { attempts: 1, .. })),
        "{report:?}"
    );
    // The weights came the way the hub sends them: a redirect to its CDN.
    assert!(
        hub.requests()
            .iter()
            .any(|r| r.path.starts_with("/cdn/") && r.path.ends_with("/model.safetensors")),
        "{:?}",
        hub.requests()
    );

    let (found, origin) = config
        .local_model()
        .unwrap()
        .expect("supportbot finds the fetched model");
    assert_eq!(
        (found.as_path(), origin),
        (dir.as_path(), knowledge::local_model::Origin::DataDir)
    );
    assert!(
        models_cli::summary(&config, &report).contains("finds it there"),
        "{}",
        models_cli::summary(&config, &report)
    );
    let model = knowledge::local_model::LocalEmbedder::load(
        &knowledge::local_model::LocalModelConfig::new(&dir),
    )
    .await
    .expect("the fetched model loads");
    let vector = model
        .embed_query("How do I reset my password?")
        .await
        .unwrap();
    assert_eq!(vector.len(), 384);
}

#[tokio::test]
async fn a_second_fetch_downloads_nothing_unless_forced() {
    let hub = FakeHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let target = dir.path().join("minilm");
    let (target_arg, hub_url) = (target.display().to_string(), hub.url());
    let args = ["--dir", &target_arg, "--hub-url", &hub_url];

    let first = models_cli::fetch(&parsed(&config, &args)).await.unwrap();
    assert_eq!(first.downloaded(), 3);
    let requests = hub.requests().len();

    let second = models_cli::fetch(&parsed(&config, &args)).await.unwrap();
    assert_eq!(second.downloaded(), 0);
    assert!(
        second
            .files
            .iter()
            .all(|f| f.outcome == FileOutcome::AlreadyPresent)
    );
    assert_eq!(hub.requests().len(), requests, "the hub was asked again");
    assert!(models_cli::summary(&config, &second).contains("nothing fetched"));

    // A damaged copy is fetched again; --force fetches everything.
    std::fs::write(target.join("config.json"), b"{}").unwrap();
    let repaired = models_cli::fetch(&parsed(&config, &args)).await.unwrap();
    assert_eq!(repaired.downloaded(), 1);
    assert_eq!(sha256(&target.join("config.json")), FILES[0].sha256);
    let forced = models_cli::fetch(&parsed(&config, &[&args[..], &["--force"][..]].concat()))
        .await
        .unwrap();
    assert_eq!(forced.downloaded(), 3);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let hub = FakeHub::start().await;
    hub.fault("model.safetensors", Fault::RateLimitedOnce);
    let dir = tempfile::tempdir().unwrap();

    let report = models_cli::fetch(&options(&hub, dir.path())).await.unwrap();

    assert_eq!(hub.resolves_of("model.safetensors"), 2);
    assert!(matches!(
        report.files[2].outcome,
        FileOutcome::Downloaded { attempts: 2, .. }
    ));
    assert_eq!(
        sha256(&dir.path().join("model.safetensors")),
        FILES[2].sha256
    );
}

#[tokio::test]
async fn an_outage_gives_up_after_a_few_attempts_and_leaves_no_directory() {
    let hub = FakeHub::start().await;
    hub.fault("tokenizer.json", Fault::Unavailable);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("models/all-MiniLM-L6-v2");

    let err = models_cli::fetch(&options(&hub, &dir)).await.unwrap_err();

    assert!(
        matches!(
            err,
            FetchError::Unavailable {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("tokenizer.json") && text.contains("try again later"),
        "{text}"
    );
    assert_eq!(hub.resolves_of("tokenizer.json"), 3);
    // A half-filled model directory would stop `supportbot run`; none is left behind, nor the
    // `models` directory the fetch created for it.
    assert!(!dir.exists(), "{:?}", listing(&dir));
    assert_eq!(listing(parent.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_hash_mismatch_discards_the_file_and_names_it() {
    let hub = FakeHub::start().await;
    hub.fault("model.safetensors", Fault::WrongBytes);
    let dir = tempfile::tempdir().unwrap();

    let err = models_cli::fetch(&options(&hub, dir.path()))
        .await
        .unwrap_err();

    let text = err.to_string();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err:?}");
    assert!(text.contains("model.safetensors"), "{text}");
    assert!(text.contains(FILES[2].sha256), "{text}");
    assert!(text.contains("discarded"), "{text}");
    // The verified small files stay; nothing of the altered one, temporary or final.
    assert_eq!(listing(dir.path()), ["config.json", "tokenizer.json"]);
}

#[tokio::test]
async fn a_download_that_breaks_off_errors_and_leaves_nothing() {
    let hub = FakeHub::start().await;
    hub.fault("model.safetensors", Fault::Truncated);
    let dir = tempfile::tempdir().unwrap();

    let err = models_cli::fetch(&options(&hub, dir.path()))
        .await
        .unwrap_err();

    let text = err.to_string();
    assert!(matches!(err, FetchError::Interrupted { .. }), "{err:?}");
    assert!(
        text.contains("model.safetensors") && text.contains("broke off"),
        "{text}"
    );
    assert_eq!(listing(dir.path()), ["config.json", "tokenizer.json"]);
}

#[tokio::test]
async fn a_wrong_revision_says_so() {
    let hub = FakeHub::start().await;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("minilm");
    let mut options = options(&hub, &dir);
    options.revision = "v9-no-such-revision".into();

    let err = models_cli::fetch(&options).await.unwrap_err();

    let text = err.to_string();
    assert!(
        matches!(err, FetchError::RevisionNotFound { .. }),
        "{err:?}"
    );
    assert!(
        text.contains("v9-no-such-revision") && text.contains("--revision"),
        "{text}"
    );
    assert!(!dir.exists());

    // A commit works as well as a branch.
    options.revision = tests::fake_hub::COMMIT.into();
    assert_eq!(models_cli::fetch(&options).await.unwrap().downloaded(), 3);
}

#[tokio::test]
async fn a_hub_that_wants_a_token_gets_hf_token() {
    const TOKEN: &str = "hf_fake_token_value";
    let hub = FakeHub::start().await;
    hub.require_token(TOKEN);
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    };
    config.models.hub_url = hub.url();

    let err = models_cli::fetch(&parsed(&config, &[])).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, FetchError::NeedsToken { status: 401, .. }),
        "{err:?}"
    );
    assert!(text.contains("HF_TOKEN"), "{text}");

    config.models.hf_token = Some(SecretString::from("hf_wrong"));
    let err = models_cli::fetch(&parsed(&config, &[])).await.unwrap_err();
    assert!(matches!(err, FetchError::TokenRefused { .. }), "{err:?}");
    assert!(!err.to_string().contains("hf_wrong"), "{err}");

    config.models.hf_token = Some(SecretString::from(TOKEN));
    let options = parsed(&config, &[]);
    assert!(!format!("{options:?}").contains(TOKEN));
    let report = models_cli::fetch(&options).await.unwrap();
    assert_eq!(report.downloaded(), 3);
    let bearer = format!("Bearer {TOKEN}");
    let resolves: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/resolve/"))
        .collect();
    assert!(
        resolves
            .iter()
            .rev()
            .take(3)
            .all(|r| r.authorization.as_deref() == Some(bearer.as_str())),
        "{resolves:?}"
    );
}

#[tokio::test]
async fn an_unreachable_hub_is_named() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("minilm");
    let hub_url = format!("http://{closed}");

    let err = models_cli::fetch(&FetchOptions::new(&hub_url, &dir))
        .await
        .unwrap_err();

    let text = err.to_string();
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
    assert!(
        text.contains("cannot reach") && text.contains(&hub_url),
        "{text}"
    );
    assert!(!dir.exists());
}
