//! [`FaultyDisk`]: an in-memory disk for crash and fault tests.
//!
//! The disk keeps, for every file, the bytes *written* (what a running
//! process reads back) and the bytes *durable* (what survives a power cut:
//! the content at its last successful fsync), and, for every directory, the
//! entries as they are and as they were at its last directory fsync. It can
//! fail a chosen operation with `EIO` or `ENOSPC`, and [`FaultyDisk::crash`]
//! throws away what was not durable — optionally keeping a torn prefix of
//! unsynced appends — and kills every handle of the "process" that was
//! running, so that a store reopened afterwards sees only what a real disk
//! would have kept.
//!
//! Model limits (stated so tests do not over-trust it): directories
//! themselves are durable as soon as they are created; a failed write writes
//! nothing; a failed fsync leaves the durable image as it was; the written
//! image of a file that was not fsynced survives a crash only through
//! [`Crash::KeepWritten`] or [`Crash::Torn`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{LockFailure, LockGuard, Storage, StorageFile, parent};
use crate::bytes::{self, SharedBytes};

/// A mutating disk operation, as counted and failed by a [`FaultyDisk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiskOp {
    /// Creating (or truncating on create) a file.
    Create,
    /// Writing bytes to a file.
    Write,
    /// Fsync of a file.
    Sync,
    /// Renaming a file.
    Rename,
    /// Fsync of a directory.
    SyncDir,
    /// Removing a file.
    Remove,
    /// Cutting a file to a length (followed by its fsync).
    Truncate,
}

/// The error an injected fault returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoFault {
    /// An I/O error (`EIO`).
    Eio,
    /// No space left on the device (`ENOSPC`).
    Enospc,
}

impl IoFault {
    fn error(self) -> io::Error {
        match self {
            IoFault::Eio => io::Error::other("injected EIO"),
            IoFault::Enospc => io::Error::new(io::ErrorKind::StorageFull, "injected ENOSPC"),
        }
    }
}

/// A planned failure: the `nth` (1-based, counted from when it is armed)
/// operation matching `op` fails with `error`; when `sticky`, every later
/// matching operation fails too, until [`FaultyDisk::disarm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The kind of operation to fail; `None` matches every kind.
    pub op: Option<DiskOp>,
    /// Which matching operation fails first (1 = the next one).
    pub nth: u64,
    /// The error returned.
    pub error: IoFault,
    /// Keep failing after the first failure.
    pub sticky: bool,
}

impl Fault {
    /// Fails the `nth` mutating operation of any kind with `EIO`.
    pub fn nth_op(nth: u64) -> Fault {
        Fault {
            op: None,
            nth,
            error: IoFault::Eio,
            sticky: false,
        }
    }

    /// Fails the `nth` operation of kind `op` with `EIO`.
    pub fn nth(op: DiskOp, nth: u64) -> Fault {
        Fault {
            op: Some(op),
            ..Fault::nth_op(nth)
        }
    }

    /// The same fault, returning `error`.
    pub fn with(self, error: IoFault) -> Fault {
        Fault { error, ..self }
    }

    /// The same fault, failing every matching operation from the first on.
    pub fn sticky(self) -> Fault {
        Fault { sticky: true, ..self }
    }
}

/// What a simulated crash keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// Only what was made durable: file contents at their last fsync,
    /// directory entries at their directory's last fsync.
    LoseUnsynced,
    /// Durable directory entries, and for each file its durable content plus
    /// up to `keep` bytes of unsynced appends (a torn write).
    Torn {
        /// Unsynced bytes kept per file.
        keep: usize,
    },
    /// Everything written, as if only the process died and the operating
    /// system wrote its caches out.
    KeepWritten,
}

#[derive(Debug, Default, Clone)]
struct Inode {
    written: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct DiskState {
    epoch: u64,
    next_ino: u64,
    inodes: HashMap<u64, Inode>,
    /// Current directory entries: relative path -> inode.
    names: BTreeMap<String, u64>,
    /// Entries as of each directory's last fsync.
    durable_names: BTreeMap<String, u64>,
    dirs: HashSet<String>,
    locks: HashMap<String, u32>,
    fault: Option<(Fault, u64, bool)>,
    trace: Vec<(DiskOp, String)>,
}

impl DiskState {
    fn op(&mut self, op: DiskOp, name: &str) -> io::Result<()> {
        self.trace.push((op, name.to_owned()));
        if let Some((fault, seen, fired)) = &mut self.fault
            && fault.op.is_none_or(|o| o == op)
        {
            *seen += 1;
            if (*fired && fault.sticky) || (!*fired && *seen >= fault.nth) {
                *fired = true;
                return Err(fault.error.error());
            }
        }
        Ok(())
    }

    fn new_inode(&mut self) -> u64 {
        self.next_ino += 1;
        self.inodes.insert(self.next_ino, Inode::default());
        self.next_ino
    }

    fn ino(&self, name: &str) -> io::Result<u64> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file")))
    }

    fn check_dir(&self, name: &str) -> io::Result<()> {
        let dir = parent(name);
        if dir.is_empty() || self.dirs.contains(dir) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{dir}: no such directory"),
            ))
        }
    }
}

/// An in-memory disk with fault injection and crash simulation; see the
/// module documentation. Cloning gives another handle on the same disk.
///
/// ```
/// use rollcall_engine::{Batch, Crash, FaultyDisk, Options, State, Store, Timestamp};
/// let disk = FaultyDisk::new();
/// let mut store = Store::create_on(&disk, Options::default())?;
/// let mut batch = Batch::new();
/// batch.push_transition(Timestamp(1), "PC-1", "production", State::Failed, None)?;
/// store.append(&batch)?;
/// drop(store);
/// disk.crash(Crash::LoseUnsynced);
/// let store = Store::open_on(&disk, Options::default())?;
/// assert_eq!(store.snapshot().stats().transitions, 1);
/// # Ok::<(), rollcall_engine::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct FaultyDisk {
    state: Arc<Mutex<DiskState>>,
}

impl fmt::Debug for FaultyDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("FaultyDisk")
            .field("files", &s.names.len())
            .field("epoch", &s.epoch)
            .finish()
    }
}

impl FaultyDisk {
    /// An empty disk.
    pub fn new() -> FaultyDisk {
        FaultyDisk::default()
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A storage handle for the current "process".
    pub(crate) fn handle(&self) -> Arc<dyn Storage> {
        let epoch = self.lock().epoch;
        Arc::new(MemStorage {
            disk: self.clone(),
            epoch,
            root: PathBuf::from("faulty-disk"),
        })
    }

    /// Arms a fault (replacing any armed one).
    pub fn arm(&self, fault: Fault) {
        self.lock().fault = Some((fault, 0, false));
    }

    /// Removes the armed fault.
    pub fn disarm(&self) {
        self.lock().fault = None;
    }

    /// True when the armed fault has fired.
    pub fn fault_fired(&self) -> bool {
        self.lock().fault.is_some_and(|(_, _, fired)| fired)
    }

    /// Every mutating operation so far, with the file it touched.
    pub fn ops(&self) -> Vec<(DiskOp, String)> {
        self.lock().trace.clone()
    }

    /// Number of mutating operations so far.
    pub fn op_count(&self) -> u64 {
        self.lock().trace.len() as u64
    }

    /// Simulates a power cut: keeps what `mode` says survives, releases the
    /// store lock, and makes every handle of the running process fail.
    pub fn crash(&self, mode: Crash) {
        let mut s = self.lock();
        s.epoch += 1;
        s.locks.clear();
        s.fault = None;
        if mode != Crash::KeepWritten {
            s.names = s.durable_names.clone();
            for inode in s.inodes.values_mut() {
                let keep = match mode {
                    Crash::Torn { keep } if inode.written.starts_with(&inode.durable) => {
                        keep.min(inode.written.len() - inode.durable.len())
                    }
                    _ => 0,
                };
                let mut content = inode.durable.clone();
                content.extend_from_slice(&inode.written[inode.durable.len()..][..keep]);
                inode.written = content;
            }
        }
        for inode in s.inodes.values_mut() {
            inode.durable = inode.written.clone();
        }
        s.durable_names = s.names.clone();
        let live: HashSet<u64> = s.names.values().copied().collect();
        s.inodes.retain(|ino, _| live.contains(ino));
    }

    /// An independent copy of the disk as a crash would leave it under
    /// `mode`, without touching this one (its handles stay alive).
    pub fn fork(&self, mode: Crash) -> FaultyDisk {
        let s = self.lock();
        let copy = DiskState {
            epoch: 0,
            next_ino: s.next_ino,
            inodes: s.inodes.clone(),
            names: s.names.clone(),
            durable_names: s.durable_names.clone(),
            dirs: s.dirs.clone(),
            locks: HashMap::new(),
            fault: None,
            trace: Vec::new(),
        };
        drop(s);
        let disk = FaultyDisk {
            state: Arc::new(Mutex::new(copy)),
        };
        disk.crash(mode);
        disk
    }

    /// Names of every file, sorted.
    pub fn files(&self) -> Vec<String> {
        self.lock().names.keys().cloned().collect()
    }

    /// The written content of a file.
    pub fn read_file(&self, name: &str) -> Option<Vec<u8>> {
        let s = self.lock();
        let ino = s.names.get(name)?;
        s.inodes.get(ino).map(|i| i.written.clone())
    }

    /// Replaces a file's content, durably (outside interference; not counted).
    pub fn write_file(&self, name: &str, bytes: &[u8]) {
        let mut s = self.lock();
        let ino = match s.names.get(name) {
            Some(&ino) => ino,
            None => {
                let ino = s.new_inode();
                s.names.insert(name.to_owned(), ino);
                s.durable_names.insert(name.to_owned(), ino);
                ino
            }
        };
        if let Some(inode) = s.inodes.get_mut(&ino) {
            inode.written = bytes.to_vec();
            inode.durable = bytes.to_vec();
        }
    }

    /// Flips one bit of a file in both images (simulated media damage).
    /// Returns false when the file or offset does not exist.
    pub fn flip_bit(&self, name: &str, offset: u64, bit: u8) -> bool {
        let Some(mut bytes) = self.read_file(name) else {
            return false;
        };
        let Some(b) = usize::try_from(offset).ok().and_then(|o| bytes.get_mut(o)) else {
            return false;
        };
        *b ^= 1 << (bit % 8);
        self.write_file(name, &bytes);
        true
    }

    /// Cuts a file to `len` bytes in both images (outside interference).
    pub fn truncate_file(&self, name: &str, len: u64) -> bool {
        let Some(mut bytes) = self.read_file(name) else {
            return false;
        };
        bytes.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        self.write_file(name, &bytes);
        true
    }

    /// Removes a file from both images (outside interference).
    pub fn remove_file(&self, name: &str) -> bool {
        let mut s = self.lock();
        s.durable_names.remove(name);
        s.names.remove(name).is_some()
    }
}

/// One process's view of a [`FaultyDisk`].
#[derive(Debug)]
struct MemStorage {
    disk: FaultyDisk,
    epoch: u64,
    root: PathBuf,
}

fn gone() -> io::Error {
    io::Error::other("simulated process crashed; reopen the store")
}

impl MemStorage {
    fn state(&self) -> io::Result<MutexGuard<'_, DiskState>> {
        let s = self.disk.lock();
        if s.epoch != self.epoch {
            return Err(gone());
        }
        Ok(s)
    }
}

#[derive(Debug)]
struct MemFile {
    disk: FaultyDisk,
    epoch: u64,
    ino: u64,
    name: String,
}

impl MemFile {
    fn state(&self) -> io::Result<MutexGuard<'_, DiskState>> {
        let s = self.disk.lock();
        if s.epoch != self.epoch {
            return Err(gone());
        }
        Ok(s)
    }
}

impl Write for MemFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.state()?;
        s.op(DiskOp::Write, &self.name)?;
        let inode = s.inodes.entry(self.ino).or_default();
        inode.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StorageFile for MemFile {
    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.state()?;
        s.op(DiskOp::Sync, &self.name)?;
        let inode = s.inodes.entry(self.ino).or_default();
        inode.durable = inode.written.clone();
        Ok(())
    }

    fn write_at_start(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.state()?;
        s.op(DiskOp::Write, &self.name)?;
        let inode = s.inodes.entry(self.ino).or_default();
        let Some(start) = inode.written.get_mut(..bytes.len()) else {
            return Err(io::Error::other("overwrite past the end of the file"));
        };
        start.copy_from_slice(bytes);
        Ok(())
    }
}

#[derive(Debug)]
struct MemLock {
    disk: FaultyDisk,
    epoch: u64,
    name: String,
}

impl LockGuard for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        let mut s = self.disk.lock();
        if s.epoch == self.epoch {
            s.locks.remove(&self.name);
        }
    }
}

impl Storage for MemStorage {
    fn root(&self) -> &Path {
        &self.root
    }

    fn create_root(&self) -> io::Result<()> {
        self.state().map(|_| ())
    }

    fn create_dir(&self, dir: &str) -> io::Result<()> {
        self.state()?.dirs.insert(dir.to_owned());
        Ok(())
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        Ok(self.state()?.names.contains_key(name))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let s = self.state()?;
        Ok(s.names
            .keys()
            .filter(|n| parent(n) == dir)
            .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
            .collect())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let mut s = self.state()?;
        s.check_dir(name)?;
        s.op(DiskOp::Create, name)?;
        let ino = s.new_inode();
        s.names.insert(name.to_owned(), ino);
        Ok(Box::new(MemFile {
            disk: self.disk.clone(),
            epoch: self.epoch,
            ino,
            name: name.to_owned(),
        }))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let s = self.state()?;
        let ino = s.ino(name)?;
        Ok(Box::new(MemFile {
            disk: self.disk.clone(),
            epoch: self.epoch,
            ino,
            name: name.to_owned(),
        }))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let s = self.state()?;
        let ino = s.ino(name)?;
        Ok(s.inodes.get(&ino).map(|i| i.written.clone()).unwrap_or_default())
    }

    fn map(&self, name: &str) -> io::Result<SharedBytes> {
        self.read(name).map(bytes::owned)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = self.state()?;
        let ino = s.ino(from)?;
        s.check_dir(to)?;
        s.op(DiskOp::Rename, from)?;
        s.names.remove(from);
        s.names.insert(to.to_owned(), ino);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut s = self.state()?;
        s.ino(name)?;
        s.op(DiskOp::Remove, name)?;
        s.names.remove(name);
        Ok(())
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut s = self.state()?;
        let ino = s.ino(name)?;
        s.op(DiskOp::Truncate, name)?;
        let inode = s.inodes.entry(ino).or_default();
        inode.written.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        inode.durable = inode.written.clone();
        Ok(())
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        let mut s = self.state()?;
        s.op(DiskOp::SyncDir, dir)?;
        let s = &mut *s;
        s.durable_names.retain(|n, _| parent(n) != dir);
        for (n, ino) in &s.names {
            if parent(n) == dir {
                s.durable_names.insert(n.clone(), *ino);
            }
        }
        Ok(())
    }

    fn lock(&self, name: &str) -> Result<Box<dyn LockGuard>, LockFailure> {
        let mut s = self.state().map_err(LockFailure::Io)?;
        if let Some(&pid) = s.locks.get(name) {
            return Err(LockFailure::Held(Some(pid)));
        }
        s.locks.insert(name.to_owned(), std::process::id());
        Ok(Box::new(MemLock {
            disk: self.disk.clone(),
            epoch: self.epoch,
            name: name.to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(st: &dyn Storage, name: &str, bytes: &[u8], sync: bool) {
        let mut f = st.create(name).unwrap();
        f.write_all(bytes).unwrap();
        if sync {
            f.sync().unwrap();
        }
    }

    #[test]
    fn crash_keeps_only_durable_state() {
        let disk = FaultyDisk::new();
        let st = disk.handle();
        st.create_dir("d").unwrap();
        write(&*st, "d/a", b"synced", true);
        st.sync_dir("d").unwrap();
        write(&*st, "d/b", b"not synced", true);
        let mut f = st.open_append("d/a").unwrap();
        f.write_all(b" tail").unwrap();
        disk.crash(Crash::LoseUnsynced);
        assert!(st.read("d/a").is_err(), "old handles die with the process");
        let st = disk.handle();
        assert_eq!(st.read("d/a").unwrap(), b"synced");
        assert!(!st.exists("d/b").unwrap(), "entry was never made durable");
    }

    #[test]
    fn torn_crash_keeps_a_prefix_of_unsynced_appends() {
        let disk = FaultyDisk::new();
        let st = disk.handle();
        write(&*st, "a", b"abc", true);
        st.sync_dir("").unwrap();
        let mut f = st.open_append("a").unwrap();
        f.write_all(b"defgh").unwrap();
        disk.crash(Crash::Torn { keep: 2 });
        assert_eq!(disk.handle().read("a").unwrap(), b"abcde");
    }

    #[test]
    fn rename_is_durable_only_after_dir_sync() {
        let disk = FaultyDisk::new();
        let st = disk.handle();
        write(&*st, "m", b"old", true);
        st.sync_dir("").unwrap();
        write(&*st, "m.tmp", b"new", true);
        st.rename("m.tmp", "m").unwrap();
        disk.crash(Crash::LoseUnsynced);
        let st = disk.handle();
        assert_eq!(st.read("m").unwrap(), b"old");
        write(&*st, "m.tmp", b"new", true);
        st.rename("m.tmp", "m").unwrap();
        st.sync_dir("").unwrap();
        disk.crash(Crash::LoseUnsynced);
        assert_eq!(disk.handle().read("m").unwrap(), b"new");
    }

    #[test]
    fn faults_fire_on_the_nth_matching_op() {
        let disk = FaultyDisk::new();
        let st = disk.handle();
        disk.arm(Fault::nth(DiskOp::Sync, 2).with(IoFault::Enospc));
        let mut f = st.create("x").unwrap();
        f.write_all(b"1").unwrap();
        f.sync().unwrap();
        f.write_all(b"2").unwrap();
        let err = f.sync().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(disk.fault_fired());
        f.sync().unwrap();
        disk.arm(Fault::nth_op(1).sticky());
        assert!(f.write_all(b"3").is_err());
        assert!(f.sync().is_err());
        disk.disarm();
        f.write_all(b"3").unwrap();
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_drops() {
        let disk = FaultyDisk::new();
        let st = disk.handle();
        let guard = st.lock("LOCK").unwrap();
        assert!(matches!(st.lock("LOCK"), Err(LockFailure::Held(Some(_)))));
        drop(guard);
        assert!(st.lock("LOCK").is_ok());
    }
}
