//! Helpers shared by the `cli_*` end-to-end tests: a scratch directory with a
//! store, the `rollcall` command pointed at it, and the hand-worked fixture
//! fleet whose answers the tests check.
//!
//! The command under test is `rollcall-e2e`, this package's copy of the
//! `rollcall` entry point (see `tests/Cargo.toml`), so the tests always run
//! the current code.
#![allow(dead_code, reason = "each test file uses a different part of the kit")]

pub mod server;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rollcall-e2e"))
}

/// Membership changes of the fixture: PC-1..3 join "All Desktops", PC-4
/// joins "Pilot Ring" on 2026-10-01; PC-3 leaves "All Desktops" on 10-05.
pub const MEMBERS_CSV: &str = "\
time,client,collection,change
2026-10-01T00:00:00Z,PC-1,All Desktops,join
2026-10-01T00:00:00Z,PC-2,All Desktops,join
2026-10-01T00:00:00Z,PC-3,All Desktops,join
2026-10-01T00:00:00Z,PC-4,Pilot Ring,join
2026-10-05T00:00:00Z,PC-3,All Desktops,leave
";

/// Transitions of the fixture (production unless said otherwise).
pub const EVENTS_CSV: &str = "\
time,client,state,deployment,error
2026-10-01T10:00:00Z,PC-1,InProgress,,
2026-10-01T11:00:00Z,PC-1,Failed,,0x80070005
2026-10-02T09:00:00Z,PC-1,Compliant,,
2026-10-01T10:00:00Z,PC-2,InProgress,,
2026-10-01T12:00:00Z,PC-2,Failed,,0x87D00324
2026-10-03T08:00:00Z,PC-2,Failed,,0x87D00324
2026-10-01T10:00:00Z,PC-3,Compliant,,
2026-10-06T10:00:00Z,PC-3,Failed,,0x80070005
2026-10-02T00:00:00Z,PC-4,Failed,preproduction,0x80070652
";

/// A scratch directory holding a store (`store/`) and input files.
#[derive(Debug)]
pub struct Env {
    /// The directory (removed on drop).
    pub dir: TempDir,
}

impl Env {
    /// A fresh, empty scratch directory.
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    /// The scratch directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store directory.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// `rollcall` with no `--db`, run in the scratch directory, with no
    /// `ROLLCALL_DB` and a private history file.
    pub fn bare(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(self.path())
            .env_remove("ROLLCALL_DB")
            .env("ROLLCALL_HISTORY", self.path().join("history"))
            .env("NO_COLOR", "1");
        cmd
    }

    /// `rollcall --db <scratch>/store`.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.bare();
        cmd.arg("--db").arg(self.db());
        cmd
    }

    /// Writes a file in the scratch directory and returns its path.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, content).expect("write a test input");
        path
    }

    /// Ingests the fixture (memberships, then transitions).
    pub fn load_fixture(&self) {
        let m = self.write("members.csv", MEMBERS_CSV);
        let e = self.write("events.csv", EVENTS_CSV);
        self.cmd().args(["ingest", "members"]).arg(m).assert().success();
        self.cmd().args(["ingest", "events"]).arg(e).assert().success();
    }

    /// Runs `rollcall query RQL --format csv` and returns standard output,
    /// asserting success.
    pub fn query_csv(&self, rql: &str) -> String {
        let out = self
            .cmd()
            .args(["query", rql, "--format", "csv"])
            .assert()
            .success();
        String::from_utf8(out.get_output().stdout.clone()).expect("utf-8 output")
    }

    /// `rollcall stats` output as (key, value) pairs.
    pub fn stat(&self, key: &str) -> String {
        let out = self.cmd().arg("stats").assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).expect("utf-8 output");
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(char::is_whitespace)?;
                (k == key).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("stats has no {key}: {text}"))
    }
}

/// Copies a directory tree (a store, a fixture).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Standard error of an assert as text.
pub fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Standard output of an assert as text.
pub fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// The current hour (UTC), as RFC 3339: the `--now` of a demo fleet whose
/// history ends just before the wall clock.
pub fn wall_clock_hour() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    rollcall_engine::Timestamp(ms / 3_600_000 * 3_600_000).to_string()
}

/// The wall clock a minute ago, as RFC 3339.
pub fn wall_clock_minus_minute() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    rollcall_engine::Timestamp(ms / 1000 * 1000 - 60_000).to_string()
}
