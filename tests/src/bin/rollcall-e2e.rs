//! The `rollcall` command under test: the same entry point as the shipped
//! binary (`cli/src/main.rs`), built by this package so that
//! `cargo test -p rollcall-tests` always exercises the current code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    rollcall_cli::main()
}
