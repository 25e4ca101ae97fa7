//! Compaction helpers that do not touch files: checkpoints over rows in base
//! order, computed either at once ([`checkpoints_over`], the reference) or
//! streaming ([`CheckpointBuilder`], what the store uses so that compaction
//! never holds every row).
//!
//! Invariant: a checkpoint at time `C` equals a replay of every base row with
//! `time <= C` in `(time, seq)` order; checkpoints are only placed between two
//! distinct times, never inside a group of equal times.

use std::sync::Arc;

use crate::checkpoint::{Checkpoint, NO_STATE};
use crate::model::{DeploymentId, Timestamp, TransitionRow};

/// Per-deployment, per-client state of a replay in `(time, seq)` order,
/// from which checkpoints are cut.
#[derive(Debug)]
pub(crate) struct CheckpointBuilder {
    states: Vec<Vec<u8>>,
    times: Vec<Vec<i64>>,
}

impl CheckpointBuilder {
    /// An empty replay over `clients` clients and `deployments` deployments.
    pub(crate) fn new(clients: usize, deployments: usize) -> CheckpointBuilder {
        CheckpointBuilder {
            states: vec![vec![NO_STATE; clients]; deployments],
            times: vec![vec![i64::MIN; clients]; deployments],
        }
    }

    /// Starts from the given checkpoints (one per deployment, all at the same
    /// time); deployments without one start empty.
    pub(crate) fn resume(&mut self, from: &[Arc<Checkpoint>]) {
        for cp in from {
            let d = cp.deployment.0 as usize;
            let (Some(states), Some(times)) = (self.states.get_mut(d), self.times.get_mut(d)) else {
                continue;
            };
            let k = states.len().min(cp.states.len()).min(cp.times.len());
            states[..k].copy_from_slice(&cp.states[..k]);
            times[..k].copy_from_slice(&cp.times[..k]);
        }
    }

    /// Replays rows that follow every row replayed so far in `(time, seq)` order.
    pub(crate) fn apply(&mut self, rows: &[TransitionRow]) {
        for r in rows {
            let d = r.deployment.0 as usize;
            let c = r.client.0 as usize;
            if let (Some(s), Some(t)) = (
                self.states.get_mut(d).and_then(|v| v.get_mut(c)),
                self.times.get_mut(d).and_then(|v| v.get_mut(c)),
            ) {
                *s = r.state as u8;
                *t = r.time.0;
            }
        }
    }

    /// One checkpoint per deployment at `at` (every row replayed so far must
    /// have `time <= at`, and every row replayed later `time > at`).
    pub(crate) fn emit(&self, at: Timestamp) -> Vec<Checkpoint> {
        (0..self.states.len())
            .map(|d| Checkpoint {
                deployment: DeploymentId(d as u32),
                time: at,
                states: self.states[d].clone(),
                times: self.times[d].clone(),
            })
            .collect()
    }
}

/// Checkpoints over `rows` (sorted by `(time, seq)`): one for every
/// deployment after roughly every `interval` rows, and one at the end.
#[cfg(test)]
pub(crate) fn checkpoints_over(
    rows: &[TransitionRow],
    clients: usize,
    deployments: usize,
    interval: usize,
) -> Vec<Checkpoint> {
    let interval = interval.max(1);
    let mut b = CheckpointBuilder::new(clients, deployments);
    let mut out = Vec::new();
    let mut since_last = 0usize;
    for (i, r) in rows.iter().enumerate() {
        b.apply(std::slice::from_ref(r));
        since_last += 1;
        let group_ends = rows.get(i + 1).is_none_or(|next| next.time > r.time);
        let is_last = i + 1 == rows.len();
        if group_ends && (since_last >= interval || is_last) {
            out.extend(b.emit(r.time));
            since_last = 0;
        }
    }
    out.sort_by_key(|c| (c.deployment, c.time));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientId, Seq, State};

    fn row(time: i64, seq: u64, client: u32, state: State) -> TransitionRow {
        TransitionRow {
            time: Timestamp(time),
            seq: Seq(seq),
            client: ClientId(client),
            deployment: DeploymentId(0),
            state,
            error: None,
        }
    }

    #[test]
    fn checkpoints_never_split_equal_times() {
        let rows = vec![
            row(1, 1, 0, State::InProgress),
            row(2, 2, 0, State::Failed),
            row(2, 3, 0, State::Compliant),
            row(3, 4, 1, State::Failed),
        ];
        let cps = checkpoints_over(&rows, 2, 1, 2);
        let times: Vec<i64> = cps.iter().map(|c| c.time.0).collect();
        assert_eq!(times, vec![2, 3]);
        assert_eq!(cps[0].states, vec![State::Compliant as u8, NO_STATE]);
        assert_eq!(cps[1].states, vec![State::Compliant as u8, State::Failed as u8]);
    }

    #[test]
    fn resuming_from_a_checkpoint_equals_replaying_from_the_start() {
        let rows = vec![
            row(1, 1, 0, State::InProgress),
            row(2, 2, 1, State::Failed),
            row(3, 3, 0, State::Compliant),
            row(4, 4, 1, State::Compliant),
        ];
        let full = checkpoints_over(&rows, 2, 1, 1);
        let mut b = CheckpointBuilder::new(2, 1);
        b.resume(&[Arc::new(full[1].clone())]);
        b.apply(&rows[2..]);
        assert_eq!(b.emit(Timestamp(4)), vec![full[3].clone()]);
    }

    #[test]
    fn no_rows_no_checkpoints() {
        assert!(checkpoints_over(&[], 3, 2, 10).is_empty());
    }
}
