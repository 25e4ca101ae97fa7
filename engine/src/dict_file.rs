//! The dictionary file `names.dict`: every client, deployment and collection
//! name with its id, append-only, in checksummed records.
//!
//! Two record formats, chosen by the file's header version (a file keeps
//! its version for life, since it is only ever appended to):
//! * version 1: one record per name;
//! * version 2: one record per *group* of up to [`GROUP_NAMES`] names of one
//!   kind with consecutive ids, each name front-coded against the one
//!   before it in the group (fleets name clients `PC-0000001`, `PC-0000002`,
//!   ...: about 3 bytes a name instead of 21).
//!
//! Invariants:
//! * only the prefix the manifest names (`dict_bytes`) is valid; bytes past
//!   it are leftovers of an interrupted flush, ignored by readers and cut off
//!   by the next writer to open the store;
//! * within one kind, ids appear densely in order `0, 1, 2, ...`, so the
//!   record order rebuilds the in-memory dictionaries exactly;
//! * bytes below `dict_bytes` are never rewritten, so a reader holding an
//!   older manifest reads a stable prefix while the writer appends.

use std::path::Path;

use crate::codec::{HEADER_LEN, Put, Reader, check_header, put_header};
use crate::error::{Error, Result};

/// The file name, relative to the store directory.
pub(crate) const DICT_FILE: &str = "names.dict";
const MAGIC: &[u8; 4] = b"RCDI";
/// The format version this build writes for a new store (it reads every
/// version up to it, and appends to a file in the file's own version).
pub(crate) const VERSION: u32 = 2;
/// Bytes of a version 1 record before the name: crc, kind, id, length.
const RECORD_HEADER: usize = 11;
/// Bytes of a version 2 record before its body: crc, kind, first id, count,
/// body length.
const GROUP_HEADER: usize = 17;
/// Most names a version 2 record holds.
pub(crate) const GROUP_NAMES: usize = 4096;

/// Which dictionary a name belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum NameKind {
    /// Client names.
    Client = 0,
    /// Deployment names.
    Deployment = 1,
    /// Collection names.
    Collection = 2,
}

impl NameKind {
    /// Every kind, in index order.
    pub(crate) const ALL: [NameKind; 3] = [NameKind::Client, NameKind::Deployment, NameKind::Collection];

    pub(crate) fn from_u8(b: u8) -> Option<NameKind> {
        NameKind::ALL.get(usize::from(b)).copied()
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The header of a new dictionary file (version [`VERSION`]).
pub(crate) fn header() -> Vec<u8> {
    let mut out = Vec::new();
    put_header(&mut out, MAGIC, VERSION);
    out
}

/// Appends `names` (of `kind`, ids `first_id, first_id + 1, ...`) as records
/// of format `version` (the version of the file they are appended to).
pub(crate) fn put_names<S: AsRef<str>>(
    out: &mut Vec<u8>,
    version: u32,
    kind: NameKind,
    first_id: u32,
    names: &[S],
) {
    if version < 2 {
        for (id, name) in (first_id..).zip(names) {
            put_entry_v1(out, kind, id, name.as_ref());
        }
        return;
    }
    for (i, group) in names.chunks(GROUP_NAMES).enumerate() {
        let start = out.len();
        out.put_u32(0);
        out.put_u8(kind as u8);
        out.put_u32(first_id.wrapping_add((i * GROUP_NAMES) as u32));
        out.put_u32(group.len() as u32);
        out.put_u32(0);
        let mut prev: &[u8] = &[];
        for name in group {
            let name = name.as_ref().as_bytes();
            let shared = prev.iter().zip(name).take_while(|(a, b)| a == b).count();
            put_varint(out, shared as u64);
            put_varint(out, (name.len() - shared) as u64);
            out.extend_from_slice(&name[shared..]);
            prev = name;
        }
        let body_len = (out.len() - start - GROUP_HEADER) as u32;
        out[start + 13..start + 17].copy_from_slice(&body_len.to_le_bytes());
        let crc = crc32fast::hash(&out[start + 4..]);
        out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Appends one version 1 record.
fn put_entry_v1(out: &mut Vec<u8>, kind: NameKind, id: u32, name: &str) {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(kind as u8);
    out.put_u32(id);
    out.put_u16(u16::try_from(name.len()).unwrap_or(u16::MAX));
    out.extend_from_slice(name.as_bytes());
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// LEB128: seven bits a byte, low first, the high bit set on all but the last.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 value of at most 32 bits (`None`: cut short or too long).
fn varint(r: &mut Reader<'_>) -> Option<u32> {
    let mut v: u64 = 0;
    for shift in (0..35).step_by(7) {
        let b = r.u8()?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return u32::try_from(v).ok();
        }
    }
    None
}

/// Names of each kind, in id order.
pub(crate) type Names = [Vec<String>; 3];

/// Decodes the first `valid_len` bytes of a dictionary file.
pub(crate) fn decode(bytes: &[u8], valid_len: u64, file: &Path) -> Result<Names> {
    let mut names: Names = Default::default();
    decode_each(bytes, valid_len, file, |kind, name| {
        names[kind.index()].push(name.to_owned())
    })?;
    Ok(names)
}

/// Decodes the first `valid_len` bytes of a dictionary file, handing each
/// name to `f` in file order (ids ascending within each kind). Returns the
/// file's version and the names of each kind.
pub(crate) fn decode_each(
    bytes: &[u8],
    valid_len: u64,
    file: &Path,
    mut f: impl FnMut(NameKind, &str),
) -> Result<(u32, [usize; 3])> {
    let version = check_header(bytes, MAGIC, VERSION, file)?;
    let valid = usize::try_from(valid_len).unwrap_or(usize::MAX);
    if valid < HEADER_LEN {
        return Err(Error::corrupt(
            file,
            0,
            "the manifest names fewer bytes than the header",
        ));
    }
    let Some(body) = bytes.get(..valid) else {
        return Err(Error::corrupt(
            file,
            bytes.len() as u64,
            format!(
                "file has {} bytes, the manifest says {valid} are valid",
                bytes.len()
            ),
        ));
    };
    let mut counts = [0usize; 3];
    let mut r = Reader::new(body);
    r.take(HEADER_LEN);
    let mut name = Vec::new();
    while r.remaining() > 0 {
        let at = r.pos();
        let bad = |what: &str| Error::corrupt(file, at as u64, what.to_owned());
        if version < 2 {
            let (Some(crc), Some(kind), Some(id), Some(len)) = (r.u32(), r.u8(), r.u32(), r.u16()) else {
                return Err(bad("dictionary record cut short"));
            };
            let Some(name) = r.take(usize::from(len)) else {
                return Err(bad("dictionary record cut short"));
            };
            let covered = body.get(at + 4..at + RECORD_HEADER + usize::from(len));
            if covered.map(crc32fast::hash) != Some(crc) {
                return Err(bad("dictionary record checksum mismatch"));
            }
            let kind = next_id(&mut counts, kind, id, 1).map_err(|what| bad(&what))?;
            let name = std::str::from_utf8(name).map_err(|_| bad("name is not UTF-8"))?;
            f(kind, name);
            continue;
        }
        let (Some(crc), Some(kind), Some(first_id), Some(count), Some(len)) =
            (r.u32(), r.u8(), r.u32(), r.u32(), r.u32())
        else {
            return Err(bad("dictionary record cut short"));
        };
        let Some(group) = r.take(len as usize) else {
            return Err(bad("dictionary record cut short"));
        };
        let covered = body.get(at + 4..at + GROUP_HEADER + len as usize);
        if covered.map(crc32fast::hash) != Some(crc) {
            return Err(bad("dictionary record checksum mismatch"));
        }
        // Every name takes at least two bytes of the body.
        if count == 0 || count as usize > group.len() / 2 {
            return Err(bad(&format!("dictionary record of {count} names in {len} bytes")));
        }
        let kind = next_id(&mut counts, kind, first_id, count).map_err(|what| bad(&what))?;
        let mut g = Reader::new(group);
        name.clear();
        for _ in 0..count {
            let (Some(shared), Some(suffix)) = (varint(&mut g), varint(&mut g)) else {
                return Err(bad("dictionary name cut short"));
            };
            let Some(suffix) = g.take(suffix as usize) else {
                return Err(bad("dictionary name cut short"));
            };
            if shared as usize > name.len() {
                return Err(bad("dictionary name shares more than the name before it"));
            }
            name.truncate(shared as usize);
            name.extend_from_slice(suffix);
            if name.len() > usize::from(u16::MAX) {
                return Err(bad("dictionary name longer than 65535 bytes"));
            }
            let text = std::str::from_utf8(&name).map_err(|_| bad("name is not UTF-8"))?;
            f(kind, text);
        }
        if g.remaining() > 0 {
            return Err(bad("dictionary record has bytes after its last name"));
        }
    }
    Ok((version, counts))
}

/// Checks that a record of `kind` (its byte) starting at `id` with `names`
/// names continues its kind's ids, and counts them.
fn next_id(counts: &mut [usize; 3], kind: u8, id: u32, names: u32) -> std::result::Result<NameKind, String> {
    let kind = NameKind::from_u8(kind).ok_or_else(|| "unknown name kind".to_owned())?;
    let count = &mut counts[kind.index()];
    if id as usize != *count {
        return Err(format!("{kind:?} id {id} out of order (expected {count})"));
    }
    if u64::from(id) + u64::from(names) > u64::from(u32::MAX) + 1 {
        return Err(format!("{kind:?} ids past 2^32"));
    }
    *count += names as usize;
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(version: u32) -> Vec<u8> {
        let mut b = Vec::new();
        put_header(&mut b, MAGIC, version);
        b
    }

    fn sample(version: u32) -> Vec<u8> {
        let mut b = file(version);
        put_names(&mut b, version, NameKind::Deployment, 0, &["production"]);
        put_names(
            &mut b,
            version,
            NameKind::Client,
            0,
            &["PC-1", "PC-2", "PC-20", "ä-PC", ""],
        );
        put_names(&mut b, version, NameKind::Collection, 0, &["All"]);
        put_names(&mut b, version, NameKind::Client, 5, &["PC-21"]);
        b
    }

    #[test]
    fn round_trip_and_prefixes() {
        for version in [1, 2] {
            let b = sample(version);
            let names = decode(&b, b.len() as u64, Path::new("d")).unwrap();
            assert_eq!(names[0], vec!["PC-1", "PC-2", "PC-20", "ä-PC", "", "PC-21"]);
            assert_eq!(names[1], vec!["production"]);
            assert_eq!(names[2], vec!["All"]);
            // A valid length that ends inside a record is damage.
            assert!(decode(&b, b.len() as u64 - 1, Path::new("d")).is_err());
            // Bytes past the valid length are ignored.
            let mut longer = b.clone();
            longer.extend_from_slice(b"garbage");
            assert_eq!(decode(&longer, b.len() as u64, Path::new("d")).unwrap(), names);
        }
    }

    /// The committed files of both versions read back as written, and
    /// today's writer still produces them byte for byte (after a deliberate
    /// format change: new version, old file kept, regenerate with
    /// `ROLLCALL_UPDATE_FORMAT_FILES=1`).
    #[test]
    fn committed_files_still_read() {
        let committed: [&[u8]; 2] = [
            include_bytes!("../test_data/format/names-v1.dict"),
            include_bytes!("../test_data/format/names-v2.dict"),
        ];
        if std::env::var_os("ROLLCALL_UPDATE_FORMAT_FILES").is_some() {
            for version in [1u32, 2] {
                // Test-only write; the next build embeds the new file.
                let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("test_data/format/names-v{version}.dict"));
                std::fs::write(path, sample(version)).expect("update committed file");
            }
        }
        for (version, committed) in [1u32, 2].into_iter().zip(committed) {
            let written = sample(version);
            let names = decode(committed, committed.len() as u64, Path::new("d")).unwrap();
            assert_eq!(
                names,
                decode(&written, written.len() as u64, Path::new("d")).unwrap()
            );
            assert!(written == committed, "v{version}: the writer's output changed");
        }
    }

    /// Sequential names cost about three bytes each in version 2 (21 in
    /// version 1), and groups split at `GROUP_NAMES` read back in order.
    #[test]
    fn front_coding_shrinks_sequential_names() {
        let names: Vec<String> = (0..10_000).map(|i| format!("PC-{i:07}")).collect();
        let mut sizes = Vec::new();
        for version in [1, 2] {
            let mut b = file(version);
            put_names(&mut b, version, NameKind::Client, 0, &names);
            let back = decode(&b, b.len() as u64, Path::new("d")).unwrap();
            assert_eq!(back[0], names);
            sizes.push(b.len());
        }
        assert_eq!(sizes[0], 8 + 10_000 * 21);
        assert!(sizes[1] < 8 + 10_000 * 4, "{} bytes", sizes[1]);
    }

    #[test]
    fn every_flipped_bit_is_reported_with_its_record() {
        for version in [1, 2] {
            let b = sample(version);
            for i in HEADER_LEN..b.len() {
                let mut d = b.clone();
                d[i] ^= 0x04;
                match decode(&d, d.len() as u64, Path::new("d")) {
                    Err(Error::Corrupt { offset, .. }) => {
                        assert!(offset as usize <= i, "v{version} flip {i} at {offset}")
                    }
                    other => panic!("v{version} flip at {i}: {other:?}"),
                }
            }
        }
    }

    /// Groups whose crc holds but whose contents do not: each refused with
    /// a message, none read past its body.
    #[test]
    fn malformed_groups_are_refused() {
        let group = |first_id: u32, count: u32, body: &[u8]| {
            let mut b = file(2);
            let start = b.len();
            b.put_u32(0);
            b.put_u8(0);
            b.put_u32(first_id);
            b.put_u32(count);
            b.put_u32(body.len() as u32);
            b.extend_from_slice(body);
            let crc = crc32fast::hash(&b[start + 4..]);
            b[start..start + 4].copy_from_slice(&crc.to_le_bytes());
            decode(&b, b.len() as u64, Path::new("d")).map(|n| n[0].clone())
        };
        assert_eq!(group(0, 2, &[0, 1, b'a', 1, 1, b'b']).unwrap(), vec!["a", "ab"]);
        for (first_id, count, body, what) in [
            (0, 0, &[][..], "names in"),
            (0, 4, &[0, 1, b'a', 1, 1, b'b'][..], "names in"),
            (0, 3, &[0, 1, b'a', 1, 1, b'b'][..], "cut short"),
            (1, 1, &[0, 1, b'a'][..], "out of order"),
            (0, 1, &[1, 1, b'a'][..], "shares more"),
            (0, 1, &[0, 5, b'a'][..], "cut short"),
            (0, 1, &[0, 1, b'a', 0][..], "after its last name"),
            (0, 1, &[0, 1, 0xff][..], "UTF-8"),
            (0, 1, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01][..], "cut short"),
        ] {
            match group(first_id, count, body) {
                Err(Error::Corrupt { what: msg, .. }) => assert!(msg.contains(what), "{msg}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }
}
