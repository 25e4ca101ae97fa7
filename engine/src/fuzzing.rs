//! Entry points for the fuzz targets (`fuzz/`) and the corpus-replay test
//! (`tests/tests/fuzz_replay.rs`). Not part of the stable API.
//!
//! Each function hands arbitrary bytes to one of the engine's on-disk
//! decoders, runs it to the end (a segment is opened, verified and fully
//! scanned; a log fully replayed) and discards the result. The property is
//! that nothing panics, hangs or allocates without bound: every outcome must
//! be a value or a typed error.
//!
//! Every file kind is checksummed, so random bytes rarely get past the first
//! crc. Each function therefore decodes the bytes twice: as given, and with
//! every checksum recomputed in place (the `fix_*` helpers walk the framing
//! as far as the bytes allow), so the fuzzer also reaches the code behind
//! the checksums.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bytes::SharedBytes;
use crate::model::{CollectionId, Timestamp};
use crate::run::Run;

fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    if let Some(b) = at.checked_add(4).and_then(|end| bytes.get_mut(at..end)) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// Decodes both `bytes` and a copy with its checksums fixed by `fix`.
fn both(bytes: &[u8], fix: fn(&mut [u8]), decode: impl Fn(&[u8])) {
    decode(bytes);
    let mut fixed = bytes.to_vec();
    fix(&mut fixed);
    if fixed != bytes {
        decode(&fixed);
    }
}

/// Opens `bytes` as a segment file, verifies every block and scans every
/// section over the whole time range.
pub fn segment(bytes: &[u8]) {
    both(bytes, fix_segment, decode_segment);
}

fn decode_segment(bytes: &[u8]) {
    let shared: SharedBytes = Arc::new(bytes.to_vec());
    let Ok(reader) = crate::segment::SegmentReader::open(shared, PathBuf::from("fuzz.seg")) else {
        return;
    };
    let _ = reader.summary();
    let _ = reader.verify();
    let _ = reader.transition_bounds();
    let (lo, hi) = (Timestamp(i64::MIN), Timestamp(i64::MAX));
    let _ = reader.scan_transitions(lo, hi, &mut |_| Ok(()));
    let _ = reader.scan_failures(lo, hi, &mut |_| Ok(()));
    let _ = reader.scan_memberships(None, hi, &mut |_| Ok(()));
    let _ = reader.scan_memberships(Some(CollectionId(0)), hi, &mut |_| Ok(()));
    // The as-of replay's column scan, whole and cut inside blocks.
    let _ = reader.scan_states(lo, hi, false, &mut |_| Ok(()));
    let _ = reader.scan_states(Timestamp(1), Timestamp(1 << 40), true, &mut |_| Ok(()));
    let _ = reader.scan_collection_changes(CollectionId(0), Timestamp(1), hi, &mut |_| Ok(()));
}

/// Recomputes the header, block, metadata and footer crcs of a segment.
fn fix_segment(b: &mut [u8]) {
    use crate::segment::{FOOTER_LEN, HEADER_LEN, INDEX_ENTRY_LEN, TRAILER_LEN};
    if b.len() >= HEADER_LEN {
        let c = crc(&b[..12]);
        put_u32(b, 12, c);
    }
    let Some(footer_at) = b.len().checked_sub(TRAILER_LEN + FOOTER_LEN) else {
        return;
    };
    if footer_at < HEADER_LEN {
        return;
    }
    let count = |at: usize, b: &[u8]| le_u32(b, footer_at + at).map_or(0, |v| v as usize);
    let blocks = count(64, b)
        .saturating_add(count(68, b))
        .saturating_add(count(72, b));
    let index_from = count(76, b)
        .saturating_mul(4)
        .saturating_add(count(80, b).saturating_mul(crate::segment::DIRECTORY_ENTRY_LEN));
    let meta_offset = le_u64(b, footer_at + 84).and_then(|v| usize::try_from(v).ok());
    let meta_len = le_u64(b, footer_at + 92).and_then(|v| usize::try_from(v).ok());
    if let (Some(off), Some(len)) = (meta_offset, meta_len)
        && let Some(end) = off.checked_add(len)
        && end <= footer_at
    {
        for k in 0..blocks.min(len / INDEX_ENTRY_LEN) {
            let entry = off + index_from.saturating_add(k * INDEX_ENTRY_LEN);
            let (Some(at), Some(n)) = (le_u64(b, entry), le_u32(b, entry + 8)) else {
                break;
            };
            let (Ok(at), Ok(n)) = (usize::try_from(at), usize::try_from(n)) else {
                continue;
            };
            if let Some(block) = at.checked_add(n).and_then(|e| b.get(at..e)) {
                let c = crc(block);
                put_u32(b, entry + 16, c);
            }
        }
        let c = crc(&b[off..end]);
        put_u32(b, footer_at + 100, c);
    }
    let c = crc(&b[footer_at..footer_at + FOOTER_LEN]);
    put_u32(b, footer_at + FOOTER_LEN + 4, c);
}

/// Replays `bytes` as a write-ahead log (numbered as its header says).
pub fn wal(bytes: &[u8]) {
    both(bytes, fix_wal, |b| {
        let number = le_u64(b, 8).unwrap_or(1);
        let mut rows = 0usize;
        let _ = crate::wal::replay(b, number, Path::new("fuzz.log"), &mut |txn| {
            rows += txn.transitions.len() + txn.memberships.len() + txn.names.len();
            Ok(())
        });
    });
}

/// Recomputes the header crc and the crc of every frame of a log.
fn fix_wal(b: &mut [u8]) {
    if b.len() < crate::wal::LOG_HEADER {
        return;
    }
    let c = crc(&b[..16]);
    put_u32(b, 16, c);
    let mut pos = crate::wal::LOG_HEADER;
    while let Some(len) = le_u32(b, pos + 4) {
        let Some(end) = usize::try_from(len).ok().and_then(|l| (pos + 9).checked_add(l)) else {
            break;
        };
        if end > b.len() {
            break;
        }
        let c = crc(&b[pos + 4..end]);
        put_u32(b, pos, c);
        pos = end;
    }
}

/// Decodes `bytes` as a manifest.
pub fn manifest(bytes: &[u8]) {
    both(bytes, fix_manifest, |b| {
        let _ = crate::manifest::Manifest::decode(b, Path::new("MANIFEST"));
    });
}

fn fix_manifest(b: &mut [u8]) {
    if let Some(at) = b.len().checked_sub(4) {
        let c = crc(&b[..at]);
        put_u32(b, at, c);
    }
}

/// Decodes `bytes` as a dictionary file, all of it valid per the manifest.
pub fn dictionary(bytes: &[u8]) {
    both(bytes, fix_dictionary, |b| {
        let _ = crate::dict_file::decode(b, b.len() as u64, Path::new("names.dict"));
    });
}

fn fix_dictionary(b: &mut [u8]) {
    // Version 1: one name per record (length at 9..11 of the record);
    // version 2 on: groups (body length at 13..17).
    let grouped = le_u32(b, 4).is_some_and(|v| v >= 2);
    let mut pos = 8;
    loop {
        let end = if grouped {
            le_u32(b, pos + 13).and_then(|len| (pos + 17).checked_add(len as usize))
        } else {
            b.get(pos + 9..pos + 11)
                .map(|s| pos + 11 + usize::from(u16::from_le_bytes([s[0], s[1]])))
        };
        let Some(end) = end.filter(|&end| end <= b.len()) else {
            break;
        };
        let c = crc(&b[pos + 4..end]);
        put_u32(b, pos, c);
        pos = end;
    }
}

/// Decodes `bytes` as a checkpoint file: every checkpoint, and the
/// failure rollup stored with them.
pub fn checkpoints(bytes: &[u8]) {
    both(bytes, fix_checkpoints, |b| {
        let _ = crate::checkpoint::decode_checkpoints(b, Path::new("fuzz.ckpt"));
        if let Ok(set) =
            crate::checkpoint::CheckpointSet::open(crate::bytes::owned(b.to_vec()), "fuzz.ckpt".into())
        {
            let _ = set.rollup();
            for (i, (_, _, clients)) in set.member_snapshots().into_iter().enumerate() {
                let _ = set.members(i, clients.min(1 << 16));
            }
        }
    });
}

/// Splits `bytes` in two checkpoint files at the point its first two bytes
/// give, and reads them as a chain (the second after the first): live
/// records, cross-file delta chains, the rollup summed over the parts.
pub fn checkpoint_chain(bytes: &[u8]) {
    let Some((head, rest)) = bytes.split_first_chunk::<2>() else {
        return;
    };
    let at = usize::from(u16::from_le_bytes(*head)).min(rest.len());
    let (a, b) = rest.split_at(at);
    let open = |a: &[u8], b: &[u8]| {
        let files = vec![
            (crate::bytes::owned(a.to_vec()), PathBuf::from("a.ckpt")),
            (crate::bytes::owned(b.to_vec()), PathBuf::from("b.ckpt")),
        ];
        if let Ok(set) = crate::checkpoint::CheckpointSet::open_chain(files) {
            let _ = set.rollup();
            let _ = set.for_each(|_, _| Ok(()));
            for i in 0..set.len().min(64) {
                let _ = set.get(i);
            }
            for (i, (_, _, clients)) in set.member_snapshots().into_iter().enumerate() {
                let _ = set.members(i, clients.min(1 << 16));
            }
            let _ = set.raw_records_from(1, |_| {});
        }
    };
    open(a, b);
    let (mut fa, mut fb) = (a.to_vec(), b.to_vec());
    fix_checkpoints(&mut fa);
    fix_checkpoints(&mut fb);
    if fa != a || fb != b {
        open(&fa, &fb);
    }
}

fn fix_checkpoints(b: &mut [u8]) {
    // Versions 1 to 4 have a 20-byte header, later ones 44 bytes.
    let header = match le_u32(b, 8) {
        Some(v) if v >= 5 => 44,
        _ => 20,
    };
    if b.len() < header {
        return;
    }
    let c = crc(&b[..header - 4]);
    put_u32(b, header - 4, c);
    let mut pos = header;
    while let Some(len) = le_u32(b, pos + 20) {
        let Some(end) = usize::try_from(len).ok().and_then(|l| (pos + 24).checked_add(l)) else {
            break;
        };
        if end + 4 > b.len() {
            break;
        }
        let c = crc(&b[pos..end]);
        put_u32(b, end, c);
        pos = end + 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixers_leave_valid_files_unchanged_and_tolerate_junk() {
        let mut m = crate::manifest::Manifest::new(8, [0; 3]).encode();
        let before = m.clone();
        fix_manifest(&mut m);
        assert_eq!(m, before);
        for junk in [&b""[..], b"\0", &[0xff; 300][..], b"RCWL\x01\0\0\0"] {
            for f in [
                fix_segment,
                fix_wal,
                fix_manifest,
                fix_dictionary,
                fix_checkpoints,
            ] {
                let mut j = junk.to_vec();
                f(&mut j);
            }
            checkpoint_chain(junk);
            segment(junk);
            wal(junk);
            manifest(junk);
            dictionary(junk);
            checkpoints(junk);
        }
    }
}
