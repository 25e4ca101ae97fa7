//! Decoding one block of a segment: transitions (or failures) into rows,
//! the state columns of an as-of replay, memberships into rows; each after
//! its crc is checked, and each checked for order and ranges before a row
//! leaves.

use super::*;

impl SegmentReader {
    /// Decodes transition or failure block `i` into `rows`.
    pub(super) fn decode_transitions(
        &self,
        section: Section,
        i: usize,
        values: &mut Values,
        rows: &mut Vec<TransitionRow>,
    ) -> Result<()> {
        let (bytes, m) = self.block(section, i)?;
        let n = m.rows as usize;
        let bad_block = |what: &str| self.bad_block(section, i, m, what);
        let mut at = 0usize;
        let mut next = || -> Result<Column<'_>> {
            let rest = bytes.get(at..).unwrap_or_default();
            let (col, used) = Column::parse(rest, n).map_err(|e| bad_block(e.0))?;
            at += used;
            Ok(col)
        };
        let cols: [Column<'_>; TRANSITION_COLUMNS] = [next()?, next()?, next()?, next()?, next()?, next()?];
        if at != bytes.len() {
            return Err(bad_block("bytes left after the last column"));
        }
        let [t, sq, cl, dp, st, er] = values;
        cols[0].decode(t);
        cols[1].decode(sq);
        cols[2].decode(cl);
        cols[3].decode(dp);
        cols[4].decode(st);
        cols[5].decode(er);
        // Range checks first, branch-free, so the assembly below cannot fail.
        let max_id = u64::from(u32::MAX);
        let errors = &self.errors;
        let bad = cl.iter().chain(dp.iter()).fold(false, |b, &v| b | (v > max_id))
            | st.iter().fold(false, |b, &v| b | (v >= State::ALL.len() as u64))
            | er.iter().fold(false, |b, &v| b | (v >= errors.len() as u64));
        if bad {
            return Err(bad_block("id, state or error index out of range"));
        }
        let ordered = t
            .windows(2)
            .zip(sq.windows(2))
            .all(|(a, b)| (a[0] as i64, b[0]) < (a[1] as i64, b[1]));
        let bounds = t.first().map(|&v| v as i64) == Some(m.first_time)
            && t.last().map(|&v| v as i64) == Some(m.last_time);
        if !ordered || !bounds {
            return Err(bad_block(
                "rows out of (time, seq) order or disagreeing with the block index",
            ));
        }
        const STATES: [State; 6] = State::ALL;
        rows.clear();
        rows.extend(
            t.iter()
                .zip(sq.iter())
                .zip(cl.iter())
                .zip(dp.iter())
                .zip(st.iter())
                .zip(er.iter())
                .map(|(((((&t, &s), &c), &d), &st), &e)| TransitionRow {
                    time: Timestamp(t as i64),
                    seq: Seq(s),
                    client: ClientId(c as u32),
                    deployment: DeploymentId(d as u32),
                    state: STATES[(st as usize).min(5)],
                    error: errors.get(e as usize).copied().flatten(),
                }),
        );
        if section == Section::Failures && rows.iter().any(|r| r.state != State::Failed) {
            return Err(bad_block("a row of the failures section is not Failed"));
        }
        self.check_unchanged(m.offset)
    }

    /// Decodes the client, deployment and state columns of transition block
    /// `i` into `values[2]`, `values[3]`, `values[4]` of `block` (a constant
    /// deployment column goes to `block.deployment` instead, `values[3]`
    /// left empty), and with `with_time` the time column into `values[0]`
    /// (an as-of replay needs no more; the other columns are skipped by
    /// length). The block's crc is checked as always; of the row checks
    /// [`Self::decode_transitions`] makes, the state range is checked (from
    /// the column header when it bounds every value below 6, else per row),
    /// and the first and last time against the block index when times are
    /// decoded.
    pub(super) fn decode_state_columns(
        &self,
        i: usize,
        block: &mut StateBlock,
        with_time: bool,
        with_seq: bool,
    ) -> Result<()> {
        let section = Section::Transitions;
        let (bytes, m) = self.block(section, i)?;
        let n = m.rows as usize;
        let bad_block = |what: &str| self.bad_block(section, i, m, what);
        let mut at = 0usize;
        block.deployment = None;
        let mut states_in_range = false;
        let values = &mut block.values;
        for (k, values) in values.iter_mut().enumerate() {
            let rest = bytes.get(at..).unwrap_or_default();
            let wanted = matches!(k, 2..=4) || (k == 0 && with_time) || (k == 1 && with_seq);
            at += if wanted {
                let (col, used) = Column::parse(rest, n).map_err(|e| bad_block(e.0))?;
                // States below 6 by the column's header need no check per row.
                states_in_range |= k == 4 && col.upper_bound().is_some_and(|b| b < State::ALL.len() as u64);
                match col.constant().filter(|_| k == 3) {
                    Some(deployment) => {
                        block.deployment = Some(deployment);
                        values.clear();
                    }
                    None => col.decode(values),
                }
                used
            } else {
                values.clear();
                Column::skip(rest, n).map_err(|e| bad_block(e.0))?
            };
        }
        if at != bytes.len() {
            return Err(bad_block("bytes left after the last column"));
        }
        let bad_state = !states_in_range
            && values[4]
                .iter()
                .fold(false, |b, &v| b | (v >= State::ALL.len() as u64));
        let t = &values[0];
        let bounds = !with_time
            || (t.first().map(|&v| v as i64) == Some(m.first_time)
                && t.last().map(|&v| v as i64) == Some(m.last_time));
        if bad_state || !bounds {
            return Err(bad_block(
                "state index out of range, or times disagreeing with the block index",
            ));
        }
        self.check_unchanged(m.offset)
    }

    /// [`Run::scan_states`]: like [`Self::scan_section`] over transitions,
    /// decoding only the replay's columns (times only where asked, or where
    /// a block straddles `lo` or `hi`).
    pub(super) fn scan_state_columns(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        below: u64,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        // Seqs are decoded (and rows at or above `below` dropped) only when
        // the segment holds such rows.
        let with_seq = self.summary.seq_bounds.is_some_and(|(_, hi)| hi.0 >= below);
        let mut kept: [Vec<u64>; 4] = Default::default();
        let blocks = self.blocks(Section::Transitions);
        let Some((start, end)) = self.blocks_between(Section::Transitions, lo, hi) else {
            return Ok(0);
        };
        let inside = |m: &BlockMeta| m.first_time >= lo.0 && m.last_time <= hi.0;
        let needs_time = |m: &BlockMeta| with_time || !inside(m);
        let mut deliver = |m: &BlockMeta, block: &StateBlock, sink: &mut StateSink<'_>| -> Result<u64> {
            let v = &block.values;
            let t = &v[0];
            let (a, b) = if inside(m) {
                (0, v[2].len())
            } else {
                (
                    t.partition_point(|&x| (x as i64) < lo.0),
                    t.partition_point(|&x| (x as i64) <= hi.0),
                )
            };
            if a >= b {
                return Ok(0);
            }
            let deployment = match block.deployment {
                Some(d) => DeploymentColumn::Constant(d),
                None => DeploymentColumn::PerRow(&v[3][a..b]),
            };
            let seqs = v[1].get(a..b).unwrap_or_default();
            if !with_seq || seqs.iter().all(|&s| s < below) {
                sink(StateColumns {
                    time: t.get(a..b).filter(|_| with_time),
                    client: &v[2][a..b],
                    deployment,
                    state: &v[4][a..b],
                })?;
                return Ok((b - a) as u64);
            }
            for k in kept.iter_mut() {
                k.clear();
            }
            for (r, &s) in (a..b).zip(seqs) {
                if s < below {
                    kept[0].push(t.get(r).copied().unwrap_or_default());
                    kept[1].push(v[2][r]);
                    kept[2].push(v[3].get(r).copied().unwrap_or_default());
                    kept[3].push(v[4][r]);
                }
            }
            if !kept[1].is_empty() {
                sink(StateColumns {
                    time: Some(&kept[0][..]).filter(|_| with_time),
                    client: &kept[1],
                    deployment: match block.deployment {
                        Some(d) => DeploymentColumn::Constant(d),
                        None => DeploymentColumn::PerRow(&kept[2]),
                    },
                    state: &kept[3],
                })?;
            }
            Ok((b - a) as u64)
        };
        self.decode_in_order(
            start,
            end,
            |i, block: &mut StateBlock| {
                let m = blocks
                    .get(i)
                    .ok_or_else(|| self.corrupt(0, "block index out of range"))?;
                self.decode_state_columns(i, block, needs_time(m), with_seq)
            },
            |i, values| match blocks.get(i) {
                Some(m) => deliver(m, values, sink),
                None => Ok(0),
            },
        )
    }

    /// Decodes blocks `start..end` with `decode` and hands each to
    /// `deliver` in block order: one at a time for short scans, else a
    /// window of blocks decoded in parallel at a time, the buffers reused
    /// from window to window. Returns the sum of what `deliver` returns.
    pub(super) fn decode_in_order<V: Default + Send>(
        &self,
        start: usize,
        end: usize,
        decode: impl Fn(usize, &mut V) -> Result<()> + Sync,
        mut deliver: impl FnMut(usize, &V) -> Result<u64>,
    ) -> Result<u64> {
        let mut n = 0u64;
        if end.saturating_sub(start) <= 2 {
            let mut buf = V::default();
            for i in start..end {
                decode(i, &mut buf)?;
                n += deliver(i, &buf)?;
            }
            return Ok(n);
        }
        let window = (2 * rayon::current_num_threads()).clamp(2, 16);
        let mut bufs: Vec<V> = (0..window.min(end - start)).map(|_| V::default()).collect();
        let mut i = start;
        while i < end {
            let j = (i + window).min(end);
            let decoded: Vec<Result<()>> = bufs[..j - i]
                .par_iter_mut()
                .enumerate()
                .map(|(k, buf)| decode(i + k, buf))
                .collect();
            for (k, result) in decoded.into_iter().enumerate() {
                result?;
                if let Some(buf) = bufs.get(k) {
                    n += deliver(i + k, buf)?;
                }
            }
            i = j;
        }
        Ok(n)
    }

    /// Decodes membership block `i` into `rows`.
    pub(super) fn decode_memberships(
        &self,
        i: usize,
        values: &mut Values,
        rows: &mut Vec<MembershipRow>,
    ) -> Result<()> {
        let (bytes, m) = self.block(Section::Memberships, i)?;
        let n = m.rows as usize;
        let bad_block = |what: &str| self.bad_block(Section::Memberships, i, m, what);
        let mut at = 0usize;
        let mut next = || -> Result<Column<'_>> {
            let rest = bytes.get(at..).unwrap_or_default();
            let (col, used) = Column::parse(rest, n).map_err(|e| bad_block(e.0))?;
            at += used;
            Ok(col)
        };
        let cols: [Column<'_>; MEMBERSHIP_COLUMNS] = [next()?, next()?, next()?, next()?, next()?];
        if at != bytes.len() {
            return Err(bad_block("bytes left after the last column"));
        }
        rows.clear();
        rows.resize(n, NO_MEMBERSHIP);
        let values = &mut values[0];
        let mut bad = false;
        cols[0].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            r.collection = CollectionId(u32_value(v, &mut bad));
        }
        cols[1].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            r.time = Timestamp(v as i64);
        }
        cols[2].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            r.seq = Seq(v);
        }
        cols[3].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            r.client = ClientId(u32_value(v, &mut bad));
        }
        cols[4].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            bad |= v > 1;
            r.change = if v == 0 { Change::Join } else { Change::Leave };
        }
        if bad {
            return Err(bad_block("id or change out of range"));
        }
        let ordered = rows
            .windows(2)
            .all(|w| (w[0].collection, w[0].time, w[0].seq) < (w[1].collection, w[1].time, w[1].seq));
        let first = rows.first().map(|r| (r.collection.0, r.time.0));
        let last = rows.last().map(|r| (r.collection.0, r.time.0));
        if !ordered || first != Some((m.first_key, m.first_time)) || last != Some((m.last_key, m.last_time)) {
            return Err(bad_block(
                "rows out of (collection, time, seq) order or disagreeing with the block index",
            ));
        }
        self.check_unchanged(m.offset)
    }
}
