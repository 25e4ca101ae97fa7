//! Time zones and calendar arithmetic (SPEC 7.1): zone lookup with "did you
//! mean", local times to instants, calendar day and month grids, and the
//! offset an output time prints with.
//!
//! The zone rules come from the IANA database that `jiff` bundles into the
//! binary (feature `tzdb-bundle-always`), so an answer never depends on the
//! machine's `/usr/share/zoneinfo`. No DST rule is written here.
//!
//! Invariants: the engine stays zone-free — everything here turns zoned
//! questions into lists of UTC instants before the engine is asked; a
//! local time in a spring gap moves forward by the gap's length and one in
//! an autumn fold is the earlier instant (jiff's "compatible"
//! disambiguation, RFC 5545's rule); grid point `k` is computed from the
//! start (`FROM + k` steps), never from point `k - 1`, so month-end clamping
//! does not drift (Jan 31, Feb 28, Mar 31).
//!
//! Speed: a statement in a zone must cost what it costs in UTC (issue 15),
//! so a resolved zone carries its offset history as a table of transitions
//! for 1900..2200, read once from jiff per zone and process (a global
//! cache), and offsets, local times and daily grids inside that window are
//! table lookups and additions. The table only replays jiff's own answers:
//! a local time within two days of a transition (where a gap or a fold
//! may be) is always handed to jiff, so the disambiguation rule stays jiff's.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use rollcall_engine::Timestamp;

use crate::suggest;

/// A resolved IANA time zone.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
    offsets: Arc<OffsetTable>,
}

const DAY_MS: i64 = 86_400_000;

/// The offsets of a zone between two instants: segment `i` covers
/// `[starts[i], starts[i + 1])` (the last up to `end`) with offset
/// `offsets[i]` seconds. Built from jiff's transitions, never by rule.
struct OffsetTable {
    starts: Vec<i64>,
    offsets: Vec<i32>,
    end: i64,
    /// The segment of the last lookup: statements ask for ascending times,
    /// so the next answer is almost always this one or the one after (a
    /// binary search over ~500 segments per point cost more than the rest
    /// of a daily histogram). A hint only: any value gives right answers.
    hint: AtomicUsize,
}

/// The window the table covers: 1900-01-01 to 2200-01-01 UTC.
const TABLE_FROM_MS: i64 = -2_208_988_800_000;
const TABLE_TO_MS: i64 = 7_258_118_400_000;

impl OffsetTable {
    fn build(tz: &TimeZone) -> OffsetTable {
        let from = jiff::Timestamp::from_millisecond(TABLE_FROM_MS).expect("1900 is in range");
        let mut starts = vec![TABLE_FROM_MS];
        let mut offsets = vec![tz.to_offset(from).seconds()];
        for tr in tz.following(from) {
            let at = tr.timestamp().as_millisecond();
            if at >= TABLE_TO_MS {
                break;
            }
            if at <= *starts.last().expect("one segment") {
                continue;
            }
            let off = tr.offset().seconds();
            if offsets.last() == Some(&off) {
                // An abbreviation or DST-flag change only: the offset stays.
                continue;
            }
            starts.push(at);
            offsets.push(off);
        }
        OffsetTable {
            starts,
            offsets,
            end: TABLE_TO_MS,
            hint: AtomicUsize::new(0),
        }
    }

    /// The segment holding instant `t`, when the table covers it.
    fn segment(&self, t: i64) -> Option<usize> {
        if t < self.starts[0] || t >= self.end {
            return None;
        }
        let holds = |i: usize| self.starts.get(i).is_some_and(|s| *s <= t) && t < self.segment_end(i);
        let hint = self.hint.load(Ordering::Relaxed);
        let i = if holds(hint) {
            return Some(hint);
        } else if holds(hint + 1) {
            hint + 1
        } else {
            self.starts.partition_point(|s| *s <= t) - 1
        };
        self.hint.store(i, Ordering::Relaxed);
        Some(i)
    }

    fn segment_end(&self, i: usize) -> i64 {
        self.starts.get(i + 1).copied().unwrap_or(self.end)
    }

    /// The instant of local reading `local` (ms, as if UTC) when it lies at
    /// least two days from every transition, so exactly one instant has it;
    /// `None` near a transition or outside the table (ask jiff).
    fn instant_of_local(&self, local: i64) -> Option<i64> {
        let guess = self.segment(local)?;
        let t = local.checked_sub(i64::from(self.offsets[guess]) * 1000)?;
        let i = self.segment(t)?;
        let t = local.checked_sub(i64::from(self.offsets[i]) * 1000)?;
        // Two offsets differ by less than two days (the widest jump on
        // record, Pacific/Apia in 2011, is 24 hours), so any other reading
        // of `local` would be within two days of `t`: if segment `i`
        // reaches that far past `t` both ways, there is none.
        const MARGIN: i64 = 2 * DAY_MS;
        let clear = self.segment(t) == Some(i)
            && t.checked_sub(MARGIN).is_some_and(|a| a >= self.starts[i])
            && t.checked_add(MARGIN).is_some_and(|b| b < self.segment_end(i));
        clear.then_some(t)
    }
}

/// Zones resolved so far in this process, by the name in lower case (the
/// database matches names case-insensitively, so keying by the spelling as
/// written would let a server's clients grow the cache without bound with
/// `europe/BERLIN`, `EUROPE/berlin`, ...; this way it holds at most one
/// entry per name the database knows).
fn cache() -> &'static Mutex<HashMap<String, Zone>> {
    static ZONES: OnceLock<Mutex<HashMap<String, Zone>>> = OnceLock::new();
    ZONES.get_or_init(Mutex::default)
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zone").field(&self.name).finish()
    }
}

impl Zone {
    /// Looks a zone up by its IANA name (case-insensitive, as the database
    /// does). On failure, returns the closest known name, if any is close.
    ///
    /// ```
    /// use rollcall_query::zone::Zone;
    /// assert_eq!(Zone::lookup("europe/berlin").unwrap().name(), "Europe/Berlin");
    /// assert_eq!(Zone::lookup("Europe/Berln").unwrap_err().as_deref(), Some("Europe/Berlin"));
    /// ```
    pub fn lookup(name: &str) -> Result<Zone, Option<String>> {
        let key = name.to_ascii_lowercase();
        if let Some(z) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(z);
        }
        match jiff::tz::db().get(name) {
            Ok(tz) => {
                let canonical = tz.iana_name().unwrap_or(name).to_owned();
                let offsets = Arc::new(OffsetTable::build(&tz));
                let zone = Zone {
                    name: canonical,
                    tz,
                    offsets,
                };
                if let Ok(mut c) = cache().lock() {
                    c.insert(key, zone.clone());
                }
                Ok(zone)
            }
            Err(_) => {
                let names = zone_names();
                Err(suggest::closest(name, names.iter().map(String::as_str)))
            }
        }
    }

    /// UTC.
    pub fn utc() -> Zone {
        static UTC: OnceLock<Arc<OffsetTable>> = OnceLock::new();
        Zone {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
            offsets: UTC
                .get_or_init(|| Arc::new(OffsetTable::build(&TimeZone::UTC)))
                .clone(),
        }
    }

    /// The zone's IANA name as the database spells it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instant of a local time. `local` holds the local wall-clock
    /// reading as if it were UTC (how the parser stores a time written
    /// without an offset).
    pub fn instant_of_local(&self, local: Timestamp) -> Option<Timestamp> {
        if let Some(t) = self.offsets.instant_of_local(local.0) {
            return Some(Timestamp(t));
        }
        let dt = civil_of(local)?;
        let ts = self.tz.to_timestamp(dt).ok()?;
        Some(Timestamp(ts.as_millisecond()))
    }

    /// The zone's offset from UTC at an instant, in seconds.
    pub fn offset_seconds(&self, at: Timestamp) -> i32 {
        if let Some(i) = self.offsets.segment(at.0) {
            return self.offsets.offsets[i];
        }
        match jiff::Timestamp::from_millisecond(at.0) {
            Ok(ts) => self.tz.to_offset(ts).seconds(),
            Err(_) => 0,
        }
    }

    /// The local wall-clock reading of an instant, as if it were UTC.
    fn local_of(&self, at: Timestamp) -> Option<DateTime> {
        let ts = jiff::Timestamp::from_millisecond(at.0).ok()?;
        Some(self.tz.to_datetime(ts))
    }

    /// The instant of a local calendar reading (jiff's civil type).
    fn instant_of_civil(&self, local: DateTime) -> Option<Timestamp> {
        let as_utc = TimeZone::UTC.to_timestamp(local).ok()?;
        self.instant_of_local(Timestamp(as_utc.as_millisecond()))
    }
}

fn civil_of(t: Timestamp) -> Option<DateTime> {
    let ts = jiff::Timestamp::from_millisecond(t.0).ok()?;
    Some(TimeZone::UTC.to_datetime(ts))
}

/// Every zone name the bundled database knows, sorted.
pub fn zone_names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
    names.sort_unstable();
    names
}

/// A calendar step: local days (days and weeks are whole days) or months.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CalendarStep {
    Days(i64),
    Months(u32),
}

/// The calendar grid `FROM + k*step < TO` in `zone`: point `k` is the local
/// time of `from` moved `k` steps on the calendar, turned back into an
/// instant. Returns `None` when a point leaves jiff's range (years
/// -9999..=9999) or `limit` points would be passed.
pub(crate) fn calendar_points(
    zone: &Zone,
    from: Timestamp,
    to: Timestamp,
    step: CalendarStep,
    limit: u64,
) -> Result<Vec<Timestamp>, GridError> {
    let start = zone.local_of(from).ok_or(GridError::OutOfRange)?;
    // The local reading of `from` as if UTC: `k` local days later reads
    // exactly `k * 24h` later on that scale (no DST on a wall clock).
    let start_ms = from.0.checked_add(i64::from(zone.offset_seconds(from)) * 1000);
    let mut points = Vec::new();
    for k in 0.. {
        let t = match step {
            CalendarStep::Days(n) => n
                .checked_mul(k)
                .and_then(|d| d.checked_mul(DAY_MS))
                .and_then(|d| start_ms?.checked_add(d))
                .filter(|l| (TABLE_FROM_MS..TABLE_TO_MS).contains(l))
                .and_then(|l| zone.instant_of_local(Timestamp(l)))
                .or_else(|| {
                    let d = n.checked_mul(k)?;
                    zone.instant_of_civil(start.checked_add(jiff::Span::new().try_days(d).ok()?).ok()?)
                }),
            CalendarStep::Months(n) => i64::from(n).checked_mul(k).and_then(|m| {
                zone.instant_of_civil(start.checked_add(jiff::Span::new().try_months(m).ok()?).ok()?)
            }),
        };
        let Some(t) = t else {
            return Err(GridError::OutOfRange);
        };
        if t >= to {
            break;
        }
        if points.len() as u64 >= limit {
            return Err(GridError::TooMany);
        }
        // A step into a gap can land on the same instant as the one before
        // only for sub-day steps, which are never calendar steps; keep the
        // grid strictly increasing all the same.
        if points.last().is_some_and(|&p| p >= t) {
            continue;
        }
        points.push(t);
    }
    Ok(points)
}

/// Why a calendar grid could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GridError {
    /// A point is outside the years the calendar covers.
    OutOfRange,
    /// More points than the limit.
    TooMany,
}

/// Writes an instant as RFC 3339 in a zone: local wall-clock time, `.sss`
/// only when milliseconds are non-zero, and the offset at that instant
/// (`2025-10-26T00:00:00+02:00`; UTC prints `+00:00`).
pub fn write_zoned(out: &mut impl fmt::Write, at: Timestamp, offset_seconds: i32) -> fmt::Result {
    let local = Timestamp(at.0.saturating_add(i64::from(offset_seconds) * 1000));
    let text = local.to_string();
    out.write_str(text.strip_suffix('Z').unwrap_or(&text))?;
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let abs = offset_seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    write!(out, "{sign}{h:02}:{m:02}")?;
    if s != 0 {
        // Offsets with seconds exist only in historical (pre-1900) rules;
        // RFC 3339 cannot write them, ISO 8601 extended form can.
        write!(out, ":{s:02}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn zoned(at: Timestamp, zone: &Zone) -> String {
        let mut s = String::new();
        write_zoned(&mut s, at, zone.offset_seconds(at)).unwrap();
        s
    }

    /// The daily grid between two local midnights in `zone`, as instants
    /// and as zoned text.
    fn local_days(zone: &str, from: &str, to: &str) -> (Vec<Timestamp>, Vec<String>) {
        let z = Zone::lookup(zone).unwrap();
        let from = z.instant_of_local(t(from)).unwrap();
        let to = z.instant_of_local(t(to)).unwrap();
        let points = calendar_points(&z, from, to, CalendarStep::Days(1), 100).unwrap();
        let text = points.iter().map(|p| zoned(*p, &z)).collect();
        (points, text)
    }

    #[test]
    fn berlin_days_across_the_october_change_last_23_and_25_hours() {
        let (points, text) = local_days("Europe/Berlin", "2025-10-25T00:00:00Z", "2025-10-28T00:00:00Z");
        assert_eq!(
            text,
            [
                "2025-10-25T00:00:00+02:00",
                "2025-10-26T00:00:00+02:00",
                "2025-10-27T00:00:00+01:00"
            ]
        );
        assert_eq!(points[2].0 - points[1].0, 25 * 3_600_000);
    }

    #[test]
    fn gap_moves_forward_and_fold_takes_the_earlier() {
        let ny = Zone::lookup("America/New_York").unwrap();
        let gap = ny.instant_of_local(t("2025-03-09T02:30:00Z")).unwrap();
        assert_eq!(zoned(gap, &ny), "2025-03-09T03:30:00-04:00");
        let fold = ny.instant_of_local(t("2025-11-02T01:30:00Z")).unwrap();
        assert_eq!(zoned(fold, &ny), "2025-11-02T01:30:00-04:00");
    }

    #[test]
    fn months_clamp_to_the_last_day_without_drifting() {
        let utc = Zone::utc();
        let points = calendar_points(
            &utc,
            t("2025-01-31T00:00:00Z"),
            t("2025-05-01T00:00:00Z"),
            CalendarStep::Months(1),
            100,
        )
        .unwrap();
        let text: Vec<String> = points.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            text,
            [
                "2025-01-31T00:00:00Z",
                "2025-02-28T00:00:00Z",
                "2025-03-31T00:00:00Z",
                "2025-04-30T00:00:00Z"
            ]
        );
    }

    #[test]
    fn too_many_points_is_an_error_not_an_allocation() {
        let utc = Zone::utc();
        let r = calendar_points(
            &utc,
            t("2000-01-01T00:00:00Z"),
            t("2100-01-01T00:00:00Z"),
            CalendarStep::Days(1),
            1000,
        );
        assert_eq!(r, Err(GridError::TooMany));
    }

    /// Zones with DST, half- and quarter-hour offsets, a half-hour DST
    /// (Lord Howe), a skipped day (Apia, 2011) and none at all.
    const ZONES: [&str; 8] = [
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",
        "Pacific/Apia",
        "America/St_Johns",
        "UTC",
    ];

    fn jiff_offset(z: &Zone, t: i64) -> i32 {
        z.tz.to_offset(jiff::Timestamp::from_millisecond(t).unwrap())
            .seconds()
    }

    fn jiff_instant(z: &Zone, local: i64) -> i64 {
        let dt = civil_of(Timestamp(local)).unwrap();
        z.tz.to_timestamp(dt).unwrap().as_millisecond()
    }

    proptest::proptest! {
        /// The offset table answers exactly what jiff answers, for instants
        /// and for local readings, gaps and folds included, inside and
        /// outside the table's window.
        #[test]
        fn offset_table_agrees_with_jiff(
            zone in 0..ZONES.len(),
            t in -4_000_000_000_000i64..8_000_000_000_000,
            near in proptest::bool::ANY,
            jitter in -7_200_000i64..7_200_000,
        ) {
            let z = Zone::lookup(ZONES[zone]).unwrap();
            // Half the cases land within two hours of a transition: the
            // instant, and the local reading (a gap or a fold).
            let (at, local) = match z.tz.following(jiff::Timestamp::from_millisecond(t).unwrap()).next() {
                Some(tr) if near => {
                    let at = tr.timestamp().as_millisecond();
                    let before = i64::from(jiff_offset(&z, at - 1)) * 1000;
                    (at + jitter, at + before + jitter)
                }
                _ => (t, t),
            };
            proptest::prop_assert_eq!(z.offset_seconds(Timestamp(at)), jiff_offset(&z, at));
            proptest::prop_assert_eq!(z.instant_of_local(Timestamp(local)).unwrap().0, jiff_instant(&z, local));
        }

        /// Daily grids from the table equal jiff's civil day arithmetic.
        #[test]
        fn daily_grid_agrees_with_jiff(
            zone in 0..ZONES.len(),
            from in 0i64..4_000_000_000_000,
            days in 1i64..3,
        ) {
            let z = Zone::lookup(ZONES[zone]).unwrap();
            let to = from + 400 * DAY_MS;
            let points = calendar_points(&z, Timestamp(from), Timestamp(to), CalendarStep::Days(days), 10_000).unwrap();
            let start = z.local_of(Timestamp(from)).unwrap();
            let mut expected = Vec::new();
            for k in 0.. {
                let local = start.checked_add(jiff::Span::new().days(k * days)).unwrap();
                let t = z.tz.to_timestamp(local).unwrap().as_millisecond();
                if t >= to {
                    break;
                }
                if expected.last().is_some_and(|&p| p >= t) {
                    continue;
                }
                expected.push(t);
            }
            let got: Vec<i64> = points.iter().map(|p| p.0).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn apia_skips_the_30th_of_december_2011() {
        let (_, text) = local_days("Pacific/Apia", "2011-12-29T00:00:00Z", "2012-01-01T00:00:00Z");
        // The 30th's midnight is in the gap and moves forward a day, onto
        // the 31st's: the grid keeps one point for both.
        assert_eq!(text, ["2011-12-29T00:00:00-10:00", "2011-12-31T00:00:00+14:00"]);
    }

    #[test]
    fn spellings_of_one_zone_share_one_cache_entry() {
        let a = Zone::lookup("europe/BERLIN").unwrap();
        let b = Zone::lookup("EUROPE/berlin").unwrap();
        assert_eq!((a.name(), b.name()), ("Europe/Berlin", "Europe/Berlin"));
        assert!(Arc::ptr_eq(&a.offsets, &b.offsets));
    }

    #[test]
    fn zoned_text_keeps_milliseconds_and_negative_offsets() {
        let mut s = String::new();
        write_zoned(&mut s, t("2025-01-01T05:00:00.250Z"), -5 * 3600).unwrap();
        assert_eq!(s, "2025-01-01T00:00:00.250-05:00");
    }
}
