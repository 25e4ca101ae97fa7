//! Compaction: merge the delta segments, and the base's transition segments
//! from the earliest delta time on, into new time-ordered base segments with
//! checkpoints at every segment end; write the new membership changes to a
//! membership segment; add one file to the checkpoint chain; then swap the
//! manifest.
//!
//! Invariants:
//! * the base is its transition segments, time ordered and disjoint in time,
//!   then its membership segments (no transitions); a transition segment
//!   ends at a time boundary (a group of equal times is never split), and a
//!   checkpoint for every deployment is written at each segment's last time;
//! * only the base *suffix* that late data touches is rewritten: transition
//!   segments that end before the earliest delta time are kept, with their
//!   checkpoints in the chain, and the replay resumes from the checkpoint at
//!   the end of the kept prefix (when that checkpoint is missing, everything
//!   is rewritten and the new checkpoint file stands alone);
//! * the new checkpoint file holds only what this compaction cut or rebuilt
//!   (checkpoints after the kept prefix, the rollup from the hour of the
//!   earliest new row, membership snapshots from the earliest new change),
//!   and its header's cuts supersede exactly what that replaces;
//! * rows are streamed through bounded time windows, never all held at once;
//!   membership changes are streamed one collection at a time, and the
//!   checkpoint file streams to disk under a `.tmp` name (its header written
//!   last, over a placeholder), sealed before the manifest names it;
//! * old files are retired only after the new manifest is durable, and
//!   deleted when the last snapshot using them lets go.

use std::collections::HashSet;
use std::sync::Arc;

use super::files::{SegmentBuild, SegmentFile};
use super::open::read_checkpoints;
use super::{CompactReport, Store};
use crate::checkpoint::{Checkpoint, CheckpointFileWriter, CheckpointSet, Cuts};
use crate::compaction::CheckpointBuilder;
use crate::error::{Error, Result};
use crate::manifest::{FileRef, ckpt_name};
use crate::members::build_member_snapshots;
use crate::model::{CollectionId, DeploymentId, MembershipRow, Timestamp, TransitionRow};
use crate::rollup::{BaseCache, FailureRollup, HOUR_MS};
use crate::run::Run;
use crate::storage::{io_err, seal};

/// Base segments are cut every this many checkpoint intervals.
const CHECKPOINTS_PER_SEGMENT: u64 = 4;

/// Most rows a compaction window aims to hold in memory.
const WINDOW_ROWS: u64 = 1 << 20;

/// The end of the compaction window that starts at `lo`: the latest time up
/// to `hi` at which the inputs' blocks reaching into `[lo, end]` hold at most
/// `target` rows more than those reaching `lo` itself (counted from the
/// block indexes, so a window holds about `target` rows however unevenly
/// the rows spread over time: a dense hour after sparse days included).
/// At least `lo`, so every window advances; a window never splits a group
/// of equal times.
fn window_end<R: Run + ?Sized>(inputs: &[Arc<R>], lo: Timestamp, hi: Timestamp, target: u64) -> Timestamp {
    let rows = |end: Timestamp| -> u64 { inputs.iter().map(|f| f.transitions_between(lo, end)).sum() };
    let limit = rows(lo).saturating_add(target);
    if rows(hi) <= limit {
        return hi;
    }
    // rows(fits) <= limit < rows(past)
    let (mut fits, mut past) = (lo.0, hi.0);
    while i128::from(past) - i128::from(fits) > 1 {
        let mid = ((i128::from(fits) + i128::from(past)) / 2) as i64;
        if rows(Timestamp(mid)) <= limit {
            fits = mid;
        } else {
            past = mid;
        }
    }
    Timestamp(fits)
}

/// Runs a compaction; the store is flushed and has delta segments.
pub(super) fn compact(s: &mut Store) -> Result<CompactReport> {
    // The base: transition segments in time order, then membership segments
    // (membership changes only). Stores written before membership segments
    // existed keep their changes in the last transition segment; the first
    // compaction that rewrites it moves them into a membership segment.
    let (t_base, m_base): (Vec<Arc<SegmentFile>>, Vec<Arc<SegmentFile>>) =
        s.base.iter().cloned().partition(|f| f.transition_count() > 0);
    let t_delta = s
        .delta
        .iter()
        .filter_map(|f| f.transition_bounds().map(|b| b.0))
        .min();
    let mut keep = match t_delta {
        Some(t) => t_base
            .iter()
            .take_while(|f| f.transition_bounds().is_some_and(|(_, hi)| hi < t))
            .count(),
        // Only membership changes arrived: every transition segment stays.
        None => t_base.len(),
    };
    let mut builder = CheckpointBuilder::new(s.clients.len(), s.deployments.len());
    let mut kept_until: Option<Timestamp> = None;
    let mut resumed: Vec<IndexedCheckpoint> = Vec::new();
    if keep > 0 {
        match resume_point(s, &t_base[..keep])? {
            Some((end, at_end)) => {
                let cps: Vec<Arc<Checkpoint>> = at_end.iter().map(|(_, cp)| Arc::clone(cp)).collect();
                builder.resume(&cps);
                kept_until = Some(end);
                resumed = at_end;
            }
            None => keep = 0,
        }
    }
    // The runs whose transitions are rewritten.
    let inputs: Vec<Arc<SegmentFile>> = t_base[keep..].iter().chain(s.delta.iter()).cloned().collect();

    let cp_rows = (s.opts.checkpoint_interval_rows.max(1)) as u64;
    let seg_rows = cp_rows.saturating_mul(CHECKPOINTS_PER_SEGMENT);
    let mut out: Vec<Arc<SegmentFile>> = Vec::new();
    // The checkpoints cut by this compaction go into a new file of the
    // chain, written as compaction goes (not held in memory): under a
    // temporary name, sealed before the manifest names it. The kept prefix's
    // checkpoints stay in their files; the new file's header supersedes
    // those after the prefix, and its first record of each deployment is a
    // delta against the kept one at the prefix's end.
    let ckpt_number = s.next_file;
    s.next_file += 1;
    let ckpt_tmp = format!("{}.tmp", ckpt_name(ckpt_number));
    let ckpt_file = s
        .storage
        .create(&ckpt_tmp)
        .map_err(|e| io_err(&*s.storage, "create", &ckpt_tmp, e))?;
    let mut writer = CheckpointFileWriter::to_file(ckpt_file);
    let kept_chain: Vec<FileRef> = match (kept_until, &s.checkpoints) {
        (Some(_), Some(set)) => {
            for (i, cp) in &resumed {
                writer.seed(cp, set.chain_depth(*i));
            }
            s.manifest.checkpoints.clone()
        }
        _ => Vec::new(),
    };
    drop(resumed);
    let mut new_cps = 0u64;
    let mut emit = |writer: &mut CheckpointFileWriter, builder: &CheckpointBuilder, at: Timestamp| {
        for cp in builder.emit(at) {
            writer.push(&cp);
            new_cps += 1;
        }
    };
    // Time of the last group replayed, and of the last checkpoint cut.
    let mut last_group: Option<Timestamp> = None;
    let mut last_cut: Option<Timestamp> = None;
    let mut since_cut = 0u64;
    let mut build: Option<SegmentBuild> = None;
    let mut rows_rewritten = 0u64;

    let bounds = inputs
        .iter()
        .filter_map(|f| f.transition_bounds())
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    if let Some((lo, hi)) = bounds {
        let target = WINDOW_ROWS.min(seg_rows).max(1);
        let mut wlo = Some(lo);
        let mut buf: Vec<TransitionRow> = Vec::new();
        let mut released = vec![false; inputs.len()];
        while let Some(a) = wlo {
            let b = window_end(&inputs, a, hi, target);
            buf.clear();
            for f in &inputs {
                if f.transition_bounds().is_some_and(|(x, y)| x <= b && y >= a) {
                    f.scan_transitions(a, b, &mut |rows| {
                        buf.extend_from_slice(rows);
                        Ok(())
                    })?;
                }
            }
            buf.sort_unstable_by_key(|r| (r.time, r.seq));
            let mut i = 0;
            while i < buf.len() {
                let t = buf[i].time;
                let j = i + buf[i..].partition_point(|r| r.time <= t);
                if let Some(full) = build.take_if(|b| b.rows() >= seg_rows) {
                    let last = full.last_time();
                    out.push(full.finish(&s.storage, Vec::new())?);
                    // Every base segment ends with a checkpoint (compaction
                    // resumes from there).
                    if let Some(t) = last.filter(|&t| last_cut != Some(t)) {
                        emit(&mut writer, &builder, t);
                        last_cut = Some(t);
                    }
                    since_cut = 0;
                } else if since_cut >= cp_rows
                    && let Some(t) = last_group.filter(|&t| last_cut != Some(t))
                {
                    emit(&mut writer, &builder, t);
                    last_cut = Some(t);
                    since_cut = 0;
                }
                let current = match &mut build {
                    Some(b) => b,
                    None => {
                        let number = s.next_file;
                        s.next_file += 1;
                        build.insert(SegmentBuild::create(&*s.storage, number)?)
                    }
                };
                current.push(&buf[i..j])?;
                builder.apply(&buf[i..j]);
                since_cut += (j - i) as u64;
                last_group = Some(t);
                i = j;
            }
            rows_rewritten += buf.len() as u64;
            wlo = (b < hi).then(|| Timestamp(b.0 + 1));
            // An input read to its end is not read again by this pass: its
            // pages need not stay counted in the writer's memory.
            for (f, done) in inputs.iter().zip(released.iter_mut()) {
                if !*done && f.transition_bounds().is_none_or(|(_, last)| last <= b) {
                    f.reader().release_pages();
                    *done = true;
                }
            }
        }
    }
    if let Some(last_build) = build {
        let last = last_build.last_time();
        out.push(last_build.finish(&s.storage, Vec::new())?);
        if let Some(t) = last.filter(|&t| last_cut != Some(t)) {
            emit(&mut writer, &builder, t);
        }
    }
    drop(builder);

    // Membership changes: the new ones (delta runs) and any a rewritten
    // transition segment held go into one new membership segment, together
    // with the newest membership segments when the tiering says so.
    let moved: Vec<Arc<SegmentFile>> = inputs
        .iter()
        .filter(|f| f.membership_count() > 0)
        .cloned()
        .collect();
    let moved_rows: u64 = moved.iter().map(|f| f.membership_count()).sum();
    let m_first = if moved_rows > 0 {
        membership_segments_to_merge(&m_base, moved_rows)
    } else {
        m_base.len()
    };
    let m_inputs: Vec<Arc<SegmentFile>> = m_base[m_first..].iter().chain(moved.iter()).cloned().collect();
    let m_out = if m_inputs.is_empty() {
        None
    } else {
        let rows: u64 = m_inputs.iter().map(|f| f.membership_count()).sum();
        rows_rewritten += rows;
        Some(write_membership_segment(s, &m_inputs, rows)?)
    };
    // The earliest new membership change: snapshots (and per-collection
    // failure counts) from there on are rebuilt.
    let mut members_from = i64::MAX;
    for f in s.delta.iter().filter(|f| f.membership_count() > 0) {
        f.scan_memberships(None, Timestamp::MAX, &mut |rows| {
            if let Some(t) = rows.iter().map(|r| r.time.0).min() {
                members_from = members_from.min(t);
            }
            Ok(())
        })?;
    }

    let report = CompactReport {
        runs_in: (inputs.len() + m_inputs.len() - moved.len()) as u64,
        runs_out: (out.len() + usize::from(m_out.is_some())) as u64,
        rows: rows_rewritten,
        checkpoints: new_cps,
    };
    let new_base: Vec<Arc<SegmentFile>> = t_base[..keep]
        .iter()
        .chain(out.iter())
        .chain(m_base[..m_first].iter())
        .chain(m_out.iter())
        .cloned()
        .collect();
    let runs: Vec<Arc<dyn Run>> = new_base.iter().map(|f| f.clone() as Arc<dyn Run>).collect();
    let write_file = writer.len() > 0 || !kept_chain.is_empty();
    if write_file {
        // With a kept chain, only what the new rows can change is rebuilt:
        // failure counts from the hour of the earliest new transition or
        // membership change, membership snapshots from the earliest new
        // membership change. Without one, everything (the file stands for
        // the whole base).
        let (cuts, prior) = match (&s.checkpoints, kept_until) {
            (Some(set), Some(end)) if !kept_chain.is_empty() => {
                let first_new = t_delta.map_or(i64::MAX, |t| t.0).min(members_from);
                let cuts = Cuts {
                    checkpoints_after: end.0,
                    rollup_from_hour: if first_new == i64::MAX {
                        i64::MAX
                    } else {
                        first_new.div_euclid(HOUR_MS)
                    },
                    members_from,
                };
                (cuts, Some(Arc::clone(set)))
            }
            _ => (Cuts::ALL, None),
        };
        writer.set_cuts(cuts);
        if cuts.rollup_from_hour != i64::MAX {
            let part = FailureRollup::build_from(
                &runs,
                s.clients.len(),
                s.collections.len(),
                cuts.rollup_from_hour,
                prior.as_deref(),
            )?;
            writer.push_rollup(&part);
        }
        if cuts.members_from != i64::MAX {
            build_member_snapshots(
                &runs,
                s.clients.len(),
                s.collections.len(),
                s.opts.membership_snapshot_rows,
                prior.as_deref().map(|set| (set, Timestamp(cuts.members_from))),
                |m| writer.push_members(&m),
            )?;
        }
    }
    drop(runs);
    // The rollup and membership passes read the whole new suffix and the
    // membership segments: give those pages back too.
    for f in &new_base {
        f.reader().release_pages();
    }
    // Files this compaction wrote that a merge already folded away.
    let mut merged_away: Vec<FileRef> = Vec::new();
    let (chain, new_set) = if !write_file {
        drop(writer);
        // Best effort: a file left behind is an orphan.
        let _ = s.storage.remove(&ckpt_tmp);
        (Vec::new(), None)
    } else {
        let f = finish_checkpoint_file(s, writer, ckpt_number)?;
        merged_away.push(f);
        let mut chain = kept_chain;
        chain.push(f);
        // Mapped before the manifest names it: a failure here leaves an
        // orphan, not a store whose manifest names an unreadable file.
        let mut set = read_checkpoints(&*s.storage, &chain)?;
        if let Some(first) = files_to_merge(&set.live_bytes(), |i| set.can_merge_from(i)) {
            let merged = merge_checkpoint_files(s, &set, first)?;
            chain.truncate(first);
            chain.push(merged);
            set = read_checkpoints(&*s.storage, &chain)?;
        }
        (chain, Some(set))
    };

    let mut m = s.manifest.clone();
    m.generation += 1;
    m.next_seq = s.next_seq;
    m.next_file = s.next_file;
    m.base = new_base.iter().map(|f| f.file_ref()).collect();
    m.delta.clear();
    m.checkpoints = chain;
    m.write(&*s.storage)?;

    // Committed. Retire what the new manifest no longer names.
    let old_chain = std::mem::take(&mut s.manifest.checkpoints);
    s.manifest = m;
    for f in inputs.iter().chain(m_base[m_first..].iter()) {
        f.retire();
    }
    s.base = new_base;
    s.delta.clear();
    s.checkpoints = new_set;
    s.base_cache = Arc::new(BaseCache::default());
    let unnamed = old_chain.iter().chain(&merged_away);
    for old in unnamed.filter(|old| !s.manifest.checkpoints.contains(old)) {
        // Snapshots that use the old checkpoints hold the file mapped (or
        // read into memory), which removing its name does not disturb. Best
        // effort: a file left behind is an orphan, removed by the next
        // writer to open the store.
        let _ = s.storage.remove(&ckpt_name(old.number));
    }
    Ok(report)
}

/// Most membership segments the base keeps before the newest ones are
/// merged whatever their sizes.
const MAX_MEMBERSHIP_SEGMENTS: usize = 8;

/// Where the newest membership segments should be merged from, with
/// `new_rows` changes about to be added: like the checkpoint chain, the
/// newest segments are merged while the one before them holds at most twice
/// their changes together.
fn membership_segments_to_merge(m_base: &[Arc<SegmentFile>], new_rows: u64) -> usize {
    let mut first = m_base.len();
    let mut newer = new_rows;
    while first > 0 && m_base[first - 1].membership_count() <= newer.saturating_mul(2) {
        first -= 1;
        newer += m_base[first].membership_count();
    }
    // The base then holds `first + 1` membership segments.
    first.min(MAX_MEMBERSHIP_SEGMENTS - 1)
}

/// Writes one membership segment (no transitions) holding every membership
/// change of `inputs` (`rows` in all), one collection at a time (each input
/// keeps its changes grouped by collection), so only the largest
/// collection's changes are ever held at once.
fn write_membership_segment(
    s: &mut Store,
    inputs: &[Arc<SegmentFile>],
    rows: u64,
) -> Result<Arc<SegmentFile>> {
    let number = s.next_file;
    s.next_file += 1;
    let build = SegmentBuild::create(&*s.storage, number)?;
    let collections = s.collections.len() as u32;
    build.finish_streamed(&s.storage, |sink| {
        let mut buf: Vec<MembershipRow> = Vec::new();
        let mut streamed = 0u64;
        for c in (0..collections).map(CollectionId) {
            buf.clear();
            for f in inputs {
                f.scan_collection_changes(c, Timestamp::MIN, Timestamp::MAX, &mut |chunk| {
                    buf.extend_from_slice(chunk);
                    Ok(())
                })?;
            }
            buf.sort_unstable_by_key(|r| (r.time, r.seq));
            streamed += buf.len() as u64;
            sink(&buf)?;
        }
        if streamed != rows {
            return Err(Error::InvalidInput(format!(
                "compaction found {streamed} membership changes by collection, \
                 but its inputs hold {rows}"
            )));
        }
        Ok(())
    })
}

/// Writes the header of a checkpoint file streamed under its `.tmp` name,
/// fsyncs it and seals it under its own name.
fn finish_checkpoint_file(s: &Store, writer: CheckpointFileWriter, number: u64) -> Result<FileRef> {
    let tmp = format!("{}.tmp", ckpt_name(number));
    let (mut file, bytes) = writer
        .finish_file()
        .map_err(|e| io_err(&*s.storage, "write", &tmp, e))?;
    file.sync().map_err(|e| io_err(&*s.storage, "fsync", &tmp, e))?;
    drop(file);
    seal(&*s.storage, &tmp, &ckpt_name(number))?;
    Ok(FileRef { number, bytes })
}

/// Most checkpoint files a chain keeps before its newest ones are merged
/// whatever their sizes.
const MAX_CHAIN_FILES: usize = 12;

/// Where the newest files of a checkpoint chain should be merged from, given
/// each file's `(length, live bytes)` (see [`CheckpointSet::live_bytes`]),
/// and whether a merge may start at a file. Two rules, and the longer merge
/// of the two wins:
///
/// * like a binary counter, the newest files are merged while the file
///   before them is at most twice their size together, so the chain holds
///   about `log2(total / newest)` files and each record is copied about that
///   many times over its life;
/// * the longest suffix of the chain more than a quarter of whose bytes are
///   dead (superseded by later files) is merged, so that after each
///   compaction the chain holds at most 4/3 of its live bytes. (Every
///   compaction that takes late rows cuts the checkpoints after the earliest
///   of them, and those records die in files the counter may not merge again
///   for a long time: 120.6 MB of the 412 MB of checkpoint files at the end
///   of the session-11 30-minute stream.)
///
/// `None`: leave the chain as it is.
fn files_to_merge(files: &[(u64, u64)], may_start_at: impl Fn(usize) -> bool) -> Option<usize> {
    let n = files.len();
    let mut pick: Option<usize> = None;
    if n >= 2 {
        let mut first = n - 1;
        let mut newer = files[n - 1].0;
        while first > 0 && files[first - 1].0 <= newer.saturating_mul(2) {
            first -= 1;
            newer += files[first].0;
        }
        // The merged chain holds `first + 1` files.
        first = first.min(MAX_CHAIN_FILES - 1);
        pick = (first < n - 1).then_some(first);
    }
    let (mut dead, mut live) = (0u64, 0u64);
    let mut dead_pick = None;
    for i in (0..n).rev() {
        let (len, l) = files[i];
        dead += len.saturating_sub(l);
        live += l;
        if dead.saturating_mul(3) > live && may_start_at(i) {
            dead_pick = Some(i);
        }
    }
    match (pick, dead_pick) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Copies the live records of the chain's files from `first` on into one new
/// file (sealed, not yet named by the manifest), with their failure rollups
/// summed and the cuts of them all.
fn merge_checkpoint_files(s: &mut Store, set: &CheckpointSet, first: usize) -> Result<FileRef> {
    let number = s.next_file;
    s.next_file += 1;
    let tmp = format!("{}.tmp", ckpt_name(number));
    let file = s
        .storage
        .create(&tmp)
        .map_err(|e| io_err(&*s.storage, "create", &tmp, e))?;
    let mut writer = CheckpointFileWriter::to_file(file);
    let cuts = (first..set.file_count())
        .filter_map(|i| set.cuts(i))
        .fold(Cuts::NONE, |a, b| a.and(&b));
    writer.set_cuts(cuts);
    set.raw_records_from(first, |raw| writer.push_raw(&raw))?;
    match set.rollup_from_file(first)? {
        Some(rollup) => writer.push_rollup(&rollup),
        None => {
            return Err(Error::InvalidInput(
                "a checkpoint file without a failure rollup is not the oldest of its chain".into(),
            ));
        }
    }
    finish_checkpoint_file(s, writer, number)
}

/// A decoded checkpoint and its index in the [`CheckpointSet`].
type IndexedCheckpoint = (usize, Arc<Checkpoint>);

/// The end time of the kept transition segments `kept` and the checkpoints
/// there (decoded), when every deployment checkpointed up to then has one at
/// that time; `None` means "rewrite everything".
fn resume_point(s: &Store, kept: &[Arc<SegmentFile>]) -> Result<Option<(Timestamp, Vec<IndexedCheckpoint>)>> {
    let Some((_, end)) = kept.last().and_then(|f| f.transition_bounds()) else {
        return Ok(None);
    };
    let Some(set) = &s.checkpoints else {
        return Ok(None);
    };
    let keys: Vec<(usize, DeploymentId, Timestamp)> = (0..set.len())
        .filter_map(|i| set.key(i).map(|(d, t)| (i, d, t)))
        .collect();
    let at_end: Vec<usize> = keys.iter().filter(|k| k.2 == end).map(|k| k.0).collect();
    let have: HashSet<DeploymentId> = keys.iter().filter(|k| k.2 == end).map(|k| k.1).collect();
    let need: HashSet<DeploymentId> = keys.iter().filter(|k| k.2 <= end).map(|k| k.1).collect();
    if at_end.is_empty() || have != need {
        return Ok(None);
    }
    let cps = at_end
        .into_iter()
        .map(|i| Ok((i, set.get(i)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((end, cps)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{files_to_merge, window_end};
    use crate::bytes;
    use crate::model::{ClientId, DeploymentId, Seq, State, Timestamp, TransitionRow};
    use crate::run::Run;
    use crate::segment::{SegmentReader, SegmentWriter};

    fn segment(times: impl Iterator<Item = i64>, seq0: u64, block_rows: usize) -> Arc<dyn Run> {
        let rows: Vec<TransitionRow> = times
            .enumerate()
            .map(|(i, t)| TransitionRow {
                time: Timestamp(t),
                seq: Seq(seq0 + i as u64),
                client: ClientId(i as u32 % 1000),
                deployment: DeploymentId(0),
                state: State::InProgress,
                error: None,
            })
            .collect();
        let mut w = SegmentWriter::new(Vec::new(), "w.seg".into()).with_block_rows(block_rows);
        w.push_transitions(&rows).expect("push");
        let (file, _) = w.finish(Vec::new()).expect("finish");
        Arc::new(SegmentReader::open(bytes::owned(file), "w.seg".into()).expect("open"))
    }

    /// The binary counter merges the newest files while the one before is
    /// at most twice their size; a suffix more than a quarter dead is merged
    /// whatever the sizes; the longer merge of the two wins.
    #[test]
    fn chain_merges_follow_sizes_and_dead_bytes() {
        let any = |_: usize| true;
        // Sizes only (every byte live).
        assert_eq!(files_to_merge(&[(100, 100), (40, 40), (20, 20)], any), Some(0));
        assert_eq!(
            files_to_merge(&[(1000, 1000), (300, 300), (160, 160)], any),
            Some(1)
        );
        assert_eq!(files_to_merge(&[(1000, 1000), (10, 10)], any), None);
        assert_eq!(files_to_merge(&[(1000, 1000)], any), None);
        // The old file 30% dead: merged though far larger.
        assert_eq!(files_to_merge(&[(1000, 700), (10, 10)], any), Some(0));
        assert_eq!(files_to_merge(&[(1000, 800), (10, 10)], any), None);
        // A dead middle file: the suffix from it, not the live old file.
        assert_eq!(
            files_to_merge(&[(1000, 1000), (300, 100), (10, 10)], any),
            Some(1)
        );
        // Exactly a quarter dead is kept; a single file more than a quarter
        // dead is rewritten alone.
        assert_eq!(files_to_merge(&[(1000, 1000), (400, 300)], any), None);
        assert_eq!(files_to_merge(&[(1000, 1000), (400, 299)], any), Some(1));
        // A merge may not start where the caller says it cannot.
        assert_eq!(files_to_merge(&[(1000, 500), (10, 10)], |i| i > 0), None);
        assert_eq!(
            files_to_merge(&[(1000, 1000), (300, 100), (10, 10)], |i| i != 1),
            None
        );
    }

    /// A dense hour after ten sparse days (what a live feed appends to a
    /// daily history): every window holds about `target` rows, never the
    /// dense hour at once, and the windows tile the range.
    #[test]
    fn windows_follow_the_rows_not_the_time_span() {
        const DAY: i64 = 86_400_000;
        let block = 256;
        let sparse = segment((0..10_000).map(|i| i * DAY / 1_000), 0, block);
        let dense = segment((0..200_000).map(|i| 10 * DAY + i * 18), 10_000, block);
        let late = segment((0..5_000).map(|i| 9 * DAY + i * 7_000), 210_000, block);
        let inputs = [sparse, dense, late];
        let (lo, hi) = (Timestamp(0), Timestamp(10 * DAY + 200_000 * 18));
        let target = 10_000u64;
        let (mut start, mut windows, mut total) = (Some(lo), 0, 0u64);
        while let Some(a) = start {
            let b = window_end(&inputs, a, hi, target);
            assert!(b >= a && b <= hi);
            let mut rows = 0u64;
            for run in &inputs {
                run.scan_transitions(a, b, &mut |r| {
                    rows += r.len() as u64;
                    Ok(())
                })
                .expect("scan");
            }
            // At most a block per input reaching back over the window's start.
            assert!(
                rows <= target + 3 * block as u64,
                "window {a:?}..={b:?} holds {rows} rows"
            );
            total += rows;
            windows += 1;
            start = (b < hi).then(|| Timestamp(b.0 + 1));
        }
        assert_eq!(total, 215_000);
        // About total / target windows, not one per row or per block.
        assert!((21..=60).contains(&windows), "{windows} windows");
    }
}
