//! The write-ahead log: every small transaction is appended here, and
//! fsynced, before it becomes visible.
//!
//! A log file is a header (`RCWL`, version, log number, header crc) followed
//! by checksummed frames ([`record`]). A transaction is its `Names`,
//! `Transitions` and `Memberships` records followed by one `Commit` record;
//! the whole transaction is written with one `write` and made durable with
//! one fsync (group commit).
//!
//! Invariants:
//! * replay applies committed transactions only, in log order;
//! * damage with nothing valid after it is a *torn tail* (an interrupted
//!   write): the writer cuts it off, a read-only reader ignores it;
//! * damage followed by a valid record is corruption, reported as
//!   `Error::Corrupt { file, offset }` — replay never guesses;
//! * only the last log may end in a torn tail (a new log is started only
//!   after a clean flush).
//!
//! This module knows nothing of segments; the store wires the two together.

pub(crate) mod record;

use std::path::Path;

use crate::codec::{Put, Reader, check_header, put_header};
use crate::dict_file::NameKind;
use crate::error::{Error, Result};
use crate::manifest::{WAL_DIR, log_name};
use crate::model::{MembershipRow, TransitionRow};
use crate::storage::{Storage, StorageFile, io_err};
use record::{Commit, Frame, Kind, ROWS_PER_FRAME};

const MAGIC: &[u8; 4] = b"RCWL";
/// The format version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Bytes of a log header: magic, version, log number, crc.
pub(crate) const LOG_HEADER: usize = 20;

fn header(number: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_header(&mut out, MAGIC, VERSION);
    out.put_u64(number);
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out
}

/// Encodes one transaction: its records and the commit record.
pub(crate) fn encode_txn(
    names: &[(NameKind, u32, &str)],
    transitions: &[TransitionRow],
    memberships: &[MembershipRow],
    first_seq: u64,
    next_seq: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        transitions.len() * (record::TRANSITION_BYTES + 1)
            + memberships.len() * (record::MEMBERSHIP_BYTES + 1)
            + 64,
    );
    let mut records = 0u32;
    let mut payload = Vec::new();
    for (kind, id, name) in names {
        record::put_name(&mut payload, *kind, *id, name);
        if payload.len() >= record::MAX_PAYLOAD / 2 {
            record::put_frame(&mut out, Kind::Names, &payload);
            payload.clear();
            records += 1;
        }
    }
    if !payload.is_empty() {
        record::put_frame(&mut out, Kind::Names, &payload);
        records += 1;
    }
    for chunk in transitions.chunks(ROWS_PER_FRAME) {
        payload.clear();
        chunk.iter().for_each(|r| record::put_transition(&mut payload, r));
        record::put_frame(&mut out, Kind::Transitions, &payload);
        records += 1;
    }
    for chunk in memberships.chunks(ROWS_PER_FRAME) {
        payload.clear();
        chunk.iter().for_each(|r| record::put_membership(&mut payload, r));
        record::put_frame(&mut out, Kind::Memberships, &payload);
        records += 1;
    }
    payload.clear();
    record::put_commit(
        &mut payload,
        Commit {
            records,
            first_seq,
            next_seq,
        },
    );
    record::put_frame(&mut out, Kind::Commit, &payload);
    out
}

/// The open, current log of a writer.
#[derive(Debug)]
pub(crate) struct WalWriter {
    number: u64,
    file: Box<dyn StorageFile>,
    bytes: u64,
}

impl WalWriter {
    /// Creates log `number` (header written and fsynced, directory fsynced).
    pub(crate) fn create(storage: &dyn Storage, number: u64) -> Result<WalWriter> {
        let name = log_name(number);
        let mut file = storage
            .create(&name)
            .map_err(|e| io_err(storage, "create", &name, e))?;
        let h = header(number);
        file.write_all(&h)
            .map_err(|e| io_err(storage, "write", &name, e))?;
        file.sync().map_err(|e| io_err(storage, "fsync", &name, e))?;
        storage
            .sync_dir(WAL_DIR)
            .map_err(|e| io_err(storage, "fsync directory", WAL_DIR, e))?;
        Ok(WalWriter {
            number,
            file,
            bytes: h.len() as u64,
        })
    }

    /// Reopens log `number`, whose valid content is `bytes` long, for appending.
    pub(crate) fn reopen(storage: &dyn Storage, number: u64, bytes: u64) -> Result<WalWriter> {
        let name = log_name(number);
        let file = storage
            .open_append(&name)
            .map_err(|e| io_err(storage, "open", &name, e))?;
        Ok(WalWriter { number, file, bytes })
    }

    /// Fsyncs the log (done once when a writer resumes a log it did not
    /// write itself).
    pub(crate) fn sync(&mut self, storage: &dyn Storage) -> Result<()> {
        self.file
            .sync()
            .map_err(|e| io_err(storage, "fsync", &log_name(self.number), e))
    }

    /// The log number.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// Bytes in the log.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends an encoded transaction and fsyncs: when this returns `Ok` the
    /// transaction is durable.
    pub(crate) fn commit(&mut self, storage: &dyn Storage, txn: &[u8]) -> Result<()> {
        let name = log_name(self.number);
        self.file
            .write_all(txn)
            .map_err(|e| io_err(storage, "write", &name, e))?;
        self.bytes += txn.len() as u64;
        self.file.sync().map_err(|e| io_err(storage, "fsync", &name, e))
    }
}

/// One committed transaction read back from a log.
#[derive(Debug, Default)]
pub(crate) struct WalTxn {
    /// Byte offset of the transaction's first record.
    pub offset: u64,
    /// New dictionary entries.
    pub names: Vec<(NameKind, u32, String)>,
    /// Transitions, in write order.
    pub transitions: Vec<TransitionRow>,
    /// Membership changes, in write order.
    pub memberships: Vec<MembershipRow>,
    /// The store's next seq after the transaction.
    pub next_seq: u64,
}

/// A torn tail: where the valid log ends and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TornTail {
    /// First byte not part of a committed transaction.
    pub offset: u64,
    /// What was found there.
    pub what: &'static str,
}

/// The outcome of reading one log.
#[derive(Debug)]
pub(crate) struct LogScan {
    /// Bytes up to the end of the last committed transaction.
    pub committed_len: u64,
    /// Set when the log does not end right after a commit record.
    pub tail: Option<TornTail>,
}

/// Reads log `number` (its bytes), calling `apply` with each committed
/// transaction in order. Damage followed by valid data is an error; a torn
/// tail is reported in the result for the caller to judge.
pub(crate) fn replay(
    bytes: &[u8],
    number: u64,
    file: &Path,
    apply: &mut dyn FnMut(WalTxn) -> Result<()>,
) -> Result<LogScan> {
    if bytes.len() < LOG_HEADER {
        // The header itself never became durable: an interrupted creation.
        return Ok(LogScan {
            committed_len: 0,
            tail: Some(TornTail {
                offset: 0,
                what: "log header cut short",
            }),
        });
    }
    check_header(bytes, MAGIC, VERSION, file)?;
    let mut r = Reader::new(bytes);
    r.take(8);
    let found = r.u64().unwrap_or_default();
    let crc = r.u32().unwrap_or_default();
    if crc32fast::hash(&bytes[..16]) != crc {
        return Err(Error::corrupt(file, 0, "log header checksum mismatch"));
    }
    if found != number {
        return Err(Error::corrupt(
            file,
            8,
            format!("log header says number {found}, the file name says {number}"),
        ));
    }
    let mut pos = LOG_HEADER;
    let mut committed = LOG_HEADER;
    let mut pending = WalTxn {
        offset: pos as u64,
        ..WalTxn::default()
    };
    let mut records = 0u32;
    let mut last_seq = 0u64;
    let mut tail = None;
    while pos < bytes.len() {
        let (kind, payload, next) = match record::read_frame(bytes, pos) {
            Frame::Ok { kind, payload, next } => (kind, payload, next),
            Frame::Short | Frame::Bad(_) if record::valid_frame_after(bytes, pos + 1) => {
                let what = match record::read_frame(bytes, pos) {
                    Frame::Bad(what) => what,
                    _ => "record cut short",
                };
                return Err(Error::corrupt(
                    file,
                    pos as u64,
                    format!("{what}, and valid records follow"),
                ));
            }
            Frame::Short => {
                tail = Some(TornTail {
                    offset: committed as u64,
                    what: "incomplete record at the end of the log",
                });
                break;
            }
            Frame::Bad(what) => {
                tail = Some(TornTail {
                    offset: committed as u64,
                    what,
                });
                break;
            }
        };
        let bad = |what: &str| Error::corrupt(file, pos as u64, what.to_owned());
        match kind {
            Kind::Names => {
                let names = record::names(payload).ok_or_else(|| bad("malformed names record"))?;
                pending.names.extend(names);
            }
            Kind::Transitions => {
                record::transitions(payload, &mut pending.transitions)
                    .ok_or_else(|| bad("malformed transitions record"))?;
            }
            Kind::Memberships => {
                record::memberships(payload, &mut pending.memberships)
                    .ok_or_else(|| bad("malformed memberships record"))?;
            }
            Kind::Commit => {
                let c = record::commit(payload).ok_or_else(|| bad("malformed commit record"))?;
                if c.records != records {
                    return Err(bad(&format!(
                        "commit record counts {} records, the transaction has {records}",
                        c.records
                    )));
                }
                let seqs_fit = pending
                    .transitions
                    .iter()
                    .map(|r| r.seq.0)
                    .chain(pending.memberships.iter().map(|r| r.seq.0))
                    .all(|s| s >= c.first_seq && s < c.next_seq);
                if c.first_seq < last_seq || c.next_seq < c.first_seq || !seqs_fit {
                    return Err(bad("transaction seqs out of order"));
                }
                last_seq = c.next_seq;
                pending.next_seq = c.next_seq;
                let txn = std::mem::take(&mut pending);
                apply(txn)?;
                records = 0;
                committed = next;
                pending.offset = next as u64;
                pos = next;
                continue;
            }
        }
        records += 1;
        pos = next;
    }
    if tail.is_none() && committed < bytes.len() {
        tail = Some(TornTail {
            offset: committed as u64,
            what: "transaction without a commit record at the end of the log",
        });
    }
    Ok(LogScan {
        committed_len: committed as u64,
        tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientId, DeploymentId, Seq, State, Timestamp};

    fn row(seq: u64) -> TransitionRow {
        TransitionRow {
            time: Timestamp(seq as i64 * 10),
            seq: Seq(seq),
            client: ClientId(0),
            deployment: DeploymentId(0),
            state: State::Failed,
            error: None,
        }
    }

    fn log(txns: &[&[u64]]) -> (Vec<u8>, Vec<usize>) {
        let mut b = header(1);
        let mut ends = Vec::new();
        for seqs in txns {
            let rows: Vec<TransitionRow> = seqs.iter().map(|&s| row(s)).collect();
            let first = seqs.first().copied().unwrap_or(1);
            let next = seqs.last().map_or(1, |s| s + 1);
            b.extend(encode_txn(
                &[(NameKind::Client, 0, "PC-1")],
                &rows,
                &[],
                first,
                next,
            ));
            ends.push(b.len());
        }
        (b, ends)
    }

    fn read(b: &[u8]) -> Result<(Vec<Vec<u64>>, LogScan)> {
        let mut got = Vec::new();
        let scan = replay(b, 1, Path::new("wal/1"), &mut |t| {
            got.push(t.transitions.iter().map(|r| r.seq.0).collect());
            Ok(())
        })?;
        Ok((got, scan))
    }

    #[test]
    fn committed_transactions_replay_in_order() {
        let (b, ends) = log(&[&[1, 2], &[3]]);
        let (got, scan) = read(&b).unwrap();
        assert_eq!(got, vec![vec![1, 2], vec![3]]);
        assert_eq!(scan.committed_len, ends[1] as u64);
        assert_eq!(scan.tail, None);
    }

    #[test]
    fn every_cut_of_the_last_transaction_is_a_torn_tail() {
        let (b, ends) = log(&[&[1, 2], &[3, 4]]);
        for cut in ends[0]..ends[1] {
            let (got, scan) = read(&b[..cut]).unwrap();
            assert_eq!(got, vec![vec![1, 2]], "cut at {cut}");
            assert_eq!(scan.committed_len, ends[0] as u64);
            assert_eq!(scan.tail.is_some(), cut > ends[0], "cut at {cut}");
        }
    }

    #[test]
    fn damage_before_valid_records_is_corruption() {
        let (b, ends) = log(&[&[1, 2], &[3, 4], &[5]]);
        for i in LOG_HEADER..ends[1] {
            let mut d = b.clone();
            d[i] ^= 0x20;
            match read(&d) {
                Err(Error::Corrupt { offset, .. }) => assert!(offset as usize <= i, "flip {i} -> {offset}"),
                other => panic!("flip at {i}: {other:?}"),
            }
        }
        // Damage in the very last record is indistinguishable from a torn write.
        let mut d = b.clone();
        let last = d.len() - 1;
        d[last] ^= 1;
        let (got, scan) = read(&d).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(scan.committed_len, ends[1] as u64);
    }
}
