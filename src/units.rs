//! Units at the bottom of the crate, imported by all: durations (`1m30s`), arrival rates (`50/s`) and byte
//! sizes (`10MiB`) as written in journey files, settings and CLI flags; measured latency for people; RFC 3339
//! timestamps; time left until a certificate expires. Each parser returns a message a person can act on;
//! callers add the location. Nothing of ours is imported here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `250ms`, `30s`, `2m`, `1h`, `1d`, `1.5s`, `500us`, `10ns` and combinations like `1m30s`.
///
/// A bare number is an error: `30` could mean seconds or milliseconds, so the unit must be written.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write one like 30s or 250ms".to_string());
    }
    if s.parse::<f64>().is_ok() {
        return Err(format!("duration `{s}` has no unit; add one, e.g. `{s}s` or `{s}ms`"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("invalid duration `{s}`; write one like 30s, 250ms or 1m30s"));
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| format!("invalid number in duration `{s}`"))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let seconds_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "" => return Err(format!("duration `{s}` ends without a unit; add one, e.g. `{s}s`")),
            other => return Err(format!("unknown unit `{other}` in duration `{s}`; use ns, us, ms, s, m, h or d")),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e12 {
        return Err(format!("duration `{s}` is too large"));
    }
    // Round to whole nanoseconds so `0.1s` is exactly 100ms.
    Ok(Duration::from_nanos((total * 1e9).round() as u64))
}

/// Formats a duration the way `parse_duration` reads it: `1m30s`, `250ms`, `1.5s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    let nanos = d.as_nanos();
    if nanos % 1_000_000_000 != 0 {
        if d < Duration::from_secs(1) {
            return if nanos % 1_000_000 == 0 {
                format!("{}ms", nanos / 1_000_000)
            } else if nanos % 1_000 == 0 {
                format!("{}us", nanos / 1_000)
            } else {
                format!("{nanos}ns")
            };
        }
        return format!("{}s", d.as_secs_f64());
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Parses an arrival rate `50/s`, `120/m` or `3600/h` into iterations per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let Some((number, unit)) = s.split_once('/') else {
        if s.parse::<f64>().is_ok() {
            return Err(format!("rate `{s}` has no unit; write it like `{s}/s`, `{s}/m` or `{s}/h`"));
        }
        return Err(format!("invalid rate `{s}`; write one like 50/s, 120/m or 10/h"));
    };
    let per_second = match unit.trim() {
        "s" => 1.0,
        "m" => 1.0 / 60.0,
        "h" => 1.0 / 3600.0,
        other => return Err(format!("unknown rate unit `/{other}`; use /s, /m or /h")),
    };
    let n: f64 = number
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("invalid rate `{s}`; write one like 50/s"))?;
    if n <= 0.0 {
        return Err(format!("rate `{s}` must be greater than zero"));
    }
    Ok(n * per_second)
}

/// Parses a byte size: `1000`, `512B`, `64KiB`, `10MiB`, `1GiB`, or SI `10kB` / `10MB` / `1GB`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("unknown size unit `{other}` in `{s}`; use B, KiB, MiB, GiB, kB, MB or GB")),
    };
    let n: f64 = number.parse().map_err(|_| format!("invalid size `{s}`; write one like 10MiB or 65536"))?;
    let bytes = n * multiplier as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("size `{s}` is too large"));
    }
    Ok(bytes.round() as u64)
}

/// Latency for people, rounded to about three significant figures: `850µs`, `12.3ms`, `1.20s`. For measured
/// values (quantiles, means); configured durations use [`format_duration`], which spells them as written.
pub fn format_latency(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us}µs")
    } else if us < 10_000 {
        format!("{:.2}ms", us as f64 / 1000.0)
    } else if us < 100_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else if us < 1_000_000 {
        format!("{:.0}ms", us as f64 / 1000.0)
    } else if us < 60_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else {
        format_duration(Duration::from_secs(d.as_secs()))
    }
}

/// RFC 3339 UTC to the second, `2026-11-29T17:13:06Z`: the status API, reports and `now_rfc3339()`.
pub fn rfc3339(t: SystemTime) -> String {
    rfc3339_with(t, false)
}

/// RFC 3339 UTC to the millisecond, `2026-11-29T17:05:03.250Z`: alert payloads (`startsAt`), maintenance.
pub fn rfc3339_millis(t: SystemTime) -> String {
    rfc3339_with(t, true)
}

fn rfc3339_with(t: SystemTime, millis: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, mo, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    if millis {
        format!("{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}.{:03}Z", d.subsec_millis())
    } else {
        format!("{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

/// RFC 3339 UTC to the second of a Unix time in seconds (a certificate's `notAfter`); times before 1970
/// show as 1970.
pub fn rfc3339_unix(secs: i64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

/// Whole days from `now` until `expiry` (both Unix seconds), rounded down: `0` is less than a day left, a
/// negative number means it has passed. The `days_left` of the status API and the alerts.
pub fn days_left(expiry: i64, now: i64) -> i64 {
    expiry.saturating_sub(now).div_euclid(86_400)
}

/// Time until `expiry` (Unix seconds) for people: `12 days left`, `1 day left`, `5 hours left`, `less than
/// an hour left`, `expired 3 days ago`.
pub fn time_left(expiry: i64, now: i64) -> String {
    let left = expiry.saturating_sub(now);
    if left > 0 {
        format!("{} left", format_span(left))
    } else {
        format!("expired {} ago", format_span(left.saturating_neg()))
    }
}

/// A span of seconds in its largest whole unit, rounded down: `3 days`, `1 day`, `5 hours`, `less than an hour`.
pub fn format_span(secs: i64) -> String {
    let plural = |n: i64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if secs >= 86_400 {
        plural(secs / 86_400, "day")
    } else if secs >= 3600 {
        plural(secs / 3600, "hour")
    } else {
        "less than an hour".to_string()
    }
}

/// (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's civil_from_days): calendar
/// dates without a date-time dependency.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1d"), Ok(ms(86_400_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("0.1s"), Ok(ms(100)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("10ns"), Ok(Duration::from_nanos(10)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(ms(3_723_004)));
        assert_eq!(parse_duration(" 5s "), Ok(ms(5000)));
    }

    #[test]
    fn bare_numbers_ask_for_a_unit() {
        let err = parse_duration("30").unwrap_err();
        assert!(err.contains("has no unit") && err.contains("`30s`"), "{err}");
        let err = parse_duration("1m30").unwrap_err();
        assert!(err.contains("ends without a unit"), "{err}");
    }

    #[test]
    fn bad_durations_are_explained() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("5 s").unwrap_err().contains("unknown unit ` s`"));
        assert!(parse_duration("3 weeks").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("fast").unwrap_err().contains("invalid duration"));
        assert!(parse_duration("-5s").unwrap_err().contains("invalid duration"));
        assert!(parse_duration("1.2.3s").unwrap_err().contains("invalid number"));
    }

    #[test]
    fn durations_format_back() {
        for text in ["0s", "250ms", "30s", "1m30s", "1h", "1d2h", "1.5s", "500us", "10ns"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50/s"), Ok(50.0));
        assert_eq!(parse_rate("120/m"), Ok(2.0));
        assert_eq!(parse_rate("3600/h"), Ok(1.0));
        assert_eq!(parse_rate("0.5/s"), Ok(0.5));
        assert!(parse_rate("50").unwrap_err().contains("has no unit"));
        assert!(parse_rate("50/d").unwrap_err().contains("unknown rate unit"));
        assert!(parse_rate("0/s").unwrap_err().contains("greater than zero"));
        assert!(parse_rate("lots/s").unwrap_err().contains("invalid rate"));
        assert_eq!(
            parse_rate("50 per second").unwrap_err(),
            "invalid rate `50 per second`; write one like 50/s, 120/m or 10/h"
        );
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("512B"), Ok(512));
        assert_eq!(parse_bytes("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_bytes("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
        assert!(parse_bytes("10 parsecs").unwrap_err().contains("unknown size unit"));
        assert!(parse_bytes("MiB").unwrap_err().contains("invalid size"));
    }

    #[test]
    fn time_left_counts_whole_days_and_says_when_it_passed() {
        let now = 1_800_000_000;
        let day = 86_400;
        assert_eq!(days_left(now + 12 * day + 5, now), 12);
        assert_eq!(days_left(now + day - 1, now), 0, "less than a day");
        assert_eq!(days_left(now - 1, now), -1, "passed");
        assert_eq!(time_left(now + 12 * day + 5, now), "12 days left");
        assert_eq!(time_left(now + day, now), "1 day left");
        assert_eq!(time_left(now + 5 * 3600 + 59, now), "5 hours left");
        assert_eq!(time_left(now + 59, now), "less than an hour left");
        assert_eq!(time_left(now, now), "expired less than an hour ago");
        assert_eq!(time_left(now - 3 * day - 7, now), "expired 3 days ago");
        assert_eq!(rfc3339_unix(1_796_142_440), "2026-12-01T16:27:20Z");
        assert_eq!(rfc3339_unix(-5), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1_796_142_440_000)), "2026-12-01T16:27:20Z");
        assert_eq!(rfc3339(at(951_782_400_000)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_796_000_000_250)), "2026-11-30T00:53:20Z");
        assert_eq!(rfc3339_millis(at(1_796_000_000_250)), "2026-11-30T00:53:20.250Z");
        assert_eq!(rfc3339_millis(at(0)), "1970-01-01T00:00:00.000Z");
    }
}
