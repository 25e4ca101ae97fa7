//! Checkpoints: the state of every client for one deployment as of a time,
//! computed over the compacted base so that an as-of query reads one vector
//! plus the base transitions after it instead of the whole history.
//!
//! Invariant: a checkpoint at time `C` for deployment `d` equals the result of
//! replaying every *base* transition of `d` with `time <= C` in `(time, seq)`
//! order; it says nothing about delta runs (newer segments, the memtable),
//! whose rows all carry a greater `seq` than any base row.

use crate::model::{DeploymentId, Timestamp};

/// Marker for "no transition yet" in a state vector.
pub(crate) const NO_STATE: u8 = u8::MAX;

/// Per-client state and latest transition time for one deployment at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// The deployment it covers.
    pub deployment: DeploymentId,
    /// It includes every base transition with `time <= self.time`.
    pub time: Timestamp,
    /// State index per client id, [`NO_STATE`] when the client had none.
    pub states: Vec<u8>,
    /// Time of that state's transition per client (meaningless with `NO_STATE`).
    pub times: Vec<i64>,
}
