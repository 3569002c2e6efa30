//! `supportbot models fetch`: downloads the local sentence model (all-MiniLM-L6-v2) from the
//! Hugging Face hub, verified against pinned hashes, into the data directory where supportbot
//! finds it.

mod fetch;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use knowledge::local_model::DATA_DIR_MODEL;
use secrecy::ExposeSecret;

use crate::config::{Config, LOCAL_MODEL_OFF};

pub use fetch::{
    DEFAULT_REVISION, FILES, FetchError, FetchOptions, FetchReport, FetchedFile, FileOutcome,
    ModelFile, REPO, RetryPolicy, fetch,
};
pub use progress::{Bytes, ProgressDisplay};

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download all-MiniLM-L6-v2 (about 90 MB) from the Hugging Face hub, verify it and put it
    /// where supportbot finds it.
    Fetch(FetchArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// Where to put the model (default: <data_dir>/models/all-MiniLM-L6-v2, where supportbot
    /// looks for it).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The revision to fetch: a branch, tag or commit of sentence-transformers/all-MiniLM-L6-v2.
    #[arg(long, default_value = DEFAULT_REVISION)]
    pub revision: String,
    /// The hub's base URL, for a mirror (default: SUPPORTBOT_MODELS__HUB_URL, else
    /// https://huggingface.co).
    #[arg(long, value_name = "URL")]
    pub hub_url: Option<String>,
    /// Fetch every file again, even those already present and verified.
    #[arg(long)]
    pub force: bool,
}

/// The fetch `args` ask for under `config`: the hub from `--hub-url` or the `models` settings,
/// the token from `HF_TOKEN`, progress as stderr allows.
pub fn options(config: &Config, args: FetchArgs) -> FetchOptions {
    let mut options = FetchOptions::new(
        args.hub_url
            .unwrap_or_else(|| config.models.hub_url.clone()),
        args.dir
            .unwrap_or_else(|| config.data_dir.join(DATA_DIR_MODEL)),
    );
    options.revision = args.revision;
    options.force = args.force;
    options.token = config
        .models
        .hf_token
        .clone()
        .filter(|t| !t.expose_secret().trim().is_empty());
    options.progress = ProgressDisplay::for_stderr();
    options
}

pub async fn run(config: &Config, command: ModelsCommand) -> ExitCode {
    match command {
        ModelsCommand::Fetch(args) => {
            let options = options(config, args);
            // Ctrl-C drops the fetch, and with it the temporary file being written.
            let result = tokio::select! {
                result = fetch(&options) => result,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted; no partial file was kept");
                    return ExitCode::from(130);
                }
            };
            match result {
                Ok(report) => {
                    println!("{}", summary(config, &report));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {:#}", anyhow::Error::from(e));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// What was fetched, where the model is now, and whether supportbot will use it as configured.
pub fn summary(config: &Config, report: &FetchReport) -> String {
    let dir = report.dir.display();
    let fetched: Vec<String> = report
        .files
        .iter()
        .filter_map(|f| match f.outcome {
            FileOutcome::Downloaded { bytes, .. } => Some(format!("{} ({})", f.name, Bytes(bytes))),
            FileOutcome::AlreadyPresent => None,
        })
        .collect();
    let what = if fetched.is_empty() {
        format!("all-MiniLM-L6-v2 is already in {dir}, every file verified; nothing fetched")
    } else {
        format!(
            "all-MiniLM-L6-v2 is in {dir}, every file verified (fetched {})",
            fetched.join(", ")
        )
    };
    format!("{what}\n{}", where_note(config, &report.dir))
}

/// Whether supportbot, as configured, loads the model from `dir`, and if not which setting
/// makes it.
fn where_note(config: &Config, dir: &Path) -> String {
    let k = &config.knowledge;
    let shown = dir.display();
    if k.embeddings.base_url.is_some() {
        return "supportbot uses the embeddings endpoint configured in \
                SUPPORTBOT_KNOWLEDGE__EMBEDDINGS__BASE_URL instead; unset it to use this model"
            .into();
    }
    match k.local_model.as_deref() {
        Some(LOCAL_MODEL_OFF) => format!(
            "knowledge.local_model (SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL) is `off`: set it to {shown}, \
             or unset it, to use this model"
        ),
        Some(set) if same_dir(Path::new(set), dir) => {
            "supportbot uses it: knowledge.local_model (SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL) points \
             here"
                .into()
        }
        Some(set) => format!(
            "knowledge.local_model (SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL) points at {set}: set it to \
             {shown} to use this copy"
        ),
        None if same_dir(&config.data_dir.join(DATA_DIR_MODEL), dir) => {
            "supportbot finds it there by itself; `supportbot doctor` confirms".into()
        }
        None => format!(
            "supportbot does not look there by itself: set SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL={shown} \
             (knowledge.local_model in supportbot.toml), or fetch without --dir into {}",
            config.data_dir.join(DATA_DIR_MODEL).display()
        ),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(dir: &Path) -> FetchReport {
        FetchReport {
            dir: dir.to_path_buf(),
            files: vec![
                FetchedFile {
                    name: "config.json",
                    outcome: FileOutcome::AlreadyPresent,
                },
                FetchedFile {
                    name: "model.safetensors",
                    outcome: FileOutcome::Downloaded {
                        bytes: 90_868_376,
                        attempts: 1,
                    },
                },
            ],
        }
    }

    #[test]
    fn the_summary_says_whether_supportbot_will_use_the_model() {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: data.path().to_path_buf(),
            ..Config::default()
        };
        let default_dir = data.path().join(DATA_DIR_MODEL);
        std::fs::create_dir_all(&default_dir).unwrap();

        let text = summary(&config, &report(&default_dir));
        assert!(text.contains("model.safetensors (90.9 MB)"), "{text}");
        assert!(!text.contains("config.json"), "{text}");
        assert!(text.contains("finds it there"), "{text}");

        let elsewhere = data.path().join("elsewhere");
        let text = summary(&config, &report(&elsewhere));
        assert!(
            text.contains(&format!(
                "SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL={}",
                elsewhere.display()
            )),
            "{text}"
        );

        config.knowledge.local_model = Some(elsewhere.display().to_string());
        let text = summary(&config, &report(&elsewhere));
        assert!(text.contains("points here"), "{text}");
        let text = summary(&config, &report(&default_dir));
        assert!(text.contains("to use this copy"), "{text}");

        config.knowledge.local_model = Some(LOCAL_MODEL_OFF.into());
        assert!(summary(&config, &report(&default_dir)).contains("is `off`"));
    }
}
