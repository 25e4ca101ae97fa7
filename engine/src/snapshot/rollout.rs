//! The rollout-review queries (SPEC 7.3 and 7.4): where clients went
//! between two times (`FLOW`) and how long they took from one state to
//! another (`DURATIONS`).
//!
//! Invariants: both count only the members of the collection at `to` (every
//! client, as SPEC 1 defines it, without a collection); `FLOW` reads two
//! as-of vectors and walks the members once; `DURATIONS` reads the range's
//! base rows once in their stored `(time, seq)` order, which decides every
//! member no delta row in range touches; the few touched members (at most
//! an eighth of the clients) are decided from their own rows of both tiers
//! sorted by `(time, seq)`, and with more the answer is taken as
//! order-free minima over `(time, seq)` — the first `SINCE` transition,
//! then the first `UNTIL` transition after it — which do not care in which
//! order runs deliver rows.

use super::kernels::{ClientSet, state_of_byte};
use super::{Snapshot, overlaps};
use crate::error::{Error, Result};
use crate::model::{CollectionId, DeploymentId, State, Timestamp};
use crate::run::{DeploymentColumn, Run, StateColumns};
use rayon::prelude::*;
use std::sync::Arc;

/// What `DURATIONS` measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationsReport {
    /// Members with a start (a transition into the `SINCE` state in range).
    pub started: u64,
    /// For each of them that reached the `UNTIL` state, `end - start` in
    /// milliseconds, sorted ascending (its length is the `reached` count).
    pub reached_ms: Vec<i64>,
}

/// `(time, seq)` of a client's chosen transition; `NONE` when it has none.
type Mark = (i64, u64);
const NONE: Mark = (i64::MAX, u64::MAX);

impl Snapshot {
    /// `FLOW [FOR d] [IN c] FROM a TO b`: for the members at `to`, how many
    /// went from each state as of `from` to each state as of `to`
    /// (`matrix[from][to]`, indexed in [`State::ALL`] order; no transition
    /// counts as `NotStarted`).
    ///
    /// ```
    /// use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let mut store = Store::create(dir.path(), Options::default())?;
    /// let mut b = Batch::new();
    /// b.push_membership(Timestamp(0), "PC-1", "Ring", Change::Join)?;
    /// b.push_transition(Timestamp(10), "PC-1", "production", State::Failed, None)?;
    /// b.push_transition(Timestamp(20), "PC-1", "production", State::Compliant, None)?;
    /// store.append(&b)?;
    /// let snap = store.snapshot();
    /// let dep = snap.deployment_id("production").unwrap();
    /// let ring = snap.collection_id("Ring");
    /// let m = snap.state_flow(dep, ring, Timestamp(15), Timestamp(30))?;
    /// assert_eq!(m[State::Failed.index()][State::Compliant.index()], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_flow(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<[[u64; 6]; 6]> {
        check_order(from, to)?;
        let (before, after) = rayon::join(
            || self.as_of(deployment, from, false),
            || -> Result<_> {
                let st = self.as_of(deployment, to, false)?;
                let members = self.population(&st, collection, to)?;
                Ok((st, members))
            },
        );
        let (before, (after, members)) = (before?, after?);
        let mut matrix = [[0u64; 6]; 6];
        for c in members.iter() {
            let (Some(&a), Some(&b)) = (before.state.get(c), after.state.get(c)) else {
                continue;
            };
            matrix[state_of_byte(a).index()][state_of_byte(b).index()] += 1;
        }
        Ok(matrix)
    }

    /// `DURATIONS [FOR d] [IN c] FROM a TO b UNTIL u [SINCE s]`: for each
    /// member at `to`, `start` is its first transition into `since` with
    /// `from <= time < to`, `end` its first transition into `until` after
    /// `start` in `(time, seq)` order (a transition at `start`'s own time
    /// counts only when it was ingested after the `since` one) and before
    /// `to`.
    pub fn durations(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        since: State,
        until: State,
    ) -> Result<DurationsReport> {
        check_order(from, to)?;
        let hi = Timestamp(to.0 - 1);
        // Members first: the passes then skip the rows of everyone else
        // with a bit test, before touching the per-client marks.
        let members = match collection {
            Some(c) => self.members_at(c, to)?,
            None => {
                let st = self.as_of(deployment, to, false)?;
                self.population(&st, None, to)?
            }
        };
        let (starts, ends) = self.duration_marks(deployment, &members, from, hi, since, until)?;
        let mut report = DurationsReport::default();
        for c in members.iter() {
            let (Some(&start), Some(&end)) = (starts.get(c), ends.get(c)) else {
                continue;
            };
            if start == NO_TIME {
                continue;
            }
            report.started += 1;
            if end != NO_TIME {
                report.reached_ms.push(end - start);
            }
        }
        report.reached_ms.par_sort_unstable();
        Ok(report)
    }

    /// Per client, the time of its start and end in `[from, hi]`
    /// ([`NO_TIME`] for none).
    ///
    /// When no delta run has transitions in range, one pass over the base
    /// in its stored order decides both (base rows come in `(time, seq)`
    /// order, run after run, so "first `since`, then the first `until`
    /// after it" is read off as the rows go by; `order` is the row's place
    /// in that pass; see [`Snapshot::first_times_in_order`]). When delta
    /// rows of the two states touch at most an eighth of the clients (late
    /// rows, a live feed not yet folded), that pass decides everyone else
    /// and also lists the touched clients' base rows; each touched client
    /// is then decided from its base and delta rows sorted by `(time, tier,
    /// order)`. Otherwise two passes take minima over `(time, tier,
    /// order)`. Either way base rows (tier 0) come before delta rows (tier
    /// 1) at one time, since every delta seq is greater than every base seq.
    fn duration_marks(
        &self,
        deployment: DeploymentId,
        members: &ClientSet,
        from: Timestamp,
        hi: Timestamp,
        since: State,
        until: State,
    ) -> Result<(Vec<i64>, Vec<i64>)> {
        let n = self.parts.clients.len();
        let d = u64::from(deployment.0);
        let (since_code, until_code) = (since as u64, until as u64);
        let delta_in_range = self
            .parts
            .delta
            .iter()
            .any(|r| r.transition_count() > 0 && overlaps(r.as_ref(), from, hi));
        let codes = (since_code, until_code);
        if !delta_in_range {
            let (starts, ends, _) = self.first_times_in_order(d, members, None, n, from, hi, codes)?;
            return Ok((starts, ends));
        }
        // Keys (time, tier << 63 | order-or-seq): base orders stay below 2^63.
        const DELTA: u64 = 1 << 63;
        // The delta rows that can move a member's marks. When they touch
        // few clients, the in-order pass answers everyone else, and the
        // touched clients are decided from their own rows of both tiers.
        let mut late: Vec<(u32, i64, u64, u8)> = Vec::new();
        let mut touched = ClientSet::new(n);
        for run in self.parts.delta.iter().filter(|r| overlaps(r.as_ref(), from, hi)) {
            let rows = run.scan_transitions(from, hi, &mut |rows| {
                self.check_cancel()?;
                for r in rows.iter().filter(|r| r.deployment == deployment) {
                    let c = r.client.0 as usize;
                    let kind = u8::from(r.state == since) | u8::from(r.state == until) << 1;
                    if kind != 0 && members.contains(c) {
                        late.push((r.client.0, r.time.0, DELTA | r.seq.0, kind));
                        touched.set(c, true);
                    }
                }
                Ok(())
            })?;
            self.count_scan(rows);
        }
        let touched_count: u64 = touched.words.iter().map(|w| u64::from(w.count_ones())).sum();
        // (With more, sorting their rows would cost more than the minima.)
        if touched_count <= n as u64 / 8 {
            let mut others = members.clone();
            for (w, t) in others.words.iter_mut().zip(&touched.words) {
                *w &= !t;
            }
            let (mut starts, mut ends, base) =
                self.first_times_in_order(d, &others, Some(&touched), n, from, hi, codes)?;
            if starts.is_empty() {
                (starts, ends) = (vec![NO_TIME; n], vec![NO_TIME; n]);
            }
            // Base rows keep their pass order (below 2^63), delta rows
            // their seq above it: one sort puts each client's rows in
            // `(time, seq)` order.
            late.extend(
                base.into_iter()
                    .enumerate()
                    .map(|(k, (c, t, kind))| (c, t, k as u64, kind)),
            );
            late.par_sort_unstable_by_key(|&(c, t, key, _)| (c, t, key));
            for rows in late.chunk_by(|a, b| a.0 == b.0) {
                let (mut start, mut end) = (NO_TIME, NO_TIME);
                for &(_, t, _, kind) in rows {
                    if start == NO_TIME {
                        if kind & 1 != 0 {
                            start = t;
                        }
                    } else if kind & 2 != 0 {
                        end = t;
                        break;
                    }
                }
                let c = rows.first().map_or(usize::MAX, |r| r.0 as usize);
                if let (Some(s), Some(e)) = (starts.get_mut(c), ends.get_mut(c)) {
                    (*s, *e) = (start, end);
                }
            }
            return Ok((starts, ends));
        }
        let mut starts = vec![NONE; n];
        let mut ends = vec![NONE; n];
        let delta_pass = |visit: &mut dyn FnMut(u64, i64, usize, State)| -> Result<()> {
            for run in self.parts.delta.iter().filter(|r| overlaps(r.as_ref(), from, hi)) {
                let rows = run.scan_transitions(from, hi, &mut |rows| {
                    self.check_cancel()?;
                    for r in rows.iter().filter(|r| r.deployment == deployment) {
                        visit(DELTA | r.seq.0, r.time.0, r.client.0 as usize, r.state);
                    }
                    Ok(())
                })?;
                self.count_scan(rows);
            }
            Ok(())
        };
        self.base_rows_in_order(d, from, hi, |order, t, c, s| {
            if s == since_code
                && let Some(m) = starts.get_mut(c)
            {
                *m = (*m).min((t, order));
            }
        })?;
        delta_pass(&mut |key, t, c, s| {
            if s == since
                && let Some(m) = starts.get_mut(c)
            {
                *m = (*m).min((t, key));
            }
        })?;
        let mut end_at = |key: u64, t: i64, c: usize| {
            if let (Some(&start), Some(end)) = (starts.get(c), ends.get_mut(c))
                && start != NONE
                && (t, key) > start
            {
                *end = (*end).min((t, key));
            }
        };
        self.base_rows_in_order(d, from, hi, |order, t, c, s| {
            if s == until_code {
                end_at(order, t, c);
            }
        })?;
        delta_pass(&mut |key, t, c, s| {
            if s == until {
                end_at(key, t, c);
            }
        })?;
        let times = |marks: Vec<Mark>| {
            marks
                .into_iter()
                .map(|m| if m == NONE { NO_TIME } else { m.0 })
                .collect()
        };
        Ok((times(starts), times(ends)))
    }

    /// The in-order base pass: per member, the time of its first `since`
    /// row, then of its first `until` row after that.
    ///
    /// `[from, hi]` is cut into consecutive time windows of about equal
    /// rows (counted from the runs' block directories), one per thread (at
    /// most four), read side by side: the first finds starts and ends as
    /// above; each later one also notes each client's first `until` before
    /// any `since` of its own, which ends a start an earlier window found
    /// but did not end. Every row of one time falls in one window, so each
    /// window sees its rows in `(time, seq)` order, and the windows are
    /// then merged left to right, client by client. (Cutting by runs
    /// instead left one thread with 95% of the rows on a compacted store,
    /// whose base is one large run.)
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn first_times_in_order(
        &self,
        deployment: u64,
        members: &ClientSet,
        watched: Option<&ClientSet>,
        n: usize,
        from: Timestamp,
        hi: Timestamp,
        codes: (u64, u64),
    ) -> Result<(Vec<i64>, Vec<i64>, Vec<(u32, i64, u8)>)> {
        let runs: Vec<&Arc<dyn Run>> = self
            .parts
            .base
            .iter()
            .filter(|r| overlaps(r.as_ref(), from, hi))
            .collect();
        let windows = time_windows(&runs, from, hi, rayon::current_num_threads().clamp(1, 4));
        let mut parts: Vec<Result<WindowTimes>> = windows
            .par_iter()
            .enumerate()
            .map(|(k, &(lo, up))| {
                self.window_times(&runs, deployment, members, watched, n, lo, up, codes, k > 0)
            })
            .collect();
        let mut rest = parts.drain(..);
        let mut acc = match rest.next() {
            Some(first) => first?,
            None => WindowTimes::default(),
        };
        if acc.start.is_empty() {
            // No run in range: no marks at all.
            return Ok((Vec::new(), Vec::new(), Vec::new()));
        }
        for later in rest {
            let mut later = later?;
            acc.watched_rows.append(&mut later.watched_rows);
            // Client by client, in chunks the threads share.
            const CHUNK: usize = 1 << 16;
            acc.start
                .par_chunks_mut(CHUNK)
                .zip(acc.end.par_chunks_mut(CHUNK))
                .zip(later.start.par_chunks(CHUNK).zip(later.end.par_chunks(CHUNK)))
                .zip(later.first_until.par_chunks(CHUNK))
                .for_each(|(((start, end), (late_start, late_end)), first_until)| {
                    merge_later_window(start, end, late_start, late_end, first_until);
                });
        }
        Ok((acc.start, acc.end, acc.watched_rows))
    }

    /// One time window of the in-order pass: per member, the times of its
    /// first `since` row, its first `until` row after that, and (when
    /// `first_until`) its first `until` row before any `since`. Empty
    /// vectors when `runs` is.
    ///
    /// Two bits per client say how far it got (1: nothing yet, 3: an
    /// `until` seen before any `since` — only when `first_until` —, 2:
    /// started, 0: done or not a member): 250 KB per million clients,
    /// which stays in the core's cache. Rows come in time order, clients at
    /// random and states mixed, so a branch per row on its state,
    /// deployment or progress is mispredicted often: every row instead
    /// steps its client's two bits through a table (rows that matter to no
    /// one step to where they were), and the rare events go to a log first
    /// ([`EventLog`]).
    #[allow(clippy::too_many_arguments)]
    fn window_times(
        &self,
        runs: &[&Arc<dyn Run>],
        deployment: u64,
        members: &ClientSet,
        watched: Option<&ClientSet>,
        n: usize,
        from: Timestamp,
        hi: Timestamp,
        (since_code, until_code): (u64, u64),
        first_until: bool,
    ) -> Result<WindowTimes> {
        let mut out = WindowTimes::default();
        if runs.is_empty() {
            return Ok(out);
        }
        out.start = vec![NO_TIME; n];
        out.end = vec![NO_TIME; n];
        if first_until {
            out.first_until = vec![NO_TIME; n];
        }
        // One spare word past the clients, where nothing is ever set.
        let mut progress = vec![0u64; n.div_ceil(32) + 1];
        for (i, &word) in members.words.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let c = i * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(w) = progress.get_mut(c / 32)
                    && c < n
                {
                    *w |= 1 << (2 * (c % 32));
                }
            }
        }
        let table = step_table(first_until);
        let mut logs = EventLog::default();
        let codes = (since_code, until_code);
        self.base_blocks_in_order(runs, from, hi, |_, cols| {
            let rows = cols.client.len().min(cols.state.len());
            let (client, state) = (&cols.client[..rows], &cols.state[..rows]);
            let times = cols.time.unwrap_or_default();
            logs.reset(rows);
            logs.len = match cols.deployment {
                DeploymentColumn::Constant(v) if v != deployment => return,
                DeploymentColumn::Constant(_) => {
                    let rows = || {
                        client
                            .iter()
                            .zip(state)
                            .zip(times)
                            .map(|((&c, &s), &t)| (c, s, t, true))
                    };
                    if let Some(w) = watched {
                        note_watched_rows(w, codes, rows(), &mut out.watched_rows);
                    }
                    step_rows(&mut progress, &table, &mut logs.log, codes, rows())
                }
                DeploymentColumn::PerRow(dep) => {
                    let rows = || {
                        client
                            .iter()
                            .zip(state)
                            .zip(times)
                            .zip(dep)
                            .map(|(((&c, &s), &t), &d)| (c, s, t, d == deployment))
                    };
                    if let Some(w) = watched {
                        note_watched_rows(w, codes, rows(), &mut out.watched_rows);
                    }
                    step_rows(&mut progress, &table, &mut logs.log, codes, rows())
                }
            };
            logs.apply(&mut out);
        })?;
        Ok(out)
    }

    /// Visits `(order, time, client, state)` for each base row of the
    /// deployment in `[from, hi]`, in stored order; `order` counts every
    /// row of the pass, so two passes number rows alike.
    fn base_rows_in_order(
        &self,
        deployment: u64,
        from: Timestamp,
        hi: Timestamp,
        mut visit: impl FnMut(u64, i64, usize, u64),
    ) -> Result<()> {
        let runs: Vec<&Arc<dyn Run>> = self.parts.base.iter().collect();
        self.base_blocks_in_order(&runs, from, hi, |first_order, cols| {
            let times = cols.time.unwrap_or_default();
            for (i, ((&c, &s), &t)) in cols.client.iter().zip(cols.state).zip(times).enumerate() {
                if cols.deployment.is(i, deployment) {
                    visit(first_order + i as u64 + 1, t as i64, c as usize, s);
                }
            }
        })
    }

    /// Visits the chunks of rows of `runs` in `[from, hi]` (with times) in
    /// stored order, each with the number of rows of the pass before it.
    fn base_blocks_in_order(
        &self,
        runs: &[&Arc<dyn Run>],
        from: Timestamp,
        hi: Timestamp,
        mut visit: impl FnMut(u64, &StateColumns<'_>),
    ) -> Result<()> {
        let mut order = 0u64;
        for run in runs.iter().filter(|r| overlaps(r.as_ref(), from, hi)) {
            let rows = run.scan_states(from, hi, true, &mut |cols| {
                self.check_cancel()?;
                visit(order, &cols);
                order += cols.client.len() as u64;
                Ok(())
            })?;
            self.count_scan(rows);
        }
        Ok(())
    }
}

/// Per client, what one time window of the in-order `DURATIONS` pass found.
#[derive(Debug, Default)]
struct WindowTimes {
    start: Vec<i64>,
    end: Vec<i64>,
    first_until: Vec<i64>,
    /// The rows of the watched clients of the two states, in pass order:
    /// `(client, time, 1 for since | 2 for until)`.
    watched_rows: Vec<(u32, i64, u8)>,
}

/// The events of one block's rows, before they are written to the
/// per-client times.
///
/// Only about one row in eight makes an event, at random, so a branch on it
/// is mispredicted often, and each event's write lands at a random place in
/// a multi-megabyte vector. Every row therefore writes its entry to the end
/// of the log and moves that end only when the row made an event (no
/// branch, and the writes stay in the core's cache); the logged events then
/// go out in a loop of their own, which the core overlaps freely.
#[derive(Debug, Default)]
struct EventLog {
    log: Vec<Event>,
    len: usize,
}

/// One row's events ([`EVENT_START`] and the others) and its client and
/// time.
#[derive(Debug, Default, Clone, Copy)]
struct Event {
    time: i64,
    client: u32,
    events: u32,
}

impl EventLog {
    /// Room for `rows` events.
    fn reset(&mut self, rows: usize) {
        if self.log.len() <= rows {
            self.log.resize(rows + 1, Event::default());
        }
        self.len = 0;
    }

    /// Writes the logged events to `out` (clients past its vectors are
    /// skipped; a kind `out` does not track has an empty vector).
    fn apply(&self, out: &mut WindowTimes) {
        for e in self.log.get(..self.len).unwrap_or_default() {
            let c = e.client as usize;
            for (bit, times) in [
                (EVENT_START, &mut out.start),
                (EVENT_END, &mut out.end),
                (EVENT_FIRST_UNTIL, &mut out.first_until),
            ] {
                if e.events & u32::from(bit) != 0
                    && let Some(v) = times.get_mut(c)
                {
                    *v = e.time;
                }
            }
        }
    }
}

/// No start or end.
const NO_TIME: i64 = i64::MAX;

/// Steps each row `(client, state, time, of the deployment)` through
/// `table`, its client's two bits in `progress`, and logs the rows that
/// make events at the front of `log` (one slot per row at least); returns
/// how many it logged. Rows of other states and deployments (both state
/// bits 0) and of clients not watched (code 0) step to where they were: no
/// branch on the row. The log's length is a local, so it stays in a
/// register rather than going through memory from row to row.
#[inline(always)]
fn step_rows(
    progress: &mut [u64],
    table: &[(u8, u8); 16],
    log: &mut [Event],
    (since_code, until_code): (u64, u64),
    rows: impl Iterator<Item = (u64, u64, u64, bool)>,
) -> usize {
    let mut len = 0usize;
    for (c, s, t, ours) in rows {
        let Some(w) = progress.get_mut(c as usize / 32) else {
            continue;
        };
        let shift = 2 * (c % 32);
        let code = (*w >> shift) & 3;
        let index = (code as usize) << 2
            | usize::from(ours & (s == since_code)) << 1
            | usize::from(ours & (s == until_code));
        let (next, events) = table[index];
        *w ^= (code ^ u64::from(next)) << shift;
        if let Some(slot) = log.get_mut(len) {
            *slot = Event {
                time: t as i64,
                client: c as u32,
                events: u32::from(events),
            };
        }
        len += usize::from(events != 0);
    }
    len
}

/// Appends to `out` the rows of the deployment of `watched` clients in one
/// of the two states, as `(client, time, 1 for since | 2 for until)`.
fn note_watched_rows(
    watched: &ClientSet,
    (since_code, until_code): (u64, u64),
    rows: impl Iterator<Item = (u64, u64, u64, bool)>,
    out: &mut Vec<(u32, i64, u8)>,
) {
    for (c, s, t, ours) in rows {
        if ours && watched.contains(c as usize) {
            let kind = u8::from(s == since_code) | u8::from(s == until_code) << 1;
            if kind != 0 {
                out.push((c as u32, t as i64, kind));
            }
        }
    }
}

/// Folds a later window's marks into the earlier windows' (`start`, `end`),
/// client by client: a client not started yet takes the later window's
/// start and end; one started but not ended ends at the later window's
/// first `until`, whether before its own start or after it.
fn merge_later_window(
    start: &mut [i64],
    end: &mut [i64],
    late_start: &[i64],
    late_end: &[i64],
    first_until: &[i64],
) {
    for (((start, end), (&late_start, &late_end)), &first_until) in start
        .iter_mut()
        .zip(end.iter_mut())
        .zip(late_start.iter().zip(late_end))
        .zip(first_until)
    {
        if *start == NO_TIME {
            (*start, *end) = (late_start, late_end);
        } else if *end == NO_TIME {
            *end = if first_until != NO_TIME {
                first_until
            } else {
                late_end
            };
        }
    }
}

/// `[from, hi]` cut into at most `parts` consecutive, non-empty time
/// windows holding about equal numbers of the rows of `runs`.
fn time_windows(
    runs: &[&Arc<dyn Run>],
    from: Timestamp,
    hi: Timestamp,
    parts: usize,
) -> Vec<(Timestamp, Timestamp)> {
    let rows_to = |t: i64| -> u64 {
        runs.iter()
            .map(|r| r.transitions_between(from, Timestamp(t)))
            .sum()
    };
    let total = rows_to(hi.0);
    let mut windows = Vec::with_capacity(parts);
    let mut lo = from.0;
    for k in 1..parts as u64 {
        if lo > hi.0 {
            break;
        }
        // The first time by which the k-th share of the rows is in.
        let target = total.saturating_mul(k) / parts as u64;
        let (mut a, mut b) = (lo, hi.0);
        while a < b {
            let mid = a + (b - a) / 2;
            if rows_to(mid) >= target {
                b = mid;
            } else {
                a = mid + 1;
            }
        }
        if a < hi.0 {
            windows.push((Timestamp(lo), Timestamp(a)));
            lo = a + 1;
        }
    }
    if lo <= hi.0 {
        windows.push((Timestamp(lo), hi));
    }
    windows
}

/// Event bits of [`Snapshot::window_times`]: the client's first `since`
/// row (its start), its first `until` row after that (its end), and its
/// first `until` row before any `since` of its own.
const EVENT_START: u8 = 1;
const EVENT_END: u8 = 2;
const EVENT_FIRST_UNTIL: u8 = 4;

/// The progress step of one row: indexed by `code << 2 | is_since << 1 |
/// is_until`, the next code and the events the row makes. Codes: 0 done or
/// not watched, 1 nothing yet, 2 started, 3 (only with `first_until`) an
/// `until` seen before any `since`.
fn step_table(first_until: bool) -> [(u8, u8); 16] {
    let mut table = [(0u8, 0u8); 16];
    for (index, entry) in table.iter_mut().enumerate() {
        let (code, is_since, is_until) = (index >> 2, index & 2 != 0, index & 1 != 0);
        *entry = match code {
            1 if is_since && is_until && first_until => (2, EVENT_START | EVENT_FIRST_UNTIL),
            1 | 3 if is_since => (2, EVENT_START),
            1 if is_until && first_until => (3, EVENT_FIRST_UNTIL),
            2 if is_until => (0, EVENT_END),
            _ => (code as u8, 0),
        };
    }
    table
}

fn check_order(from: Timestamp, to: Timestamp) -> Result<()> {
    if from >= to {
        return Err(Error::InvalidInput(format!(
            "range start {} ms is not before its end {} ms",
            from.0, to.0
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientId, Seq, TransitionRow};
    use crate::run::MemRun;

    fn run(times: impl IntoIterator<Item = i64>) -> Arc<dyn Run> {
        let rows = times
            .into_iter()
            .enumerate()
            .map(|(i, t)| TransitionRow {
                time: Timestamp(t),
                seq: Seq(i as u64),
                client: ClientId(i as u32),
                deployment: DeploymentId(0),
                state: State::InProgress,
                error: None,
            })
            .collect();
        Arc::new(MemRun::new(rows, Vec::new()))
    }

    /// The windows are consecutive, cover `[from, hi]` exactly, and hold
    /// about equal rows.
    #[test]
    fn time_windows_tile_the_range_with_like_rows() {
        // Most rows in one long run, the rest in a short later one.
        let long = run((0..90_000).map(|i| i * 10));
        let short = run((0..10_000).map(|i| 900_000 + i));
        let runs = [&long, &short];
        for parts in 1..=4 {
            for (from, hi) in [(0, 909_999), (450_000, 905_000), (7, 7), (0, 10)] {
                let w = time_windows(&runs, Timestamp(from), Timestamp(hi), parts);
                assert!(!w.is_empty() && w.len() <= parts, "{parts} {w:?}");
                assert_eq!(w[0].0, Timestamp(from));
                assert_eq!(w[w.len() - 1].1, Timestamp(hi));
                for pair in w.windows(2) {
                    assert_eq!(pair[0].1.0 + 1, pair[1].0.0, "{w:?}");
                }
                assert!(w.iter().all(|(a, b)| a <= b), "{w:?}");
            }
            let w = time_windows(&runs, Timestamp(0), Timestamp(909_999), parts);
            assert_eq!(w.len(), parts);
            let rows: Vec<u64> = w
                .iter()
                .map(|&(a, b)| runs.iter().map(|r| r.transitions_between(a, b)).sum())
                .collect();
            let share = 100_000 / parts as u64;
            assert!(
                rows.iter().all(|&r| r.abs_diff(share) <= share / 20),
                "{parts}: {rows:?}"
            );
        }
    }
}
