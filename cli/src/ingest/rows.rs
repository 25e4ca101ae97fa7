//! One input row into a batch: field validation (names, times, states,
//! error codes, changes) and the `RowSource` interface the two input
//! formats implement.
//!
//! Invariants: names are opaque and not trimmed, other fields are trimmed;
//! a row either goes into the batch whole or comes back as a `RowError`
//! naming the field at fault (an index into the kind's field list).

use std::fmt;

use rollcall_engine::{Batch, Change, ErrorCode, State, Timestamp, limits};

use super::RowKind;

/// A problem with one row: which field (index into the kind's field list, or
/// none for the row as a whole) and why.
#[derive(Debug)]
pub(super) struct RowError {
    pub(super) field: Option<usize>,
    pub(super) reason: String,
}

impl RowError {
    pub(super) fn row(reason: impl Into<String>) -> RowError {
        RowError {
            field: None,
            reason: reason.into(),
        }
    }
}

pub(super) fn field_error(kind: RowKind, field: usize, reason: impl fmt::Display) -> RowError {
    RowError {
        field: Some(field),
        reason: format!("{}: {reason}", kind.fields()[field]),
    }
}

const STATE_NAMES: &str = "NotStarted, Compliant, InProgress, NonCompliant, Failed, Unknown";

pub(super) fn check_name(
    kind: RowKind,
    field: usize,
    name: Option<&str>,
    max: usize,
) -> Result<&str, RowError> {
    let Some(name) = name else {
        return Err(field_error(kind, field, "missing"));
    };
    if name.is_empty() {
        return Err(field_error(kind, field, "empty name"));
    }
    if name.len() > max {
        return Err(field_error(
            kind,
            field,
            format_args!("name is {} bytes long, the limit is {max}", name.len()),
        ));
    }
    Ok(name)
}

pub(super) fn parse_time(kind: RowKind, text: Option<&str>) -> Result<Timestamp, RowError> {
    let Some(text) = text else {
        return Err(field_error(kind, 0, "missing"));
    };
    if text.trim().is_empty() {
        return Err(field_error(kind, 0, "empty time"));
    }
    let t =
        Timestamp::parse(text).map_err(|e| field_error(kind, 0, format_args!("{e}, found {:?}", text)))?;
    check_epoch_unit(t, text).map_err(|why| field_error(kind, 0, why))?;
    Ok(t)
}

/// The greatest epoch-millisecond time an RFC 3339 date can name
/// (9999-12-31T23:59:59.999Z); integer times beyond it (either side) are
/// almost always another unit.
pub(super) const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// Integer times are epoch milliseconds (SPEC 2). One past year 9999 is
/// refused, naming the unit it most likely is: a microsecond epoch of today
/// is 16 digits, a nanosecond one 19.
pub(super) fn check_epoch_unit(t: Timestamp, text: &str) -> Result<(), String> {
    let digits = text.trim().trim_start_matches('-');
    if t.0.unsigned_abs() <= MAX_EPOCH_MS as u64
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(());
    }
    let (unit, divisor) = match t.0.unsigned_abs() {
        n if n >= 1_000_000_000_000_000_000 / 10 * 5 => ("nanoseconds", 1_000_000),
        n if n >= 1_000_000_000_000_000 / 10 * 5 => ("microseconds", 1_000),
        _ => ("", 1),
    };
    if divisor == 1 {
        return Err(format!(
            "{text} epoch milliseconds is past the year 9999; integer times are epoch milliseconds"
        ));
    }
    let as_ms = Timestamp(t.0 / divisor);
    Err(format!(
        "{text} looks like epoch {unit} ({as_ms} if it is); integer times are epoch milliseconds, so divide by {divisor} or write an RFC 3339 time"
    ))
}

/// Validates one row and pushes it into `batch`. `vals` is indexed like the
/// kind's field list; `None` is a missing field.
pub(super) fn push_row(kind: RowKind, batch: &mut Batch, vals: &[Option<&str>; 5]) -> Result<(), RowError> {
    let time = parse_time(kind, vals[0])?;
    let client = check_name(kind, 1, vals[1], limits::CLIENT_NAME_MAX)?;
    match kind {
        RowKind::Events => {
            let Some(state_text) = vals[2] else {
                return Err(field_error(kind, 2, "missing"));
            };
            if state_text.trim().is_empty() {
                return Err(field_error(kind, 2, "empty state"));
            }
            let state = State::parse(state_text.trim()).ok_or_else(|| {
                field_error(
                    kind,
                    2,
                    format_args!("unknown state {state_text:?}; expected one of {STATE_NAMES}"),
                )
            })?;
            let deployment = match vals[3] {
                None | Some("") => limits::DEFAULT_DEPLOYMENT,
                Some(d) => check_name(kind, 3, Some(d), limits::DEPLOYMENT_NAME_MAX)?,
            };
            let error = match vals[4].map(str::trim) {
                None | Some("") => None,
                Some(e) => Some(ErrorCode::parse(e).ok_or_else(|| {
                    field_error(
                        kind,
                        4,
                        format_args!(
                            "bad error code {e:?}; expected 0x-prefixed hex (0x80070005) or a 32-bit decimal"
                        ),
                    )
                })?),
            };
            batch
                .push_transition(time, client, deployment, state, error)
                .map_err(|e| RowError::row(e.to_string()))
        }
        RowKind::Members => {
            let collection = check_name(kind, 2, vals[2], limits::COLLECTION_NAME_MAX)?;
            let Some(change_text) = vals[3].map(str::trim) else {
                return Err(field_error(kind, 3, "missing"));
            };
            let change = Change::parse(change_text).ok_or_else(|| {
                field_error(
                    kind,
                    3,
                    format_args!("expected join or leave, found {change_text:?}"),
                )
            })?;
            batch
                .push_membership(time, client, collection, change)
                .map_err(|e| RowError::row(e.to_string()))
        }
    }
}

/// A bad row found while reading.
#[derive(Debug)]
pub(super) struct BadRow {
    pub(super) line: u64,
    pub(super) column: Option<u64>,
    pub(super) reason: String,
    pub(super) raw: String,
}

pub(super) type OnBad<'a> = dyn FnMut(BadRow) -> anyhow::Result<()> + 'a;

/// Something that turns input rows into batch rows.
pub(super) trait RowSource {
    /// Reads rows into `batch` until it holds `max` rows or the input ends;
    /// returns true at the end of the input. Bad rows go to `on_bad`.
    fn fill(&mut self, batch: &mut Batch, max: usize, on_bad: &mut OnBad<'_>) -> anyhow::Result<bool>;
    /// Data rows read so far.
    fn rows_read(&self) -> u64;
    /// Line of the last row read.
    fn line(&self) -> u64;
    /// Input bytes consumed so far.
    fn bytes_read(&self) -> u64;
    /// Whether the last `fill` stopped early because standard input paused
    /// (clears the flag).
    fn take_paused(&mut self) -> bool;
}
