//! The dictionary file `names.dict`: every client, deployment and collection
//! name with its id, append-only, one checksummed record per name.
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
/// The format version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Bytes of a record before the name: crc, kind, id, length.
const RECORD_HEADER: usize = 11;

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

/// The header every dictionary file starts with.
pub(crate) fn header() -> Vec<u8> {
    let mut out = Vec::new();
    put_header(&mut out, MAGIC, VERSION);
    out
}

/// Appends one record.
pub(crate) fn put_entry(out: &mut Vec<u8>, kind: NameKind, id: u32, name: &str) {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(kind as u8);
    out.put_u32(id);
    out.put_u16(u16::try_from(name.len()).unwrap_or(u16::MAX));
    out.extend_from_slice(name.as_bytes());
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
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
/// name to `f` in file order (ids ascending within each kind).
pub(crate) fn decode_each(
    bytes: &[u8],
    valid_len: u64,
    file: &Path,
    mut f: impl FnMut(NameKind, &str),
) -> Result<[usize; 3]> {
    check_header(bytes, MAGIC, VERSION, file)?;
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
    while r.remaining() > 0 {
        let at = r.pos();
        let bad = |what: &str| Error::corrupt(file, at as u64, what.to_owned());
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
        let kind = NameKind::from_u8(kind).ok_or_else(|| bad("unknown name kind"))?;
        let count = &mut counts[kind.index()];
        if id as usize != *count {
            return Err(bad(&format!("{kind:?} id {id} out of order (expected {count})")));
        }
        let name = std::str::from_utf8(name).map_err(|_| bad("name is not UTF-8"))?;
        *count += 1;
        f(kind, name);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = header();
        put_entry(&mut b, NameKind::Deployment, 0, "production");
        put_entry(&mut b, NameKind::Client, 0, "PC-1");
        put_entry(&mut b, NameKind::Client, 1, "PC-2");
        put_entry(&mut b, NameKind::Collection, 0, "All");
        b
    }

    #[test]
    fn round_trip_and_prefixes() {
        let b = sample();
        let names = decode(&b, b.len() as u64, Path::new("d")).unwrap();
        assert_eq!(names[0], vec!["PC-1", "PC-2"]);
        assert_eq!(names[1], vec!["production"]);
        assert_eq!(names[2], vec!["All"]);
        // A valid length that ends inside a record is damage.
        assert!(decode(&b, b.len() as u64 - 1, Path::new("d")).is_err());
        // Bytes past the valid length are ignored.
        let mut longer = b.clone();
        longer.extend_from_slice(b"garbage");
        assert_eq!(decode(&longer, b.len() as u64, Path::new("d")).unwrap(), names);
    }

    #[test]
    fn every_flipped_bit_is_reported_with_its_record() {
        let b = sample();
        for i in HEADER_LEN..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x04;
            match decode(&d, d.len() as u64, Path::new("d")) {
                Err(Error::Corrupt { offset, .. }) => assert!(offset as usize <= i, "flip {i} at {offset}"),
                other => panic!("flip at {i}: {other:?}"),
            }
        }
    }
}
