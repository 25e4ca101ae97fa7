//! The export run: counting pass, day windows, part files, manifest.
//!
//! Invariants: a row is exported by a run iff its `seq` is above the
//! manifest's `high_seq` (any, on the first run) and, with `--since`, its
//! time is at or after `since`; every exported row lands in exactly one part
//! file, in the partition of its UTC day; a run writes at most one part file
//! per (table, day), opens at most `window_days` writers at once, and keeps
//! the writers' buffered row groups under `memory_budget` by flushing the
//! largest one early.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rollcall_engine::{CollectionId, DeploymentId, Seq, Snapshot, Store, Timestamp};

use super::manifest::{self, LOCK, Manifest, RunRecord};
use super::schema::{Columns, DAY_MS, Names, Table, day_of, partition_name};
use crate::UsageError;
use crate::args::ExportArgs;

/// How an export runs. The defaults suit fleets of millions of clients.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Only rows with `time >= since`.
    pub since: Option<Timestamp>,
    /// The most day partitions written in one pass over the data (and so the
    /// most files open at once).
    pub window_days: usize,
    /// Rows buffered per partition before they go to its Parquet writer.
    pub batch_rows: usize,
    /// The most rows in one Parquet row group.
    pub row_group_rows: usize,
    /// When the open writers buffer more than this many bytes, the largest
    /// one writes its row group out early.
    pub memory_budget: usize,
    /// zstd level.
    pub zstd_level: i32,
    /// The wall-clock time recorded in the manifest as the run's end.
    pub now: Timestamp,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            since: None,
            window_days: 128,
            batch_rows: 8192,
            row_group_rows: 1 << 20,
            memory_budget: 256 << 20,
            zstd_level: 3,
            now: Timestamp(0),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Rows with `seq` above this were candidates (`None`: the first run).
    pub after_seq: Option<u64>,
    /// The manifest's new `high_seq`.
    pub high_seq: Option<u64>,
    /// Transitions written.
    pub transitions: u64,
    /// Membership changes written.
    pub memberships: u64,
    /// Part files written.
    pub files: u64,
    /// Bytes of the part files written.
    pub bytes: u64,
    /// Files an interrupted earlier run had left, removed first.
    pub removed_orphans: usize,
}

/// `rollcall export --format parquet DIR [--since TIME]`.
pub(super) fn run(db: &Path, args: &ExportArgs) -> anyhow::Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|text| {
            Timestamp::parse(text).map_err(|e| {
                UsageError(format!(
                    "--since {text:?}: {e}; expected an RFC 3339 time, a date (2026-10-01) or epoch milliseconds"
                ))
            })
        })
        .transpose()?;
    let store = Store::open_read_only(db).with_context(|| format!("open store {}", db.display()))?;
    let snapshot = store.snapshot();
    let opts = ExportOptions {
        since,
        now: crate::session::wall_clock(),
        ..ExportOptions::default()
    };
    let started = Instant::now();
    let r = export_snapshot(&snapshot, &args.dir, &opts)?;
    if r.removed_orphans > 0 {
        crate::note(&format!(
            "note: removed {} file(s) left by an interrupted export",
            r.removed_orphans
        ));
    }
    let watermark = match r.high_seq {
        Some(s) => format!("high seq {s}"),
        None => "the store is empty".to_owned(),
    };
    crate::note(&format!(
        "exported {} transitions and {} membership changes{} in {} file(s), {}, to {} in {:.2} s ({watermark})",
        r.transitions,
        r.memberships,
        match r.after_seq {
            Some(s) => format!(" (rows after seq {s})"),
            None => String::new(),
        },
        r.files,
        crate::admin::human_bytes(r.bytes),
        args.dir.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Every name of the snapshot, by id.
struct NameTable {
    clients: Vec<String>,
    deployments: Vec<String>,
    collections: Vec<String>,
    /// For the commit times of rows (`Snapshot::known_from`).
    snap: Snapshot,
}

impl NameTable {
    fn load(snap: &Snapshot) -> NameTable {
        let mut clients = Vec::with_capacity(snap.client_count());
        snap.for_each_client_name(|id, name| {
            let i = id.0 as usize;
            if clients.len() <= i {
                clients.resize(i + 1, String::new());
            }
            clients[i] = name.to_owned();
        });
        let deployments = (0..)
            .map_while(|i| snap.deployment_name(DeploymentId(i)))
            .collect();
        let collections = (0..)
            .map_while(|i| snap.collection_name(CollectionId(i)))
            .collect();
        NameTable {
            clients,
            deployments,
            collections,
            snap: snap.fork(),
        }
    }
}

impl Names for NameTable {
    fn client(&self, id: u32) -> Option<&str> {
        self.clients.get(id as usize).map(String::as_str)
    }
    fn deployment(&self, id: u32) -> Option<&str> {
        self.deployments.get(id as usize).map(String::as_str)
    }
    fn collection(&self, id: u32) -> Option<&str> {
        self.collections.get(id as usize).map(String::as_str)
    }
    fn committed_ms(&self, seq: Seq) -> Option<i64> {
        self.snap.known_from(seq).map(|t| t.0)
    }
}

/// Which rows a run exports.
#[derive(Debug, Clone, Copy)]
struct Selection {
    after: Option<u64>,
    since: Option<Timestamp>,
}

impl Selection {
    #[inline]
    fn keeps(&self, seq: Seq, time: Timestamp) -> bool {
        self.after.is_none_or(|a| seq.0 > a) && self.since.is_none_or(|s| time >= s)
    }
}

/// The counting pass: per table, the days with selected rows (and how many),
/// and the store's highest seq.
struct Census {
    days: [BTreeMap<i64, u64>; 2],
    high_seq: Option<u64>,
}

fn census(snap: &Snapshot, sel: Selection) -> anyhow::Result<Census> {
    let mut days: [BTreeMap<i64, u64>; 2] = Default::default();
    let mut high: Option<u64> = None;
    let [t_days, m_days] = &mut days;
    snap.for_each_transition(Timestamp::MIN, Timestamp::MAX, |rows| {
        for r in rows {
            high = Some(high.map_or(r.seq.0, |h| h.max(r.seq.0)));
            if sel.keeps(r.seq, r.time) {
                *t_days.entry(day_of(r.time)).or_default() += 1;
            }
        }
        Ok(())
    })
    .context("read transitions")?;
    snap.for_each_membership(|rows| {
        for r in rows {
            high = Some(high.map_or(r.seq.0, |h| h.max(r.seq.0)));
            if sel.keeps(r.seq, r.time) {
                *m_days.entry(day_of(r.time)).or_default() += 1;
            }
        }
        Ok(())
    })
    .context("read membership changes")?;
    Ok(Census { days, high_seq: high })
}

/// One part file being written.
struct PartWriter {
    tmp: PathBuf,
    path: PathBuf,
    writer: ArrowWriter<File>,
    columns: Columns,
    rows: u64,
}

impl PartWriter {
    fn create(
        dir: &Path,
        table: Table,
        day: i64,
        number: u64,
        props: &WriterProperties,
    ) -> anyhow::Result<PartWriter> {
        let day_dir = dir.join(table.dir_name()).join(partition_name(day));
        fs::create_dir_all(&day_dir).with_context(|| format!("create {}", day_dir.display()))?;
        let name = manifest::part_file_name(number);
        let tmp = day_dir.join(format!(".{name}.tmp"));
        let path = day_dir.join(name);
        let file = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let writer = ArrowWriter::try_new(file, table.schema(), Some(props.clone()))
            .with_context(|| format!("start Parquet file {}", tmp.display()))?;
        Ok(PartWriter {
            tmp,
            path,
            writer,
            columns: Columns::new(table),
            rows: 0,
        })
    }

    /// Hands the buffered rows to the Parquet writer.
    fn write_buffered(&mut self) -> anyhow::Result<()> {
        if self.columns.is_empty() {
            return Ok(());
        }
        let n = self.columns.len() as u64;
        let batch = self.columns.finish()?;
        self.writer
            .write(&batch)
            .with_context(|| format!("write {}", self.tmp.display()))?;
        self.rows += n;
        Ok(())
    }

    /// Finishes the file, syncs it and gives it its final name. Returns its
    /// size in bytes.
    fn finish(mut self) -> anyhow::Result<u64> {
        self.write_buffered()?;
        let file = self
            .writer
            .into_inner()
            .with_context(|| format!("finish {}", self.tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("sync {}", self.tmp.display()))?;
        let bytes = file
            .metadata()
            .with_context(|| format!("stat {}", self.tmp.display()))?
            .len();
        drop(file);
        fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("rename {} to {}", self.tmp.display(), self.path.display()))?;
        Ok(bytes)
    }
}

/// Exports the rows of `snap` that the manifest in `dir` (if any) does not
/// cover yet, and records the run. See the module docs for the layout.
pub fn export_snapshot(snap: &Snapshot, dir: &Path, opts: &ExportOptions) -> anyhow::Result<ExportReport> {
    if opts.window_days == 0 || opts.batch_rows == 0 || opts.row_group_rows == 0 {
        anyhow::bail!("export options: window_days, batch_rows and row_group_rows must be above zero");
    }
    fs::create_dir_all(dir).with_context(|| format!("create export directory {}", dir.display()))?;
    let lock_path = dir.join(LOCK);
    let lock = File::create(&lock_path).with_context(|| format!("create {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another export is writing {}; wait for it to finish",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("lock {}", lock_path.display()));
        }
    }
    let mut m = Manifest::load(dir)?.unwrap_or_else(Manifest::empty);
    let removed_orphans = manifest::remove_orphans(dir, m.next_part)?;

    let sel = Selection {
        after: m.high_seq,
        since: opts.since,
    };
    let census = census(snap, sel)?;
    if let Some(h) = m.high_seq
        && census.high_seq.is_none_or(|s| s < h)
    {
        anyhow::bail!(
            "the export in {} already covers rows up to seq {h}, but this store's highest seq is {}; \
             it was made from another store: export into a new directory",
            dir.display(),
            census
                .high_seq
                .map_or_else(|| "none (empty store)".to_owned(), |s| s.to_string())
        );
    }

    let names = NameTable::load(snap);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(opts.zstd_level).context("zstd level")?,
        ))
        .set_max_row_group_row_count(Some(opts.row_group_rows))
        .set_created_by(format!("rollcall {}", env!("CARGO_PKG_VERSION")))
        .build();

    let first_part = m.next_part;
    let mut report = ExportReport {
        after_seq: m.high_seq,
        removed_orphans,
        ..ExportReport::default()
    };
    let mut touched: BTreeSet<PathBuf> = BTreeSet::new();
    for (i, table) in [Table::Transitions, Table::Memberships].into_iter().enumerate() {
        let days: Vec<i64> = census.days[i].keys().copied().collect();
        for window in days.chunks(opts.window_days) {
            let rows = write_window(
                snap,
                dir,
                table,
                window,
                sel,
                &names,
                &props,
                opts,
                &mut m.next_part,
                &mut report,
            )?;
            match table {
                Table::Transitions => report.transitions += rows,
                Table::Memberships => report.memberships += rows,
            }
            for &day in window {
                touched.insert(dir.join(table.dir_name()).join(partition_name(day)));
            }
        }
        // A table with no file at all gets one empty file, so that globs
        // over the layout match and readers learn the schema.
        if manifest::list(dir, table)?.parts.is_empty() {
            let day = 0;
            let number = m.next_part;
            m.next_part += 1;
            let w = PartWriter::create(dir, table, day, number, &props)?;
            report.bytes += w.finish()?;
            report.files += 1;
            touched.insert(dir.join(table.dir_name()).join(partition_name(day)));
        }
        touched.insert(dir.join(table.dir_name()));
    }
    for d in &touched {
        manifest::sync_dir(d)?;
    }

    let high_seq = match (m.high_seq, census.high_seq) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    m.runs.push(RunRecord {
        after_seq: m.high_seq,
        high_seq,
        since: opts.since.map(|t| t.to_string()),
        transitions: report.transitions,
        memberships: report.memberships,
        first_part,
        end_part: m.next_part,
        finished_at: opts.now.to_string(),
    });
    m.high_seq = high_seq;
    m.store(dir)?;
    report.high_seq = high_seq;
    drop(lock);
    Ok(report)
}

/// One pass over `table` writing the selected rows of the days in `window`
/// (sorted), one part file per day. Returns the rows written.
#[expect(clippy::too_many_arguments, reason = "one private step of export_snapshot")]
fn write_window(
    snap: &Snapshot,
    dir: &Path,
    table: Table,
    window: &[i64],
    sel: Selection,
    names: &NameTable,
    props: &WriterProperties,
    opts: &ExportOptions,
    next_part: &mut u64,
    report: &mut ExportReport,
) -> anyhow::Result<u64> {
    let (Some(&first), Some(&last)) = (window.first(), window.last()) else {
        return Ok(0);
    };
    let lo = Timestamp(first.saturating_mul(DAY_MS));
    let hi = Timestamp(last.saturating_add(1).saturating_mul(DAY_MS).saturating_sub(1));
    let in_window: BTreeSet<i64> = window.iter().copied().collect();
    let mut open: HashMap<i64, PartWriter> = HashMap::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut batches_since_check = 0usize;

    // Routes one row to its day's writer; `push` appends it to the buffer.
    let mut route =
        |time: Timestamp, push: &mut dyn FnMut(&mut Columns) -> anyhow::Result<()>| -> anyhow::Result<()> {
            let day = day_of(time);
            if !in_window.contains(&day) {
                return Ok(());
            }
            let w = match open.entry(day) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let number = *next_part;
                    *next_part += 1;
                    e.insert(PartWriter::create(dir, table, day, number, props)?)
                }
            };
            push(&mut w.columns)?;
            if w.columns.len() >= opts.batch_rows {
                w.write_buffered()?;
                batches_since_check += 1;
                if batches_since_check >= 8 {
                    batches_since_check = 0;
                    enforce_budget(&mut open, opts.memory_budget)?;
                }
            }
            Ok(())
        };

    let scanned = match table {
        Table::Transitions => snap.for_each_transition(lo, hi, |rows| {
            for r in rows {
                if !sel.keeps(r.seq, r.time) {
                    continue;
                }
                if let Err(e) = route(r.time, &mut |c| c.push_transition(r, names)) {
                    failure = Some(e);
                    return Err(rollcall_engine::Error::Cancelled);
                }
            }
            Ok(())
        }),
        Table::Memberships => snap.for_each_membership(|rows| {
            for r in rows {
                if !sel.keeps(r.seq, r.time) {
                    continue;
                }
                if let Err(e) = route(r.time, &mut |c| c.push_membership(r, names)) {
                    failure = Some(e);
                    return Err(rollcall_engine::Error::Cancelled);
                }
            }
            Ok(())
        }),
    };
    if let Some(e) = failure {
        return Err(e);
    }
    scanned.with_context(|| format!("read {}", table.dir_name()))?;

    let mut writers: Vec<(i64, PartWriter)> = open.into_iter().collect();
    writers.sort_by_key(|(day, _)| *day);
    let mut rows = 0;
    for (_, w) in writers {
        let n = w.rows + w.columns.len() as u64;
        report.bytes += w.finish()?;
        report.files += 1;
        rows += n;
    }
    Ok(rows)
}

/// Flushes the row groups of the largest writers until the open writers
/// buffer at most `budget` bytes.
fn enforce_budget(open: &mut HashMap<i64, PartWriter>, budget: usize) -> anyhow::Result<()> {
    let mut total: usize = open.values().map(|w| w.writer.memory_size()).sum();
    while total > budget {
        let Some(w) = open.values_mut().max_by_key(|w| w.writer.memory_size()) else {
            break;
        };
        let before = w.writer.memory_size();
        w.writer
            .flush()
            .with_context(|| format!("write {}", w.tmp.display()))?;
        let after = w.writer.memory_size();
        if after >= before {
            break;
        }
        total = total - before + after;
    }
    Ok(())
}
