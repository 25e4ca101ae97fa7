//! Compaction: merge the delta segments, and the base from the earliest
//! delta time on, into new time-ordered base segments with checkpoints at
//! every segment end; then swap the manifest.
//!
//! Invariants:
//! * base segments are time ordered and disjoint in time: each one ends at a
//!   time boundary (a group of equal times is never split), and a checkpoint
//!   for every deployment is written at each segment's last time;
//! * only the base *suffix* that late data touches is rewritten: segments
//!   that end before the earliest delta time are kept, with their
//!   checkpoints, and the replay resumes from the checkpoint at the end of
//!   the kept prefix (when that checkpoint is missing, everything is
//!   rewritten);
//! * rows are streamed through bounded time windows, never all held at once;
//!   membership changes of the rewritten runs go into the last new segment
//!   one collection at a time, and the checkpoint file streams to disk
//!   under a `.tmp` name (its header written last, over a placeholder),
//!   sealed before the manifest names it;
//! * old files are retired only after the new manifest is durable, and
//!   deleted when the last snapshot using them lets go.

use std::collections::HashSet;
use std::sync::Arc;

use super::files::{SegmentBuild, SegmentFile};
use super::open::read_checkpoints;
use super::{CompactReport, Store};
use crate::checkpoint::{Checkpoint, CheckpointFileWriter};
use crate::compaction::CheckpointBuilder;
use crate::error::{Error, Result};
use crate::manifest::{FileRef, ckpt_name};
use crate::members::build_member_snapshots;
use crate::model::{CollectionId, DeploymentId, MembershipRow, Timestamp, TransitionRow};
use crate::rollup::{BaseCache, FailureRollup};
use crate::run::Run;
use crate::storage::{io_err, seal};

/// Base segments are cut every this many checkpoint intervals.
const CHECKPOINTS_PER_SEGMENT: u64 = 4;

/// Most rows a compaction window aims to hold in memory.
const WINDOW_ROWS: u64 = 1 << 20;

/// Runs a compaction; the store is flushed and has delta segments.
pub(super) fn compact(s: &mut Store) -> Result<CompactReport> {
    let t_delta = s
        .delta
        .iter()
        .filter_map(|f| f.transition_bounds().map(|b| b.0))
        .min();
    let mut keep = match t_delta {
        Some(t) => s
            .base
            .iter()
            .take_while(|f| f.transition_bounds().is_some_and(|(_, hi)| hi < t))
            .count(),
        // Only membership changes arrived: rewrite the last base segment,
        // where membership changes are kept.
        None => s.base.len().saturating_sub(1),
    };
    let mut builder = CheckpointBuilder::new(s.clients.len(), s.deployments.len());
    let mut kept_until: Option<Timestamp> = None;
    if keep > 0 {
        match resume_point(s, keep)? {
            Some((end, at_end)) => {
                builder.resume(&at_end);
                kept_until = Some(end);
            }
            None => keep = 0,
        }
    }
    let inputs: Vec<Arc<SegmentFile>> = s.base[keep..].iter().chain(s.delta.iter()).cloned().collect();

    let cp_rows = (s.opts.checkpoint_interval_rows.max(1)) as u64;
    let seg_rows = cp_rows.saturating_mul(CHECKPOINTS_PER_SEGMENT);
    let mut out: Vec<Arc<SegmentFile>> = Vec::new();
    // Checkpoints stream into the file as they are cut: the kept ones
    // (decoded one at a time from the old file), then the new ones.
    // The checkpoint file is written as compaction goes (not held in
    // memory): under a temporary name, sealed before the manifest names it.
    let ckpt_number = s.next_file;
    s.next_file += 1;
    let ckpt_tmp = format!("{}.tmp", ckpt_name(ckpt_number));
    let ckpt_file = s
        .storage
        .create(&ckpt_tmp)
        .map_err(|e| io_err(&*s.storage, "create", &ckpt_tmp, e))?;
    let mut writer = CheckpointFileWriter::to_file(ckpt_file);
    if let (Some(end), Some(set)) = (kept_until, &s.checkpoints) {
        set.for_each(|_, cp| {
            if cp.time <= end {
                writer.push(cp);
            }
            Ok(())
        })?;
    }
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

    let total: u64 = inputs.iter().map(|f| f.transition_count()).sum();
    let bounds = inputs
        .iter()
        .filter_map(|f| f.transition_bounds())
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    if let Some((lo, hi)) = bounds {
        let target = i128::from(WINDOW_ROWS.min(seg_rows).max(1));
        let (mut wlo, hi) = (i128::from(lo.0), i128::from(hi.0));
        let mut width = ((hi - wlo + 1) * target / i128::from(total.max(1))).max(1);
        let mut buf: Vec<TransitionRow> = Vec::new();
        while wlo <= hi {
            let whi = (wlo + width - 1).min(hi);
            let (a, b) = (Timestamp(wlo as i64), Timestamp(whi as i64));
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
            let n = buf.len() as i128;
            width = if n == 0 {
                width.saturating_mul(2)
            } else {
                (width * target / n).clamp(1, width.saturating_mul(4))
            };
            wlo = whi + 1;
        }
    }

    // Membership changes go into the last new segment, one collection at a
    // time (each input keeps its changes grouped by collection), so only
    // the largest collection's changes are ever held at once.
    let membership_rows: u64 = inputs.iter().map(|f| f.membership_count()).sum();
    rows_rewritten += membership_rows;
    if build.is_none() && membership_rows > 0 {
        let number = s.next_file;
        s.next_file += 1;
        build = Some(SegmentBuild::create(&*s.storage, number)?);
    }
    if let Some(last_build) = build {
        let last = last_build.last_time();
        let collections = s.collections.len() as u32;
        let with_changes: Vec<&Arc<SegmentFile>> =
            inputs.iter().filter(|f| f.membership_count() > 0).collect();
        out.push(last_build.finish_streamed(&s.storage, |sink| {
            if with_changes.is_empty() {
                return Ok(());
            }
            let mut rows: Vec<MembershipRow> = Vec::new();
            let mut streamed = 0u64;
            for c in (0..collections).map(CollectionId) {
                rows.clear();
                for f in &with_changes {
                    f.scan_collection_changes(c, Timestamp::MIN, Timestamp::MAX, &mut |chunk| {
                        rows.extend_from_slice(chunk);
                        Ok(())
                    })?;
                }
                rows.sort_unstable_by_key(|r| (r.time, r.seq));
                streamed += rows.len() as u64;
                sink(&rows)?;
            }
            if streamed != membership_rows {
                return Err(Error::InvalidInput(format!(
                    "compaction found {streamed} membership changes by collection, \
                     but its inputs hold {membership_rows}"
                )));
            }
            Ok(())
        })?);
        if let Some(t) = last.filter(|&t| last_cut != Some(t)) {
            emit(&mut writer, &builder, t);
        }
    }
    drop(builder);

    let report = CompactReport {
        runs_in: inputs.len() as u64,
        runs_out: out.len() as u64,
        rows: rows_rewritten,
        checkpoints: new_cps,
    };
    // The failure rollup of the whole new base (a late membership change
    // can change the counts of any hour), stored beside the checkpoints.
    let new_base: Vec<Arc<dyn Run>> = s.base[..keep]
        .iter()
        .chain(out.iter())
        .map(|f| f.clone() as Arc<dyn Run>)
        .collect();
    let rollup = Arc::new(FailureRollup::build(
        &new_base,
        s.clients.len(),
        s.collections.len(),
    )?);
    if writer.len() > 0 {
        writer.push_rollup(&rollup);
        build_member_snapshots(
            &new_base,
            s.clients.len(),
            s.collections.len(),
            s.opts.membership_snapshot_rows,
            |m| writer.push_members(&m),
        )?;
    }
    drop(new_base);
    let (ckpt, new_set) = if writer.len() == 0 {
        drop(writer);
        // Best effort: a file left behind is an orphan.
        let _ = s.storage.remove(&ckpt_tmp);
        (None, None)
    } else {
        let (mut file, bytes) = writer
            .finish_file()
            .map_err(|e| io_err(&*s.storage, "write", &ckpt_tmp, e))?;
        file.sync()
            .map_err(|e| io_err(&*s.storage, "fsync", &ckpt_tmp, e))?;
        drop(file);
        let name = ckpt_name(ckpt_number);
        seal(&*s.storage, &ckpt_tmp, &name)?;
        let f = FileRef {
            number: ckpt_number,
            bytes,
        };
        // Mapped before the manifest names it: a failure here leaves an
        // orphan, not a store whose manifest names an unreadable file.
        (Some(f), Some(read_checkpoints(&*s.storage, f)?))
    };

    let mut m = s.manifest.clone();
    m.generation += 1;
    m.next_seq = s.next_seq;
    m.next_file = s.next_file;
    m.base = s.base[..keep]
        .iter()
        .chain(out.iter())
        .map(|f| f.file_ref())
        .collect();
    m.delta.clear();
    m.checkpoints = ckpt;
    m.write(&*s.storage)?;

    // Committed. Retire what the new manifest no longer names.
    let old_ckpt = s.manifest.checkpoints;
    s.manifest = m;
    for f in &inputs {
        f.retire();
    }
    s.base.truncate(keep);
    s.base.extend(out);
    s.delta.clear();
    s.checkpoints = new_set;
    s.base_cache = Arc::new(BaseCache::with_rollup(rollup));
    if let Some(old) = old_ckpt.filter(|old| Some(*old) != ckpt) {
        // Snapshots that use the old checkpoints hold the file mapped (or
        // read into memory), which removing its name does not disturb. Best effort: a file left behind is an orphan, removed by the next
        // writer to open the store.
        let _ = s.storage.remove(&ckpt_name(old.number));
    }
    Ok(report)
}

/// The end time of the kept base prefix `base[..keep]` and the checkpoints
/// there (decoded), when every deployment checkpointed up to then has one at
/// that time; `None` means "rewrite everything".
fn resume_point(s: &Store, keep: usize) -> Result<Option<(Timestamp, Vec<Arc<Checkpoint>>)>> {
    let Some((_, end)) = keep
        .checked_sub(1)
        .and_then(|k| s.base.get(k))
        .and_then(|f| f.transition_bounds())
    else {
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
        .map(|i| set.get(i))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((end, cps)))
}
