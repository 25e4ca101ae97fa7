//! The export manifest `DIR/_rollcall_export.json`: what earlier exports
//! into a directory covered, so the next one writes only what is new.
//!
//! Invariants: the manifest is replaced atomically (written to a temporary
//! name, synced, renamed, directory synced) and only after every part file
//! of the run is synced and in place; part files are numbered from one
//! counter (`next_part`), so a part numbered at or above `next_part` can
//! only be left over from a run that stopped before its manifest was
//! written, and [`remove_orphans`] deletes it before a new run starts. A
//! directory is written by one export at a time (`_rollcall_export.lock`).

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::schema::Table;

/// The manifest's file name inside the export directory.
pub const MANIFEST: &str = "_rollcall_export.json";
/// The lock file's name inside the export directory.
pub const LOCK: &str = "_rollcall_export.lock";
/// The format tag of the manifest.
pub const FORMAT: &str = "rollcall-parquet-export";
/// The version of the layout and manifest this build writes and reads
/// (2: the `committed_ms` column of both tables).
pub const VERSION: u32 = 2;

/// One export run, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunRecord {
    /// Rows with `seq` above this were candidates (`null`: the first run).
    pub after_seq: Option<u64>,
    /// The store's highest `seq` when the run read it.
    pub high_seq: Option<u64>,
    /// `--since`, RFC 3339, when given.
    pub since: Option<String>,
    /// Transitions written.
    pub transitions: u64,
    /// Membership changes written.
    pub memberships: u64,
    /// Part files written (by number, inclusive range; none when equal).
    pub first_part: u64,
    /// One past the last part file written.
    pub end_part: u64,
    /// Wall-clock time the run finished, RFC 3339 UTC.
    pub finished_at: String,
}

/// The manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Layout version ([`VERSION`]).
    pub version: u32,
    /// Every row of the store with `seq <= high_seq` has been considered by
    /// some run (exported unless its run's `--since` left it out); `null`
    /// before the first run that saw a row.
    pub high_seq: Option<u64>,
    /// The number the next part file gets.
    pub next_part: u64,
    /// Every run so far, oldest first.
    pub runs: Vec<RunRecord>,
}

impl Manifest {
    /// The manifest of a directory no export has written to.
    pub fn empty() -> Manifest {
        Manifest {
            format: FORMAT.to_owned(),
            version: VERSION,
            high_seq: None,
            next_part: 1,
            runs: Vec::new(),
        }
    }

    /// Reads `dir`'s manifest; `None` when there is none.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Manifest>> {
        let path = dir.join(MANIFEST);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        let m: Manifest = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a rollcall export manifest; export into a new directory",
                path.display()
            )
        })?;
        if m.format != FORMAT {
            anyhow::bail!(
                "{} has format {:?}, not {FORMAT:?}; export into a new directory",
                path.display(),
                m.format
            );
        }
        if m.version != VERSION {
            anyhow::bail!(
                "{} is layout version {}, this rollcall writes version {VERSION}; export into a new directory",
                path.display(),
                m.version
            );
        }
        Ok(Some(m))
    }

    /// Replaces `dir`'s manifest atomically.
    pub fn store(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(MANIFEST);
        let tmp = dir.join(format!(".{MANIFEST}.tmp"));
        let text = serde_json::to_string_pretty(self).context("encode the export manifest")?;
        let mut f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .with_context(|| format!("write {}", tmp.display()))?;
        drop(f);
        fs::rename(&tmp, &path).with_context(|| format!("rename {} to {}", tmp.display(), path.display()))?;
        sync_dir(dir)
    }
}

/// Syncs a directory so that renames inside it are durable.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("sync directory {}", dir.display()))
}

/// The number of a part file name `part-00000012.parquet`.
pub fn part_number(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The file name of part `n`.
pub fn part_file_name(n: u64) -> String {
    format!("part-{n:08}.parquet")
}

/// Part files and temporary files under `DIR/<table>/day=*/`.
#[derive(Debug, Default)]
pub struct Listing {
    /// Part files with their numbers.
    pub parts: Vec<(u64, PathBuf)>,
    /// Temporary files of an unfinished run.
    pub temporary: Vec<PathBuf>,
}

/// Lists the part files of `table` in `dir`.
pub fn list(dir: &Path, table: Table) -> anyhow::Result<Listing> {
    let mut out = Listing::default();
    let root = dir.join(table.dir_name());
    let days = match fs::read_dir(&root) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("list {}", root.display())),
    };
    for day in days {
        let day = day.with_context(|| format!("list {}", root.display()))?;
        let day_path = day.path();
        if !day.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        for f in fs::read_dir(&day_path).with_context(|| format!("list {}", day_path.display()))? {
            let f = f.with_context(|| format!("list {}", day_path.display()))?;
            let name = f.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(".part-") && name.ends_with(".tmp") {
                out.temporary.push(f.path());
            } else if let Some(n) = part_number(name) {
                out.parts.push((n, f.path()));
            }
        }
    }
    out.parts.sort();
    Ok(out)
}

/// Deletes what an interrupted run left: temporary files, and part files
/// numbered at or above `next_part` (written, but never recorded in the
/// manifest). Returns how many files it removed.
pub fn remove_orphans(dir: &Path, next_part: u64) -> anyhow::Result<usize> {
    let mut removed = 0;
    for table in [Table::Transitions, Table::Memberships] {
        let listing = list(dir, table)?;
        let orphans = listing
            .parts
            .into_iter()
            .filter(|(n, _)| *n >= next_part)
            .map(|(_, p)| p)
            .chain(listing.temporary);
        for path in orphans {
            fs::remove_file(&path)
                .with_context(|| format!("remove unfinished export file {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip() {
        assert_eq!(part_file_name(12), "part-00000012.parquet");
        assert_eq!(part_number("part-00000012.parquet"), Some(12));
        assert_eq!(part_number("part-.parquet"), None);
        assert_eq!(part_number("part-12.parquet.tmp"), None);
        assert_eq!(part_number("part-1x.parquet"), None);
    }

    #[test]
    fn manifest_round_trips_and_refuses_strangers() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(Manifest::load(dir.path())?, None);
        let mut m = Manifest::empty();
        m.high_seq = Some(41);
        m.next_part = 7;
        m.store(dir.path())?;
        assert_eq!(Manifest::load(dir.path())?, Some(m));
        fs::write(dir.path().join(MANIFEST), "{\"format\": \"other\"}")?;
        assert!(Manifest::load(dir.path()).is_err());
        Ok(())
    }

    #[test]
    fn orphans_are_parts_past_the_manifest_and_temporaries() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let day = dir.path().join("transitions").join("day=2026-11-01");
        fs::create_dir_all(&day)?;
        for name in [
            "part-00000001.parquet",
            "part-00000002.parquet",
            ".part-00000003.parquet.tmp",
            "notes.txt",
        ] {
            fs::write(day.join(name), b"x")?;
        }
        assert_eq!(remove_orphans(dir.path(), 2)?, 2);
        let mut left: Vec<String> = fs::read_dir(&day)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        left.sort();
        assert_eq!(left, ["notes.txt", "part-00000001.parquet"]);
        Ok(())
    }
}
