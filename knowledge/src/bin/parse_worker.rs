//! A stand-alone PDF parse worker, for embedders and tests that are not the `supportbot`
//! binary (which is its own worker). Run as `knowledge-parse-worker __parse-untrusted-pdf
//! MEMORY_BYTES CPU_SECONDS < file.pdf`.

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    knowledge::pdf::worker_main(&args)
}
