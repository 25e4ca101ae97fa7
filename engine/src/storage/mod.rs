//! The storage seam: the only code in the engine that touches the file system.
//!
//! Everything above this module names files by their path *relative to the
//! store directory* (`MANIFEST`, `wal/000000000001.log`) and goes through a
//! [`Storage`]. Two backends exist:
//! * [`file::FileStorage`]: real files (`std::fs`), sealed files read through a
//!   read-only memory map guarded against truncation by other programs
//!   ([`guarded_map`], where the engine's `unsafe` lives) or `read`;
//! * [`faulty::FaultyDisk`]: an in-memory disk for tests that keeps a
//!   "written" and a "durable" image of every file and directory, fails
//!   chosen operations with `EIO`/`ENOSPC`, and "crashes".
//!
//! Invariants:
//! * nothing here decides *what* to write or when to sync; callers own the
//!   sync protocol (`docs/durability.md`);
//! * [`Storage::map`] is called only on sealed files: written to a temporary
//!   name, fsynced, renamed into place, and never modified again;
//! * directories are flat: a name has at most one `/`.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::bytes::SharedBytes;
use crate::error::Error;

pub(crate) mod faulty;
pub(crate) mod file;
#[cfg(unix)]
pub(crate) mod guarded_map;

/// A file opened for writing (appending at its end).
pub(crate) trait StorageFile: Write + Send + fmt::Debug {
    /// Flushes buffers and makes every byte written so far durable (`fsync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Overwrites the file's first `bytes.len()` bytes, which must already
    /// have been written (a header known only once the rest is); later
    /// writes still append at the end. Only for a file from
    /// [`Storage::create`] (one opened to append always writes at its end).
    fn write_at_start(&mut self, bytes: &[u8]) -> io::Result<()>;
}

/// Why the store lock could not be taken.
#[derive(Debug)]
pub(crate) enum LockFailure {
    /// Another process (or handle) holds it; its pid when the lock file names one.
    Held(Option<u32>),
    /// The lock file could not be opened or read.
    Io(io::Error),
}

/// A held store lock; dropping it releases the lock.
pub(crate) trait LockGuard: Send + Sync + fmt::Debug {}

/// The file-system operations the engine needs.
pub(crate) trait Storage: Send + Sync + fmt::Debug {
    /// The store directory (used in error messages).
    fn root(&self) -> &Path;

    /// Creates the store directory (and its parents) when missing, and makes
    /// its directory entry durable.
    fn create_root(&self) -> io::Result<()>;

    /// Creates a subdirectory when missing (its entry is made durable).
    fn create_dir(&self, dir: &str) -> io::Result<()>;

    /// True when `name` exists.
    fn exists(&self, name: &str) -> io::Result<bool>;

    /// Names of the files (not directories) directly in `dir` (`""` is the
    /// store directory); empty when `dir` does not exist.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;

    /// Creates `name`, truncating it when it exists.
    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;

    /// Opens an existing file for appending at its end.
    fn open_append(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;

    /// Reads a whole (possibly still growing) file into memory.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;

    /// Bytes of a sealed file: a read-only map, or an owned copy.
    fn map(&self, name: &str) -> io::Result<SharedBytes>;

    /// Renames `from` to `to`, replacing `to` (atomic on POSIX file systems).
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;

    /// Removes a file.
    fn remove(&self, name: &str) -> io::Result<()>;

    /// Cuts a file to `len` bytes and makes the new length durable.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;

    /// Makes the entries of a directory (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &str) -> io::Result<()>;

    /// Takes the store's exclusive writer lock held in file `name`.
    fn lock(&self, name: &str) -> Result<Box<dyn LockGuard>, LockFailure>;

    /// The full path of `name`, for messages.
    fn path(&self, name: &str) -> PathBuf {
        if name.is_empty() {
            self.root().to_path_buf()
        } else {
            self.root().join(name)
        }
    }
}

/// Wraps an I/O failure on `name` into the engine error.
pub(crate) fn io_err(storage: &dyn Storage, op: &'static str, name: &str, e: io::Error) -> Error {
    Error::io(op, storage.path(name), e)
}

/// The parent directory of a relative name (`""` for the store directory).
pub(crate) fn parent(name: &str) -> &str {
    match name.rfind('/') {
        Some(i) => &name[..i],
        None => "",
    }
}

/// True when `e` says the file does not exist.
pub(crate) fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// Writes `bytes` to a new file under a temporary name, fsyncs it, renames it
/// to `name` and fsyncs the directory: afterwards `name` holds exactly
/// `bytes`, durably, or (on error) is untouched.
pub(crate) fn write_sealed(storage: &dyn Storage, name: &str, bytes: &[u8]) -> crate::error::Result<()> {
    let tmp = format!("{name}.tmp");
    let mut f = storage
        .create(&tmp)
        .map_err(|e| io_err(storage, "create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| io_err(storage, "write", &tmp, e))?;
    f.sync().map_err(|e| io_err(storage, "fsync", &tmp, e))?;
    drop(f);
    seal(storage, &tmp, name)
}

/// Renames a fully written and fsynced temporary file into place and fsyncs
/// the directory.
pub(crate) fn seal(storage: &dyn Storage, tmp: &str, name: &str) -> crate::error::Result<()> {
    storage
        .rename(tmp, name)
        .map_err(|e| io_err(storage, "rename", tmp, e))?;
    let dir = parent(name);
    storage
        .sync_dir(dir)
        .map_err(|e| io_err(storage, "fsync directory", dir, e))
}
