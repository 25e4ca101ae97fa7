//! [`Transaction`]: a multi-batch, all-or-nothing write. Rows are checked
//! for duplicates against the store and the rest of the transaction before
//! they get a `seq`; past `Options::txn_spill_rows` they are spilled to
//! staged segments, so a transaction of any size runs in bounded memory.
//!
//! Invariants: nothing of a transaction is visible before its durable point
//! (its log fsync, or the manifest naming its staged segments); its commit
//! record (the commit time) is fsynced before that point; dropping an
//! uncommitted transaction rolls the dictionaries and `seq` back and retires
//! its staged segments.

use super::*;

/// A segment a large transaction spilled, not yet named by the manifest.
#[derive(Debug)]
pub(super) struct Staged {
    pub(super) seg: Arc<SegmentFile>,
    pub(super) transitions: bloom::Bloom,
    pub(super) memberships: bloom::Bloom,
}

/// A multi-batch, all-or-nothing write. See [`Store::begin`].
///
/// Rows are buffered in memory; past [`Options::txn_spill_rows`] they are
/// spilled to staged segment files, so a transaction of any size runs in
/// bounded memory. A transaction that never spilled commits through the
/// write-ahead log; one that did commits by writing a manifest that names its
/// staged segments.
#[derive(Debug)]
pub struct Transaction<'s> {
    pub(super) store: &'s mut Store,
    pub(super) marks: [usize; 3],
    pub(super) seq_mark: u64,
    pub(super) transitions: Vec<TransitionRow>,
    pub(super) memberships: Vec<MembershipRow>,
    /// Indexes into `transitions` by the hash of their identity: the
    /// in-transaction duplicate check (entries a few bytes wide, where a
    /// set of keys would hold every key again).
    pub(super) transition_index: hashbrown::HashTable<usize>,
    pub(super) membership_keys: bloom::KeySet<MembershipKey>,
    pub(super) staged: Vec<Staged>,
    pub(super) report: AppendReport,
    pub(super) failed: Option<String>,
    pub(super) done: bool,
}

impl Transaction<'_> {
    /// Adds a batch to the transaction, dropping exact duplicates. After an
    /// error the transaction can only be dropped.
    pub fn append(&mut self, batch: &Batch) -> Result<AppendReport> {
        if let Some(why) = &self.failed {
            return Err(Error::Aborted(why.clone()));
        }
        let r = self.append_inner(batch);
        if let Err(e) = &r {
            self.failed = Some(e.to_string());
        }
        r
    }

    fn append_inner(&mut self, batch: &Batch) -> Result<AppendReport> {
        let mut report = AppendReport::default();
        let store = &*self.store;
        // Resolve every distinct name once, under one lock per dictionary.
        let hint = |k: usize| batch.hints.as_deref().map(|h| &h[k]);
        let client_ids = store
            .clients
            .get_or_insert_all_hinted(batch.client_names(), hint(0));
        let deployment_ids = store
            .deployments
            .get_or_insert_all_hinted(batch.deployment_names(), hint(1));
        let collection_ids = store
            .collections
            .get_or_insert_all_hinted(batch.collection_names(), hint(2));
        let transitions: Vec<TransitionRow> = batch
            .transitions
            .iter()
            .map(|p| TransitionRow {
                time: p.time,
                seq: Seq(0),
                client: ClientId(client_ids[p.client as usize]),
                deployment: DeploymentId(deployment_ids[p.deployment as usize]),
                state: p.state,
                error: p.error,
            })
            .collect();
        let memberships: Vec<MembershipRow> = batch
            .memberships
            .iter()
            .map(|p| MembershipRow {
                time: p.time,
                seq: Seq(0),
                client: ClientId(client_ids[p.client as usize]),
                collection: CollectionId(collection_ids[p.collection as usize]),
                change: p.change,
            })
            .collect();
        let stored = self.stored_transitions(&transitions)?;
        for (row, stored) in transitions.into_iter().zip(stored) {
            let key = row.identity();
            // One hash of the key serves the staged filters and the buffer index.
            let hash = bloom::hash(&key);
            if stored || self.is_staged_transition(&key, hash)? || !self.buffer_transition_key(&key, hash) {
                report.duplicates += 1;
                continue;
            }
            self.transitions.push(TransitionRow {
                seq: Seq(self.store.next_seq),
                ..row
            });
            self.store.next_seq += 1;
            report.transitions += 1;
            self.maybe_spill()?;
        }
        let stored = self.stored_memberships(&memberships)?;
        for (row, stored) in memberships.into_iter().zip(stored) {
            let key = row.identity();
            if stored || self.is_staged_membership(&key)? || !self.membership_keys.insert(key) {
                report.duplicates += 1;
                continue;
            }
            self.memberships.push(MembershipRow {
                seq: Seq(self.store.next_seq),
                ..row
            });
            self.store.next_seq += 1;
            report.memberships += 1;
            self.maybe_spill()?;
        }
        self.report.add(report);
        Ok(report)
    }

    /// Which rows the store (not this transaction) already holds. Rows naming
    /// a client or deployment this transaction introduced cannot be stored
    /// and are not looked up; the rest are looked up in time order, so that
    /// segment probes walk each file's blocks forward.
    fn stored_transitions(&self, rows: &[TransitionRow]) -> Result<Vec<bool>> {
        let [clients, deployments, _] = self.marks.map(|m| m as u32);
        let mut order: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].client.0 < clients && rows[i].deployment.0 < deployments)
            .collect();
        order.sort_unstable_by_key(|&i| rows[i].time);
        let mut out = vec![false; rows.len()];
        for i in order {
            out[i] = self.store.is_stored_transition(&rows[i].identity())?;
        }
        Ok(out)
    }

    /// [`Transaction::stored_transitions`] for membership changes.
    fn stored_memberships(&self, rows: &[MembershipRow]) -> Result<Vec<bool>> {
        let [clients, _, collections] = self.marks.map(|m| m as u32);
        let mut order: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].client.0 < clients && rows[i].collection.0 < collections)
            .collect();
        order.sort_unstable_by_key(|&i| (rows[i].collection, rows[i].time));
        let mut out = vec![false; rows.len()];
        for i in order {
            out[i] = self.store.is_stored_membership(&rows[i].identity())?;
        }
        Ok(out)
    }

    /// Whether a staged segment holds `key` (`hash` = `bloom::hash(key)`).
    fn is_staged_transition(&self, key: &TransitionKey, hash: u64) -> Result<bool> {
        for s in &self.staged {
            if covers(s.seg.as_ref(), key)
                && s.transitions.may_contain(hash)
                && s.seg.contains_transition(key)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn is_staged_membership(&self, key: &MembershipKey) -> Result<bool> {
        if self.staged.is_empty() {
            return Ok(false);
        }
        let h = bloom::hash(key);
        for s in &self.staged {
            if s.memberships.may_contain(h) && s.seg.contains_membership(key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The in-transaction duplicate check: false when a row with `key` is
    /// buffered, else records that the next buffered row has it (`hash` =
    /// `bloom::hash(key)`).
    fn buffer_transition_key(&mut self, key: &TransitionKey, hash: u64) -> bool {
        let rows = &self.transitions;
        if self.transition_index.capacity() == 0 {
            let expected = self.store.opts.txn_spill_rows.min(1 << 20);
            self.transition_index
                .reserve(expected, |&i| bloom::hash(&rows[i].identity()));
        }
        match self.transition_index.entry(
            hash,
            |&i| rows[i].identity() == *key,
            |&i| bloom::hash(&rows[i].identity()),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(rows.len());
                true
            }
        }
    }

    fn buffered(&self) -> usize {
        self.transitions.len() + self.memberships.len()
    }

    fn maybe_spill(&mut self) -> Result<()> {
        if self.buffered() >= self.store.opts.txn_spill_rows.max(1) {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the buffered rows to a staged segment file.
    fn spill(&mut self) -> Result<()> {
        let mut transitions = std::mem::take(&mut self.transitions);
        let mut memberships = std::mem::take(&mut self.memberships);
        // The index points into the rows just taken.
        self.transition_index.clear();
        transitions.sort_unstable_by_key(|r| (r.time, r.seq));
        memberships.sort_unstable_by_key(|r| (r.collection, r.time, r.seq));
        let mut tb = bloom::Bloom::with_capacity(transitions.len());
        let mut mb = bloom::Bloom::with_capacity(memberships.len());
        for r in &transitions {
            tb.insert(bloom::hash(&r.identity()));
        }
        for k in self.membership_keys.drain() {
            mb.insert(bloom::hash(&k));
        }
        let number = self.store.next_file;
        self.store.next_file += 1;
        let storage = self.store.storage.clone();
        let seg = self
            .store
            .guarded(|_| files::write_segment(&storage, number, &transitions, memberships))?;
        self.staged.push(Staged {
            seg,
            transitions: tb,
            memberships: mb,
        });
        Ok(())
    }

    /// Makes the transaction durable and visible.
    pub fn commit(self) -> Result<AppendReport> {
        self.finish(None)
    }

    /// [`Transaction::commit`], recording `committed_at` as the commit time
    /// (see [`Store::append_at`]).
    pub fn commit_at(self, committed_at: Timestamp) -> Result<AppendReport> {
        self.finish(Some(committed_at))
    }

    fn finish(mut self, committed_at: Option<Timestamp>) -> Result<AppendReport> {
        if let Some(why) = &self.failed {
            return Err(Error::Aborted(why.clone()));
        }
        self.store.check_writable()?;
        // The commit record goes first: written and fsynced before the
        // durable point below, so an acknowledged commit has its time.
        let record = match committed_at {
            Some(at) if self.store.next_seq > self.seq_mark => {
                let last = self.store.commits.last_at().unwrap_or(i64::MIN);
                let c = Commit {
                    first_seq: self.seq_mark,
                    next_seq: self.store.next_seq,
                    at: at.0.max(last),
                    dicts: self
                        .store
                        .dict_lens()
                        .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
                };
                self.store.guarded(|s| {
                    let storage = s.storage.clone();
                    s.commit_log.as_mut().ok_or(Error::ReadOnly)?.append(&*storage, c)
                })?;
                Some(c)
            }
            _ => None,
        };
        if self.staged.is_empty() {
            self.commit_through_log()?;
        } else {
            self.commit_through_manifest()?;
        }
        if let Some(c) = record {
            self.store.commits.push(c);
        }
        self.done = true;
        Ok(self.report)
    }

    fn commit_through_log(&mut self) -> Result<()> {
        let transitions = std::mem::take(&mut self.transitions);
        let memberships = std::mem::take(&mut self.memberships);
        let names = self.store.names_since(self.marks);
        if transitions.is_empty() && memberships.is_empty() && names.is_empty() {
            return Ok(());
        }
        let names: Vec<(NameKind, u32, &str)> = names
            .iter()
            .flat_map(|(k, first, names)| (*first..).zip(names).map(|(id, n)| (*k, id, n.as_str())))
            .collect();
        let bytes = wal::encode_txn(
            &names,
            &transitions,
            &memberships,
            self.seq_mark,
            self.store.next_seq,
        );
        let store = &mut *self.store;
        store.guarded(|s| {
            let storage = s.storage.clone();
            let wal = s.wal.as_mut().ok_or(Error::ReadOnly)?;
            wal.commit(&*storage, &bytes)?;
            s.wal_bytes = wal.bytes();
            Ok(())
        })?;
        store.mem.install(transitions, memberships);
        Ok(())
    }

    fn commit_through_manifest(&mut self) -> Result<()> {
        if self.buffered() > 0 {
            self.spill()?;
        }
        // From here on the staged files may end up named by a manifest on
        // disk even if a step fails, so they must not be deleted on drop.
        let staged: Vec<Arc<SegmentFile>> = std::mem::take(&mut self.staged)
            .into_iter()
            .map(|s| s.seg)
            .collect();
        let store = &mut *self.store;
        let m = store.guarded(|s| {
            let (dict_bytes, dict_counts) = s.persist_dict()?;
            let mut m = s.manifest.clone();
            m.generation += 1;
            m.next_seq = s.next_seq;
            m.next_file = s.next_file;
            m.dict_bytes = dict_bytes;
            m.dict_counts = dict_counts;
            m.delta.extend(staged.iter().map(|f| f.file_ref()));
            m.write(&*s.storage)?;
            Ok(m)
        })?;
        store.manifest = m;
        store.delta.extend(staged);
        Ok(())
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            for (kind, len) in NameKind::ALL.into_iter().zip(self.marks) {
                self.store.dict(kind).truncate(len);
            }
            self.store.next_seq = self.seq_mark;
            for s in &self.staged {
                s.seg.retire();
            }
        }
    }
}
