//! Record framing and payload codecs of the write-ahead log.
//!
//! A frame is `crc u32 | len u32 | kind u8 | payload[len]`, all little
//! endian, where `crc` is the CRC-32 (IEEE, `crc32fast`) of
//! `len | kind | payload`. See `docs/format.md`.
//!
//! Invariant: a frame is only ever accepted when its kind is known, its
//! length is plausible for that kind and its checksum matches; decoders of a
//! payload run only after that and still check every bound.

use crate::codec::{Put, Reader};
use crate::dict_file::NameKind;
use crate::model::{
    Change, ClientId, CollectionId, DeploymentId, ErrorCode, MembershipRow, Seq, State, Timestamp,
    TransitionRow,
};

/// Bytes before a frame's payload.
pub(crate) const FRAME_HEADER: usize = 9;
/// Largest payload a frame may carry; bigger lengths are damage.
pub(crate) const MAX_PAYLOAD: usize = 4 << 20;
/// Bytes of one encoded transition.
pub(crate) const TRANSITION_BYTES: usize = 30;
/// Bytes of one encoded membership change.
pub(crate) const MEMBERSHIP_BYTES: usize = 25;
/// Rows per frame, keeping frames well under [`MAX_PAYLOAD`].
pub(crate) const ROWS_PER_FRAME: usize = 32 * 1024;
/// Bytes of a commit payload.
pub(crate) const COMMIT_BYTES: usize = 20;

/// The kind byte of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// New dictionary entries: `(kind u8, id u32, len u16, bytes)*`.
    Names = 1,
    /// Transitions, 30 bytes each.
    Transitions = 2,
    /// Membership changes, 25 bytes each.
    Memberships = 3,
    /// End of a transaction: `records u32, first_seq u64, next_seq u64`.
    Commit = 4,
}

impl Kind {
    pub(crate) fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Names),
            2 => Some(Kind::Transitions),
            3 => Some(Kind::Memberships),
            4 => Some(Kind::Commit),
            _ => None,
        }
    }
}

/// Appends one frame.
pub(crate) fn put_frame(out: &mut Vec<u8>, kind: Kind, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&[kind as u8]);
    h.update(payload);
    out.put_u32(h.finalize());
    out.put_u32(len);
    out.put_u8(kind as u8);
    out.extend_from_slice(payload);
}

/// How reading a frame at some offset went.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// A whole frame with a good checksum; `next` is the offset after it.
    Ok {
        kind: Kind,
        payload: &'a [u8],
        next: usize,
    },
    /// The input ends inside the frame.
    Short,
    /// The frame is complete but wrong (checksum, kind, length).
    Bad(&'static str),
}

/// Reads the frame starting at `pos`.
pub(crate) fn read_frame(bytes: &[u8], pos: usize) -> Frame<'_> {
    let mut r = Reader::new(bytes.get(pos..).unwrap_or_default());
    let (Some(crc), Some(len), Some(kind_byte)) = (r.u32(), r.u32(), r.u8()) else {
        return Frame::Short;
    };
    let Some(kind) = Kind::from_u8(kind_byte) else {
        return Frame::Bad("unknown record kind");
    };
    let len = len as usize;
    let plausible = len <= MAX_PAYLOAD
        && match kind {
            Kind::Names => len > 0,
            Kind::Transitions => len > 0 && len.is_multiple_of(TRANSITION_BYTES),
            Kind::Memberships => len > 0 && len.is_multiple_of(MEMBERSHIP_BYTES),
            Kind::Commit => len == COMMIT_BYTES,
        };
    if !plausible {
        return Frame::Bad("record length does not fit its kind");
    }
    let Some(payload) = r.take(len) else {
        return Frame::Short;
    };
    let mut h = crc32fast::Hasher::new();
    h.update(&(len as u32).to_le_bytes());
    h.update(&[kind_byte]);
    h.update(payload);
    if h.finalize() != crc {
        return Frame::Bad("record checksum mismatch");
    }
    Frame::Ok {
        kind,
        payload,
        next: pos + FRAME_HEADER + len,
    }
}

/// True when a well-formed frame with a good checksum starts anywhere in
/// `bytes[from..]`: the test that separates a torn tail (nothing valid
/// follows the damage) from damage in the middle of a log.
pub(crate) fn valid_frame_after(bytes: &[u8], from: usize) -> bool {
    (from..bytes.len()).any(|p| matches!(read_frame(bytes, p), Frame::Ok { .. }))
}

/// Encodes dictionary entries.
pub(crate) fn put_name(out: &mut Vec<u8>, kind: NameKind, id: u32, name: &str) {
    out.put_u8(kind as u8);
    out.put_u32(id);
    out.put_u16(u16::try_from(name.len()).unwrap_or(u16::MAX));
    out.extend_from_slice(name.as_bytes());
}

/// Decodes a `Names` payload.
pub(crate) fn names(payload: &[u8]) -> Option<Vec<(NameKind, u32, String)>> {
    let mut r = Reader::new(payload);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let kind = NameKind::from_u8(r.u8()?)?;
        let id = r.u32()?;
        let len = r.u16()? as usize;
        let name = std::str::from_utf8(r.take(len)?).ok()?;
        out.push((kind, id, name.to_owned()));
    }
    Some(out)
}

pub(crate) fn put_transition(out: &mut Vec<u8>, r: &TransitionRow) {
    out.put_i64(r.time.0);
    out.put_u64(r.seq.0);
    out.put_u32(r.client.0);
    out.put_u32(r.deployment.0);
    out.put_u8(r.state as u8);
    out.put_u8(u8::from(r.error.is_some()));
    out.put_u32(r.error.map_or(0, |e| e.0));
}

/// Decodes a `Transitions` payload.
pub(crate) fn transitions(payload: &[u8], out: &mut Vec<TransitionRow>) -> Option<()> {
    if !payload.len().is_multiple_of(TRANSITION_BYTES) {
        return None;
    }
    let mut r = Reader::new(payload);
    while r.remaining() > 0 {
        let time = Timestamp(r.i64()?);
        let seq = Seq(r.u64()?);
        let client = ClientId(r.u32()?);
        let deployment = DeploymentId(r.u32()?);
        let state = State::from_index(r.u8()?)?;
        let has_error = r.u8()?;
        let code = r.u32()?;
        let error = match has_error {
            0 => None,
            1 => Some(ErrorCode(code)),
            _ => return None,
        };
        out.push(TransitionRow {
            time,
            seq,
            client,
            deployment,
            state,
            error,
        });
    }
    Some(())
}

pub(crate) fn put_membership(out: &mut Vec<u8>, r: &MembershipRow) {
    out.put_i64(r.time.0);
    out.put_u64(r.seq.0);
    out.put_u32(r.client.0);
    out.put_u32(r.collection.0);
    out.put_u8(r.change as u8);
}

/// Decodes a `Memberships` payload.
pub(crate) fn memberships(payload: &[u8], out: &mut Vec<MembershipRow>) -> Option<()> {
    if !payload.len().is_multiple_of(MEMBERSHIP_BYTES) {
        return None;
    }
    let mut r = Reader::new(payload);
    while r.remaining() > 0 {
        let time = Timestamp(r.i64()?);
        let seq = Seq(r.u64()?);
        let client = ClientId(r.u32()?);
        let collection = CollectionId(r.u32()?);
        let change = match r.u8()? {
            0 => Change::Join,
            1 => Change::Leave,
            _ => return None,
        };
        out.push(MembershipRow {
            time,
            seq,
            client,
            collection,
            change,
        });
    }
    Some(())
}

/// The payload of a `Commit` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Commit {
    /// Records of the transaction before this one.
    pub records: u32,
    /// First seq the transaction assigned.
    pub first_seq: u64,
    /// The store's next seq after the transaction.
    pub next_seq: u64,
}

pub(crate) fn put_commit(out: &mut Vec<u8>, c: Commit) {
    out.put_u32(c.records);
    out.put_u64(c.first_seq);
    out.put_u64(c.next_seq);
}

pub(crate) fn commit(payload: &[u8]) -> Option<Commit> {
    let mut r = Reader::new(payload);
    let c = Commit {
        records: r.u32()?,
        first_seq: r.u64()?,
        next_seq: r.u64()?,
    };
    (r.remaining() == 0).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut b = Vec::new();
        put_frame(&mut b, Kind::Names, b"hello");
        match read_frame(&b, 0) {
            Frame::Ok { kind, payload, next } => {
                assert_eq!(kind, Kind::Names);
                assert_eq!(payload, b"hello");
                assert_eq!(next, b.len());
            }
            other => panic!("{other:?}"),
        }
        for cut in 0..b.len() {
            assert!(matches!(read_frame(&b[..cut], 0), Frame::Short), "cut {cut}");
        }
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert!(!matches!(read_frame(&d, 0), Frame::Ok { .. }), "flip at {i}");
        }
    }

    #[test]
    fn rows_round_trip() {
        let t = TransitionRow {
            time: Timestamp(-5),
            seq: Seq(9),
            client: ClientId(3),
            deployment: DeploymentId(1),
            state: State::Failed,
            error: Some(ErrorCode(0x80070005)),
        };
        let m = MembershipRow {
            time: Timestamp(7),
            seq: Seq(10),
            client: ClientId(3),
            collection: CollectionId(2),
            change: Change::Leave,
        };
        let mut b = Vec::new();
        put_transition(&mut b, &t);
        put_transition(&mut b, &TransitionRow { error: None, ..t });
        assert_eq!(b.len(), 2 * TRANSITION_BYTES);
        let mut out = Vec::new();
        transitions(&b, &mut out).unwrap();
        assert_eq!(out, vec![t, TransitionRow { error: None, ..t }]);
        let mut b = Vec::new();
        put_membership(&mut b, &m);
        assert_eq!(b.len(), MEMBERSHIP_BYTES);
        let mut out = Vec::new();
        memberships(&b, &mut out).unwrap();
        assert_eq!(out, vec![m]);
        let mut b = Vec::new();
        put_name(&mut b, NameKind::Collection, 4, "All Desktops");
        assert_eq!(
            names(&b).unwrap(),
            vec![(NameKind::Collection, 4, "All Desktops".to_owned())]
        );
    }
}
