//! What a fetch shows while it runs: a byte-counting bar per file on a terminal, a line per
//! event otherwise, nothing in tests.

use indicatif::{ProgressBar, ProgressStyle};

/// How a fetch shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressDisplay {
    /// A bar per file on stderr, counting bytes.
    Bars,
    /// A line on stderr when a file starts, ends or is retried: for logs and pipes.
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressDisplay {
    /// Bars when stderr is a terminal, lines otherwise.
    pub fn for_stderr() -> Self {
        if console::Term::stderr().is_term() {
            ProgressDisplay::Bars
        } else {
            ProgressDisplay::Lines
        }
    }

    /// A line about the fetch as a whole (a retry, a file kept or fetched again).
    pub(super) fn note(self, line: &str) {
        if self != ProgressDisplay::Quiet {
            eprintln!("{line}");
        }
    }

    pub(super) fn start(self, file: &'static str, total: Option<u64>) -> FileProgress {
        let bar = match self {
            ProgressDisplay::Bars => {
                let bar = match total {
                    Some(total) => ProgressBar::new(total).with_style(
                        ProgressStyle::with_template(
                            "{msg:>17} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} ({decimal_bytes_per_sec}, {eta})",
                        )
                        .expect("the template is valid")
                        .progress_chars("=> "),
                    ),
                    None => ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("{msg:>17} {spinner} {decimal_bytes}")
                            .expect("the template is valid"),
                    ),
                };
                bar.set_message(file);
                Some(bar)
            }
            ProgressDisplay::Lines => {
                match total {
                    Some(total) => eprintln!("fetching {file} ({})", Bytes(total)),
                    None => eprintln!("fetching {file}"),
                }
                None
            }
            ProgressDisplay::Quiet => None,
        };
        FileProgress {
            display: self,
            file,
            bar,
            finished: false,
        }
    }
}

/// One file's download on screen. Dropped unfinished (an error), its bar stays where it
/// stopped instead of jumping to 100 %.
pub(super) struct FileProgress {
    display: ProgressDisplay,
    file: &'static str,
    bar: Option<ProgressBar>,
    finished: bool,
}

impl FileProgress {
    pub(super) fn advance(&self, bytes: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes as u64);
        }
    }

    pub(super) fn finish(mut self, bytes: u64) {
        self.finished = true;
        match &self.bar {
            Some(bar) => bar.finish_with_message(format!("{} ✓", self.file)),
            None => self.display.note(&format!(
                "{}: {} received, SHA-256 verified",
                self.file,
                Bytes(bytes)
            )),
        }
    }
}

impl Drop for FileProgress {
    fn drop(&mut self) {
        if let (false, Some(bar)) = (self.finished, &self.bar) {
            bar.abandon();
        }
    }
}

/// A byte count for people: `612 B`, `466.2 kB`, `90.9 MB`.
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl std::fmt::Display for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0 as f64;
        if self.0 < 1_000 {
            write!(f, "{} B", self.0)
        } else if self.0 < 1_000_000 {
            write!(f, "{:.1} kB", n / 1e3)
        } else {
            write!(f, "{:.1} MB", n / 1e6)
        }
    }
}
