//! rollcall-engine: an embedded, durable store of per-client deployment
//! state transitions, and typed queries over it (SPEC.md sections 1 and 6).
//!
//! ```
//! use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};
//!
//! let dir = tempfile::tempdir()?;
//! let mut store = Store::create(dir.path(), Options::default())?;
//!
//! let mut batch = Batch::new();
//! batch.push_membership(Timestamp(0), "PC-1", "All Desktops", Change::Join)?;
//! batch.push_membership(Timestamp(0), "PC-2", "All Desktops", Change::Join)?;
//! batch.push_transition(Timestamp(1_000), "PC-1", "production", State::InProgress, None)?;
//! batch.push_transition(Timestamp(2_000), "PC-1", "production", State::Failed, Some(rollcall_engine::ErrorCode(0x80070005)))?;
//! store.append(&batch)?;
//!
//! let snap = store.snapshot();
//! let production = snap.deployment_id("production").unwrap();
//! let desktops = snap.collection_id("All Desktops");
//!
//! let counts = snap.state_counts(production, desktops, Timestamp(5_000), None)?;
//! assert_eq!(counts.get(State::Failed), 1);
//! assert_eq!(counts.get(State::NotStarted), 1);
//!
//! let per_second = snap.failure_histogram(production, desktops, Timestamp(0), Timestamp(3_000), 1_000)?;
//! assert_eq!(per_second, vec![(Timestamp(0), 0), (Timestamp(1_000), 0), (Timestamp(2_000), 1)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Embedding note: sealed files are read through memory maps, and the first
//! map installs a process-wide `SIGBUS` handler so that a file truncated by
//! another program turns into [`Error::Corrupt`] instead of killing the
//! process. It handles only faults inside the store's own maps and passes
//! every other `SIGBUS` to the handler that was installed before it. Set
//! [`Options::mmap`] to `false` to read files into memory instead (the
//! read-only open maps always).

#![forbid(unsafe_op_in_unsafe_fn)]

mod batch;
mod bytes;
mod checkpoint;
mod codec;
mod commits;
mod compaction;
mod dict;
mod dict_file;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod manifest;
mod members;
mod model;
mod rollup;
mod run;
mod segment;
mod snapshot;
mod storage;
mod store;
mod timefmt;
mod wal;

pub use batch::Batch;
pub use error::{Error, Result};
pub use model::{
    Change, ClientId, CollectionId, DeploymentId, ErrorCode, MembershipKey, MembershipRow, Seq, State,
    StateCounts, Timestamp, TransitionKey, TransitionRow, limits,
};
pub use snapshot::{
    ClientStateRow, DurationsReport, ErrorBucket, HistoryRow, MAX_POINTS, ProbeReport, Snapshot, StoreStats,
};
pub use storage::faulty::{Crash, DiskOp, Fault, FaultyDisk, IoFault};
pub use store::{
    AppendReport, ChangeMarker, CheckReport, CompactReport, Damage, MaintainReport, NameResolver, Options,
    Store, Transaction,
};
pub use timefmt::TimeParseError;
