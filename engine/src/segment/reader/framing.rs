//! The framing of a segment, checked once at open: magic and version,
//! header crc, trailer, footer and metadata crcs, and every offset, length
//! and count against the file size and against each other.

use super::*;

/// Little-endian field reader over a slice whose length was checked by the
/// caller; a short read still returns an error instead of panicking.
pub(super) struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    /// File offset of `bytes[0]`, for error reports.
    base: u64,
    path: &'a Path,
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or_else(|| Error::corrupt(self.path, self.base + self.at as u64, "structure cut short"))?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        self.at += N;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64> {
        self.take::<8>().map(i64::from_le_bytes)
    }
}

pub(super) type Parsed = (
    SegmentSummary,
    u64,
    Vec<Option<ErrorCode>>,
    Vec<DirEntry>,
    [Vec<BlockMeta>; 3],
);

/// Validates the framing of a segment and parses its metadata.
pub(super) fn parse(data: &[u8], path: &Path) -> Result<Parsed> {
    let corrupt = |offset: u64, what: String| Error::corrupt(path, offset, what);
    let len = data.len();
    // Header: magic, version, crc. The magic and version come first so that a
    // file of a newer version is reported as such.
    let header = data
        .get(..HEADER_LEN)
        .ok_or_else(|| corrupt(0, format!("file is {len} bytes, shorter than a segment header")))?;
    if header[..8] != MAGIC {
        return Err(corrupt(0, "not a rollcall segment (bad magic)".into()));
    }
    let mut h = Fields {
        bytes: header,
        at: 8,
        base: 0,
        path,
    };
    let version = h.u32()?;
    let header_crc = h.u32()?;
    if version > SEGMENT_FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            found: version,
            supported: SEGMENT_FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt(8, "format version 0 does not exist".into()));
    }
    if crc32fast::hash(&header[..12]) != header_crc {
        return Err(corrupt(0, "header checksum mismatch".into()));
    }
    if len < HEADER_LEN + FOOTER_LEN + TRAILER_LEN {
        return Err(corrupt(
            len as u64,
            format!("file is {len} bytes, too short to hold a footer"),
        ));
    }

    // Trailer: footer length, footer crc, magic.
    let trailer_at = len - TRAILER_LEN;
    let trailer = data.get(trailer_at..).unwrap_or_default();
    let mut t = Fields {
        bytes: trailer,
        at: 0,
        base: trailer_at as u64,
        path,
    };
    let footer_len = t.u32()?;
    let footer_crc = t.u32()?;
    if trailer.get(8..16) != Some(&MAGIC[..]) {
        return Err(corrupt(
            trailer_at as u64 + 8,
            "trailer magic missing; the file is cut short or damaged".into(),
        ));
    }
    if footer_len as usize != FOOTER_LEN {
        return Err(corrupt(
            trailer_at as u64,
            format!("footer length {footer_len} is not {FOOTER_LEN}"),
        ));
    }
    let footer_at = trailer_at - FOOTER_LEN;
    let footer = data.get(footer_at..trailer_at).unwrap_or_default();
    if crc32fast::hash(footer) != footer_crc {
        return Err(corrupt(footer_at as u64, "footer checksum mismatch".into()));
    }

    let mut f = Fields {
        bytes: footer,
        at: 0,
        base: footer_at as u64,
        path,
    };
    let footer_version = f.u32()?;
    let _block_rows = f.u32()?;
    let transitions = f.u64()?;
    let failures = f.u64()?;
    let memberships = f.u64()?;
    let min_time = f.i64()?;
    let max_time = f.i64()?;
    let min_seq = f.u64()?;
    let max_seq = f.u64()?;
    let t_blocks = f.u32()? as u64;
    let f_blocks = f.u32()? as u64;
    let m_blocks = f.u32()? as u64;
    let error_codes = f.u32()? as u64;
    let collections = f.u32()? as u64;
    let meta_offset = f.u64()?;
    let meta_len = f.u64()?;
    let meta_crc = f.u32()?;
    let fo = footer_at as u64;
    if footer_version != version {
        return Err(corrupt(
            fo,
            format!("footer version {footer_version} differs from header version {version}"),
        ));
    }
    if meta_offset < HEADER_LEN as u64 || meta_offset.checked_add(meta_len) != Some(fo) {
        return Err(corrupt(
            fo,
            "metadata region does not end where the footer starts".into(),
        ));
    }
    let expected_meta = error_codes * 4
        + collections * DIRECTORY_ENTRY_LEN as u64
        + (t_blocks + f_blocks + m_blocks) * INDEX_ENTRY_LEN as u64;
    if expected_meta != meta_len {
        return Err(corrupt(
            fo,
            format!("metadata region is {meta_len} bytes, its counts need {expected_meta}"),
        ));
    }
    let meta = data.get(meta_offset as usize..footer_at).unwrap_or_default();
    if crc32fast::hash(meta) != meta_crc {
        return Err(corrupt(meta_offset, "metadata checksum mismatch".into()));
    }

    let mut m = Fields {
        bytes: meta,
        at: 0,
        base: meta_offset,
        path,
    };
    let mut errors = Vec::with_capacity(error_codes as usize + 1);
    errors.push(None);
    for _ in 0..error_codes {
        errors.push(Some(ErrorCode(m.u32()?)));
    }
    let mut directory = Vec::with_capacity(collections as usize);
    for _ in 0..collections {
        directory.push(DirEntry {
            collection: m.u32()?,
            first_row: m.u64()?,
            rows: m.u64()?,
        });
    }
    let mut read_blocks = |count: u64| -> Result<Vec<BlockMeta>> {
        let mut v = Vec::with_capacity(count as usize);
        for _ in 0..count {
            v.push(BlockMeta {
                offset: m.u64()?,
                len: m.u32()?,
                rows: m.u32()?,
                crc: m.u32()?,
                first_key: m.u32()?,
                last_key: m.u32()?,
                first_time: m.i64()?,
                last_time: m.i64()?,
            });
        }
        Ok(v)
    };
    let tb = read_blocks(t_blocks)?;
    let fb = read_blocks(f_blocks)?;
    let mb = read_blocks(m_blocks)?;
    let index_at = meta_offset + error_codes * 4 + collections * DIRECTORY_ENTRY_LEN as u64;
    let bad_index = |k: usize, what: &str| {
        corrupt(
            index_at + (k * INDEX_ENTRY_LEN) as u64,
            format!("block index entry {k}: {what}"),
        )
    };

    // Blocks tile [HEADER_LEN, meta_offset) exactly, in section order.
    let mut expect = HEADER_LEN as u64;
    for (k, b) in tb.iter().chain(&fb).chain(&mb).enumerate() {
        let cols = if k < tb.len() + fb.len() {
            TRANSITION_COLUMNS
        } else {
            MEMBERSHIP_COLUMNS
        };
        if b.offset != expect {
            return Err(bad_index(k, "block does not start where the previous one ends"));
        }
        if (b.len as usize) < cols * crate::segment::columns::COLUMN_HEADER_LEN {
            return Err(bad_index(k, "block shorter than its column headers"));
        }
        if b.rows == 0 || b.rows as usize > MAX_BLOCK_ROWS {
            return Err(bad_index(k, "block row count out of range"));
        }
        expect += u64::from(b.len);
    }
    if expect != meta_offset {
        return Err(corrupt(
            fo,
            "blocks do not end where the metadata region starts".into(),
        ));
    }
    let rows = |v: &[BlockMeta]| v.iter().map(|b| u64::from(b.rows)).sum::<u64>();
    if rows(&tb) != transitions || rows(&fb) != failures || rows(&mb) != memberships || failures > transitions
    {
        return Err(corrupt(fo, "block row counts disagree with the footer".into()));
    }
    for (k, b) in tb.iter().chain(&fb).enumerate() {
        if b.first_key != 0
            || b.last_key != 0
            || b.first_time > b.last_time
            || b.first_time < min_time
            || b.last_time > max_time
        {
            return Err(bad_index(k, "transition block keys or times out of range"));
        }
    }
    for (section, base) in [(&tb, 0), (&fb, tb.len())] {
        for (k, w) in section.windows(2).enumerate() {
            if w[0].last_time > w[1].first_time {
                return Err(bad_index(base + k + 1, "transition blocks out of time order"));
            }
        }
    }
    if transitions > 0 {
        if tb.first().map(|b| b.first_time) != Some(min_time)
            || tb.last().map(|b| b.last_time) != Some(max_time)
        {
            return Err(corrupt(
                fo,
                "footer time bounds disagree with the block index".into(),
            ));
        }
    } else if min_time != 0 || max_time != 0 {
        return Err(corrupt(fo, "footer has time bounds but no transitions".into()));
    }
    let base = tb.len() + fb.len();
    for (k, b) in mb.iter().enumerate() {
        if (b.first_key, b.first_time) > (b.last_key, b.last_time) {
            return Err(bad_index(base + k, "membership block keys out of order"));
        }
    }
    for (k, w) in mb.windows(2).enumerate() {
        if (w[0].last_key, w[0].last_time) > (w[1].first_key, w[1].first_time) {
            return Err(bad_index(base + k + 1, "membership blocks out of order"));
        }
    }
    let any_rows = transitions > 0 || memberships > 0;
    if (any_rows && min_seq > max_seq) || (!any_rows && (min_seq, max_seq) != (0, 0)) {
        return Err(corrupt(fo, "footer seq bounds are inconsistent".into()));
    }
    // Directory: ascending collections, contiguous non-empty row ranges that
    // cover the section, agreeing with the first and last block keys.
    let dir_at = meta_offset + error_codes * 4;
    let mut next_row = 0u64;
    for (k, d) in directory.iter().enumerate() {
        let ordered = k == 0 || directory[k - 1].collection < d.collection;
        let end = next_row.checked_add(d.rows);
        if !ordered || d.first_row != next_row || d.rows == 0 || end.is_none() {
            return Err(corrupt(
                dir_at + (k * DIRECTORY_ENTRY_LEN) as u64,
                format!("collection directory entry {k} is out of order"),
            ));
        }
        next_row = end.unwrap_or(u64::MAX);
    }
    if next_row != memberships
        || directory.first().map(|d| d.collection) != mb.first().map(|b| b.first_key)
        || directory.last().map(|d| d.collection) != mb.last().map(|b| b.last_key)
    {
        return Err(corrupt(
            dir_at,
            "collection directory disagrees with the membership blocks".into(),
        ));
    }

    let summary = SegmentSummary {
        transitions,
        memberships,
        time_bounds: (transitions > 0).then_some((Timestamp(min_time), Timestamp(max_time))),
        seq_bounds: any_rows.then_some((Seq(min_seq), Seq(max_seq))),
        bytes: len as u64,
    };
    Ok((summary, failures, errors, directory, [tb, fb, mb]))
}
