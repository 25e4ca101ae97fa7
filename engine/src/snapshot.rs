//! [`Snapshot`]: a consistent, immutable read view of the store, and every
//! typed query of SPEC.md over it.
//!
//! Invariants:
//! * a snapshot sees exactly the batches acknowledged before it was taken,
//!   whole, and never changes afterwards (it holds `Arc`s to sealed runs and
//!   frozen dictionary prefixes);
//! * every `seq` in a delta run is greater than every `seq` in the base, so a
//!   checkpoint (which forgets seqs) plus the `(time, seq)` rule answers
//!   exactly as a replay of all rows in `(time, seq)` order would;
//! * the engine never reads the clock: every time is passed in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use crate::checkpoint::{Checkpoint, CheckpointSet, NO_STATE};
use crate::dict::DictView;
use crate::error::{Error, Result};
use crate::members::{apply_change, iter_bits, word_bits};
use crate::model::{
    Change, ClientId, CollectionId, DeploymentId, ErrorCode, MembershipRow, State, StateCounts, Timestamp,
    TransitionRow,
};
use crate::rollup::{BaseCache, FailureRollup, HOUR_MS};
use crate::run::{DeploymentColumn, Run, StateColumns};

/// Most points a series or buckets a histogram may have.
pub const MAX_POINTS: u64 = 1_000_000;

/// Work counters of the queries run on one snapshot handle (for EXPLAIN).
#[derive(Debug, Default)]
struct Probe {
    runs_read: AtomicU64,
    rows_scanned: AtomicU64,
    checkpoints_used: AtomicU64,
    member_snapshots_used: AtomicU64,
}

/// What queries on a snapshot handle have done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Runs (segments or memtable chunks) read.
    pub runs_read: u64,
    /// Rows decoded.
    pub rows_scanned: u64,
    /// Checkpoints used as starting points.
    pub checkpoints_used: u64,
    /// Membership snapshots used as starting points.
    pub member_snapshots_used: u64,
}

/// One row of `CLIENTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStateRow {
    /// Client name.
    pub client: String,
    /// State as of the asked time.
    pub state: State,
    /// Time of the client's latest transition at or before the asked time.
    pub since: Option<Timestamp>,
}

/// One row of `HISTORY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// Time of the transition.
    pub time: Timestamp,
    /// Deployment name.
    pub deployment: String,
    /// State entered.
    pub state: State,
    /// Error code, if any.
    pub error: Option<ErrorCode>,
}

/// One row of a failure histogram split by error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorBucket {
    /// Bucket start.
    pub bucket: Timestamp,
    /// Error code (`None` for failures without one).
    pub error: Option<ErrorCode>,
    /// Number of failures.
    pub failures: u64,
}

/// Counts and sizes of the store as a snapshot sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Distinct clients.
    pub clients: u64,
    /// Distinct collections.
    pub collections: u64,
    /// Distinct deployments.
    pub deployments: u64,
    /// Stored transitions (duplicates excluded).
    pub transitions: u64,
    /// Stored membership changes (duplicates excluded).
    pub membership_changes: u64,
    /// Segment files.
    pub segments: u64,
    /// Rows held only in memory and the write-ahead log.
    pub memtable_rows: u64,
    /// Bytes of every file of the store.
    pub bytes_on_disk: u64,
    /// Earliest and latest transition time.
    pub time_range: Option<(Timestamp, Timestamp)>,
}

/// The runs, checkpoints and dictionaries a snapshot reads.
#[derive(Debug)]
pub(crate) struct SnapshotParts {
    pub clients: DictView,
    pub deployments: DictView,
    pub collections: DictView,
    /// Compacted runs covered by `checkpoints`.
    pub base: Vec<Arc<dyn Run>>,
    /// Checkpoints over `base`, decoded on demand.
    pub checkpoints: Option<Arc<CheckpointSet>>,
    /// Runs newer than the base: segments flushed since, memtable chunks.
    pub delta: Vec<Arc<dyn Run>>,
    /// Number of segment files.
    pub segment_count: u64,
    /// Bytes of every file of the store.
    pub bytes_on_disk: u64,
    /// Rows in the memtable.
    pub memtable_rows: u64,
    /// Derived data of `base` (the failure rollup), shared with every
    /// snapshot of the same base.
    pub base_cache: Arc<BaseCache>,
    /// Cache: per client, the time of its first membership change.
    pub first_membership: std::sync::OnceLock<Vec<i64>>,
}

/// A consistent read view. Cheap to clone; `Send + Sync`; usable from many
/// threads while the writer goes on.
#[derive(Debug, Clone)]
pub struct Snapshot {
    parts: Arc<SnapshotParts>,
    probe: Arc<Probe>,
    cancel: Option<Arc<AtomicBool>>,
    /// Answer failures by sweeping rows even where the rollup could (tests).
    no_rollup: bool,
}

/// Which runs a failure sweep reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// Base and delta.
    All,
    /// Delta only: the base is answered by the failure rollup.
    DeltaOnly,
}

impl Runs {
    fn after(rollup: &Option<Arc<FailureRollup>>) -> Runs {
        match rollup {
            Some(_) => Runs::DeltaOnly,
            None => Runs::All,
        }
    }
}

/// Per-client latest transition as of some time, for one deployment.
///
/// Invariant: `state` holds every client, each byte a state index (below
/// `State::ALL.len()`) or [`NO_STATE`] (base columns, delta rows and
/// checkpoints are validated on decode); `time` is either empty (the query
/// needs no times and no delta run has transitions) or holds every client;
/// `seq` is empty until the first delta row is applied, then holds every
/// client, 0 for a state that came from the base (every delta seq is
/// greater than every base seq).
struct AsOf {
    state: Vec<u8>,
    time: Vec<i64>,
    seq: Vec<u64>,
}

impl AsOf {
    /// The state at a checkpoint (or of no transitions at all), over `n`
    /// clients; with per-client times when `with_time`.
    fn start(cp: Option<&Checkpoint>, n: usize, with_time: bool) -> AsOf {
        let (states, times) = cp.map_or((&[][..], &[][..]), |cp| (&cp.states[..], &cp.times[..]));
        let k = n.min(states.len()).min(times.len());
        let mut state = Vec::with_capacity(n);
        state.extend_from_slice(&states[..k]);
        state.resize(n, NO_STATE);
        let time = if with_time {
            let mut time = Vec::with_capacity(n);
            time.extend_from_slice(&times[..k]);
            time.resize(n, i64::MIN);
            time
        } else {
            Vec::new()
        };
        AsOf {
            state,
            time,
            seq: Vec::new(),
        }
    }

    /// Applies base rows that follow, in `(time, seq)` order, every row
    /// applied so far (base rows are replayed in order, and a base row after
    /// the window already applied is later than any delta row applied to
    /// it): each one simply replaces its client's state.
    #[inline]
    fn apply_base_columns(&mut self, deployment: DeploymentId, cols: StateColumns<'_>) {
        let n = self.state.len();
        let d = u64::from(deployment.0);
        match (cols.time, self.time.is_empty(), self.seq.is_empty()) {
            (_, true, true) => match cols.deployment {
                // The common case: a block of one deployment, no times kept.
                DeploymentColumn::Constant(dep) => {
                    if dep == d {
                        for (&c, &s) in cols.client.iter().zip(cols.state) {
                            if let Some(slot) = self.state.get_mut(c as usize) {
                                *slot = s as u8;
                            }
                        }
                    }
                }
                DeploymentColumn::PerRow(deps) => {
                    for ((&c, &dep), &s) in cols.client.iter().zip(deps).zip(cols.state) {
                        if dep == d && (c as usize) < n {
                            self.state[c as usize] = s as u8;
                        }
                    }
                }
            },
            (Some(times), _, _) => {
                let (with_time, with_seq) = (!self.time.is_empty(), !self.seq.is_empty());
                let rows = cols.client.iter().zip(cols.state).zip(times).enumerate();
                for (i, ((&c, &s), &t)) in rows {
                    let c = c as usize;
                    if !cols.deployment.is(i, d) || c >= n {
                        continue;
                    }
                    self.state[c] = s as u8;
                    if with_time {
                        self.time[c] = t as i64;
                    }
                    if with_seq {
                        self.seq[c] = 0;
                    }
                }
            }
            (None, _, _) => {
                // `Snapshot::apply_runs` asks for times whenever they are kept.
                debug_assert!(false, "a replay that keeps times got none");
            }
        }
    }

    /// Applies delta rows, which may come in any time order against what
    /// was applied: a row wins when its `(time, seq)` is greater. Needs
    /// times (`Snapshot::as_of` keeps them when a delta run has rows).
    #[inline]
    fn apply_delta(&mut self, deployment: DeploymentId, rows: &[TransitionRow]) {
        let n = self.state.len();
        if self.time.len() != n {
            self.time.resize(n, i64::MIN);
        }
        if self.seq.len() != n {
            self.seq = vec![0; n];
        }
        for r in rows {
            let c = r.client.0 as usize;
            if r.deployment != deployment || c >= n {
                continue;
            }
            if (r.time.0, r.seq.0) > (self.time[c], self.seq[c]) || self.state[c] == NO_STATE {
                self.state[c] = r.state as u8;
                self.time[c] = r.time.0;
                self.seq[c] = r.seq.0;
            }
        }
    }

    /// The state a client counts as at `at` (`stale_before` needs times).
    #[inline]
    fn effective(&self, c: usize, stale_before: Option<i64>) -> State {
        let s = self.state[c];
        let stale =
            s != NO_STATE && stale_before.is_some_and(|limit| self.time.get(c).is_some_and(|&t| t < limit));
        if stale { State::Unknown } else { state_of_byte(s) }
    }
}

/// Bit `i` of the result is bit `k` of byte `i` of `x` (little-endian
/// bytes): the eight bits sit 7 apart after the mask, and the multiplier
/// moves byte `i`'s bit to bit `56 + i` with no two partial products on the
/// same bit, so nothing carries into the top byte.
#[inline(always)]
fn bit_of_each_byte(x: u64, k: u32) -> u64 {
    (((x >> k) & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The low three bits of 64 state bytes as three bitmaps (bit `j` of plane
/// `k` is bit `k` of byte `j`).
#[inline(always)]
fn state_planes(states: &[u8; 64]) -> [u64; 3] {
    let mut planes = [0u64; 3];
    for (g, chunk) in states.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let x = u64::from_le_bytes(b);
        for (k, plane) in planes.iter_mut().enumerate() {
            *plane |= bit_of_each_byte(x, k as u32) << (8 * g);
        }
    }
    planes
}

/// The states of clients `64 * i ..` (word `i` of a member bitmap) as a
/// full block, padded with [`NO_STATE`], and the mask of the bits that are
/// real clients; `None` past the end of `states`.
#[inline(always)]
fn state_block(states: &[u8], i: usize) -> Option<([u8; 64], u64)> {
    let rest = states.get(i * 64..)?;
    if let Some(full) = rest.get(..64) {
        // All but the last word: a fixed-size copy.
        let mut block = [0u8; 64];
        block.copy_from_slice(full);
        return Some((block, u64::MAX));
    }
    if rest.is_empty() {
        return None;
    }
    let mut block = [NO_STATE; 64];
    block[..rest.len()].copy_from_slice(rest);
    Some((block, u64::MAX >> (64 - rest.len())))
}

/// Per 3-bit state code, the bitmap of the 64 states that have it.
#[inline(always)]
fn code_masks(states: &[u8; 64]) -> [u64; 8] {
    let [p0, p1, p2] = state_planes(states);
    std::array::from_fn(|code| {
        let pick = |plane: u64, bit: usize| if code >> bit & 1 == 1 { plane } else { !plane };
        pick(p0, 0) & pick(p1, 1) & pick(p2, 2)
    })
}

/// The members (bits of `members`, as in [`count_state_codes`]) whose
/// state byte in `states` has a 3-bit code marked in `wanted`, ascending
/// (clients past the end of `states` are left out).
fn members_with_codes<'a>(
    states: &'a [u8],
    members: &'a [u64],
    wanted: [bool; 8],
) -> impl Iterator<Item = usize> + 'a {
    members.iter().enumerate().flat_map(move |(i, &word)| {
        let mut pass = 0u64;
        if let (true, Some((block, valid))) = (word != 0, state_block(states, i)) {
            for (mask, _) in code_masks(&block).into_iter().zip(wanted).filter(|(_, w)| *w) {
                pass |= mask;
            }
            pass &= word & valid;
        }
        word_bits(i, pass)
    })
}

/// The state a 3-bit code of [`count_state_codes`] stands for: codes below
/// 6 are state indexes, 7 is [`NO_STATE`] (`0xFF`), 6 cannot occur (see
/// [`AsOf`]'s invariant) and counts as `Unknown`, as an invalid byte would.
fn state_of_code(code: usize) -> State {
    match code {
        7 => state_of_byte(NO_STATE),
        c => state_of_byte(c as u8),
    }
}

/// How many members (bits of `members`, client `64 * i + j` at bit `j` of
/// word `i`) have each 3-bit state code in `states` (clients past the end of
/// `states` are not counted). Works on 64 clients at a time with no branch
/// or memory write per member: the codes become three bit planes, and a
/// code's count is the popcount of the members whose planes spell it.
/// Relies on [`AsOf`]'s invariant (a byte is a state index or `NO_STATE`).
fn count_state_codes(states: &[u8], members: &[u64]) -> [u64; 8] {
    debug_assert!(
        states
            .iter()
            .all(|&s| usize::from(s) < State::ALL.len() || s == NO_STATE)
    );
    let mut counts = [0u64; 8];
    for (i, &word) in members.iter().enumerate() {
        if word == 0 {
            continue;
        }
        let Some((block, valid)) = state_block(states, i) else {
            break;
        };
        for (n, mask) in counts.iter_mut().zip(code_masks(&block)) {
            *n += u64::from((word & valid & mask).count_ones());
        }
    }
    counts
}

/// Per 64-client word of an [`AsOf`], one bitmap per 3-bit state code (see
/// [`count_state_codes`]; bits past the state vector are clear).
struct StateMasks {
    words: Vec<[u64; 8]>,
}

impl StateMasks {
    fn of(st: &AsOf) -> StateMasks {
        let words = (0..st.state.len().div_ceil(64))
            .filter_map(|i| state_block(&st.state, i))
            .map(|(block, valid)| code_masks(&block).map(|mask| mask & valid))
            .collect();
        StateMasks { words }
    }

    /// Counts of the members of `set` (clients past the state vector are
    /// not counted, as in [`Snapshot::counts`]).
    fn count(&self, set: &ClientSet) -> StateCounts {
        let mut per_code = [0u64; 8];
        for (&member, masks) in set.words.iter().zip(&self.words) {
            if member == 0 {
                continue;
            }
            for (n, mask) in per_code.iter_mut().zip(masks) {
                *n += u64::from((member & mask).count_ones());
            }
        }
        let mut counts = StateCounts::default();
        for (code, n) in per_code.into_iter().enumerate() {
            counts.add_many(state_of_code(code), n);
        }
        counts
    }
}

/// Buffers a member-set lookup fills: the set, and scratch for decoding a
/// stored id list. Reused across the collections of one query.
#[derive(Default)]
struct MemberBuffers {
    set: ClientSet,
    ids: Vec<u64>,
}

/// A set of client ids.
#[derive(Clone, Default)]
struct ClientSet {
    words: Vec<u64>,
}

impl ClientSet {
    fn new(n: usize) -> ClientSet {
        ClientSet {
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// Empties the set and sizes it for `n` clients, keeping its allocation.
    fn reset(&mut self, n: usize) {
        self.words.clear();
        self.words.resize(n.div_ceil(64), 0);
    }
    #[inline]
    fn set(&mut self, c: usize, on: bool) {
        if let Some(w) = self.words.get_mut(c / 64) {
            if on {
                *w |= 1 << (c % 64);
            } else {
                *w &= !(1 << (c % 64));
            }
        }
    }
    #[inline]
    fn contains(&self, c: usize) -> bool {
        self.words.get(c / 64).is_some_and(|w| w & (1 << (c % 64)) != 0)
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        iter_bits(&self.words)
    }
}

/// The state a state byte of an [`AsOf`] counts as (ignoring staleness):
/// [`NO_STATE`] is `NotStarted`, a byte that is no state index `Unknown`.
#[inline]
fn state_of_byte(byte: u8) -> State {
    match byte {
        NO_STATE => State::NotStarted,
        s => State::from_index(s).unwrap_or(State::Unknown),
    }
}

/// The time of the last point of a half-open range `[from, to)`, in ms.
fn last_ms(to: Timestamp) -> Timestamp {
    Timestamp(to.0.saturating_sub(1))
}

fn check_range(from: Timestamp, to: Timestamp, every_ms: i64) -> Result<u64> {
    if from >= to {
        return Err(Error::InvalidInput(format!(
            "range start {} ms is not before its end {} ms",
            from.0, to.0
        )));
    }
    if every_ms <= 0 {
        return Err(Error::InvalidInput("bucket width must be above zero".into()));
    }
    let span = (to.0 as i128) - (from.0 as i128);
    let n = (span + every_ms as i128 - 1) / every_ms as i128;
    if n > MAX_POINTS as i128 {
        return Err(Error::InvalidInput(format!(
            "the range holds {n} buckets, the limit is {MAX_POINTS}; widen EVERY or narrow the range"
        )));
    }
    Ok(n as u64)
}

impl Snapshot {
    pub(crate) fn new(parts: SnapshotParts) -> Snapshot {
        Snapshot {
            parts: Arc::new(parts),
            probe: Arc::new(Probe::default()),
            cancel: None,
            no_rollup: false,
        }
    }

    /// A handle on the same view that answers `FAILURES` by sweeping rows,
    /// never from the failure rollup (for tests that compare the two paths).
    #[doc(hidden)]
    pub fn without_rollup(&self) -> Snapshot {
        Snapshot {
            no_rollup: true,
            ..self.fork()
        }
    }

    /// A handle on the same view with its own work counters and the given
    /// cancel flag: queries on it stop with [`Error::Cancelled`] soon after
    /// the flag is set.
    pub fn with_cancel_flag(&self, flag: Arc<AtomicBool>) -> Snapshot {
        Snapshot {
            parts: self.parts.clone(),
            probe: Arc::new(Probe::default()),
            cancel: Some(flag),
            no_rollup: self.no_rollup,
        }
    }

    /// A handle on the same view with fresh work counters.
    pub fn fork(&self) -> Snapshot {
        Snapshot {
            parts: self.parts.clone(),
            probe: Arc::new(Probe::default()),
            cancel: self.cancel.clone(),
            no_rollup: self.no_rollup,
        }
    }

    /// Work done by queries on this handle so far.
    pub fn probe(&self) -> ProbeReport {
        ProbeReport {
            runs_read: self.probe.runs_read.load(Ordering::Relaxed),
            rows_scanned: self.probe.rows_scanned.load(Ordering::Relaxed),
            checkpoints_used: self.probe.checkpoints_used.load(Ordering::Relaxed),
            member_snapshots_used: self.probe.member_snapshots_used.load(Ordering::Relaxed),
        }
    }

    fn check_cancel(&self) -> Result<()> {
        match &self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }

    fn count_scan(&self, rows: u64) {
        self.probe.runs_read.fetch_add(1, Ordering::Relaxed);
        self.probe.rows_scanned.fetch_add(rows, Ordering::Relaxed);
    }

    fn all_runs(&self) -> impl Iterator<Item = &Arc<dyn Run>> {
        self.parts.base.iter().chain(self.parts.delta.iter())
    }

    // ----- names -------------------------------------------------------------

    /// The id of a client name.
    pub fn client_id(&self, name: &str) -> Option<ClientId> {
        self.parts.clients.get(name).map(ClientId)
    }

    /// The id of a deployment name.
    pub fn deployment_id(&self, name: &str) -> Option<DeploymentId> {
        self.parts.deployments.get(name).map(DeploymentId)
    }

    /// The id of a collection name.
    pub fn collection_id(&self, name: &str) -> Option<CollectionId> {
        self.parts.collections.get(name).map(CollectionId)
    }

    /// The name of a client id.
    pub fn client_name(&self, id: ClientId) -> Option<String> {
        self.parts.clients.name(id.0)
    }

    /// Every collection name, sorted bytewise.
    pub fn collections(&self) -> Vec<String> {
        let mut v = self.parts.collections.all_names();
        v.sort_unstable();
        v
    }

    /// Every deployment name, sorted bytewise.
    pub fn deployments(&self) -> Vec<String> {
        let mut v = self.parts.deployments.all_names();
        v.sort_unstable();
        v
    }

    /// Calls `f` with every client name (in id order).
    pub fn for_each_client_name(&self, mut f: impl FnMut(ClientId, &str)) {
        let n = self.parts.clients.len() as u32;
        self.parts.clients.with_names(|lookup| {
            for id in 0..n {
                if let Some(name) = lookup.get(id) {
                    f(ClientId(id), name);
                }
            }
        });
    }

    /// The name of a deployment id.
    pub fn deployment_name(&self, id: DeploymentId) -> Option<String> {
        self.parts.deployments.name(id.0)
    }

    /// The name of a collection id.
    pub fn collection_name(&self, id: CollectionId) -> Option<String> {
        self.parts.collections.name(id.0)
    }

    /// Visits every stored transition with `lo <= time <= hi`, in chunks.
    /// Each run is visited in `(time, seq)` order, but runs may overlap in
    /// time: sort by `(time, seq)` if a global order is needed. For exports
    /// and tools; queries have typed functions.
    pub fn for_each_transition(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        mut f: impl FnMut(&[TransitionRow]) -> Result<()>,
    ) -> Result<()> {
        for run in self.all_runs() {
            if !overlaps(run.as_ref(), lo, hi) {
                continue;
            }
            let n = run.scan_transitions(lo, hi, &mut |rows| {
                self.check_cancel()?;
                f(rows)
            })?;
            self.count_scan(n);
        }
        Ok(())
    }

    /// Visits every stored membership change, in chunks (per run, per
    /// collection in `(time, seq)` order).
    pub fn for_each_membership(&self, mut f: impl FnMut(&[MembershipRow]) -> Result<()>) -> Result<()> {
        for run in self.all_runs() {
            if run.membership_count() == 0 {
                continue;
            }
            let n = run.scan_memberships(None, Timestamp::MAX, &mut |rows| {
                self.check_cancel()?;
                f(rows)
            })?;
            self.count_scan(n);
        }
        Ok(())
    }

    /// Number of clients known to the snapshot.
    pub fn client_count(&self) -> usize {
        self.parts.clients.len()
    }

    // ----- building blocks ---------------------------------------------------

    /// Every client's state as of `at`: the latest checkpoint at or before
    /// `at`, then base rows after it, then delta rows. Per-client times are
    /// kept when `with_time` (stale limits, `since`) and whenever a delta
    /// run has transitions (delta rows are ordered against them).
    fn as_of(&self, deployment: DeploymentId, at: Timestamp, with_time: bool) -> Result<AsOf> {
        let n = self.parts.clients.len();
        let cp = self.checkpoint_at(deployment, at)?;
        if cp.is_some() {
            self.probe.checkpoints_used.fetch_add(1, Ordering::Relaxed);
        }
        let with_time = with_time || self.parts.delta.iter().any(|r| r.transition_count() > 0);
        let mut st = AsOf::start(cp.as_deref(), n, with_time);
        let base_lo = cp.as_ref().map_or(Timestamp::MIN, |cp| cp.time.saturating_add(1));
        if cp.as_ref().is_none_or(|cp| cp.time < Timestamp::MAX) {
            self.apply_runs(&mut st, deployment, &self.parts.base, true, base_lo, at)?;
        }
        self.apply_runs(&mut st, deployment, &self.parts.delta, false, Timestamp::MIN, at)?;
        Ok(st)
    }

    /// The latest checkpoint of `deployment` at or before `at`, decoded.
    fn checkpoint_at(&self, deployment: DeploymentId, at: Timestamp) -> Result<Option<Arc<Checkpoint>>> {
        match &self.parts.checkpoints {
            Some(set) => set
                .latest_at_or_before(deployment, at)
                .map(|i| set.get(i))
                .transpose(),
            None => Ok(None),
        }
    }

    /// Moves `st` from "as of `from`" to "as of `to`" (`from < to`) by
    /// applying every transition with `from < time <= to`.
    fn advance(&self, st: &mut AsOf, deployment: DeploymentId, from: Timestamp, to: Timestamp) -> Result<()> {
        if from == Timestamp::MAX {
            return Ok(());
        }
        let lo = from.saturating_add(1);
        self.apply_runs(st, deployment, &self.parts.base, true, lo, to)?;
        self.apply_runs(st, deployment, &self.parts.delta, false, lo, to)
    }

    /// Applies the transitions of `runs` with `lo <= time <= hi`; `base`
    /// says they are base runs (see [`AsOf::apply_base`]).
    fn apply_runs(
        &self,
        st: &mut AsOf,
        deployment: DeploymentId,
        runs: &[Arc<dyn Run>],
        base: bool,
        lo: Timestamp,
        hi: Timestamp,
    ) -> Result<()> {
        if lo > hi {
            return Ok(());
        }
        for run in runs {
            if !overlaps(run.as_ref(), lo, hi) {
                continue;
            }
            let rows = if base {
                run.scan_states(lo, hi, !st.time.is_empty() || !st.seq.is_empty(), &mut |cols| {
                    self.check_cancel()?;
                    st.apply_base_columns(deployment, cols);
                    Ok(())
                })?
            } else {
                run.scan_transitions(lo, hi, &mut |rows| {
                    self.check_cancel()?;
                    st.apply_delta(deployment, rows);
                    Ok(())
                })?
            };
            self.count_scan(rows);
        }
        Ok(())
    }

    /// Membership changes of one collection with `time <= hi`, in `(time, seq)` order.
    fn membership_log(&self, collection: CollectionId, hi: Timestamp) -> Result<Vec<MembershipRow>> {
        self.collection_changes(self.all_runs(), collection, Timestamp::MIN, hi)
    }

    /// Membership changes of `collection` in `runs` with `lo <= time <= hi`,
    /// in `(time, seq)` order.
    fn collection_changes<'a>(
        &self,
        runs: impl Iterator<Item = &'a Arc<dyn Run>>,
        collection: CollectionId,
        lo: Timestamp,
        hi: Timestamp,
    ) -> Result<Vec<MembershipRow>> {
        let mut log: Vec<MembershipRow> = Vec::new();
        for run in runs.filter(|r| r.membership_count() > 0) {
            let rows = run.scan_collection_changes(collection, lo, hi, &mut |rows| {
                self.check_cancel()?;
                log.extend_from_slice(rows);
                Ok(())
            })?;
            self.count_scan(rows);
        }
        if !log.is_sorted_by_key(|r| (r.time, r.seq)) {
            log.sort_unstable_by_key(|r| (r.time, r.seq));
        }
        Ok(log)
    }

    /// Members of `collection` at `at` into `bufs.set` from the latest
    /// membership snapshot at or before `at` plus the base changes after it;
    /// false (and `bufs` unspecified) when there is no such snapshot or a
    /// delta run holds membership changes (which the snapshots do not cover).
    fn members_from_snapshot(
        &self,
        collection: CollectionId,
        at: Timestamp,
        bufs: &mut MemberBuffers,
    ) -> Result<bool> {
        let Some(set) = &self.parts.checkpoints else {
            return Ok(false);
        };
        if self.parts.delta.iter().any(|r| r.membership_count() > 0) {
            return Ok(false);
        }
        let Some(i) = set.latest_members_at(collection, at) else {
            return Ok(false);
        };
        self.probe.member_snapshots_used.fetch_add(1, Ordering::Relaxed);
        let time = set.members_into(i, self.parts.clients.len(), &mut bufs.set.words, &mut bufs.ids)?;
        if time < at {
            let after =
                self.collection_changes(self.parts.base.iter(), collection, time.saturating_add(1), at)?;
            for r in &after {
                apply_change(&mut bufs.set.words, r);
            }
        }
        Ok(true)
    }

    fn members_at(&self, collection: CollectionId, at: Timestamp) -> Result<ClientSet> {
        let mut bufs = MemberBuffers::default();
        self.members_at_into(collection, at, &mut bufs)?;
        Ok(bufs.set)
    }

    /// Members of `collection` at `at` into `bufs.set`, reusing its buffers.
    fn members_at_into(
        &self,
        collection: CollectionId,
        at: Timestamp,
        bufs: &mut MemberBuffers,
    ) -> Result<()> {
        if self.members_from_snapshot(collection, at, bufs)? {
            return Ok(());
        }
        let n = self.parts.clients.len();
        let set = &mut bufs.set;
        set.reset(n);
        // The common case (a compacted store: every membership change in one
        // run) streams the run's rows, which come in (time, seq) order,
        // straight into the set instead of gathering and sorting a log.
        let mut with_changes = self.all_runs().filter(|r| r.membership_count() > 0);
        if let (Some(run), None) = (with_changes.next(), with_changes.next()) {
            let mut last = (Timestamp::MIN, 0u64);
            let mut ordered = true;
            let rows = run.scan_memberships(Some(collection), at, &mut |rows| {
                self.check_cancel()?;
                for r in rows.iter().filter(|r| r.collection == collection && r.time <= at) {
                    ordered &= (r.time, r.seq.0) >= last;
                    last = (r.time, r.seq.0);
                    set.set(r.client.0 as usize, r.change == Change::Join);
                }
                Ok(())
            })?;
            self.count_scan(rows);
            if ordered {
                return Ok(());
            }
            set.reset(n);
        }
        for r in self.membership_log(collection, at)? {
            set.set(r.client.0 as usize, r.change == Change::Join);
        }
        Ok(())
    }

    /// Per client, the time of its first membership change (`i64::MAX` when
    /// it has none). Computed once per snapshot.
    fn first_membership_times(&self) -> Result<&[i64]> {
        if let Some(v) = self.parts.first_membership.get() {
            return Ok(v);
        }
        let mut first = vec![i64::MAX; self.parts.clients.len()];
        for run in self.all_runs() {
            if run.membership_count() == 0 {
                continue;
            }
            let rows = run.scan_memberships(None, Timestamp::MAX, &mut |rows| {
                self.check_cancel()?;
                for r in rows {
                    if let Some(t) = first.get_mut(r.client.0 as usize) {
                        *t = (*t).min(r.time.0);
                    }
                }
                Ok(())
            })?;
            self.count_scan(rows);
        }
        Ok(self.parts.first_membership.get_or_init(|| first))
    }

    /// The clients a query counts: members of `collection` at `at`, or (with
    /// no collection) every client with a transition for the deployment or a
    /// membership change at or before `at`.
    fn population(&self, st: &AsOf, collection: Option<CollectionId>, at: Timestamp) -> Result<ClientSet> {
        match collection {
            Some(c) => self.members_at(c, at),
            None => {
                let first = self.first_membership_times()?;
                let mut set = ClientSet::new(self.parts.clients.len());
                for (c, (&s, &t)) in st.state.iter().zip(first).enumerate() {
                    if s != NO_STATE || t <= at.0 {
                        set.set(c, true);
                    }
                }
                Ok(set)
            }
        }
    }

    fn counts(st: &AsOf, set: &ClientSet, at: Timestamp, stale_after_ms: Option<i64>) -> StateCounts {
        let stale_before = stale_after_ms.map(|d| at.0.saturating_sub(d));
        let mut counts = StateCounts::default();
        if stale_before.is_none() {
            for (code, n) in count_state_codes(&st.state, &set.words).into_iter().enumerate() {
                counts.add_many(state_of_code(code), n);
            }
            return counts;
        }
        for c in set.iter() {
            if c < st.state.len() {
                counts.add(st.effective(c, stale_before));
            }
        }
        counts
    }

    // ----- queries -------------------------------------------------------------

    /// `STATES [FOR d] [IN c] AT t [STALE AFTER s]`: clients counted by state.
    ///
    /// `stale_after_ms`: a client whose latest transition is older than
    /// `at - stale_after_ms` counts as `Unknown`.
    pub fn state_counts(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        at: Timestamp,
        stale_after_ms: Option<i64>,
    ) -> Result<StateCounts> {
        let with_time = stale_after_ms.is_some();
        let (st, set) = match collection {
            // Independent halves: run them side by side.
            Some(c) => {
                let (st, set) = rayon::join(
                    || self.as_of(deployment, at, with_time),
                    || self.members_at(c, at),
                );
                (st?, set?)
            }
            None => {
                let st = self.as_of(deployment, at, with_time)?;
                let set = self.population(&st, None, at)?;
                (st, set)
            }
        };
        Ok(Self::counts(&st, &set, at, stale_after_ms))
    }

    /// `STATES ... FROM a TO b EVERY w`: one count per point `a + k*w < b`.
    pub fn state_series(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        every_ms: i64,
        stale_after_ms: Option<i64>,
    ) -> Result<Vec<(Timestamp, StateCounts)>> {
        let n = check_range(from, to, every_ms)?;
        let point = |k: u64| Timestamp(from.0 + (k as i64) * every_ms);
        // Split the points into a few contiguous stretches; each starts from
        // a full as-of (checkpoint + replay) and then sweeps forward, applying
        // only the transitions and membership changes between its points.
        let stretches = (rayon::current_num_threads() as u64).clamp(1, n);
        let per = n.div_ceil(stretches);
        let parts: Vec<Vec<(Timestamp, StateCounts)>> = (0..stretches)
            .into_par_iter()
            .map(|i| {
                let (k0, k1) = (i * per, ((i + 1) * per).min(n));
                let mut out = Vec::with_capacity((k1.saturating_sub(k0)) as usize);
                if k0 >= k1 {
                    return Ok(out);
                }
                let mut at = point(k0);
                let mut st = self.as_of(deployment, at, stale_after_ms.is_some())?;
                // Members at the first point (from a membership snapshot
                // when there is one), then the changes up to the last point.
                let (mut members, log) = match collection {
                    Some(c) => (
                        self.members_at(c, at)?,
                        self.collection_changes(self.all_runs(), c, at.saturating_add(1), point(k1 - 1))?,
                    ),
                    None => (ClientSet::new(self.parts.clients.len()), Vec::new()),
                };
                let mut next_change = 0;
                for k in k0..k1 {
                    let t = point(k);
                    if k > k0 {
                        self.advance(&mut st, deployment, at, t)?;
                        at = t;
                    }
                    let set = match collection {
                        Some(_) => {
                            while next_change < log.len() && log[next_change].time <= t {
                                let m = &log[next_change];
                                members.set(m.client.0 as usize, m.change == Change::Join);
                                next_change += 1;
                            }
                            &members
                        }
                        None => {
                            members = self.population(&st, None, t)?;
                            &members
                        }
                    };
                    out.push((t, Self::counts(&st, set, t, stale_after_ms)));
                }
                Ok(out)
            })
            .collect::<Result<_>>()?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// `STATES BY COLLECTION AT t`: one count per collection in the store,
    /// sorted by collection name (bytewise).
    pub fn state_counts_by_collection(
        &self,
        deployment: DeploymentId,
        at: Timestamp,
        stale_after_ms: Option<i64>,
    ) -> Result<Vec<(String, StateCounts)>> {
        let st = self.as_of(deployment, at, stale_after_ms.is_some())?;
        // Many collections: per-state client bitmaps once, then each
        // collection's counts are popcounts of its member words against them.
        let masks = stale_after_ms.is_none().then(|| StateMasks::of(&st));
        let names = self.parts.collections.all_names();
        let mut rows: Vec<(String, StateCounts)> = names
            .into_par_iter()
            .enumerate()
            // Jobs of at least four collections, each reusing one set of
            // member buffers from collection to collection.
            .with_min_len(4)
            .map_init(MemberBuffers::default, |bufs, (id, name)| {
                self.members_at_into(CollectionId(id as u32), at, bufs)?;
                let counts = match &masks {
                    Some(masks) => masks.count(&bufs.set),
                    None => Self::counts(&st, &bufs.set, at, stale_after_ms),
                };
                Ok((name, counts))
            })
            .collect::<Result<_>>()?;
        rows.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(rows)
    }

    /// The failure rollup of the base, when it can answer failures in
    /// `[from, to)` in buckets of `every_ms`: whole-hour buckets starting on
    /// an hour, a compacted base, and (for a collection) no membership
    /// changes outside the base, since those may change membership at the
    /// time of a base failure.
    fn usable_rollup(
        &self,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        every_ms: i64,
    ) -> Result<Option<Arc<FailureRollup>>> {
        let aligned = every_ms > 0
            && every_ms % HOUR_MS == 0
            && from.0.rem_euclid(HOUR_MS) == 0
            && to.0.rem_euclid(HOUR_MS) == 0;
        let compacted = self.parts.checkpoints.is_some() && !self.parts.base.is_empty();
        let late_membership =
            collection.is_some() && self.parts.delta.iter().any(|r| r.membership_count() > 0);
        if !aligned || !compacted || late_membership || self.no_rollup {
            return Ok(None);
        }
        self.check_cancel()?;
        self.parts
            .base_cache
            .rollup(
                self.parts.checkpoints.as_deref(),
                &self.parts.base,
                self.parts.clients.len(),
                self.parts.collections.len(),
            )
            .map(Some)
    }

    /// Visits, in `(time, seq)` order, the transitions of `deployment` with
    /// `from <= time < to` that pass `keep`, telling whether the client was a
    /// member of `collection` at the transition's time (always true with no
    /// collection).
    #[expect(
        clippy::too_many_arguments,
        reason = "one private helper shared by three queries"
    )]
    fn sweep_with_membership(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        failures_only: bool,
        runs: Runs,
        keep: impl Fn(&TransitionRow) -> bool,
        mut visit: impl FnMut(&TransitionRow),
    ) -> Result<()> {
        let hi = last_ms(to);
        let mut rows: Vec<TransitionRow> = Vec::new();
        let base: &[Arc<dyn Run>] = match runs {
            Runs::All => &self.parts.base,
            Runs::DeltaOnly => &[],
        };
        for run in base.iter().chain(self.parts.delta.iter()) {
            if !overlaps(run.as_ref(), from, hi) {
                continue;
            }
            let mut sink = |chunk: &[TransitionRow]| {
                self.check_cancel()?;
                rows.extend(chunk.iter().filter(|r| r.deployment == deployment && keep(r)));
                Ok(())
            };
            let n = if failures_only {
                run.scan_failures(from, hi, &mut sink)?
            } else {
                run.scan_transitions(from, hi, &mut sink)?
            };
            self.count_scan(n);
        }
        if rows.is_empty() {
            // Nothing to judge: skip reading the membership log.
            return Ok(());
        }
        rows.sort_unstable_by_key(|r| (r.time, r.seq));
        match collection {
            None => rows.iter().for_each(visit),
            Some(c) => {
                let log = self.membership_log(c, hi)?;
                let mut set = ClientSet::new(self.parts.clients.len());
                let mut next = 0;
                for r in &rows {
                    while next < log.len() && log[next].time <= r.time {
                        let m = &log[next];
                        set.set(m.client.0 as usize, m.change == Change::Join);
                        next += 1;
                    }
                    if set.contains(r.client.0 as usize) {
                        visit(r);
                    }
                }
            }
        }
        Ok(())
    }

    /// `FAILURES [FOR d] [IN c] FROM a TO b EVERY w`: transitions into
    /// `Failed` per bucket (bucket start, count), every bucket listed.
    pub fn failure_histogram(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        every_ms: i64,
    ) -> Result<Vec<(Timestamp, u64)>> {
        let n = check_range(from, to, every_ms)?;
        let mut counts = vec![0u64; n as usize];
        let rollup = self.usable_rollup(collection, from, to, every_ms)?;
        if let Some(r) = &rollup {
            r.add_counts(
                deployment,
                collection,
                from.0.div_euclid(HOUR_MS),
                to.0.div_euclid(HOUR_MS),
                every_ms / HOUR_MS,
                &mut counts,
            );
        }
        self.sweep_with_membership(
            deployment,
            collection,
            from,
            to,
            true,
            Runs::after(&rollup),
            |r| r.state == State::Failed,
            |r| {
                let k = ((r.time.0 as i128 - from.0 as i128) / every_ms as i128) as usize;
                if let Some(c) = counts.get_mut(k) {
                    *c += 1;
                }
            },
        )?;
        Ok(counts
            .into_iter()
            .enumerate()
            .map(|(k, c)| (Timestamp(from.0 + k as i64 * every_ms), c))
            .collect())
    }

    /// `FAILURES ... BY ERROR`: non-zero (bucket, error) counts, by bucket,
    /// then failures descending, then error ascending with no code first.
    pub fn failure_histogram_by_error(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        every_ms: i64,
    ) -> Result<Vec<ErrorBucket>> {
        check_range(from, to, every_ms)?;
        let mut counts: std::collections::HashMap<(u64, Option<ErrorCode>), u64> = Default::default();
        let rollup = match collection {
            None => self.usable_rollup(None, from, to, every_ms)?,
            Some(_) => None,
        };
        if let Some(r) = &rollup {
            r.add_error_counts(
                deployment,
                from.0.div_euclid(HOUR_MS),
                to.0.div_euclid(HOUR_MS),
                every_ms / HOUR_MS,
                &mut counts,
            );
        }
        self.sweep_with_membership(
            deployment,
            collection,
            from,
            to,
            true,
            Runs::after(&rollup),
            |r| r.state == State::Failed,
            |r| {
                let k = ((r.time.0 as i128 - from.0 as i128) / every_ms as i128) as u64;
                *counts.entry((k, r.error)).or_default() += 1;
            },
        )?;
        let mut rows: Vec<ErrorBucket> = counts
            .into_iter()
            .map(|((k, error), failures)| ErrorBucket {
                bucket: Timestamp(from.0 + k as i64 * every_ms),
                error,
                failures,
            })
            .collect();
        rows.sort_unstable_by(|a, b| {
            a.bucket
                .cmp(&b.bucket)
                .then(b.failures.cmp(&a.failures))
                .then(a.error.cmp(&b.error))
        });
        Ok(rows)
    }

    /// `SHOW ERRORS`: error codes of transitions (any state) in `[from, to)`
    /// with their counts, most frequent first, then by code.
    pub fn error_counts(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(ErrorCode, u64)>> {
        check_range(
            from,
            to,
            (to.0 as i128 - from.0 as i128).clamp(1, i64::MAX as i128) as i64,
        )?;
        let mut counts: std::collections::HashMap<ErrorCode, u64> = Default::default();
        self.sweep_with_membership(
            deployment,
            collection,
            from,
            to,
            false,
            Runs::All,
            |r| r.error.is_some(),
            |r| {
                if let Some(e) = r.error {
                    *counts.entry(e).or_default() += 1;
                }
            },
        )?;
        let mut rows: Vec<(ErrorCode, u64)> = counts.into_iter().collect();
        rows.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(rows)
    }

    /// `CLIENTS [FOR d] [IN c] AT t [WHERE STATE IN (...)] [LIMIT n]`: clients
    /// with their state and the time of their latest transition, sorted by
    /// name (bytewise). `states: None` keeps every state.
    pub fn clients_at(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        at: Timestamp,
        states: Option<&[State]>,
        limit: Option<usize>,
    ) -> Result<Vec<ClientStateRow>> {
        // With only base rows to replay, the states come first and the times
        // only for the clients picked (a second, narrow replay), instead of
        // keeping every client's time through the replay.
        let times_later = !self.parts.delta.iter().any(|r| r.transition_count() > 0);
        let (st, set) = match collection {
            Some(c) => {
                let (st, set) = rayon::join(
                    || self.as_of(deployment, at, !times_later),
                    || self.members_at(c, at),
                );
                (st?, set?)
            }
            None => {
                let st = self.as_of(deployment, at, !times_later)?;
                let set = self.population(&st, None, at)?;
                (st, set)
            }
        };
        // The members in a wanted state, 64 at a time through the bit planes
        // of their state bytes (no per-member test for the members left out).
        let wanted_codes: [bool; 8] =
            std::array::from_fn(|code| states.is_none_or(|keep| keep.contains(&state_of_code(code))));
        let mut picked: Vec<(u32, State, Option<Timestamp>)> =
            members_with_codes(&st.state, &set.words, wanted_codes)
                .map(|c| {
                    let state = st.effective(c, None);
                    let since = match (st.state[c], st.time.get(c)) {
                        (NO_STATE, _) => None,
                        (_, Some(&t)) => Some(Timestamp(t)),
                        // Filled in below.
                        (_, None) => Some(Timestamp::MIN),
                    };
                    (c as u32, state, since)
                })
                .collect();
        if times_later {
            self.base_times(deployment, at, &mut picked)?;
        }
        let mut rows: Vec<ClientStateRow> = self.parts.clients.with_names(|lookup| {
            picked
                .drain(..)
                .map(|(c, state, since)| ClientStateRow {
                    client: lookup.get(c).unwrap_or_default().to_owned(),
                    state,
                    since,
                })
                .collect()
        });
        rows.sort_unstable_by(|a, b| a.client.as_bytes().cmp(b.client.as_bytes()));
        if let Some(limit) = limit {
            rows.truncate(limit);
        }
        Ok(rows)
    }

    /// Sets the time of each `picked` client that has a state (ascending
    /// client ids) to the time of its latest base transition at or before
    /// `at`: the checkpoint's time, then a replay of the base rows after it
    /// that looks only at these clients. The store must have no delta
    /// transitions.
    fn base_times(
        &self,
        deployment: DeploymentId,
        at: Timestamp,
        picked: &mut [(u32, State, Option<Timestamp>)],
    ) -> Result<()> {
        let cp = self.checkpoint_at(deployment, at)?;
        let mut wanted = ClientSet::new(self.parts.clients.len());
        for (c, _, since) in picked.iter_mut() {
            let from_checkpoint = cp.as_ref().and_then(|cp| {
                let c = *c as usize;
                (cp.states.get(c).is_some_and(|&s| s != NO_STATE))
                    .then(|| cp.times.get(c).map(|&t| Timestamp(t)))
                    .flatten()
            });
            if since.is_some() {
                *since = from_checkpoint.or(Some(Timestamp::MIN));
                wanted.set(*c as usize, true);
            }
        }
        let lo = cp.as_ref().map_or(Timestamp::MIN, |cp| cp.time.saturating_add(1));
        if cp.as_ref().is_some_and(|cp| cp.time == Timestamp::MAX) || lo > at {
            return Ok(());
        }
        let d = u64::from(deployment.0);
        for run in self.parts.base.iter().filter(|r| overlaps(r.as_ref(), lo, at)) {
            let rows = run.scan_states(lo, at, true, &mut |cols| {
                self.check_cancel()?;
                let Some(times) = cols.time else {
                    return Ok(());
                };
                for (i, (&c, &t)) in cols.client.iter().zip(times).enumerate() {
                    if cols.deployment.is(i, d) && wanted.contains(c as usize) {
                        let k = picked.partition_point(|p| u64::from(p.0) < c);
                        if let Some((_, _, since)) = picked.get_mut(k) {
                            *since = Some(Timestamp(t as i64));
                        }
                    }
                }
                Ok(())
            })?;
            self.count_scan(rows);
        }
        Ok(())
    }

    /// `HISTORY client [FOR d] [FROM a TO b]`: the client's transitions in
    /// `(time, seq)` order, every deployment unless one is given.
    pub fn client_history(
        &self,
        client: ClientId,
        deployment: Option<DeploymentId>,
        range: Option<(Timestamp, Timestamp)>,
    ) -> Result<Vec<HistoryRow>> {
        let (lo, hi) = match range {
            Some((from, to)) => {
                if from >= to {
                    return Ok(Vec::new());
                }
                (from, last_ms(to))
            }
            None => (Timestamp::MIN, Timestamp::MAX),
        };
        let mut rows: Vec<TransitionRow> = Vec::new();
        for run in self.all_runs() {
            if !overlaps(run.as_ref(), lo, hi) {
                continue;
            }
            let n = run.scan_transitions(lo, hi, &mut |chunk| {
                self.check_cancel()?;
                rows.extend(
                    chunk
                        .iter()
                        .filter(|r| r.client == client && deployment.is_none_or(|d| d == r.deployment)),
                );
                Ok(())
            })?;
            self.count_scan(n);
        }
        rows.sort_unstable_by_key(|r| (r.time, r.seq));
        Ok(rows
            .into_iter()
            .map(|r| HistoryRow {
                time: r.time,
                deployment: self.parts.deployments.name(r.deployment.0).unwrap_or_default(),
                state: r.state,
                error: r.error,
            })
            .collect())
    }

    /// Counts and sizes of the store.
    pub fn stats(&self) -> StoreStats {
        let mut s = StoreStats {
            clients: self.parts.clients.len() as u64,
            collections: self.parts.collections.len() as u64,
            deployments: self.parts.deployments.len() as u64,
            segments: self.parts.segment_count,
            memtable_rows: self.parts.memtable_rows,
            bytes_on_disk: self.parts.bytes_on_disk,
            ..StoreStats::default()
        };
        for run in self.all_runs() {
            s.transitions += run.transition_count();
            s.membership_changes += run.membership_count();
            if let Some((lo, hi)) = run.transition_bounds() {
                s.time_range = Some(match s.time_range {
                    None => (lo, hi),
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                });
            }
        }
        s
    }
}

fn overlaps(run: &dyn Run, lo: Timestamp, hi: Timestamp) -> bool {
    match run.transition_bounds() {
        Some((a, b)) => a <= hi && b >= lo,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bit_of_each_byte_gathers_in_byte_order() {
        let x = u64::from_le_bytes([1, 0, 3, 2, 5, 4, 0xFF, 6]);
        assert_eq!(bit_of_each_byte(x, 0), 0b0101_0101);
        assert_eq!(bit_of_each_byte(x, 1), 0b1100_1100);
        assert_eq!(bit_of_each_byte(x, 2), 0b1111_0000);
    }

    proptest! {
        /// The bit-plane count equals counting member by member.
        #[test]
        fn state_code_counts_match_one_by_one(
            states in proptest::collection::vec(
                prop_oneof![0u8..6, Just(NO_STATE)], 0..300),
            words in proptest::collection::vec(any::<u64>(), 0..6),
        ) {
            let mut expected = [0u64; 8];
            for (i, &w) in words.iter().enumerate() {
                for j in 0..64 {
                    if let (1, Some(&s)) = (w >> j & 1, states.get(i * 64 + j)) {
                        expected[usize::from(s & 7)] += 1;
                    }
                }
            }
            prop_assert_eq!(count_state_codes(&states, &words), expected);
            // The per-state bitmaps used for many collections agree, also
            // for member bits past the state vector (not counted).
            let mut counts = StateCounts::default();
            for (code, n) in expected.into_iter().enumerate() {
                counts.add_many(state_of_code(code), n);
            }
            // Picking members by code agrees with testing them one by one.
            for wanted in [[true; 8], std::array::from_fn(|code| code % 3 == 1)] {
                let picked: Vec<usize> = members_with_codes(&states, &words, wanted).collect();
                let one_by_one: Vec<usize> = iter_bits(&words)
                    .filter(|&c| states.get(c).is_some_and(|&s| wanted[usize::from(s & 7)]))
                    .collect();
                prop_assert_eq!(picked, one_by_one);
            }
            let st = AsOf { state: states, time: Vec::new(), seq: Vec::new() };
            prop_assert_eq!(StateMasks::of(&st).count(&ClientSet { words }), counts);
        }
    }
}
