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

use std::fmt;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use rollcall_engine::Timestamp;

use crate::suggest;

/// A resolved IANA time zone.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
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
        match jiff::tz::db().get(name) {
            Ok(tz) => {
                let canonical = tz.iana_name().unwrap_or(name).to_owned();
                Ok(Zone { name: canonical, tz })
            }
            Err(_) => {
                let names = zone_names();
                Err(suggest::closest(name, names.iter().map(String::as_str)))
            }
        }
    }

    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
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
        let dt = civil_of(local)?;
        let ts = self.tz.to_timestamp(dt).ok()?;
        Some(Timestamp(ts.as_millisecond()))
    }

    /// The zone's offset from UTC at an instant, in seconds.
    pub fn offset_seconds(&self, at: Timestamp) -> i32 {
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
    let mut points = Vec::new();
    for k in 0.. {
        let moved = match step {
            CalendarStep::Days(n) => n
                .checked_mul(k)
                .and_then(|d| start.checked_add(jiff::Span::new().try_days(d).ok()?).ok()),
            CalendarStep::Months(n) => i64::from(n)
                .checked_mul(k)
                .and_then(|m| start.checked_add(jiff::Span::new().try_months(m).ok()?).ok()),
        };
        let Some(local) = moved else {
            return Err(GridError::OutOfRange);
        };
        let ts = zone.tz.to_timestamp(local).map_err(|_| GridError::OutOfRange)?;
        let t = Timestamp(ts.as_millisecond());
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

    #[test]
    fn berlin_days_across_the_october_change_last_23_and_25_hours() {
        let berlin = Zone::lookup("Europe/Berlin").unwrap();
        let from = berlin.instant_of_local(t("2025-10-25T00:00:00Z")).unwrap();
        let to = berlin.instant_of_local(t("2025-10-28T00:00:00Z")).unwrap();
        let points = calendar_points(&berlin, from, to, CalendarStep::Days(1), 100).unwrap();
        let text: Vec<String> = points.iter().map(|p| zoned(*p, &berlin)).collect();
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

    #[test]
    fn zoned_text_keeps_milliseconds_and_negative_offsets() {
        let mut s = String::new();
        write_zoned(&mut s, t("2025-01-01T05:00:00.250Z"), -5 * 3600).unwrap();
        assert_eq!(s, "2025-01-01T00:00:00.250-05:00");
    }
}
