//! Compaction planning helpers that do not touch files: merging rows into the
//! base order and computing checkpoints over it.
//!
//! Invariant: [`checkpoints_over`] returns, for each deployment, checkpoints
//! whose vectors equal a replay of `rows[..=i]` where `i` is the last row with
//! `time <= checkpoint.time` — it only places a checkpoint between two
//! distinct times, never inside a group of equal times.

use crate::checkpoint::{Checkpoint, NO_STATE};
use crate::model::{DeploymentId, Timestamp, TransitionRow};

/// Checkpoints over `rows` (sorted by `(time, seq)`): one for every
/// deployment after roughly every `interval` rows, and one at the end.
pub(crate) fn checkpoints_over(
    rows: &[TransitionRow],
    clients: usize,
    deployments: usize,
    interval: usize,
) -> Vec<Checkpoint> {
    let interval = interval.max(1);
    let mut states = vec![vec![NO_STATE; clients]; deployments];
    let mut times = vec![vec![i64::MIN; clients]; deployments];
    let mut out = Vec::new();
    let mut since_last = 0usize;
    let emit = |out: &mut Vec<Checkpoint>, at: Timestamp, states: &[Vec<u8>], times: &[Vec<i64>]| {
        for d in 0..deployments {
            out.push(Checkpoint {
                deployment: DeploymentId(d as u32),
                time: at,
                states: states[d].clone(),
                times: times[d].clone(),
            });
        }
    };
    for (i, r) in rows.iter().enumerate() {
        let d = r.deployment.0 as usize;
        let c = r.client.0 as usize;
        if d < deployments && c < clients {
            states[d][c] = r.state as u8;
            times[d][c] = r.time.0;
        }
        since_last += 1;
        let group_ends = rows.get(i + 1).is_none_or(|next| next.time > r.time);
        let is_last = i + 1 == rows.len();
        if group_ends && (since_last >= interval || is_last) {
            emit(&mut out, r.time, &states, &times);
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
    fn no_rows_no_checkpoints() {
        assert!(checkpoints_over(&[], 3, 2, 10).is_empty());
    }
}
