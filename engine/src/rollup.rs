//! Hourly failure counts over the compacted base: the failures-only index
//! that answers `FAILURES ... EVERY <whole hours>` without touching rows.
//!
//! A [`FailureRollup`] holds, per deployment and UTC hour, the number of
//! base `Failed` transitions: in all, per collection (counting a failure in a
//! collection when its client was a member at the failure's time, exactly as
//! `Snapshot::sweep_with_membership` judges it), and per error code.
//!
//! Invariants:
//! * it covers the *base* runs only (their failures and their membership
//!   changes); rows in delta runs are added by the query from the runs
//!   themselves;
//! * per-collection counts are only valid while no delta run holds
//!   membership changes (a late join or leave may change membership at a base
//!   failure's time); the query checks this and falls back to the sweep;
//! * it is derived data: compaction computes it and stores it in the
//!   checkpoint file (format version 2); for older files it is built from
//!   the base on first use. Either way it lives as long as the base it
//!   describes ([`BaseCache`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::checkpoint::CheckpointSet;
use crate::error::Result;
use crate::model::{Change, CollectionId, DeploymentId, ErrorCode, MembershipRow, Timestamp, TransitionRow};
use crate::run::Run;

/// One hour in milliseconds: the rollup's bucket width.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Derived data of one compacted base, shared by every snapshot of it and
/// rebuilt lazily after the next compaction.
#[derive(Debug, Default)]
pub(crate) struct BaseCache {
    rollup: OnceLock<Arc<FailureRollup>>,
}

impl BaseCache {
    /// The rollup of `base`, built on first use (`clients`, `collections`:
    /// dictionary sizes when the base was compacted or later).
    /// The one stored in the checkpoint file is used when there is one
    /// (files written since format version 2).
    pub(crate) fn rollup(
        &self,
        stored: Option<&CheckpointSet>,
        base: &[Arc<dyn Run>],
        clients: usize,
        collections: usize,
    ) -> Result<Arc<FailureRollup>> {
        if let Some(r) = self.rollup.get() {
            return Ok(Arc::clone(r));
        }
        let built = match stored.map(CheckpointSet::rollup).transpose()?.flatten() {
            Some(r) => Arc::new(r),
            None => Arc::new(FailureRollup::build(base, clients, collections)?),
        };
        // Another thread may have won the race; both built the same thing.
        Ok(Arc::clone(self.rollup.get_or_init(|| built)))
    }
}

/// Hourly failure counts of one deployment.
#[derive(Debug, Default, PartialEq, Eq)]
struct DeploymentRollup {
    /// Hour index (`time.div_euclid(HOUR_MS)`) of `all[0]`.
    first_hour: i64,
    /// Failures per hour.
    all: Vec<u64>,
    /// Per collection id: failures per hour of members (empty when none).
    by_collection: Vec<Vec<u64>>,
    /// Per hour: `(error, failures)`, sorted by error.
    by_error: Vec<Vec<(Option<ErrorCode>, u64)>>,
}

impl DeploymentRollup {
    /// Hourly cells held: hours spanned x (collections + 1).
    fn cells(&self) -> u64 {
        (self.all.len() as u64).saturating_mul(self.by_collection.len() as u64 + 1)
    }
}

/// Hourly failure counts over a compacted base, per deployment.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FailureRollup {
    deployments: HashMap<DeploymentId, DeploymentRollup>,
    /// Not built: the base's failures are too sparse over their time span
    /// for hourly series (see [`CELL_BUDGET`]); queries sweep the rows.
    sparse: bool,
}

/// How many hourly cells (hours spanned x (collections + 1), summed over
/// deployments) a rollup may hold beyond four per failure. A few rows at
/// far-off times (year 0000 and 9999, a time in epoch microseconds) span
/// millions of hours: past this the rollup is not built at all, so neither
/// compaction, nor the checkpoint file it is stored in, nor a query grows
/// with the time span instead of the data. Each cell is stored as 8 bytes,
/// so a store with few failures spends at most 2 MiB on its rollup (about
/// 30 years of hours for one deployment without collections).
pub(crate) const CELL_BUDGET: u64 = 1 << 18;

/// The replay of [`FailureRollup::build_from`]: failures in `(time, seq)`
/// order, each counted for its hour, its error and every collection its
/// client is a member of at its time (the membership changes up to it
/// applied first).
struct FailureCounter {
    out: FailureRollup,
    collections: usize,
    /// Bit sets of `words` u64s per client: its collections now.
    words: usize,
    member: Vec<u64>,
    /// Membership changes in `(time, seq)` order, applied up to `next`.
    changes: Vec<MembershipRow>,
    next: usize,
}

impl FailureCounter {
    fn add(&mut self, r: &TransitionRow) {
        let (collections, words) = (self.collections, self.words);
        while let Some(m) = self.changes.get(self.next).filter(|m| m.time <= r.time) {
            let (c, k) = (m.client.0 as usize, m.collection.0 as usize);
            if k < collections
                && let Some(w) = self.member.get_mut(c * words + k / 64)
            {
                match m.change {
                    Change::Join => *w |= 1 << (k % 64),
                    Change::Leave => *w &= !(1 << (k % 64)),
                }
            }
            self.next += 1;
        }
        let d = self
            .out
            .deployments
            .entry(r.deployment)
            .or_insert_with(|| DeploymentRollup {
                first_hour: r.time.0.div_euclid(HOUR_MS),
                by_collection: vec![Vec::new(); collections],
                ..DeploymentRollup::default()
            });
        // Failures come in time order, so hours only grow.
        let h = (r.time.0.div_euclid(HOUR_MS) - d.first_hour) as usize;
        if d.all.len() <= h {
            d.all.resize(h + 1, 0);
            d.by_error.resize_with(h + 1, Vec::new);
        }
        d.all[h] += 1;
        let errors = &mut d.by_error[h];
        match errors.binary_search_by(|(e, _)| e.cmp(&r.error)) {
            Ok(i) => errors[i].1 += 1,
            Err(i) => errors.insert(i, (r.error, 1)),
        }
        let c = r.client.0 as usize;
        for (wi, &bits) in self
            .member
            .get(c * words..(c + 1) * words)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let mut bits = bits;
            while bits != 0 {
                let k = wi * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(series) = d.by_collection.get_mut(k) {
                    if series.len() <= h {
                        series.resize(h + 1, 0);
                    }
                    series[h] += 1;
                }
            }
        }
    }
}

impl FailureRollup {
    /// Replays every base failure against every base membership change, in
    /// time order.
    pub(crate) fn build(base: &[Arc<dyn Run>], clients: usize, collections: usize) -> Result<FailureRollup> {
        FailureRollup::build_from(base, clients, collections, i64::MIN, None)
    }

    /// [`Self::build`] for the hours from `from_hour` on only (the part a
    /// compaction adds to a checkpoint chain): the failures from then on,
    /// against who was a member when the first of them happened and the
    /// membership changes after. With `prior` (checkpoints whose membership
    /// snapshots before that hour are valid for `base`), each collection's
    /// members at the start come from its latest snapshot plus the changes
    /// after it, so the cost follows the new rows, not the history.
    pub(crate) fn build_from(
        base: &[Arc<dyn Run>],
        clients: usize,
        collections: usize,
        from_hour: i64,
        prior: Option<&CheckpointSet>,
    ) -> Result<FailureRollup> {
        let from = Timestamp(from_hour.saturating_mul(HOUR_MS));
        // First pass: the hours spanned, and whether the runs' failures come
        // in `(time, seq)` order one run after another (a compacted base's
        // transition segments are disjoint in time), so that the second pass
        // can stream them instead of holding them all.
        let mut spans: HashMap<DeploymentId, (i64, i64)> = HashMap::new();
        let (mut count, mut in_order, mut last) = (0u64, true, None);
        for run in base {
            run.scan_failures(from, Timestamp::MAX, &mut |rows| {
                for r in rows {
                    let h = r.time.0.div_euclid(HOUR_MS);
                    let span = spans.entry(r.deployment).or_insert((h, h));
                    span.0 = span.0.min(h);
                    span.1 = span.1.max(h);
                    in_order &= last < Some((r.time, r.seq));
                    last = Some((r.time, r.seq));
                }
                count += rows.len() as u64;
                Ok(())
            })?;
        }
        // Dense hourly series only while they stay proportionate to the data.
        let cells = spans.values().fold(0u64, |sum, (first, last)| {
            let hours = u64::try_from(i128::from(*last) - i128::from(*first) + 1).unwrap_or(u64::MAX);
            sum.saturating_add(hours.saturating_mul(collections as u64 + 1))
        });
        if cells > CELL_BUDGET.max(count.saturating_mul(4)) {
            return Ok(FailureRollup::too_sparse());
        }
        // Per client, the collections it is a member of at `from` (a bit set
        // of `words` u64s per client), and the changes from `from` on.
        let words = collections.div_ceil(64).max(1);
        let mut member = vec![0u64; clients.saturating_mul(words)];
        let mut changes: Vec<MembershipRow> = Vec::new();
        let with_changes: Vec<&Arc<dyn Run>> = base.iter().filter(|r| r.membership_count() > 0).collect();
        let mut log: Vec<MembershipRow> = Vec::new();
        let mut set: Vec<u64> = Vec::new();
        for k in 0..collections {
            let collection = CollectionId(k as u32);
            let start = crate::members::MemberStart {
                runs: &with_changes,
                collection,
                clients,
            };
            start.load(prior.map(|set| (set, from)), &mut set, &mut log)?;
            let split = log.partition_point(|r| r.time < from);
            for r in &log[..split] {
                crate::members::apply_change(&mut set, r);
            }
            changes.extend_from_slice(&log[split..]);
            for (wi, &bits) in set.iter().enumerate() {
                let mut bits = bits;
                while bits != 0 {
                    let c = wi * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(w) = member.get_mut(c * words + k / 64) {
                        *w |= 1 << (k % 64);
                    }
                }
            }
        }
        changes.sort_unstable_by_key(|r| (r.time, r.seq));
        let mut counter = FailureCounter {
            out: FailureRollup::default(),
            collections,
            words,
            member,
            changes,
            next: 0,
        };
        // Second pass: in order, straight from the runs; otherwise gathered
        // and sorted first.
        if in_order {
            for run in base {
                run.scan_failures(from, Timestamp::MAX, &mut |rows| {
                    rows.iter().for_each(|r| counter.add(r));
                    Ok(())
                })?;
            }
        } else {
            let mut failures: Vec<TransitionRow> = Vec::new();
            for run in base {
                run.scan_failures(from, Timestamp::MAX, &mut |rows| {
                    failures.extend_from_slice(rows);
                    Ok(())
                })?;
            }
            failures.sort_unstable_by_key(|r| (r.time, r.seq));
            failures.iter().for_each(|r| counter.add(r));
        }
        Ok(counter.out)
    }

    /// The rollup of a base too sparse for hourly series (not built).
    pub(crate) fn too_sparse() -> FailureRollup {
        FailureRollup {
            sparse: true,
            ..FailureRollup::default()
        }
    }

    /// False when the rollup was not built (too sparse): ask the rows.
    pub(crate) fn is_usable(&self) -> bool {
        !self.sparse
    }

    /// Hourly cells held over all deployments.
    fn cells(&self) -> u64 {
        self.deployments
            .values()
            .map(DeploymentRollup::cells)
            .fold(0, u64::saturating_add)
    }

    /// Failures counted over all deployments (saturating: a damaged file's
    /// counts can be anything).
    fn failures(&self) -> u64 {
        self.deployments
            .values()
            .flat_map(|d| d.all.iter())
            .fold(0, |a, &n| a.saturating_add(n))
    }

    /// Adds `part`'s counts of the hours before `until_hour` (a later part
    /// of a checkpoint chain counts the hours from there on). A sparse part
    /// makes the whole sparse; so does a sum past the cell budget.
    pub(crate) fn add_part(&mut self, part: &FailureRollup, until_hour: i64) {
        if part.sparse || self.sparse {
            *self = FailureRollup::too_sparse();
            return;
        }
        // Widening series to span both parts must stay within the cell
        // budget: four per failure, as for one part, but also at most twice
        // the cells both parts already hold (plus the fixed budget). The
        // counts and first hours of a damaged file can be anything; the
        // cells held were paid for by bytes read.
        let held = self.cells().saturating_add(part.cells());
        let budget = i128::from(
            CELL_BUDGET
                .max(self.failures().saturating_add(part.failures()).saturating_mul(4))
                .min(CELL_BUDGET.saturating_add(held.saturating_mul(2))),
        );
        // The cells `self` holds as deployments are widened one by one.
        let mut total = i128::from(self.cells());
        let mut ids: Vec<&DeploymentId> = part.deployments.keys().collect();
        ids.sort();
        for &id in ids {
            let p = &part.deployments[&id];
            let end = p.first_hour.saturating_add(p.all.len() as i64).min(until_hour);
            if end <= p.first_hour {
                continue;
            }
            let (lo, hi) = match self.deployments.get(&id).filter(|d| !d.all.is_empty()) {
                Some(d) => (
                    d.first_hour.min(p.first_hour),
                    (d.first_hour.saturating_add(d.all.len() as i64)).max(end),
                ),
                None => (p.first_hour, end),
            };
            let width = (p.by_collection.len() as i128 + 1).max(
                self.deployments
                    .get(&id)
                    .map_or(1, |d| d.by_collection.len() as i128 + 1),
            );
            let before = self.deployments.get(&id).map_or(0, |d| i128::from(d.cells()));
            total += (i128::from(hi) - i128::from(lo)).saturating_mul(width) - before;
            if total > budget {
                *self = FailureRollup::too_sparse();
                return;
            }
            let d = self.deployments.entry(id).or_insert_with(|| DeploymentRollup {
                first_hour: p.first_hour,
                ..DeploymentRollup::default()
            });
            // Widen `d` to cover `[min first, max end)`.
            if d.all.is_empty() {
                d.first_hour = p.first_hour;
            }
            if p.first_hour < d.first_hour {
                let shift = (d.first_hour - p.first_hour) as usize;
                d.all.splice(0..0, std::iter::repeat_n(0, shift));
                d.by_error.splice(0..0, std::iter::repeat_n(Vec::new(), shift));
                for series in d.by_collection.iter_mut().filter(|s| !s.is_empty()) {
                    series.splice(0..0, std::iter::repeat_n(0, shift));
                }
                d.first_hour = p.first_hour;
            }
            let len = (end - d.first_hour) as usize;
            if d.all.len() < len {
                d.all.resize(len, 0);
                d.by_error.resize_with(len, Vec::new);
            }
            if d.by_collection.len() < p.by_collection.len() {
                d.by_collection.resize(p.by_collection.len(), Vec::new());
            }
            let offset = (p.first_hour - d.first_hour) as usize;
            let hours = (end - p.first_hour) as usize;
            for (i, &n) in p.all.iter().take(hours).enumerate() {
                d.all[offset + i] = d.all[offset + i].saturating_add(n);
            }
            for (i, pairs) in p.by_error.iter().take(hours).enumerate() {
                let errors = &mut d.by_error[offset + i];
                for &(error, n) in pairs {
                    match errors.binary_search_by(|(e, _)| e.cmp(&error)) {
                        Ok(j) => errors[j].1 = errors[j].1.saturating_add(n),
                        Err(j) => errors.insert(j, (error, n)),
                    }
                }
            }
            for (k, series) in p.by_collection.iter().enumerate() {
                let take = series.len().min(hours);
                if take == 0 {
                    continue;
                }
                let target = &mut d.by_collection[k];
                if target.len() < offset + take {
                    target.resize(offset + take, 0);
                }
                for (i, &n) in series.iter().take(take).enumerate() {
                    target[offset + i] = target[offset + i].saturating_add(n);
                }
            }
        }
        if self.cells() > CELL_BUDGET.max(self.failures().saturating_mul(4)) {
            *self = FailureRollup::too_sparse();
        }
    }

    /// Base failures of `deployment` in the hours `[from_hour, to_hour)`,
    /// added into `counts[bucket(hour)]` (hours ascending; `bucket` maps an
    /// hour number to its slot); members of `collection` only when one is
    /// given.
    pub(crate) fn add_counts(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from_hour: i64,
        to_hour: i64,
        mut bucket: impl FnMut(i64) -> usize,
        counts: &mut [u64],
    ) {
        let Some(d) = self.deployments.get(&deployment) else {
            return;
        };
        let series: &[u64] = match collection {
            None => &d.all,
            Some(c) => d.by_collection.get(c.0 as usize).map_or(&[], Vec::as_slice),
        };
        for_hours(d.first_hour, series.len(), from_hour, to_hour, |i, hour| {
            if let Some(&n) = series.get(i)
                && let Some(slot) = counts.get_mut(bucket(hour))
            {
                *slot = slot.saturating_add(n);
            }
        });
    }

    /// Like [`Self::add_counts`] without a collection, split by error code:
    /// adds into `counts[(bucket(hour), error)]`.
    pub(crate) fn add_error_counts(
        &self,
        deployment: DeploymentId,
        from_hour: i64,
        to_hour: i64,
        mut bucket: impl FnMut(i64) -> usize,
        counts: &mut HashMap<(usize, Option<ErrorCode>), u64>,
    ) {
        let Some(d) = self.deployments.get(&deployment) else {
            return;
        };
        for_hours(d.first_hour, d.by_error.len(), from_hour, to_hour, |i, hour| {
            let pairs = d.by_error.get(i).map_or(&[][..], Vec::as_slice);
            if pairs.is_empty() {
                return;
            }
            let k = bucket(hour);
            for &(error, n) in pairs {
                let slot = counts.entry((k, error)).or_default();
                *slot = slot.saturating_add(n);
            }
        });
    }
}

// ----- stored form ---------------------------------------------------------------
//
// One record per deployment in the checkpoint file (kind 2; see
// docs/format.md, "Checkpoint files"): the record header's `time` is the
// first hour, its `clients` field the number of collections; the body is
//
//   hours u32, all[hours] u64,
//   per collection: len u32 (<= hours), series[len] u64,
//   pairs u32, pairs x (hour u32, error u64 (0 = none, else code + 1), failures u64)
//
// all little-endian, fixed width: every count the decoder reads is bounded by
// the body's length before anything is allocated for it.

/// One deployment's rollup, as stored.
pub(crate) struct StoredRollup {
    pub deployment: DeploymentId,
    pub first_hour: i64,
    pub collections: u32,
    pub body: Vec<u8>,
}

impl FailureRollup {
    /// The records that store this rollup (one per deployment, by id).
    pub(crate) fn encode(&self) -> Vec<StoredRollup> {
        let mut ids: Vec<&DeploymentId> = self.deployments.keys().collect();
        ids.sort();
        ids.into_iter()
            .map(|&deployment| {
                let d = &self.deployments[&deployment];
                let mut body = Vec::new();
                body.extend_from_slice(&(d.all.len() as u32).to_le_bytes());
                for v in &d.all {
                    body.extend_from_slice(&v.to_le_bytes());
                }
                for series in &d.by_collection {
                    body.extend_from_slice(&(series.len() as u32).to_le_bytes());
                    for v in series {
                        body.extend_from_slice(&v.to_le_bytes());
                    }
                }
                let pairs: usize = d.by_error.iter().map(Vec::len).sum();
                body.extend_from_slice(&(pairs as u32).to_le_bytes());
                for (h, errors) in d.by_error.iter().enumerate() {
                    for &(error, n) in errors {
                        body.extend_from_slice(&(h as u32).to_le_bytes());
                        body.extend_from_slice(&error.map_or(0, |e| u64::from(e.0) + 1).to_le_bytes());
                        body.extend_from_slice(&n.to_le_bytes());
                    }
                }
                StoredRollup {
                    deployment,
                    first_hour: d.first_hour,
                    collections: d.by_collection.len() as u32,
                    body,
                }
            })
            .collect()
    }

    /// Rebuilds a rollup from its stored records; the error says what is
    /// wrong with which part.
    pub(crate) fn decode(records: &[StoredRollup]) -> std::result::Result<FailureRollup, &'static str> {
        let mut out = FailureRollup::default();
        for r in records {
            let mut at = 0usize;
            let body = &r.body[..];
            let u32_at = |at: &mut usize| -> std::result::Result<u32, &'static str> {
                let b = body.get(*at..*at + 4).ok_or("rollup cut short")?;
                *at += 4;
                Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            };
            let u64s = |at: &mut usize, n: usize| -> std::result::Result<Vec<u64>, &'static str> {
                let len = n.checked_mul(8).ok_or("rollup length overflows")?;
                let end = at.checked_add(len).ok_or("rollup length overflows")?;
                let b = body.get(*at..end).ok_or("rollup series longer than its record")?;
                *at = end;
                Ok(b.chunks_exact(8)
                    .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect())
            };
            let hours = u32_at(&mut at)? as usize;
            let all = u64s(&mut at, hours)?;
            // Each collection takes at least its 4-byte length.
            if r.collections as usize > body.len().saturating_sub(at) / 4 {
                return Err("more collections than the rollup record can hold");
            }
            let mut by_collection = Vec::with_capacity(r.collections as usize);
            for _ in 0..r.collections {
                let len = u32_at(&mut at)? as usize;
                if len > hours {
                    return Err("a collection series is longer than the rollup");
                }
                by_collection.push(u64s(&mut at, len)?);
            }
            let pairs = u32_at(&mut at)? as usize;
            if pairs > body.len().saturating_sub(at) / 20 {
                return Err("more error counts than the rollup record can hold");
            }
            let mut by_error: Vec<Vec<(Option<ErrorCode>, u64)>> = vec![Vec::new(); hours];
            let mut last: Option<(u32, u64)> = None;
            for _ in 0..pairs {
                let h = u32_at(&mut at)?;
                let code = u64s(&mut at, 2)?;
                let (e, n) = (code[0], code[1]);
                if last.is_some_and(|l| l >= (h, e)) || h as usize >= hours || e > u64::from(u32::MAX) + 1 {
                    return Err("rollup error counts out of order or range");
                }
                last = Some((h, e));
                let error = e.checked_sub(1).map(|e| ErrorCode(e as u32));
                by_error[h as usize].push((error, n));
            }
            if at != body.len() {
                return Err("bytes left after the rollup");
            }
            if r.first_hour.checked_add(hours as i64).is_none() {
                return Err("rollup hours out of range");
            }
            let d = DeploymentRollup {
                first_hour: r.first_hour,
                all,
                by_collection,
                by_error,
            };
            if out.deployments.insert(r.deployment, d).is_some() {
                return Err("two rollups for one deployment");
            }
        }
        Ok(out)
    }
}

/// Calls `f(index, hour)` for every stored hour (`first_hour + index`,
/// `index < len`) inside `[from_hour, to_hour)`.
fn for_hours(first_hour: i64, len: usize, from_hour: i64, to_hour: i64, mut f: impl FnMut(usize, i64)) {
    let lo = from_hour.max(first_hour);
    let hi = to_hour.min(first_hour.saturating_add(len as i64));
    let mut hour = lo;
    while hour < hi {
        f((hour - first_hour) as usize, hour);
        hour += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientId, Seq, State};
    use crate::run::MemRun;
    use proptest::prelude::*;

    fn failure(time: i64, seq: u64, client: u32, deployment: u32, error: Option<u32>) -> TransitionRow {
        TransitionRow {
            time: Timestamp(time),
            seq: Seq(seq),
            client: ClientId(client),
            deployment: DeploymentId(deployment),
            state: State::Failed,
            error: error.map(ErrorCode),
        }
    }

    fn sample() -> FailureRollup {
        let rows = vec![
            failure(-HOUR_MS, 1, 0, 0, None),
            failure(5, 2, 1, 0, Some(7)),
            failure(3 * HOUR_MS + 1, 3, 1, 0, Some(7)),
            failure(3 * HOUR_MS + 2, 4, 2, 1, Some(u32::MAX)),
        ];
        let members = vec![MembershipRow {
            collection: CollectionId(1),
            time: Timestamp(0),
            seq: Seq(0),
            client: ClientId(1),
            change: Change::Join,
        }];
        let run: Arc<dyn Run> = Arc::new(MemRun::new(rows, members));
        FailureRollup::build(&[run], 3, 2).unwrap()
    }

    #[test]
    fn counts_per_hour_collection_and_error() {
        let r = sample();
        let mut counts = vec![0; 5];
        r.add_counts(DeploymentId(0), None, -1, 4, |h| (h + 1) as usize, &mut counts);
        assert_eq!(counts, vec![1, 1, 0, 0, 1]);
        let mut counts = vec![0; 2];
        r.add_counts(
            DeploymentId(0),
            Some(CollectionId(1)),
            0,
            4,
            |h| (h / 2) as usize,
            &mut counts,
        );
        assert_eq!(counts, vec![1, 1]);
        let mut counts = vec![0; 1];
        r.add_counts(DeploymentId(0), Some(CollectionId(0)), 0, 4, |_| 0, &mut counts);
        assert_eq!(counts, vec![0]);
        let mut by_error = HashMap::new();
        r.add_error_counts(DeploymentId(1), 0, 24, |_| 0, &mut by_error);
        assert_eq!(by_error, HashMap::from([((0, Some(ErrorCode(u32::MAX))), 1)]));
    }

    #[test]
    fn stored_form_round_trips() {
        let r = sample();
        assert_eq!(FailureRollup::decode(&r.encode()).unwrap(), r);
        assert_eq!(FailureRollup::decode(&[]).unwrap(), FailureRollup::default());
    }

    proptest! {
        #[test]
        fn damaged_stored_forms_are_refused_without_panics(
            cut in 0usize..400,
            flip in 0usize..400,
            junk in proptest::collection::vec(any::<u8>(), 0..64),
            collections in 0u32..5,
        ) {
            let mut records = sample().encode();
            for r in &mut records {
                if let Some(b) = r.body.get_mut(flip) {
                    *b ^= 0x5a;
                }
                r.body.truncate(cut);
                r.body.extend_from_slice(&junk);
                r.collections = r.collections.wrapping_add(collections);
            }
            let _ = FailureRollup::decode(&records);
        }
    }
}
