//! The engine's one error type. Every variant carries the context a person
//! needs to act: the operation and path for I/O, the file and byte offset for
//! damage.

use std::path::PathBuf;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `write`, `fsync`, `rename`...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes failed validation (checksum, bounds, structure).
    #[error("corrupt {file} at offset {offset}: {what}")]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged record or block.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// A file was written by a newer (or unknown) format version.
    #[error("{file} has format version {found}, this build reads up to {supported}; upgrade rollcall")]
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// Another process holds the store's write lock.
    #[error("store {path} is locked by another writer{holder}; wait for it to finish or open read-only")]
    Locked {
        /// The store directory.
        path: PathBuf,
        /// `" (pid N)"` when the lock file names its holder, else empty.
        holder: String,
    },
    /// No store exists at the path.
    #[error("no rollcall store at {0}")]
    NotFound(PathBuf),
    /// A store already exists where a new one was to be created.
    #[error("a rollcall store already exists at {0}")]
    AlreadyExists(PathBuf),
    /// A write failed earlier (for example an fsync); the store refuses further
    /// writes until reopened, because it cannot prove what reached the disk.
    #[error("store is read-only after an earlier write failure ({0}); reopen it to recover")]
    Poisoned(String),
    /// A transaction hit an error earlier (for example while checking a row
    /// against a damaged segment) and can only be dropped.
    #[error("transaction abandoned after an earlier error ({0}); start a new one")]
    Aborted(String),
    /// A write was attempted through a read-only handle.
    #[error("store was opened read-only")]
    ReadOnly,
    /// An input value breaks a rule of SPEC.md (name length, range...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A query was cancelled through its cancel flag.
    #[error("query cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(file: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Error {
        Error::Corrupt {
            file: file.into(),
            offset,
            what: what.into(),
        }
    }

    /// True when the error reports damaged or unreadable stored data.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::UnsupportedVersion { .. })
    }
}
