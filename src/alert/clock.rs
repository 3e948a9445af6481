//! Wall-clock arithmetic the alert engine needs without a date crate: the (pausable) wall clock, and the
//! UTC weekday and time of day for maintenance windows. RFC 3339 timestamps live in `crate::units`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Wall time derived from the (pausable) tokio clock: tests pause time and pick the date; production
/// anchors it to the system clock at start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The tokio instant that corresponds to `wall_origin`.
    origin: Instant,
    wall_origin: SystemTime,
}

impl Clock {
    /// Anchored to the system clock now.
    pub fn system() -> Clock {
        Clock { origin: Instant::now(), wall_origin: SystemTime::now() }
    }

    /// Anchored at a chosen wall time (tests).
    pub fn at(wall: SystemTime) -> Clock {
        Clock { origin: Instant::now(), wall_origin: wall }
    }

    pub fn wall(&self, now: Instant) -> SystemTime {
        self.wall_origin + now.saturating_duration_since(self.origin)
    }
}

fn unix(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Day of the week in UTC, 0 = Monday … 6 = Sunday.
pub fn weekday(t: SystemTime) -> u8 {
    // 1970-01-01 was a Thursday (3).
    ((unix(t).as_secs() / 86_400 + 3) % 7) as u8
}

/// Start of the UTC day containing `t`.
pub fn midnight(t: SystemTime) -> SystemTime {
    let s = unix(t).as_secs();
    UNIX_EPOCH + Duration::from_secs(s - s % 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::rfc3339_millis;

    #[test]
    fn formats_and_weekdays_match_known_dates() {
        // 2026-11-30 is a Monday.
        let t = UNIX_EPOCH + Duration::from_millis(1_796_000_000_250);
        assert_eq!(rfc3339_millis(t), "2026-11-30T00:53:20.250Z");
        assert_eq!(weekday(t), 0);
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(weekday(UNIX_EPOCH), 3);
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_millis(midnight(t + Duration::from_secs(3600))), "2026-11-30T00:00:00.000Z");
    }
}
