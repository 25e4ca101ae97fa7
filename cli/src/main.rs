//! The `rollcall` binary: everything lives in the library (`rollcall_cli`).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    rollcall_cli::main()
}
