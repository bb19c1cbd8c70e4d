//! Formatting shared by every page: UTC times (absolute and relative),
//! durations, and percent-encoding of query values. No date crate: the UI
//! shows UTC only, which needs nothing but the civil-date arithmetic below.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const MS_PER_DAY: u64 = 86_400_000;

/// Everything but RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query value (or a path segment).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// `path?query`, or just `path` when the query is empty.
pub fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The civil date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse of `civil_from_days`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Milliseconds since the epoch as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn format_ms(ms: u64) -> String {
    let (y, m, d) = civil_from_days((ms / MS_PER_DAY) as i64);
    let s = ms % MS_PER_DAY / 1000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Exactly `len` ASCII digits.
fn digits(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, optionally `:SS` and up to
/// three fraction digits) read as UTC, the zone every time here is shown
/// in. `None` when it is not such a value or before 1970.
pub fn parse_datetime_local(s: &str) -> Option<u64> {
    let (date, time) = s.trim().split_once('T')?;
    let mut date = date.split('-');
    let (y, m, d) = (
        i64::from(digits(date.next()?, 4)?),
        digits(date.next()?, 2)?,
        digits(date.next()?, 2)?,
    );
    let mut time = time.split(':');
    let (h, min) = (digits(time.next()?, 2)?, digits(time.next()?, 2)?);
    let (sec, frac_ms) = match time.next() {
        None => (0, 0),
        Some(s) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let frac_ms = match frac.len() {
                0 => 0,
                n @ 1..=3 => digits(frac, n)? * 10u32.pow(3 - n as u32),
                _ => return None,
            };
            (digits(whole, 2)?, frac_ms)
        }
    };
    let valid = date.next().is_none()
        && time.next().is_none()
        && y >= 1970
        && (1..=12).contains(&m)
        && (1..=days_in_month(y, m)).contains(&d)
        && h < 24
        && min < 60
        && sec < 60;
    valid.then(|| {
        days_from_civil(y, m, d) as u64 * MS_PER_DAY
            + u64::from(((h * 60 + min) * 60 + sec) * 1000 + frac_ms)
    })
}

/// An RFC 3339 time as the Docker Engine sends it
/// (`2024-05-01T12:00:00.123456789Z`, or with a `±HH:MM` offset) in ms
/// since the epoch; digits past the millisecond are cut. `None` when it
/// is not such a time or before 1970.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    let (local, offset_min) = match s.strip_suffix(['Z', 'z']) {
        Some(local) => (local, 0),
        None => {
            let cut = s.len().checked_sub(6)?;
            let (local, off) = (s.get(..cut)?, s.get(cut..)?);
            let sign = match off.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = off[1..].split_once(':')?;
            let (h, m) = (digits(h, 2)?, digits(m, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            (local, sign * i64::from(h * 60 + m))
        }
    };
    let local = match local.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{whole}.{}", &frac[..frac.len().min(3)])
        }
        Some(_) => return None,
        None => local.to_owned(),
    };
    // RFC 3339 always has seconds; `parse_datetime_local` also takes none.
    if local.split(':').count() != 3 {
        return None;
    }
    let ms = i64::try_from(parse_datetime_local(&local)?).ok()? - offset_min * 60_000;
    u64::try_from(ms).ok()
}

/// The `datetime-local` value showing `ms` (UTC), seconds only when set.
pub fn to_datetime_local(ms: u64) -> String {
    let s = format_ms(ms).replacen(' ', "T", 1);
    match s.strip_suffix(":00") {
        Some(short) => short.to_owned(),
        None => s,
    }
}

/// RFC 3339 UTC with milliseconds, as `<time datetime>` takes it.
pub fn iso_ms(ms: u64) -> String {
    format!("{}.{:03}Z", format_ms(ms).replacen(' ', "T", 1), ms % 1000)
}

/// How far `at_ms` is from `now_ms`, in its largest whole unit: "12s ago",
/// "5m ago", "3h ago", "2d ago", or "in 5m" for what is still to come.
pub fn relative(now_ms: u64, at_ms: u64) -> String {
    let (secs, future) = if at_ms > now_ms + 999 {
        ((at_ms - now_ms) / 1000, true)
    } else {
        (now_ms.saturating_sub(at_ms) / 1000, false)
    };
    let amount = match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 120 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A duration in seconds, in its two largest units.
pub fn format_uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(format_ms(1_700_000_000_999), "2023-11-14 22:13:20");
        assert_eq!(format_ms(4_102_444_799_000), "2099-12-31 23:59:59");
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [0, 59, 365, 11_016, 19_675, 47_482, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn parses_datetime_local_as_utc() {
        assert_eq!(parse_datetime_local("1970-01-01T00:00"), Some(0));
        assert_eq!(
            parse_datetime_local("2023-11-14T22:13:20"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_datetime_local("2023-11-14T22:13:20.5"),
            Some(1_700_000_000_500)
        );
        assert_eq!(
            parse_datetime_local("2000-02-29T00:00"),
            Some(951_782_400_000)
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14 22:13",
            "2023-13-01T00:00",
            "2023-02-29T00:00",
            "2023-11-14T24:00",
            "2023-11-14T22:60",
            "2023-11-14T22:13:20.1234",
            "1969-12-31T23:59",
            "23-11-14T22:13",
            "2023-11-14T22:13:20:01",
            "+023-11-14T22:13",
        ] {
            assert_eq!(parse_datetime_local(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_engine_times_with_nanoseconds_and_offsets() {
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20.5+02:00"),
            Some(1_700_000_000_500)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T21:13:20-01:00"),
            Some(1_700_000_000_000)
        );
        for bad in [
            "",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20.1x3Z",
            "2023-11-14T22:13:20+2:00",
            "2023-11-14T22:13:20+24:00",
            "0001-01-01T00:00:00Z",
            "1970-01-01T00:30:00+01:00",
            "2023-11-14T22:13:2€Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn datetime_local_round_trips_through_ms() {
        assert_eq!(to_datetime_local(1_700_000_000_000), "2023-11-14T22:13:20");
        assert_eq!(to_datetime_local(1_699_999_980_000), "2023-11-14T22:13");
        for ms in [0, 1_699_999_980_000, 1_700_000_000_000] {
            assert_eq!(parse_datetime_local(&to_datetime_local(ms)), Some(ms));
        }
    }

    #[test]
    fn encodes_everything_outside_unreserved() {
        assert_eq!(encode("u-admin_1.x~"), "u-admin_1.x~");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn uptime_is_human_readable() {
        assert_eq!(format_uptime(5), "5s");
        assert_eq!(format_uptime(125), "2m 5s");
        assert_eq!(format_uptime(3 * 3600 + 120), "3h 2m");
        assert_eq!(format_uptime(2 * 86_400 + 3600), "2d 1h");
    }

    #[test]
    fn times_are_relative_in_their_largest_unit() {
        assert_eq!(relative(10_000, 9_000), "1s ago");
        assert_eq!(
            relative(10_000, 10_500),
            "0s ago",
            "clock skew under a second"
        );
        assert_eq!(relative(130_000, 10_000), "2m ago");
        assert_eq!(relative(3 * 3_600_000, 0), "3h ago");
        assert_eq!(relative(5 * 86_400_000, 0), "5d ago");
        assert_eq!(relative(0, 300_000), "in 5m");
    }

    #[test]
    fn iso_times_carry_milliseconds_and_zulu() {
        assert_eq!(iso_ms(1_700_000_000_999), "2023-11-14T22:13:20.999Z");
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
    }
}
