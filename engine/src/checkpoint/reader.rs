//! Reading checkpoint files: the framing is checked whole at open (every
//! record's crc, kinds, chains), records are decoded lazily and a few kept
//! in a small cache, so a query decodes only the vectors it needs.
//!
//! Invariant: nothing is allocated larger than the file can justify, and
//! any damage is `Error::Corrupt` with the file and offset.

use super::*;

pub(super) fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(super) fn le_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_le_bytes(a))
}

/// Decodes `count` values stored as column chunks at `body[*at..]`.
pub(crate) fn decode_chunked(
    body: &[u8],
    at: &mut usize,
    count: usize,
    out: &mut Vec<u64>,
) -> Result<(), &'static str> {
    out.clear();
    let mut chunk = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(CHUNK);
        let rest = body.get(*at..).ok_or("column chunk past the end of the record")?;
        let (col, used) = Column::parse(rest, n).map_err(|e| e.0)?;
        col.decode(&mut chunk);
        out.extend_from_slice(&chunk);
        *at += used;
        left -= n;
    }
    Ok(())
}

/// Reads `count` 3-bit state codes at `body[*at..]` as state bytes.
pub(super) fn decode_states(body: &[u8], at: &mut usize, count: usize) -> Result<Vec<u8>, &'static str> {
    let len = packed_len(count, 3);
    let end = at.checked_add(len).ok_or("state vector length overflows")?;
    let packed = body
        .get(*at..end)
        .ok_or("state vector past the end of the record")?;
    *at = end;
    let mut codes = vec![0u64; count];
    unpack(packed, 3, &mut codes);
    codes
        .into_iter()
        .map(|c| match c {
            NO_STATE_CODE => Ok(NO_STATE),
            c if c < STATES => Ok(c as u8),
            _ => Err("state code 6 is not a state"),
        })
        .collect()
}

pub(super) fn time_from_age(cp_time: i64, age: u64) -> i64 {
    (cp_time as u64).wrapping_sub(age) as i64
}

/// Where one record of a checkpoint file lies, read from its header.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecordMeta {
    /// The file of the chain it is in (index into [`CheckpointSet::files`]).
    file: usize,
    deployment: DeploymentId,
    time: Timestamp,
    clients: usize,
    pub(super) kind: u8,
    /// Offset of the record header in the file.
    pub(super) start: usize,
    /// Offset one past the record body (its crc follows).
    body_end: usize,
    /// The previous record of the same deployment (what a delta applies to):
    /// within one file while framing is walked, in the whole chain after.
    prev: Option<usize>,
}

/// One file of a checkpoint chain: its bytes, name, version and cut times.
struct ChainFile {
    bytes: SharedBytes,
    path: PathBuf,
    version: u32,
    cuts: Cuts,
}

/// Decoded checkpoints kept per [`CheckpointSet`]: enough for a series'
/// stretches and both deployments of a query, small enough to bound memory.
pub(super) const DECODED_CACHE: usize = 4;

/// The checkpoints of a chain of checkpoint files, decoded on demand.
///
/// Opening reads only the file headers and the record headers (framing and
/// bounds); a record is crc-checked and decoded when a query first needs it,
/// together with the records its delta chain rests on (which may lie in
/// earlier files of the chain). A few decoded checkpoints are cached. This
/// keeps opening a store cheap and its memory bounded however many
/// checkpoints it has.
///
/// Invariant: only *live* records are listed: a record of file `i` is live
/// when no later file's cut time supersedes it ([`Cuts`]); every listed
/// delta's `prev` is a listed record of its deployment.
pub(crate) struct CheckpointSet {
    files: Vec<ChainFile>,
    /// Live checkpoint records, in chain order (file, then file order).
    pub(super) records: Vec<RecordMeta>,
    /// Failure rollup records of the files whose part is not wholly
    /// superseded, in chain order.
    rollups: Vec<RecordMeta>,
    /// Per file, what the files after it supersede of it.
    later: Vec<Cuts>,
    /// Live membership snapshot records, sorted by `(collection, time)`;
    /// `deployment` holds the collection id.
    members: Vec<RecordMeta>,
    /// Record indexes sorted by `(deployment, time)` (chain order among equals).
    by_key: Vec<usize>,
    cache: Mutex<Vec<(usize, Arc<Checkpoint>)>>,
}

impl fmt::Debug for CheckpointSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSet")
            .field("files", &self.files.iter().map(|f| &f.path).collect::<Vec<_>>())
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl CheckpointSet {
    /// Reads the header and record framing of one checkpoint file written
    /// by [`CheckpointFileWriter`] (a chain of one).
    pub(crate) fn open(bytes: SharedBytes, path: PathBuf) -> Result<CheckpointSet> {
        CheckpointSet::open_chain(vec![(bytes, path)])
    }

    /// Reads the headers and record framing of a chain of checkpoint files,
    /// oldest first, keeping the live records. Damage found here is
    /// [`Error::Corrupt`] with the offset of the record (or header); a newer
    /// format is [`Error::UnsupportedVersion`]. Record bodies are checked on
    /// use.
    pub(crate) fn open_chain(files: Vec<(SharedBytes, PathBuf)>) -> Result<CheckpointSet> {
        let mut framings = Vec::with_capacity(files.len());
        let mut chain = Vec::with_capacity(files.len());
        for (bytes, path) in files {
            let framing = parse_framing(bytes.as_ref().as_ref(), &path)?;
            chain.push(ChainFile {
                bytes,
                path,
                version: framing.version,
                cuts: framing.cuts,
            });
            framings.push(framing);
        }
        // What the files after file `i` supersede of it.
        let mut later = vec![Cuts::NONE; chain.len()];
        for i in (0..chain.len().saturating_sub(1)).rev() {
            later[i] = later[i + 1].and(&chain[i + 1].cuts);
        }
        let mut records: Vec<RecordMeta> = Vec::new();
        let mut rollups = Vec::new();
        let mut members = Vec::new();
        // Per deployment, its latest live record so far (in `records`).
        let mut last: HashMap<DeploymentId, usize> = HashMap::new();
        for (i, framing) in framings.into_iter().enumerate() {
            let file = &chain[i];
            let cut = later[i];
            let bad = |m: &RecordMeta, what: &str| {
                Error::corrupt(&file.path, m.start as u64, format!("checkpoint record: {what}"))
            };
            // Within-file index -> index in `records` (live records only).
            let mut mapped: Vec<Option<usize>> = Vec::with_capacity(framing.checkpoints.len());
            for mut meta in framing.checkpoints {
                if meta.time.0 > cut.checkpoints_after {
                    mapped.push(None);
                    continue;
                }
                if file.cuts.checkpoints_after != i64::MIN && meta.time.0 <= file.cuts.checkpoints_after {
                    return Err(bad(
                        &meta,
                        "checkpoint at or before the time the file's header says it starts after",
                    ));
                }
                meta.file = i;
                let prev = match meta.prev {
                    Some(p) => Some(mapped.get(p).copied().flatten().ok_or_else(|| {
                        bad(
                            &meta,
                            "earlier record of the deployment superseded, but this one is not",
                        )
                    })?),
                    None => last.get(&meta.deployment).copied(),
                };
                if meta.kind == KIND_DELTA {
                    let p = prev.ok_or_else(|| {
                        bad(&meta, "delta record without an earlier record of its deployment")
                    })?;
                    if records[p].clients > meta.clients {
                        return Err(bad(
                            &meta,
                            "delta record has fewer clients than the record it applies to",
                        ));
                    }
                }
                meta.prev = prev;
                last.insert(meta.deployment, records.len());
                mapped.push(Some(records.len()));
                records.push(meta);
            }
            if cut.rollup_from_hour > i64::MIN {
                for mut meta in framing.rollups {
                    meta.file = i;
                    rollups.push(meta);
                }
            }
            for mut meta in framing.members {
                if meta.time.0 < cut.members_from {
                    meta.file = i;
                    members.push(meta);
                }
            }
        }
        members.sort_by_key(|m| (m.deployment, m.time));
        let mut by_key: Vec<usize> = (0..records.len()).collect();
        by_key.sort_by_key(|&i| (records[i].deployment, records[i].time));
        Ok(CheckpointSet {
            files: chain,
            records,
            rollups,
            later,
            members,
            by_key,
            cache: Mutex::new(Vec::new()),
        })
    }

    /// The bytes of file `i` of the chain.
    fn file_bytes(&self, i: usize) -> &[u8] {
        self.files.get(i).map_or(&[], |f| f.bytes.as_ref().as_ref())
    }

    fn file_path(&self, i: usize) -> &Path {
        self.files.get(i).map_or(Path::new(""), |f| f.path.as_path())
    }

    /// How many delta records checkpoint `i` rests on before a full one.
    pub(crate) fn chain_depth(&self, i: usize) -> usize {
        let mut depth = 0;
        let mut k = i;
        while let Some(meta) = self.records.get(k).filter(|m| m.kind == KIND_DELTA) {
            depth += 1;
            match meta.prev {
                Some(p) => k = p,
                None => break,
            }
        }
        depth
    }

    /// Files in the chain.
    pub(crate) fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Per file of the chain: its length, and the bytes of it that are
    /// live (its header and the records no later file supersedes). The rest
    /// stays on disk until a merge copies the file's live records out.
    pub(crate) fn live_bytes(&self) -> Vec<(u64, u64)> {
        let mut live: Vec<u64> = self
            .files
            .iter()
            .map(|f| if f.version >= CHAIN_FORMAT_VERSION { HEADER_LEN } else { OLD_HEADER_LEN } as u64)
            .collect();
        for m in self.records.iter().chain(&self.rollups).chain(&self.members) {
            live[m.file] += (m.body_end + 4 - m.start) as u64;
        }
        self.files
            .iter()
            .zip(live)
            .map(|(f, l)| {
                let len = f.bytes.as_ref().as_ref().len() as u64;
                (len, l.min(len))
            })
            .collect()
    }

    /// True when the files from `first_file` on can be merged into one: none
    /// of them is a file without a failure rollup whose hours a later file
    /// does not supersede (see [`Self::rollup_from_file`]).
    pub(crate) fn can_merge_from(&self, first_file: usize) -> bool {
        (first_file..self.files.len())
            .all(|i| self.later[i].rollup_from_hour == i64::MIN || self.files[i].version >= 2)
    }

    /// Number of checkpoints.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Deployment and time of checkpoint `i`.
    pub(crate) fn key(&self, i: usize) -> Option<(DeploymentId, Timestamp)> {
        self.records.get(i).map(|r| (r.deployment, r.time))
    }

    /// The latest checkpoint of `deployment` with `time <= at`.
    pub(crate) fn latest_at_or_before(&self, deployment: DeploymentId, at: Timestamp) -> Option<usize> {
        let key = |i: usize| (self.records[i].deployment, self.records[i].time);
        let end = self.by_key.partition_point(|&i| key(i) <= (deployment, at));
        let i = self.by_key[end.checked_sub(1)?];
        (self.records[i].deployment == deployment).then_some(i)
    }

    /// Checkpoint `i`, decoded (crc-checked) with the records its delta
    /// chain rests on, or taken from the cache.
    pub(crate) fn get(&self, i: usize) -> Result<Arc<Checkpoint>> {
        let cached = |k: usize| -> Option<Arc<Checkpoint>> {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.iter().find(|(j, _)| *j == k).map(|(_, c)| Arc::clone(c))
        };
        if let Some(c) = cached(i) {
            return Ok(c);
        }
        // Walk back to a full record or a cached one, then decode forward.
        let mut chain = vec![i];
        let mut base: Option<Arc<Checkpoint>> = None;
        while let Some(&k) = chain.last() {
            let meta = self.meta(k)?;
            if meta.kind == KIND_FULL {
                break;
            }
            let prev = meta
                .prev
                .ok_or_else(|| self.bad(meta, "delta record without an earlier record of its deployment"))?;
            if let Some(c) = cached(prev) {
                base = Some(c);
                break;
            }
            chain.push(prev);
        }
        let mut current = base;
        for &k in chain.iter().rev() {
            let meta = self.meta(k)?;
            let bytes = self.file_bytes(meta.file);
            let cp = decode_record(bytes, meta, k, current.as_deref(), self.file_path(meta.file))?;
            if crate::bytes::changed_underneath(bytes) {
                return Err(self.bad(
                    meta,
                    "the file was truncated by another program while it was read",
                ));
            }
            current = Some(Arc::new(cp));
        }
        let cp = current.ok_or_else(|| Error::corrupt(self.file_path(0), 0, "empty checkpoint chain"))?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|(j, _)| *j != i);
        if cache.len() >= DECODED_CACHE {
            cache.remove(0);
        }
        cache.push((i, Arc::clone(&cp)));
        Ok(cp)
    }

    /// Decodes every live record in chain order, handing each to `f` (for
    /// `check` and tests; holds at most one decoded checkpoint per
    /// deployment at a time).
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, &Checkpoint) -> Result<()>) -> Result<()> {
        let mut last: HashMap<DeploymentId, Checkpoint> = HashMap::new();
        for (k, meta) in self.records.iter().enumerate() {
            let prev = if meta.kind == KIND_DELTA {
                last.get(&meta.deployment)
            } else {
                None
            };
            let bytes = self.file_bytes(meta.file);
            let cp = decode_record(bytes, meta, k, prev, self.file_path(meta.file))?;
            if crate::bytes::changed_underneath(bytes) {
                return Err(self.bad(
                    meta,
                    "the file was truncated by another program while it was read",
                ));
            }
            f(k, &cp)?;
            last.insert(meta.deployment, cp);
        }
        Ok(())
    }

    /// The failure rollup stored with these checkpoints, each file's part
    /// cut where a later file takes over: `None` when a file whose part is
    /// still live predates format version 2 (it has none).
    pub(crate) fn rollup(&self) -> Result<Option<FailureRollup>> {
        self.rollup_from_file(0)
    }

    /// The failure rollup records of file `i`, decoded.
    fn rollup_part(&self, i: usize) -> Result<FailureRollup> {
        let bytes = self.file_bytes(i);
        let metas: Vec<&RecordMeta> = self.rollups.iter().filter(|m| m.file == i).collect();
        if let [only] = &metas[..]
            && only.deployment.0 == SPARSE_ROLLUP
        {
            return Ok(FailureRollup::too_sparse());
        }
        let mut stored = Vec::with_capacity(metas.len());
        for meta in &metas {
            let record = bytes
                .get(meta.start..meta.body_end)
                .ok_or_else(|| self.bad(meta, "rollup record past the end of the file"))?;
            if le_u32(bytes, meta.body_end) != Some(crc32fast::hash(record)) {
                return Err(self.bad(meta, "rollup record checksum mismatch"));
            }
            stored.push(StoredRollup {
                deployment: meta.deployment,
                first_hour: meta.time.0,
                collections: meta.clients as u32,
                body: record.get(RECORD_HEADER_LEN..).unwrap_or_default().to_vec(),
            });
        }
        if crate::bytes::changed_underneath(bytes) {
            return Err(Error::corrupt(
                self.file_path(i),
                0,
                "the file was truncated by another program while it was read",
            ));
        }
        let start = metas.first().map_or(0, |m| m.start);
        FailureRollup::decode(&stored).map_err(|what| {
            Error::corrupt(self.file_path(i), start as u64, format!("failure rollup: {what}"))
        })
    }

    /// The live checkpoint and membership snapshot records of the files from
    /// `first_file` on, in chain order (checkpoints, then snapshots), each
    /// crc-checked, for a merge that copies them into one file.
    pub(crate) fn raw_records_from(&self, first_file: usize, mut f: impl FnMut(RawRecord<'_>)) -> Result<()> {
        let picked = self
            .records
            .iter()
            .chain(self.members.iter())
            .filter(|m| m.file >= first_file);
        let mut members: Vec<&RecordMeta> = Vec::new();
        // Records come file by file, each file front to back: what has been
        // copied is not read again by this pass (beyond the small membership
        // snapshots), so it is given back every `RELEASE_STRIDE` bytes, and
        // a file's last pages before the next file is read.
        const RELEASE_STRIDE: usize = 8 << 20;
        // The file being read and where its pages not yet given back start.
        let mut reading: Option<(usize, usize)> = None;
        for meta in picked {
            if meta.kind == KIND_MEMBERS {
                members.push(meta);
                continue;
            }
            match reading {
                Some((done, _)) if done != meta.file => self.files[done].bytes.release_pages(),
                Some((file, kept)) if meta.start >= kept + RELEASE_STRIDE => {
                    self.files[file].bytes.release_range(kept, meta.start);
                    reading = Some((file, meta.start));
                }
                _ => {}
            }
            if reading.is_none_or(|(file, _)| file != meta.file) {
                reading = Some((meta.file, 0));
            }
            f(self.raw(meta)?);
        }
        // Snapshots are listed by (collection, time); keep chain order.
        members.sort_by_key(|m| (m.file, m.start));
        for meta in members {
            f(self.raw(meta)?);
        }
        Ok(())
    }

    fn raw(&self, meta: &RecordMeta) -> Result<RawRecord<'_>> {
        let bytes = self.file_bytes(meta.file);
        let record = bytes
            .get(meta.start..meta.body_end)
            .ok_or_else(|| self.bad(meta, "record past the end of the file"))?;
        if le_u32(bytes, meta.body_end) != Some(crc32fast::hash(record)) {
            return Err(self.bad(meta, "checksum mismatch"));
        }
        if crate::bytes::changed_underneath(bytes) {
            return Err(self.bad(
                meta,
                "the file was truncated by another program while it was read",
            ));
        }
        Ok(RawRecord {
            deployment: meta.deployment,
            time: meta.time.0,
            clients: meta.clients as u32,
            kind: meta.kind,
            body: record.get(RECORD_HEADER_LEN..).unwrap_or_default(),
        })
    }

    /// The failure rollup of the files from `first_file` on, each cut where a
    /// later file takes over (`None`: one of them predates rollups).
    pub(crate) fn rollup_from_file(&self, first_file: usize) -> Result<Option<FailureRollup>> {
        let mut whole = FailureRollup::default();
        for i in first_file..self.files.len() {
            let until_hour = self.later[i].rollup_from_hour;
            if until_hour == i64::MIN {
                continue;
            }
            if self.files[i].version < 2 {
                return Ok(None);
            }
            whole.add_part(&self.rollup_part(i)?, until_hour);
        }
        Ok(Some(whole))
    }

    /// The cut times in the header of file `i`.
    pub(crate) fn cuts(&self, i: usize) -> Option<Cuts> {
        self.files.get(i).map(|f| f.cuts)
    }

    /// The latest membership snapshot of `collection` with `time <= at`.
    pub(crate) fn latest_members_at(&self, collection: CollectionId, at: Timestamp) -> Option<usize> {
        let key = |m: &RecordMeta| (m.deployment.0, m.time);
        let end = self.members.partition_point(|m| key(m) <= (collection.0, at));
        let i = end.checked_sub(1)?;
        (self.members[i].deployment.0 == collection.0).then_some(i)
    }

    /// Membership snapshot `i` (crc-checked): its time, and the member bitmap
    /// resized to `clients.div_ceil(64)` words. A snapshot over more clients
    /// than `clients` is damage (client ids are never reused or dropped).
    pub(crate) fn members(&self, i: usize, clients: usize) -> Result<(Timestamp, Vec<u64>)> {
        let mut words = Vec::new();
        let time = self.members_into(i, clients, &mut words, &mut Vec::new())?;
        Ok((time, words))
    }

    /// [`Self::members`] into `words` (replacing what it held), with `ids`
    /// as decode scratch; returns the snapshot's time.
    pub(crate) fn members_into(
        &self,
        i: usize,
        clients: usize,
        words: &mut Vec<u64>,
        ids: &mut Vec<u64>,
    ) -> Result<Timestamp> {
        let meta = self.members.get(i).ok_or_else(|| {
            Error::corrupt(
                self.file_path(0),
                0,
                format!("membership snapshot {i} does not exist"),
            )
        })?;
        let bytes = self.file_bytes(meta.file);
        let record = bytes
            .get(meta.start..meta.body_end)
            .ok_or_else(|| self.bad(meta, "membership snapshot past the end of the file"))?;
        if le_u32(bytes, meta.body_end) != Some(crc32fast::hash(record)) {
            return Err(self.bad(meta, "membership snapshot checksum mismatch"));
        }
        if meta.clients > clients {
            return Err(self.bad(meta, "membership snapshot over more clients than the store has"));
        }
        let body = record.get(RECORD_HEADER_LEN..).unwrap_or_default();
        decode_member_set_into(body, meta.clients, words, ids)
            .map_err(|what| self.bad(meta, &format!("membership snapshot: {what}")))?;
        if crate::bytes::changed_underneath(bytes) {
            return Err(self.bad(
                meta,
                "the file was truncated by another program while it was read",
            ));
        }
        words.resize(clients.div_ceil(64), 0);
        Ok(meta.time)
    }

    /// Collection, time and client count of every membership snapshot, in
    /// the order [`CheckpointSet::members`] numbers them (for `check`).
    pub(crate) fn member_snapshots(&self) -> Vec<(CollectionId, Timestamp, usize)> {
        self.members
            .iter()
            .map(|m| (CollectionId(m.deployment.0), m.time, m.clients))
            .collect()
    }

    fn meta(&self, k: usize) -> Result<&RecordMeta> {
        self.records.get(k).ok_or_else(|| {
            Error::corrupt(
                self.file_path(0),
                0,
                format!("checkpoint record {k} does not exist"),
            )
        })
    }

    fn bad(&self, meta: &RecordMeta, what: &str) -> Error {
        Error::corrupt(
            self.file_path(meta.file),
            meta.start as u64,
            format!("checkpoint record: {what}"),
        )
    }
}

/// Checks the file header and walks the record headers, checking every
/// length against the file; bodies and their crcs are left for
/// [`decode_record`]. When the framing is broken, the first earlier record
/// whose crc fails is blamed (a damaged length misframes what follows it).
pub(super) fn parse_framing(bytes: &[u8], path: &Path) -> Result<Framing> {
    let mut walked = Framing {
        version: 0,
        cuts: Cuts::ALL,
        checkpoints: Vec::new(),
        rollups: Vec::new(),
        members: Vec::new(),
    };
    match walk_framing(bytes, path, &mut walked) {
        Ok(()) => Ok(walked),
        Err(e) => {
            let mut all: Vec<&RecordMeta> = walked
                .checkpoints
                .iter()
                .chain(&walked.rollups)
                .chain(&walked.members)
                .collect();
            all.sort_by_key(|m| m.start);
            for (k, meta) in all.into_iter().enumerate() {
                let record = bytes.get(meta.start..meta.body_end).unwrap_or_default();
                if le_u32(bytes, meta.body_end) != Some(crc32fast::hash(record)) {
                    return Err(Error::corrupt(
                        path,
                        meta.start as u64,
                        format!("checkpoint record {k}: checksum mismatch"),
                    ));
                }
            }
            Err(e)
        }
    }
}

/// Checks the framing and every record's crc of one checkpoint file,
/// superseded records included (for `check`).
pub(crate) fn verify_checkpoint_crcs(bytes: &[u8], path: &Path) -> Result<()> {
    let framing = parse_framing(bytes, path)?;
    let all = framing
        .checkpoints
        .iter()
        .chain(&framing.rollups)
        .chain(&framing.members);
    for meta in all {
        let record = bytes.get(meta.start..meta.body_end).unwrap_or_default();
        if le_u32(bytes, meta.body_end) != Some(crc32fast::hash(record)) {
            return Err(Error::corrupt(
                path,
                meta.start as u64,
                "checkpoint record: checksum mismatch",
            ));
        }
    }
    Ok(())
}

/// The records of a checkpoint file, by kind, each in file order.
#[derive(Debug)]
pub(super) struct Framing {
    version: u32,
    cuts: Cuts,
    checkpoints: Vec<RecordMeta>,
    rollups: Vec<RecordMeta>,
    members: Vec<RecordMeta>,
}

pub(super) fn walk_framing(bytes: &[u8], path: &Path, out: &mut Framing) -> Result<()> {
    let corrupt = |offset: usize, what: &str| Error::corrupt(path, offset as u64, what);
    let header = bytes
        .get(..OLD_HEADER_LEN)
        .ok_or_else(|| corrupt(0, "file shorter than a checkpoint header"))?;
    if header[..8] != MAGIC {
        return Err(corrupt(0, "not a rollcall checkpoint file (bad magic)"));
    }
    let version = le_u32(header, 8).ok_or_else(|| corrupt(8, "header cut short"))?;
    if version > CHECKPOINT_FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            found: version,
            supported: CHECKPOINT_FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt(8, "format version 0 does not exist"));
    }
    out.version = version;
    let header_len = header_len(version);
    let header = bytes
        .get(..header_len)
        .ok_or_else(|| corrupt(0, "file shorter than a checkpoint header"))?;
    let count = le_u32(header, 12).ok_or_else(|| corrupt(12, "header cut short"))? as usize;
    let crc_at = header_len - 4;
    let crc = le_u32(header, crc_at).ok_or_else(|| corrupt(crc_at, "header cut short"))?;
    if crc32fast::hash(&header[..crc_at]) != crc {
        return Err(corrupt(0, "header checksum mismatch"));
    }
    out.cuts = if version >= CHAIN_FORMAT_VERSION {
        let at = |k: usize| le_i64(header, 16 + 8 * k).ok_or_else(|| corrupt(16, "header cut short"));
        Cuts {
            checkpoints_after: at(0)?,
            rollup_from_hour: at(1)?,
            members_from: at(2)?,
        }
    } else {
        // A file of an older format is the whole base: it supersedes all.
        Cuts::ALL
    };
    // Each record takes at least its header and crc, so `count` is bounded
    // by the file size before anything is allocated for it.
    if count > bytes.len() / (RECORD_HEADER_LEN + 4) {
        return Err(corrupt(12, "record count exceeds what the file can hold"));
    }
    let mut last: HashMap<DeploymentId, usize> = HashMap::new();
    let mut at = header_len;
    for k in 0..count {
        let start = at;
        let bad = |what: &str| corrupt(start, &format!("checkpoint record {k}: {what}"));
        let head = bytes
            .get(start..start + RECORD_HEADER_LEN)
            .ok_or_else(|| bad("record header past the end of the file"))?;
        let body_len = le_u32(head, 20).ok_or_else(|| bad("header cut short"))? as usize;
        let body_end = (start + RECORD_HEADER_LEN)
            .checked_add(body_len)
            .ok_or_else(|| bad("body length overflows"))?;
        if le_u32(bytes, body_end).is_none() {
            return Err(bad("record past the end of the file"));
        }
        at = body_end + 4;
        let deployment = DeploymentId(le_u32(head, 0).ok_or_else(|| bad("header cut short"))?);
        let time = Timestamp(le_i64(head, 4).ok_or_else(|| bad("header cut short"))?);
        let clients = le_u32(head, 12).ok_or_else(|| bad("header cut short"))? as usize;
        let kind = head[16];
        let known = match kind {
            KIND_FULL | KIND_DELTA => true,
            KIND_ROLLUP => version >= 2,
            KIND_MEMBERS => version >= 3,
            _ => false,
        };
        if !known {
            return Err(bad("unknown record kind"));
        }
        if head[17..20] != [0, 0, 0] {
            return Err(bad("reserved bytes are not zero"));
        }
        let mut meta = RecordMeta {
            file: 0,
            deployment,
            time,
            clients,
            kind,
            start,
            body_end,
            prev: None,
        };
        if kind == KIND_ROLLUP {
            out.rollups.push(meta);
            continue;
        }
        if kind == KIND_MEMBERS {
            out.members.push(meta);
            continue;
        }
        meta.prev = last.get(&deployment).copied();
        if kind == KIND_DELTA {
            // From the chain format on, a file's first delta of a
            // deployment applies to a record of an earlier file (checked
            // when the chain is assembled).
            match meta.prev {
                Some(p) if out.checkpoints[p].clients > clients => {
                    return Err(bad(
                        "delta record has fewer clients than the record it applies to",
                    ));
                }
                None if version < CHAIN_FORMAT_VERSION => {
                    return Err(bad("delta record without an earlier record of its deployment"));
                }
                _ => {}
            }
        }
        last.insert(deployment, out.checkpoints.len());
        out.checkpoints.push(meta);
    }
    if at != bytes.len() {
        return Err(corrupt(at, "bytes after the last checkpoint record"));
    }
    Ok(())
}

/// Checks record `k`'s crc and decodes it; a delta applies to `prev` (the
/// decoded previous record of its deployment).
pub(super) fn decode_record(
    bytes: &[u8],
    meta: &RecordMeta,
    k: usize,
    prev: Option<&Checkpoint>,
    path: &Path,
) -> Result<Checkpoint> {
    let start = meta.start;
    let bad = |what: &str| Error::corrupt(path, start as u64, format!("checkpoint record {k}: {what}"));
    let record = bytes
        .get(start..meta.body_end)
        .ok_or_else(|| bad("record past the end of the file"))?;
    let stored_crc = le_u32(bytes, meta.body_end).ok_or_else(|| bad("record past the end of the file"))?;
    if crc32fast::hash(record) != stored_crc {
        return Err(bad("checksum mismatch"));
    }
    let (deployment, time, clients) = (meta.deployment, meta.time.0, meta.clients);
    let body = record.get(RECORD_HEADER_LEN..).unwrap_or_default();
    let mut values = Vec::new();
    let mut pos = 0usize;
    let cp = match meta.kind {
        KIND_FULL => {
            // The state vector must fit the body before it is allocated.
            if packed_len(clients, 3) > body.len() {
                return Err(bad("state vector longer than the record"));
            }
            let states = decode_states(body, &mut pos, clients).map_err(bad)?;
            let with_state = states.iter().filter(|&&s| s != NO_STATE).count();
            decode_chunked(body, &mut pos, with_state, &mut values).map_err(bad)?;
            let mut ages = values.iter();
            let times = states
                .iter()
                .map(|&s| match s {
                    NO_STATE => i64::MIN,
                    _ => ages.next().map_or(i64::MIN, |&a| time_from_age(time, a)),
                })
                .collect();
            Checkpoint {
                deployment,
                time: Timestamp(time),
                states,
                times,
            }
        }
        KIND_DELTA => {
            let prev = prev
                .filter(|p| p.deployment == deployment)
                .ok_or_else(|| bad("delta record without an earlier record of its deployment"))?;
            if prev.states.len() > clients {
                return Err(bad(
                    "delta record has fewer clients than the record it applies to",
                ));
            }
            let changed = le_u32(body, 0).ok_or_else(|| bad("body cut short"))? as usize;
            pos = 4;
            if changed > clients {
                return Err(bad("more changed clients than clients"));
            }
            decode_chunked(body, &mut pos, changed, &mut values).map_err(bad)?;
            let ids: Vec<usize> = values.iter().map(|&v| v as usize).collect();
            let ascending = ids.windows(2).all(|w| w[0] < w[1]);
            if !ascending
                || ids.last().is_some_and(|&c| c >= clients)
                || values.iter().any(|&v| v > u32::MAX as u64)
            {
                return Err(bad("changed client ids out of order or range"));
            }
            let new_states = decode_states(body, &mut pos, changed).map_err(bad)?;
            let with_state = new_states.iter().filter(|&&s| s != NO_STATE).count();
            decode_chunked(body, &mut pos, with_state, &mut values).map_err(bad)?;
            // Clients added since `prev` start with no state.
            let mut states = prev.states.clone();
            states.resize(clients, NO_STATE);
            let mut times = prev.times.clone();
            times.resize(clients, i64::MIN);
            let mut ages = values.iter();
            for (&c, &s) in ids.iter().zip(&new_states) {
                if let (Some(state), Some(t)) = (states.get_mut(c), times.get_mut(c)) {
                    *state = s;
                    *t = match s {
                        NO_STATE => i64::MIN,
                        _ => ages.next().map_or(i64::MIN, |&a| time_from_age(time, a)),
                    };
                }
            }
            Checkpoint {
                deployment,
                time: Timestamp(time),
                states,
                times,
            }
        }
        _ => return Err(bad("unknown record kind")),
    };
    if pos != body.len() {
        return Err(bad("bytes left after the record body"));
    }
    Ok(cp)
}

/// Decodes a whole checkpoint file written by [`encode_checkpoints`] (every
/// record, in file order); `path` names it in errors. Damage is
/// [`Error::Corrupt`] with the offset of the record (or header) it was found
/// in; a newer format is [`Error::UnsupportedVersion`].
pub(crate) fn decode_checkpoints(bytes: &[u8], path: &Path) -> Result<Vec<Checkpoint>> {
    let set = CheckpointSet::open(crate::bytes::owned(bytes.to_vec()), path.to_path_buf())?;
    let mut out = Vec::with_capacity(set.len());
    set.for_each(|_, cp| {
        out.push(cp.clone());
        Ok(())
    })?;
    Ok(out)
}
