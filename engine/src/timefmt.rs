//! Text forms of [`Timestamp`]: RFC 3339 parsing (any offset, optional
//! fraction) and UTC printing, as SPEC.md sections 2 and 4 define them.
//!
//! Hand-written rather than through a date crate because ingest parses one
//! time per row and must sustain millions of rows per second; the civil-date
//! arithmetic is the standard days-from-civil algorithm, exact over the whole
//! proleptic Gregorian calendar this accepts (years 0000..=9999).

use std::fmt;

use crate::model::Timestamp;

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Why a time did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeParseError(&'static str);

impl fmt::Display for TimeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for TimeParseError {}

impl Timestamp {
    /// Parses SPEC.md's input forms: RFC 3339 with any offset and an optional
    /// fraction (`2026-11-01T12:00:00Z`, `2026-11-01T14:00:00.250+02:00`), a
    /// date-time without offset (UTC), a bare date (`2026-11-01`, midnight
    /// UTC), or integer epoch milliseconds (`1000`, `-5`). A lowercase `t`/`z`
    /// and a space between date and time are accepted; digits beyond
    /// milliseconds are truncated.
    ///
    /// ```
    /// use rollcall_engine::Timestamp;
    /// assert_eq!(Timestamp::parse("1000"), Ok(Timestamp(1000)));
    /// assert_eq!(Timestamp::parse("1970-01-01T00:00:01Z"), Ok(Timestamp(1000)));
    /// assert_eq!(Timestamp::parse("1970-01-01T02:00:01+02:00"), Ok(Timestamp(1000)));
    /// assert_eq!(Timestamp::parse("2026-11-01T14:00:00.250+02:00").unwrap().to_string(), "2026-11-01T12:00:00.250Z");
    /// ```
    pub fn parse(text: &str) -> Result<Timestamp, TimeParseError> {
        let s = text.trim().as_bytes();
        if s.is_empty() {
            return Err(TimeParseError("empty time"));
        }
        if s.len() < 10 || s[4] != b'-' {
            return parse_epoch_ms(s);
        }
        Timestamp::parse_rfc3339(s)
    }

    fn parse_rfc3339(s: &[u8]) -> Result<Timestamp, TimeParseError> {
        const BAD_DATE: TimeParseError = TimeParseError("expected a date as YYYY-MM-DD");
        if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
            return Err(BAD_DATE);
        }
        let y = digits(&s[0..4]).ok_or(BAD_DATE)?;
        let mo = digits(&s[5..7]).ok_or(BAD_DATE)?;
        let d = digits(&s[8..10]).ok_or(BAD_DATE)?;
        if !(1..=12).contains(&mo) {
            return Err(TimeParseError("month out of range 01..12"));
        }
        if d < 1 || d > days_in_month(y, mo) {
            return Err(TimeParseError("day out of range for its month"));
        }
        let days = days_from_civil(y, mo, d);
        let mut ms = days * MS_PER_DAY;
        let rest = &s[10..];
        if rest.is_empty() {
            return Ok(Timestamp(ms));
        }
        if !matches!(rest[0], b'T' | b't' | b' ') {
            return Err(TimeParseError("expected T between date and time"));
        }
        let rest = &rest[1..];
        const BAD_TIME: TimeParseError = TimeParseError("expected a time as HH:MM:SS");
        if rest.len() < 8 || rest[2] != b':' || rest[5] != b':' {
            return Err(BAD_TIME);
        }
        let h = digits(&rest[0..2]).ok_or(BAD_TIME)?;
        let mi = digits(&rest[3..5]).ok_or(BAD_TIME)?;
        let sec = digits(&rest[6..8]).ok_or(BAD_TIME)?;
        if h > 23 || mi > 59 || sec > 60 {
            return Err(TimeParseError("time of day out of range"));
        }
        // A leap second (:60) is read as the last millisecond-free instant of
        // that minute plus one second, as most RFC 3339 readers do.
        ms += ((h * 60 + mi) * 60 + sec) * 1000;
        let mut rest = &rest[8..];
        if let Some((&b'.', frac)) = rest.split_first() {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(TimeParseError("expected digits after the decimal point"));
            }
            let mut frac_ms = 0;
            for i in 0..3 {
                frac_ms = frac_ms * 10 + frac.get(i).filter(|_| i < n).map_or(0, |c| i64::from(c - b'0'));
            }
            ms += frac_ms;
            rest = &frac[n..];
        }
        match rest {
            [] | [b'Z'] | [b'z'] => Ok(Timestamp(ms)),
            [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
                const BAD_OFFSET: TimeParseError = TimeParseError("expected an offset as +HH:MM");
                let oh = digits(&[*oh1, *oh2]).ok_or(BAD_OFFSET)?;
                let om = digits(&[*om1, *om2]).ok_or(BAD_OFFSET)?;
                if oh > 23 || om > 59 {
                    return Err(TimeParseError("offset out of range"));
                }
                let off = (oh * 60 + om) * 60_000;
                Ok(Timestamp(if *sign == b'+' { ms - off } else { ms + off }))
            }
            _ => Err(TimeParseError(
                "expected Z or an offset such as +02:00 after the time",
            )),
        }
    }
}

fn parse_epoch_ms(s: &[u8]) -> Result<Timestamp, TimeParseError> {
    const BAD: TimeParseError = TimeParseError("expected an RFC 3339 time or integer epoch milliseconds");
    let (neg, body) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if body.is_empty() || body.len() > 19 || !body.iter().all(u8::is_ascii_digit) {
        return Err(BAD);
    }
    let mut v: i64 = 0;
    for &c in body {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or(TimeParseError("epoch milliseconds out of range"))?;
    }
    Ok(Timestamp(if neg { -v } else { v }))
}

impl fmt::Display for Timestamp {
    /// RFC 3339 UTC with `Z`, and `.sss` only when milliseconds are non-zero
    /// (SPEC.md section 4). Years outside 0000..=9999 print with a sign.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MS_PER_DAY);
        let rem = self.0.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let secs = rem / 1000;
        let ms = rem % 1000;
        let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if (0..=9999).contains(&y) {
            write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
        } else {
            write!(f, "{y:+}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
        }
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        f.write_str("Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_are_one_time() {
        for text in ["1000", "1970-01-01T00:00:01Z", "1970-01-01T02:00:01+02:00"] {
            assert_eq!(Timestamp::parse(text), Ok(Timestamp(1000)), "{text}");
        }
    }

    #[test]
    fn forms_and_printing() {
        let t = Timestamp::parse("2026-11-01T12:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-01T12:00:00Z");
        assert_eq!(
            Timestamp::parse("2026-11-01").unwrap().to_string(),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(Timestamp::parse("2026-11-01T12:00:00").unwrap(), t);
        assert_eq!(
            Timestamp::parse("2026-11-01 12:00:00.5Z").unwrap().to_string(),
            "2026-11-01T12:00:00.500Z"
        );
        assert_eq!(
            Timestamp::parse("2026-11-01T12:00:00.123456-01:30")
                .unwrap()
                .to_string(),
            "2026-11-01T13:30:00.123Z"
        );
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::parse("-1"), Ok(Timestamp(-1)));
        assert_eq!(
            Timestamp::parse("2024-02-29").unwrap().to_string(),
            "2024-02-29T00:00:00Z"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "abc",
            "2026-13-01",
            "2025-02-29",
            "2026-11-01T25:00:00Z",
            "2026-11-01T12:00Z",
            "2026-11-01T12:00:00+2",
            "2026-11-01X",
            "12a",
            "99999999999999999999",
            "2026-11-01T12:00:00.Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extreme_values_print_without_panic() {
        for t in [i64::MIN, i64::MAX, 0, 253_402_300_799_999] {
            let _ = Timestamp(t).to_string();
        }
    }

    #[test]
    fn round_trip_over_many_days() {
        let mut t = -86_400_000i64 * 366 * 3;
        while t < 86_400_000 * 366 * 80 {
            let text = Timestamp(t).to_string();
            assert_eq!(Timestamp::parse(&text), Ok(Timestamp(t)), "{text}");
            t += 86_400_000 + 3_600_001;
        }
    }
}
