//! Retrieval eval on a BEIR dataset, the way the CLI runs it:
//! `cargo run --release -p knowledge --example eval -- /path/to/beir/scifact [sparse|dense|hybrid]`
//! Prints the human report, the JSON line and the process's peak RSS.

use std::path::PathBuf;

use knowledge::{KnowledgeConfig, NoProgress, SearchMode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: eval <beir-dir> [sparse|dense|hybrid]")?,
    );
    let mode = match args.next().as_deref() {
        None | Some("sparse") => SearchMode::Sparse,
        Some("dense") => SearchMode::Dense,
        Some("hybrid") => SearchMode::Hybrid,
        Some(other) => return Err(format!("unknown mode {other}").into()),
    };
    let report =
        knowledge::eval::retrieval(&dir, mode, &KnowledgeConfig::default(), &NoProgress).await?;
    println!("{report}");
    println!("{}", report.to_json());
    println!("peak RSS       {} MB", peak_rss_kb() / 1024);
    Ok(())
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
