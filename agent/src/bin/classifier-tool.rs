//! Train the classifier's model and evaluate the classifier.
//!
//! `classifier-tool train --out agent/data/classifier-model.bin [--corpus CORPUS]... FILE...`
//! `classifier-tool eval [--kfold K | --no-model] [--corpus CORPUS]... [--bench] [--mistakes] [--json] FILE...`
//!
//! A `--corpus` is a BEIR `corpus.jsonl` of benign documents: training-only negatives, added to
//! the trained model and to every k-fold training set, never scored.

use std::path::PathBuf;
use std::process::ExitCode;

use agent::classifier::eval::{self, ModelMode};
use agent::classifier::model::TrainConfig;

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  classifier-tool train --out PATH [--corpus CORPUS]... FILE...\n  classifier-tool eval [--kfold K | --no-model] [--corpus CORPUS]... [--bench] [--mistakes] [--json] FILE..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        return usage();
    };
    let mut files = Vec::new();
    let mut corpora = Vec::new();
    let mut out = None;
    let mut mode = ModelMode::Embedded;
    let mut json = false;
    let mut bench = false;
    let mut mistakes = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().map(PathBuf::from),
            "--corpus" => match it.next() {
                Some(c) => corpora.push(PathBuf::from(c)),
                None => return usage(),
            },
            "--kfold" => match it.next().and_then(|k| k.parse().ok()) {
                Some(k) => mode = ModelMode::KFold(k),
                None => return usage(),
            },
            "--no-model" => mode = ModelMode::None,
            "--json" => json = true,
            "--bench" => bench = true,
            "--mistakes" => mistakes = true,
            f => files.push(PathBuf::from(f)),
        }
    }
    match command.as_str() {
        "train" => {
            let Some(out) = out else { return usage() };
            let loaded = eval::load(&files).and_then(|mut rows| {
                for c in &corpora {
                    rows.extend(eval::load_corpus(c)?);
                }
                Ok(rows)
            });
            let rows = match loaded {
                Ok(rows) => rows,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let refs: Vec<_> = rows.iter().collect();
            let model = eval::train(&refs, &TrainConfig::default());
            if let Err(e) = std::fs::write(&out, model.to_bytes()) {
                eprintln!("error: cannot write {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            println!("trained on {} rows -> {}", rows.len(), out.display());
            ExitCode::SUCCESS
        }
        "eval" => {
            let report = match eval::run_with_corpora(&files, &corpora, mode, None) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if mistakes {
                for m in &report.mistakes {
                    println!(
                        "MISS expected {} {:?} got {:?}: {}",
                        m.expected, m.category, m.got, m.excerpt
                    );
                }
            }
            println!("{report}");
            let mut j = report.to_json();
            if bench {
                let b = eval::bench_typical(200_000, None);
                println!(
                    "typical ~200-char messages: {:.0} messages/s, p99 {:.1} µs",
                    b.messages_per_s, b.p99_us
                );
                j["bench_typical"] =
                    serde_json::json!({"messages_per_s": b.messages_per_s, "p99_us": b.p99_us});
            }
            if json {
                println!("{j}");
            }
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
