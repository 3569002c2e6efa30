fn main() -> std::process::ExitCode {
    supportbot::cli::main()
}
