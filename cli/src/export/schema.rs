//! The Parquet schema of an export and the row buffers that fill it.
//!
//! Two tables, each a Hive-style directory of day partitions
//! (`transitions/day=2026-11-01/part-00000001.parquet`):
//!
//! | table | columns |
//! |---|---|
//! | `transitions` | `time` TIMESTAMP(MICROS, UTC), `time_ms` INT64, `seq` INT64, `client` STRING, `deployment` STRING, `state` STRING, `error` INT64 (nullable), `committed_ms` INT64 (nullable) |
//! | `memberships` | `time` TIMESTAMP(MICROS, UTC), `time_ms` INT64, `seq` INT64, `client` STRING, `collection` STRING, `change` STRING, `committed_ms` INT64 (nullable) |
//!
//! Invariants: `time` and `time_ms` are the same instant (`time` =
//! `time_ms * 1000` µs); `seq` is the store's ingest order (one counter
//! shared by both tables), so the latest `(time_ms, seq)` wins as in
//! SPEC.md; names are the store's strings, states their canonical names
//! (`NotStarted`...), changes `join` / `leave`; `error` is the 32-bit code
//! as a non-negative INT64 (portable to engines without unsigned types), or
//! NULL for none; the day of a row is `floor(time_ms / 86_400_000)` in UTC;
//! `committed_ms` is the wall-clock time (epoch ms) from which `AS KNOWN AT`
//! sees the row (`Snapshot::known_from`): the row is known at `t` exactly
//! when it is NULL (the store records no commit times) or `<= t`
//! (`i64::MAX`: appended without a commit time after the last recorded
//! commit, known at no time).
//! `docs/scale-out.md` is the user-facing copy of this table: keep both in
//! step.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rollcall_engine::{MembershipRow, Seq, Timestamp, TransitionRow};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// State transitions.
    Transitions,
    /// Membership changes.
    Memberships,
}

impl Table {
    /// The directory name of the table.
    pub fn dir_name(self) -> &'static str {
        match self {
            Table::Transitions => "transitions",
            Table::Memberships => "memberships",
        }
    }

    /// The Arrow schema of the table.
    pub fn schema(self) -> SchemaRef {
        let mut fields = vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("time_ms", DataType::Int64, false),
            Field::new("seq", DataType::Int64, false),
            Field::new("client", DataType::Utf8, false),
        ];
        match self {
            Table::Transitions => {
                fields.push(Field::new("deployment", DataType::Utf8, false));
                fields.push(Field::new("state", DataType::Utf8, false));
                fields.push(Field::new("error", DataType::Int64, true));
            }
            Table::Memberships => {
                fields.push(Field::new("collection", DataType::Utf8, false));
                fields.push(Field::new("change", DataType::Utf8, false));
            }
        }
        fields.push(Field::new("committed_ms", DataType::Int64, true));
        Arc::new(Schema::new(fields))
    }
}

/// The day (days since 1970-01-01, UTC) of a time.
pub fn day_of(time: Timestamp) -> i64 {
    time.0.div_euclid(DAY_MS)
}

/// The partition directory name of a day: `day=YYYY-MM-DD`.
pub fn partition_name(day: i64) -> String {
    let start = Timestamp(day.saturating_mul(DAY_MS)).to_string();
    let date = start.split('T').next().unwrap_or(&start);
    format!("day={date}")
}

/// A row's time in microseconds, or an error for times beyond what a
/// Parquet microsecond timestamp holds (about ±292,000 years).
fn micros(time: Timestamp) -> anyhow::Result<i64> {
    time.0.checked_mul(1000).ok_or_else(|| {
        anyhow::anyhow!(
            "time {} ms is out of the range of a microsecond timestamp",
            time.0
        )
    })
}

fn seq_i64(seq: u64) -> anyhow::Result<i64> {
    i64::try_from(seq)
        .map_err(|_| anyhow::anyhow!("sequence number {seq} does not fit the INT64 `seq` column"))
}

/// Resolves ids to names for the row buffers.
pub trait Names {
    /// A client's name.
    fn client(&self, id: u32) -> Option<&str>;
    /// A deployment's name.
    fn deployment(&self, id: u32) -> Option<&str>;
    /// A collection's name.
    fn collection(&self, id: u32) -> Option<&str>;
    /// When the row with `seq` became known (`Snapshot::known_from`, ms).
    fn committed_ms(&self, seq: Seq) -> Option<i64>;
}

fn named<'a>(name: Option<&'a str>, kind: &str, id: u32) -> anyhow::Result<&'a str> {
    name.ok_or_else(|| {
        anyhow::anyhow!("{kind} id {id} has no name in the store's dictionary; run `rollcall check`")
    })
}

/// Column builders for one table: rows go in, record batches come out.
#[derive(Debug)]
pub struct Columns {
    table: Table,
    schema: SchemaRef,
    time: TimestampMicrosecondBuilder,
    time_ms: Int64Builder,
    seq: Int64Builder,
    client: StringBuilder,
    /// `deployment` or `collection`.
    group: StringBuilder,
    /// `state` or `change`.
    what: StringBuilder,
    error: Int64Builder,
    committed: Int64Builder,
    rows: usize,
}

impl Columns {
    /// Empty builders for `table`.
    pub fn new(table: Table) -> Columns {
        Columns {
            table,
            schema: table.schema(),
            time: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            time_ms: Int64Builder::new(),
            seq: Int64Builder::new(),
            client: StringBuilder::new(),
            group: StringBuilder::new(),
            what: StringBuilder::new(),
            error: Int64Builder::new(),
            committed: Int64Builder::new(),
            rows: 0,
        }
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends the columns both tables share; every fallible conversion is
    /// done before anything is appended, so a failed row leaves no trace.
    fn common(&mut self, time: Timestamp, seq: Seq, client: &str, names: &dyn Names) -> anyhow::Result<()> {
        let (us, seq_value) = (micros(time)?, seq_i64(seq.0)?);
        self.time.append_value(us);
        self.time_ms.append_value(time.0);
        self.seq.append_value(seq_value);
        self.client.append_value(client);
        self.committed.append_option(names.committed_ms(seq));
        self.rows += 1;
        Ok(())
    }

    /// Appends a transition.
    pub fn push_transition(&mut self, r: &TransitionRow, names: &dyn Names) -> anyhow::Result<()> {
        debug_assert_eq!(self.table, Table::Transitions);
        let client = named(names.client(r.client.0), "client", r.client.0)?;
        let deployment = named(names.deployment(r.deployment.0), "deployment", r.deployment.0)?;
        self.common(r.time, r.seq, client, names)?;
        self.group.append_value(deployment);
        self.what.append_value(r.state.name());
        self.error.append_option(r.error.map(|e| i64::from(e.0)));
        Ok(())
    }

    /// Appends a membership change.
    pub fn push_membership(&mut self, r: &MembershipRow, names: &dyn Names) -> anyhow::Result<()> {
        debug_assert_eq!(self.table, Table::Memberships);
        let client = named(names.client(r.client.0), "client", r.client.0)?;
        let collection = named(names.collection(r.collection.0), "collection", r.collection.0)?;
        self.common(r.time, r.seq, client, names)?;
        self.group.append_value(collection);
        self.what.append_value(r.change.name());
        Ok(())
    }

    /// The buffered rows as a record batch; the builders start over.
    pub fn finish(&mut self) -> anyhow::Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.time_ms.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.client.finish()),
            Arc::new(self.group.finish()),
            Arc::new(self.what.finish()),
        ];
        let errors = self.error.finish();
        if self.table == Table::Transitions {
            arrays.push(Arc::new(errors));
        }
        arrays.push(Arc::new(self.committed.finish()));
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_utc_days() {
        assert_eq!(partition_name(day_of(Timestamp(0))), "day=1970-01-01");
        assert_eq!(partition_name(day_of(Timestamp(-1))), "day=1969-12-31");
        let t = Timestamp(1_793_491_200_000 - 1); // 2026-10-31T23:59:59.999Z
        assert_eq!(partition_name(day_of(t)), "day=2026-10-31");
        assert_eq!(
            partition_name(day_of(Timestamp(1_793_491_200_000))),
            "day=2026-11-01"
        );
    }

    #[test]
    fn extreme_times_are_errors_not_panics() {
        assert!(micros(Timestamp(i64::MAX)).is_err());
        assert_eq!(micros(Timestamp(-5)).ok(), Some(-5000));
        assert!(seq_i64(u64::MAX).is_err());
    }
}
