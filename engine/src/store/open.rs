//! Creating, opening and recovering a store: take the lock, load the
//! manifest, the dictionary, the segments and checkpoints, replay the
//! write-ahead log, and (writer only) cut torn tails and delete orphans.
//!
//! Invariants:
//! * a read-only open never writes, truncates or deletes anything;
//! * recovery decides only from files: anything a durable manifest does not
//!   name is an orphan of an interrupted operation, and a log tail that does
//!   not end in a commit record was never acknowledged;
//! * the writer fsyncs the log it resumes, so that data a previous process
//!   wrote but failed to fsync is not treated as durable without a
//!   successful fsync.

use std::collections::HashSet;
use std::sync::Arc;

use super::files::SegmentFile;
use super::{MemTable, Store, logs_from};
use crate::checkpoint::CheckpointSet;
use crate::commits::{self, CommitLog, CommitTable};
use crate::dict::Dict;
use crate::dict_file::{self, DICT_FILE, NameKind};
use crate::error::{Error, Result};
use crate::manifest::{CKPT_DIR, MANIFEST, Manifest, SEG_DIR, WAL_DIR, ckpt_name, log_name, parse_number};
use crate::model::{MembershipRow, TransitionRow, limits};
use crate::storage::{LockFailure, LockGuard, Storage, io_err, is_not_found, write_sealed};
use crate::wal::{self, LOG_HEADER, TornTail, WalWriter};

use super::Options;

/// How a writer opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Create,
    Open,
    OpenOrCreate,
}

/// Attempts of a read-only open when files vanish under it or the manifest
/// changes while it reads (a writer flushing, compacting or committing a
/// spilled transaction at the same time).
const READ_ONLY_ATTEMPTS: usize = 16;

/// Fails with [`Error::NotFound`] unless a store exists in `storage`.
pub(crate) fn require_store(storage: &dyn Storage) -> Result<()> {
    let exists = storage
        .exists(MANIFEST)
        .map_err(|e| io_err(storage, "stat", MANIFEST, e))?;
    if exists {
        Ok(())
    } else {
        Err(Error::NotFound(storage.root().to_path_buf()))
    }
}

fn take_lock(storage: &dyn Storage) -> Result<Box<dyn LockGuard>> {
    storage.lock("LOCK").map_err(|f| match f {
        LockFailure::Held(pid) => Error::Locked {
            path: storage.root().to_path_buf(),
            holder: pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        },
        LockFailure::Io(e) => io_err(storage, "lock", "LOCK", e),
    })
}

/// Writes the files of a new, empty store; the manifest comes last and is
/// the commit point of the creation.
fn initialize(storage: &dyn Storage) -> Result<()> {
    for dir in [WAL_DIR, SEG_DIR, CKPT_DIR] {
        storage
            .create_dir(dir)
            .map_err(|e| io_err(storage, "create directory", dir, e))?;
    }
    let mut dict = dict_file::header();
    dict_file::put_names(
        &mut dict,
        dict_file::VERSION,
        NameKind::Deployment,
        0,
        &[limits::DEFAULT_DEPLOYMENT],
    );
    write_sealed(storage, DICT_FILE, &dict)?;
    let m = Manifest::new(dict.len() as u64, [0, 1, 0]);
    drop(WalWriter::create(storage, m.wal_start)?);
    m.write(storage)
}

pub(crate) fn open_writer(storage: Arc<dyn Storage>, opts: Options, mode: Mode) -> Result<Store> {
    let st = &*storage;
    if mode == Mode::Open {
        require_store(st)?;
    } else {
        st.create_root()
            .map_err(|e| io_err(st, "create directory", "", e))?;
    }
    let lock = take_lock(st)?;
    let exists = st.exists(MANIFEST).map_err(|e| io_err(st, "stat", MANIFEST, e))?;
    match (mode, exists) {
        (Mode::Create, true) => return Err(Error::AlreadyExists(st.root().to_path_buf())),
        (Mode::Open, false) => return Err(Error::NotFound(st.root().to_path_buf())),
        (Mode::Create | Mode::OpenOrCreate, false) => initialize(st)?,
        _ => {}
    }
    let manifest = Manifest::read(st)?;
    // The manifest read may be one whose rename was never made durable (its
    // writer died between the rename and the directory fsync). Everything it
    // names is durable already; make its own entry durable before acting on
    // it, or a power loss after orphan removal could bring back an older
    // manifest naming logs and segments already removed.
    st.sync_dir("")
        .map_err(|e| io_err(st, "fsync directory", "", e))?;
    let loaded = load(&storage, &manifest)?;
    // Recovery: cut what no manifest or commit record covers.
    if loaded.dict_file_len > manifest.dict_bytes {
        st.truncate(DICT_FILE, manifest.dict_bytes)
            .map_err(|e| io_err(st, "truncate", DICT_FILE, e))?;
    }
    let wal = resume_log(st, &manifest, &loaded.logs)?;
    let commits = commits::load(st, loaded.next_seq)?;
    let commit_log = CommitLog::recover(st, &commits)?;
    let mut store = assemble(
        storage.clone(),
        opts,
        manifest,
        loaded,
        Some(lock),
        Some(wal),
        commits,
    );
    store.commit_log = Some(commit_log);
    remove_orphans(&*storage, &store.manifest);
    Ok(store)
}

/// Opens the log to append to: the last one, its torn tail cut off, or a
/// new one when there is none.
fn resume_log(st: &dyn Storage, m: &Manifest, logs: &[LogInfo]) -> Result<WalWriter> {
    let Some(last) = logs.last() else {
        // `load` refuses a store whose first log is missing.
        return WalWriter::create(st, m.wal_start);
    };
    let name = log_name(last.number);
    if last.committed_len < LOG_HEADER as u64 {
        // Its header never became durable: nothing in it was acknowledged.
        // Creating it again truncates it in place, so the log never goes
        // missing, whatever a crash keeps of this step.
        return WalWriter::create(st, last.number);
    }
    if last.file_len > last.committed_len {
        st.truncate(&name, last.committed_len)
            .map_err(|e| io_err(st, "truncate", &name, e))?;
    }
    let mut w = WalWriter::reopen(st, last.number, last.committed_len)?;
    w.sync(st)?;
    Ok(w)
}

pub(crate) fn open_read_only(storage: Arc<dyn Storage>, opts: Options) -> Result<Store> {
    require_store(&*storage)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = Manifest::read(&*storage).and_then(|m| load(&storage, &m).map(|l| (m, l)));
        match r {
            Ok((manifest, loaded)) => {
                // The logs were read after the manifest. If a writer committed
                // a new manifest meanwhile (a spilled transaction, a flush, a
                // compaction), the logs may hold transactions that follow one
                // the manifest we read does not name: only a manifest that
                // did not change during the load makes a consistent view.
                let now = Manifest::read(&*storage)?;
                if now.generation != manifest.generation {
                    if attempt < READ_ONLY_ATTEMPTS {
                        continue;
                    }
                    return Err(Error::io(
                        "open read-only",
                        storage.path(MANIFEST),
                        std::io::Error::other(format!(
                            "a writer replaced the manifest during each of {attempt} attempts to read the store; try again"
                        )),
                    ));
                }
                let commits = commits::load(&*storage, loaded.next_seq)?;
                let mut store = assemble(storage, opts, manifest, loaded, None, None, commits);
                store.read_only = true;
                return Ok(store);
            }
            // A writer replaced a file named by the manifest we read: read
            // the new manifest and try again.
            Err(e) if is_not_found(&e) && attempt < READ_ONLY_ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    }
}

/// What one log held.
#[derive(Debug)]
pub(crate) struct LogInfo {
    number: u64,
    file_len: u64,
    committed_len: u64,
}

/// Everything read from the files of a store.
#[derive(Debug)]
pub(crate) struct Loaded {
    dicts: [Dict; 3],
    dict_file_len: u64,
    dict_version: u32,
    base: Vec<Arc<SegmentFile>>,
    delta: Vec<Arc<SegmentFile>>,
    checkpoints: Option<Arc<CheckpointSet>>,
    mem: MemTable,
    next_seq: u64,
    logs: Vec<LogInfo>,
}

fn load(storage: &Arc<dyn Storage>, m: &Manifest) -> Result<Loaded> {
    let st = &**storage;
    let (dicts, dict_file_len, dict_version) = read_dicts(st, m)?;

    let open_all = |refs: &[crate::manifest::FileRef]| -> Result<Vec<Arc<SegmentFile>>> {
        refs.iter().map(|f| SegmentFile::open(storage, *f)).collect()
    };
    let base = open_all(&m.base)?;
    let delta = open_all(&m.delta)?;
    let checkpoints = if m.checkpoints.is_empty() {
        None
    } else {
        Some(read_checkpoints(st, &m.checkpoints)?)
    };

    let mut next_seq = m.next_seq;
    for seg in base.iter().chain(delta.iter()) {
        if let Some((_, hi)) = seg.reader().summary().seq_bounds {
            next_seq = next_seq.max(hi.0 + 1);
        }
    }
    let mut transitions: Vec<TransitionRow> = Vec::new();
    let mut memberships: Vec<MembershipRow> = Vec::new();
    let mut logs = Vec::new();
    let found = logs_from(st, m.wal_start)?;
    require_first_log(st, m, &found)?;
    for (i, (number, name)) in found.iter().enumerate() {
        let path = st.path(name);
        let bytes = st.read(name).map_err(|e| io_err(st, "read", name, e))?;
        let scan = wal::replay(&bytes, *number, &path, &mut |txn| {
            for (kind, id, name) in &txn.names {
                let dict = &dicts[kind.index()];
                match dict.get_or_insert(name) {
                    (got, _) if got == *id => {}
                    (got, _) => {
                        return Err(Error::corrupt(
                            &path,
                            txn.offset,
                            format!("{kind:?} {name:?} has id {got}, the log says {id}"),
                        ));
                    }
                }
            }
            let lens = dicts.each_ref().map(|d| d.len() as u32);
            let ids_ok = txn
                .transitions
                .iter()
                .all(|r| r.client.0 < lens[0] && r.deployment.0 < lens[1])
                && txn
                    .memberships
                    .iter()
                    .all(|r| r.client.0 < lens[0] && r.collection.0 < lens[2]);
            if !ids_ok {
                return Err(Error::corrupt(
                    &path,
                    txn.offset,
                    "a row names an id the dictionary does not hold",
                ));
            }
            next_seq = next_seq.max(txn.next_seq);
            transitions.extend(txn.transitions);
            memberships.extend(txn.memberships);
            Ok(())
        })?;
        if let Some(TornTail { offset, what }) = &scan.tail
            && i + 1 < found.len()
        {
            return Err(Error::corrupt(
                &path,
                *offset,
                format!("{what}, but a newer log follows"),
            ));
        }
        logs.push(LogInfo {
            number: *number,
            file_len: bytes.len() as u64,
            committed_len: scan.committed_len,
        });
    }
    let mut mem = MemTable::default();
    mem.install(transitions, memberships);
    Ok(Loaded {
        dicts,
        dict_file_len,
        dict_version,
        base,
        delta,
        checkpoints,
        mem,
        next_seq,
        logs,
    })
}

/// The log numbered `wal_start` always exists: it is created, and its
/// directory entry made durable, before any manifest names it. When it is
/// missing, a writer flushed and removed it after we read the manifest (a
/// reader then starts again from the new one) — or it was lost, which is
/// damage, not something to guess around.
pub(crate) fn require_first_log(st: &dyn Storage, m: &Manifest, found: &[(u64, String)]) -> Result<()> {
    if found.first().map(|(n, _)| *n) == Some(m.wal_start) {
        return Ok(());
    }
    let name = log_name(m.wal_start);
    Err(io_err(
        st,
        "open",
        &name,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the manifest names this write-ahead log as the first to replay, and it is missing",
        ),
    ))
}

/// Reads the dictionary file into the three dictionaries (clients,
/// deployments, collections), checking its records and the counts the
/// manifest names. Names are not indexed here (see `dict::DictData`); a name
/// stored twice is left for `check` to report. Returns them, the file's
/// length and its format version.
pub(crate) fn read_dicts(st: &dyn Storage, m: &Manifest) -> Result<([Dict; 3], u64, u32)> {
    let path = st.path(DICT_FILE);
    let bytes = st.read(DICT_FILE).map_err(|e| io_err(st, "read", DICT_FILE, e))?;
    let dicts: [Dict; 3] = Default::default();
    let (version, counts) = dict_file::decode_each(&bytes, m.dict_bytes, &path, |kind, name| {
        dicts[kind.index()].load(name)
    })?;
    let counts = counts.map(|n| n as u64);
    if counts != m.dict_counts.map(u64::from) {
        return Err(Error::corrupt(
            &path,
            m.dict_bytes,
            format!(
                "dictionary holds {counts:?} names, the manifest says {:?}",
                m.dict_counts
            ),
        ));
    }
    Ok((dicts, bytes.len() as u64, version))
}

/// Maps the checkpoint file the manifest names and reads its framing; the
/// checkpoints themselves are decoded (and crc-checked) on first use.
/// Maps the chain of checkpoint files the manifest names (oldest first) and
/// reads their framing.
pub(crate) fn read_checkpoints(
    st: &dyn Storage,
    chain: &[crate::manifest::FileRef],
) -> Result<Arc<CheckpointSet>> {
    let files = chain
        .iter()
        .map(|f| map_checkpoint_file(st, *f))
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(CheckpointSet::open_chain(files)?))
}

/// Maps one checkpoint file the manifest names, checking its size.
pub(crate) fn map_checkpoint_file(
    st: &dyn Storage,
    f: crate::manifest::FileRef,
) -> Result<(crate::bytes::SharedBytes, std::path::PathBuf)> {
    let name = ckpt_name(f.number);
    let bytes = st.map(&name).map_err(|e| io_err(st, "open", &name, e))?;
    let len = (*bytes).as_ref().len() as u64;
    if len != f.bytes {
        return Err(Error::corrupt(
            st.path(&name),
            len.min(f.bytes),
            format!("checkpoint file is {len} bytes, the manifest says {}", f.bytes),
        ));
    }
    Ok((bytes, st.path(&name)))
}

fn assemble(
    storage: Arc<dyn Storage>,
    opts: Options,
    manifest: Manifest,
    loaded: Loaded,
    lock: Option<Box<dyn LockGuard>>,
    wal: Option<WalWriter>,
    commits: commits::Loaded,
) -> Store {
    let [clients, deployments, collections] = loaded.dicts;
    let wal_bytes = match &wal {
        Some(w) => w.bytes(),
        None => loaded.logs.iter().map(|l| l.committed_len).sum(),
    };
    Store {
        storage,
        opts,
        read_only: false,
        _lock: lock,
        next_file: manifest.next_file,
        manifest,
        wal,
        wal_bytes,
        clients,
        deployments,
        collections,
        dict_version: loaded.dict_version,
        next_seq: loaded.next_seq,
        mem: loaded.mem,
        base: loaded.base,
        delta: loaded.delta,
        checkpoints: loaded.checkpoints,
        base_cache: Default::default(),
        poisoned: None,
        commits: CommitTable::new(commits.entries),
        commit_log: None,
    }
}

/// Files the manifest does not account for, as relative names.
pub(crate) fn orphans(st: &dyn Storage, m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    let segs: HashSet<u64> = m.segments().map(|f| f.number).collect();
    let list = |dir: &str| st.list(dir).unwrap_or_default();
    for f in list("") {
        if f.ends_with(".tmp") {
            out.push(f);
        }
    }
    for f in list(SEG_DIR) {
        if parse_number(&f, "seg").is_none_or(|n| !segs.contains(&n)) {
            out.push(format!("{SEG_DIR}/{f}"));
        }
    }
    for f in list(CKPT_DIR) {
        if parse_number(&f, "ckpt").is_none_or(|n| !m.checkpoints.iter().any(|c| c.number == n)) {
            out.push(format!("{CKPT_DIR}/{f}"));
        }
    }
    for f in list(WAL_DIR) {
        if parse_number(&f, "log").is_none_or(|n| n < m.wal_start) {
            out.push(format!("{WAL_DIR}/{f}"));
        }
    }
    out
}

/// Deletes orphans (best effort: one left behind is retried at the next open).
fn remove_orphans(st: &dyn Storage, m: &Manifest) {
    let found = orphans(st, m);
    let mut dirs = HashSet::new();
    for name in &found {
        if st.remove(name).is_ok() {
            dirs.insert(crate::storage::parent(name).to_owned());
        }
    }
    for dir in dirs {
        let _ = st.sync_dir(&dir);
    }
}
