//! Text out of PDF files, page by page, through `pdf-extract`. A PDF's body is kept as its
//! pages' text joined by form feeds, so chunking can give every chunk its page number and a
//! `#page=N` anchor, which PDF viewers open at that page.
//!
//! A PDF is untrusted input that a parser can be made to recurse without end (a form that draws
//! itself), inflate without bound (stacked compression filters) or loop on. None of those may
//! take the bot down, so PDFs are parsed in a child process — a *parse worker* — with a memory
//! ceiling, a CPU ceiling and a wall-clock deadline. A stack overflow or an allocation failure
//! ends the worker, not the bot, and costs one file with a reason.
//!
//! The worker is this same program run with [`WORKER_ARG`]: `supportbot` checks for it before
//! anything else ([`worker_main`]). Embedders of this library that are not `supportbot` point
//! [`ParserConfig::worker`] at a program that calls [`worker_main`].

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Separates pages in a PDF document's body.
pub const PAGE_BREAK: char = '\u{c}';

/// The first argument that turns a process into a parse worker.
pub const WORKER_ARG: &str = "__parse-untrusted-pdf";

/// The worker's first output line: without it, whatever answered was not a parse worker.
const MAGIC: &[u8] = b"supportbot-parse-worker 1\n";
/// The worker's exit code when it read the file and has a reason it could not be indexed.
const REFUSED: i32 = 3;

/// Where and under which limits PDFs are parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParserConfig {
    /// The worker program and the arguments before [`WORKER_ARG`]; `None` runs this process's
    /// own executable.
    pub worker: Option<(PathBuf, Vec<OsString>)>,
    /// Address-space ceiling of the worker.
    pub memory_bytes: u64,
    /// Wall-clock time one file may take (the CPU ceiling is the same number of seconds).
    pub time: Duration,
    /// Largest text accepted from one PDF.
    pub max_text_bytes: usize,
}

impl Default for ParserConfig {
    fn default() -> Self {
        Self {
            worker: None,
            memory_bytes: 1024 * 1024 * 1024,
            time: Duration::from_secs(30),
            max_text_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The text of every page, joined by [`PAGE_BREAK`], parsed in a worker process. A PDF that
/// cannot be parsed, is encrypted, has no text layer (scanned pages), crashes or exhausts the
/// worker, or takes too long gives a reason instead. Blocking: call it off the async runtime.
pub fn pdf_text(bytes: &[u8], config: &ParserConfig) -> Result<String, String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err("not a PDF file (no %PDF- header); not indexed".into());
    }
    let (program, mut args) = match &config.worker {
        Some((program, args)) => (program.clone(), args.clone()),
        None => (
            std::env::current_exe()
                .map_err(|e| format!("cannot start the PDF parser ({e}); not indexed"))?,
            Vec::new(),
        ),
    };
    args.push(WORKER_ARG.into());
    args.push(config.memory_bytes.to_string().into());
    args.push(config.time.as_secs().max(1).to_string().into());
    let mut child = Command::new(&program)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the PDF parser ({e}); not indexed"))?;

    // Feed and drain on their own threads, so neither side can block the other.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = bytes.to_vec();
    let feeder = std::thread::spawn(move || {
        // The worker may die before reading everything; that shows in its exit status.
        let _ = stdin.write_all(&input);
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let cap = (config.max_text_bytes + MAGIC.len() + 1) as u64;
    let drainer = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut stdout = stdout;
        let _ = (&mut stdout).take(cap).read_to_end(&mut out);
        // Past the cap, keep reading so the worker can finish and say how it ended.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        out
    });

    let deadline = Instant::now() + config.time;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("the PDF parser failed ({e}); not indexed")),
        }
    };
    let _ = feeder.join();
    let out = drainer.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(format!(
            "the PDF took longer than {} s to read; not indexed",
            config.time.as_secs()
        ));
    };
    let Some(body) = out.strip_prefix(MAGIC) else {
        return Err(crashed(status));
    };
    if body.len() > config.max_text_bytes {
        return Err(format!(
            "the PDF holds more than {} bytes of text; not indexed",
            config.max_text_bytes
        ));
    }
    let text = String::from_utf8_lossy(body).into_owned();
    match status.code() {
        Some(0) => Ok(text),
        Some(REFUSED) => Err(text),
        _ => Err(crashed(status)),
    }
}

/// Why a worker that ended without an answer ended.
fn crashed(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return match signal {
                // The CPU ceiling.
                24 => "the PDF took too long to read; not indexed".into(),
                // Stack overflow (SIGSEGV/SIGBUS after the guard page) or an allocation failure
                // at the memory ceiling (SIGABRT).
                _ => "the PDF is malformed or hostile (it exhausted the parser's stack or \
                      memory); not indexed"
                    .into(),
            };
        }
    }
    match status.code() {
        Some(code) => {
            format!("the PDF parser is not available (it exited with {code}); not indexed")
        }
        None => "the PDF parser ended without an answer; not indexed".into(),
    }
}

/// For a program that is also its own parse worker: when this process was started with
/// [`WORKER_ARG`], runs the worker and returns its exit code; otherwise `None`.
pub fn worker_if_asked() -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    (args.first()? == WORKER_ARG).then(|| worker_main(&args))
}

/// The worker's side: reads a PDF on standard input, writes its text on standard output, under
/// the limits given after [`WORKER_ARG`]. `args` are the process arguments after the program.
pub fn worker_main(args: &[OsString]) -> ExitCode {
    let limit = |i: usize| -> Option<u64> { args.get(i)?.to_str()?.parse().ok() };
    let (Some(memory), Some(seconds)) = (limit(1), limit(2)) else {
        eprintln!("usage: {WORKER_ARG} MEMORY_BYTES CPU_SECONDS < file.pdf");
        return ExitCode::from(2);
    };
    limit_self(memory, seconds);
    let mut bytes = Vec::new();
    if std::io::stdin().read_to_end(&mut bytes).is_err() {
        return ExitCode::from(2);
    }
    // The parser's own prints must not mix with the answer: while it runs, standard output goes
    // where standard error goes.
    let answer = quiet_stdout(|| text_in_process(&bytes));
    let (code, text) = match answer {
        Ok(text) => (0, text),
        Err(reason) => (REFUSED as u8, reason),
    };
    let mut out = std::io::stdout().lock();
    if out.write_all(MAGIC).is_err() || out.write_all(text.as_bytes()).is_err() {
        return ExitCode::from(2);
    }
    let _ = out.flush();
    ExitCode::from(code)
}

/// Runs `f` with file descriptor 1 pointed at descriptor 2, then puts it back.
fn quiet_stdout<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    {
        let _ = std::io::stdout().flush();
        // SAFETY: dup/dup2/close act on this process's descriptor table only; every descriptor
        // used is checked before it is relied on.
        let saved = unsafe { libc::dup(1) };
        if saved >= 0 && unsafe { libc::dup2(2, 1) } >= 0 {
            let result = f();
            let _ = std::io::stdout().flush();
            unsafe {
                libc::dup2(saved, 1);
                libc::close(saved);
            }
            return result;
        }
    }
    f()
}

/// Caps this process's address space and CPU time.
fn limit_self(memory_bytes: u64, cpu_seconds: u64) {
    #[cfg(unix)]
    {
        let set = |resource, value: u64| {
            let limit = libc::rlimit {
                rlim_cur: value as libc::rlim_t,
                rlim_max: value as libc::rlim_t,
            };
            // SAFETY: setrlimit reads the struct we pass and changes only this process's limits.
            unsafe { libc::setrlimit(resource, &limit) };
        };
        set(libc::RLIMIT_AS, memory_bytes);
        set(libc::RLIMIT_CPU, cpu_seconds);
    }
    #[cfg(not(unix))]
    let _ = (memory_bytes, cpu_seconds);
}

/// The parse itself, in whatever process runs it.
fn text_in_process(bytes: &[u8]) -> Result<String, String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err("not a PDF file (no %PDF- header); not indexed".into());
    }
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| "the PDF is malformed (the parser gave up); not indexed".to_string())?
        .map_err(|e| describe(&e))?;
    let pages: Vec<String> = pages
        .into_iter()
        .map(|p| p.replace(PAGE_BREAK, " ").replace('\0', ""))
        .collect();
    if pages.iter().all(|p| p.trim().is_empty()) {
        return Err(
            "the PDF has no text layer (scanned pages?); not indexed — run OCR on it first".into(),
        );
    }
    Ok(pages.join(&PAGE_BREAK.to_string()))
}

fn describe(e: &pdf_extract::OutputError) -> String {
    match e {
        pdf_extract::OutputError::PdfError(pdf_extract::Error::Decryption(_)) => {
            "the PDF is password-protected; not indexed — save an unprotected copy".into()
        }
        other => format!("cannot read the PDF ({other}); not indexed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "worker" that is a shell script, to see how the parent copes with each way one ends.
    fn shell(script: &str, time: Duration) -> ParserConfig {
        ParserConfig {
            worker: Some((
                "/bin/sh".into(),
                vec!["-c".into(), script.into(), "worker".into()],
            )),
            time,
            ..ParserConfig::default()
        }
    }

    const PDF: &[u8] = b"%PDF-1.4 not really";

    #[test]
    fn a_worker_that_hangs_is_killed_at_the_deadline() {
        let started = Instant::now();
        // `exec`, so the process killed is the one holding the pipe (no grandchild keeps it open).
        let err = pdf_text(PDF, &shell("exec sleep 30", Duration::from_secs(1))).unwrap_err();
        assert!(err.contains("longer than 1 s"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_worker_killed_by_a_signal_costs_the_file_with_a_reason() {
        let err = pdf_text(PDF, &shell("kill -SEGV $$", Duration::from_secs(10))).unwrap_err();
        assert!(err.contains("hostile"), "{err}");
        let err = pdf_text(PDF, &shell("kill -XCPU $$", Duration::from_secs(10))).unwrap_err();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn a_program_that_is_not_a_worker_is_not_believed() {
        // `cat` answers with the PDF itself, exit code 0: not an answer without the header.
        let err = pdf_text(PDF, &shell("cat", Duration::from_secs(10))).unwrap_err();
        assert!(err.contains("not available"), "{err}");
        let err = pdf_text(PDF, &shell("exit 7", Duration::from_secs(10))).unwrap_err();
        assert!(err.contains("exited with 7"), "{err}");
    }

    #[test]
    fn a_worker_answers_and_refuses_through_its_header_and_exit_code() {
        let magic = std::str::from_utf8(MAGIC).unwrap().trim_end();
        let ok = shell(
            &format!("cat >/dev/null; printf '{magic}\\npage one'"),
            Duration::from_secs(10),
        );
        assert_eq!(pdf_text(PDF, &ok).unwrap(), "page one");
        let refused = shell(
            &format!("cat >/dev/null; printf '{magic}\\nno text layer'; exit 3"),
            Duration::from_secs(10),
        );
        assert_eq!(pdf_text(PDF, &refused).unwrap_err(), "no text layer");
        let mut flood = shell(
            &format!("cat >/dev/null; printf '{magic}\\n'; head -c 100000 /dev/zero"),
            Duration::from_secs(10),
        );
        flood.max_text_bytes = 1000;
        assert!(
            pdf_text(PDF, &flood)
                .unwrap_err()
                .contains("more than 1000 bytes")
        );
        assert!(pdf_text(b"GIF89a", &ok).unwrap_err().contains("not a PDF"));
    }
}
