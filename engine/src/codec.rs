//! Little-endian encoding helpers shared by the write-ahead log, the manifest
//! and the dictionary file: the common file header (magic + format version)
//! and a bounds-checked reader.
//!
//! Invariant: decoding never indexes past the end of its input; every read
//! returns `None` at the end, and callers turn that into `Error::Corrupt`
//! with the file and offset.

use std::path::Path;

use crate::error::{Error, Result};

/// Bytes of the common file header: 4 magic bytes and a `u32` version.
pub(crate) const HEADER_LEN: usize = 8;

/// Appends the common header.
pub(crate) fn put_header(out: &mut Vec<u8>, magic: &[u8; 4], version: u32) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
}

/// Checks the common header of `bytes`: the magic must match and the version
/// must be known. Returns the version.
pub(crate) fn check_header(bytes: &[u8], magic: &[u8; 4], supported: u32, file: &Path) -> Result<u32> {
    let mut r = Reader::new(bytes);
    let found = r.take(4);
    if found != Some(&magic[..]) {
        return Err(Error::corrupt(
            file,
            0,
            format!(
                "not a rollcall {} file (magic {:02x?}, expected {:02x?})",
                String::from_utf8_lossy(magic),
                found.unwrap_or(bytes),
                magic
            ),
        ));
    }
    let version = r
        .u32()
        .ok_or_else(|| Error::corrupt(file, 4, "file ends inside its header"))?;
    if version == 0 {
        return Err(Error::corrupt(file, 4, "format version 0 is never written"));
    }
    if version > supported {
        return Err(Error::UnsupportedVersion {
            file: file.to_path_buf(),
            found: version,
            supported,
        });
    }
    Ok(version)
}

/// A bounds-checked little-endian reader over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|a| a[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }
}

/// Little-endian appends.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_i64(&mut self, v: i64);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_refuses_newer_versions() {
        let mut b = Vec::new();
        put_header(&mut b, b"RCXX", 1);
        assert_eq!(check_header(&b, b"RCXX", 1, Path::new("f")).unwrap(), 1);
        assert!(matches!(
            check_header(&b, b"RCYY", 1, Path::new("f")),
            Err(Error::Corrupt { offset: 0, .. })
        ));
        let mut newer = Vec::new();
        put_header(&mut newer, b"RCXX", 2);
        assert!(matches!(
            check_header(&newer, b"RCXX", 1, Path::new("f")),
            Err(Error::UnsupportedVersion { found: 2, .. })
        ));
        assert!(check_header(&b[..6], b"RCXX", 1, Path::new("f")).is_err());
    }

    #[test]
    fn reader_stops_at_the_end() {
        let mut r = Reader::new(&[1, 0, 0]);
        assert_eq!(r.u16(), Some(1));
        assert_eq!(r.u16(), None);
        assert_eq!(r.u8(), Some(0));
        assert_eq!(r.u8(), None);
        assert_eq!(r.take(usize::MAX), None);
    }
}
