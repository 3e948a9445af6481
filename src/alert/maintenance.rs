//! Maintenance windows: weekly ones from the settings file (UTC) and ad hoc ones from the API. While a
//! journey is in one, its alerts are held (not sent; firing ones resolve with the reason) and
//! `journey_maintenance{journey}` is 1.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use super::clock::{midnight, weekday};
use crate::settings::RecurringWindow;
use crate::units::rfc3339_millis;

/// Ad hoc windows open at once. A window holds the pager for every journey it names, so a hundred is
/// already more than a person could follow; without a cap, re-opening windows grew the daemon without
/// bound (measured: 300 windows with 1.9 MB reasons took it from 12 MB to 608 MB).
pub const MAX_OPEN_WINDOWS: usize = 100;

/// Longest ad hoc window. Unlike an Alertmanager silence, a window resolves alerts that are firing, so a
/// long one is a pager switched off: planned work longer than a day belongs in the settings file's weekly
/// windows (reviewed with the rest of the configuration), or is re-opened the next day by a person.
pub const MAX_WINDOW: Duration = Duration::from_secs(86_400);

/// Longest reason, in bytes: it is logged, listed by the API and sent to receivers with every held alert.
pub const MAX_REASON_BYTES: usize = 1024;

/// Why an ad hoc window was not opened. Each message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("no journey is named `{0}` (use `*` for every journey)")]
    UnknownJourney(String),
    #[error("duration must be between 1s and 24h; for longer planned work add a weekly window to the settings file, or open another window when this one ends")]
    Duration,
    #[error("reason is {0} bytes; at most 1024 are kept (put a link to the change ticket, not the ticket)")]
    ReasonTooLong(usize),
    #[error("{MAX_OPEN_WINDOWS} ad hoc maintenance windows are open, the most allowed: end one with DELETE /api/v1/maintenance/{{id}} (GET /api/v1/maintenance lists them) or use `*` for every journey")]
    TooMany,
}

/// An ad hoc window opened through `POST /api/v1/maintenance`.
#[derive(Debug, Clone)]
pub struct AdHoc {
    pub id: u64,
    /// A journey name, or `*` for every journey.
    pub journey: String,
    pub reason: String,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    /// When it ends on the (pausable) tokio clock.
    until: Instant,
}

/// How the API shows a window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowView {
    /// Ad hoc windows have an id (DELETE them by it); recurring ones have none.
    pub id: Option<u64>,
    pub journey: String,
    pub reason: String,
    pub starts_at: String,
    pub ends_at: String,
    pub recurring: bool,
}

#[derive(Debug, Default)]
pub struct Maintenance {
    recurring: Vec<RecurringWindow>,
    adhoc: Vec<AdHoc>,
    /// Ids are never reused, so a late DELETE cannot end a newer window.
    next_id: u64,
}

fn matches(pattern: &str, journey: &str) -> bool {
    pattern == "*" || pattern == journey
}

/// The start of the occurrence of `w` that covers `wall`, if one does.
fn recurring_start(w: &RecurringWindow, wall: SystemTime) -> Option<SystemTime> {
    let today = midnight(wall);
    (0..=7u64).find_map(|back| {
        let day = today.checked_sub(Duration::from_secs(back * 86_400))?;
        let start = day + Duration::from_secs(u64::from(w.start_secs));
        let covers = w.days.contains(&weekday(day)) && start <= wall && wall < start + w.duration;
        covers.then_some(start)
    })
}

impl Maintenance {
    pub fn new(recurring: Vec<RecurringWindow>) -> Maintenance {
        Maintenance { recurring, adhoc: Vec::new(), next_id: 1 }
    }

    /// No window of either kind: no journey can enter or leave maintenance by the clock.
    pub fn is_empty(&self) -> bool {
        self.adhoc.is_empty() && self.recurring.is_empty()
    }

    /// The settings file's weekly windows changed (reload): ad hoc windows, opened through the API by a
    /// person, are kept.
    pub fn set_recurring(&mut self, recurring: Vec<RecurringWindow>) {
        self.recurring = recurring;
    }

    /// Why `journey` is in maintenance now, or `None`.
    pub fn active_for(&self, journey: &str, now: Instant, wall: SystemTime) -> Option<String> {
        if let Some(a) = self.adhoc.iter().find(|a| now < a.until && matches(&a.journey, journey)) {
            return Some(if a.reason.is_empty() {
                format!("maintenance until {}", rfc3339_millis(a.ends_at))
            } else {
                a.reason.clone()
            });
        }
        self.recurring.iter().find_map(|w| {
            if !w.journeys.iter().any(|p| matches(p, journey)) {
                return None;
            }
            let start = recurring_start(w, wall)?;
            Some(if w.reason.is_empty() {
                format!("weekly maintenance until {}", rfc3339_millis(start + w.duration))
            } else {
                w.reason.clone()
            })
        })
    }

    /// Opens an ad hoc window, within the limits above (the caller has checked that `journey` exists).
    pub fn add(
        &mut self,
        journey: &str,
        duration: Duration,
        reason: &str,
        now: Instant,
        wall: SystemTime,
    ) -> Result<AdHoc, WindowError> {
        if duration.is_zero() || duration > MAX_WINDOW {
            return Err(WindowError::Duration);
        }
        if reason.len() > MAX_REASON_BYTES {
            return Err(WindowError::ReasonTooLong(reason.len()));
        }
        self.prune(now);
        if self.adhoc.len() >= MAX_OPEN_WINDOWS {
            return Err(WindowError::TooMany);
        }
        let a = AdHoc {
            id: self.next_id,
            journey: journey.to_string(),
            reason: reason.to_string(),
            starts_at: wall,
            ends_at: wall + duration,
            until: now + duration,
        };
        self.next_id += 1;
        self.adhoc.push(a.clone());
        Ok(a)
    }

    /// Ends an ad hoc window early. False when no such window is open.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.adhoc.len();
        self.adhoc.retain(|a| a.id != id);
        self.adhoc.len() != before
    }

    /// Drops expired ad hoc windows.
    pub fn prune(&mut self, now: Instant) {
        self.adhoc.retain(|a| now < a.until);
    }

    /// Ad hoc windows still open and recurring windows active now.
    pub fn list(&self, now: Instant, wall: SystemTime) -> Vec<WindowView> {
        let mut out: Vec<WindowView> = self
            .adhoc
            .iter()
            .filter(|a| now < a.until)
            .map(|a| WindowView {
                id: Some(a.id),
                journey: a.journey.clone(),
                reason: a.reason.clone(),
                starts_at: rfc3339_millis(a.starts_at),
                ends_at: rfc3339_millis(a.ends_at),
                recurring: false,
            })
            .collect();
        for w in &self.recurring {
            if let Some(start) = recurring_start(w, wall) {
                for j in &w.journeys {
                    out.push(WindowView {
                        id: None,
                        journey: j.clone(),
                        reason: w.reason.clone(),
                        starts_at: rfc3339_millis(start),
                        ends_at: rfc3339_millis(start + w.duration),
                        recurring: true,
                    });
                }
            }
        }
        out
    }
}

impl AdHoc {
    pub fn view(&self) -> WindowView {
        WindowView {
            id: Some(self.id),
            journey: self.journey.clone(),
            reason: self.reason.clone(),
            starts_at: rfc3339_millis(self.starts_at),
            ends_at: rfc3339_millis(self.ends_at),
            recurring: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    // Sunday 2026-11-29 00:00 UTC.
    const SUNDAY: u64 = 1_796_000_000 - 86_400 - 3200;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn weekly_windows_follow_the_utc_calendar_across_midnight() {
        assert_eq!(weekday(at(SUNDAY)), 6);
        assert_eq!(rfc3339_millis(at(SUNDAY)), "2026-11-29T00:00:00.000Z");
        // Sundays 23:30 for 1h: covers Sunday 23:45 and Monday 00:15, not Monday 00:45 or Saturday 23:45.
        let w = RecurringWindow {
            journeys: vec!["checkout".into()],
            days: vec![6],
            start_secs: 23 * 3600 + 1800,
            duration: Duration::from_secs(3600),
            reason: "db upgrade".into(),
        };
        let m = Maintenance::new(vec![w]);
        let now = Instant::now();
        let check = |secs: u64| m.active_for("checkout", now, at(secs));
        assert_eq!(check(SUNDAY + 23 * 3600 + 2700).as_deref(), Some("db upgrade"));
        assert!(check(SUNDAY + 86_400 + 900).is_some());
        assert!(check(SUNDAY + 86_400 + 2700).is_none());
        assert!(check(SUNDAY - 86_400 + 23 * 3600 + 2700).is_none());
        assert!(m.active_for("login", now, at(SUNDAY + 23 * 3600 + 2700)).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn ad_hoc_windows_expire_and_can_be_ended_early() {
        let mut m = Maintenance::new(vec![]);
        let t0 = Instant::now();
        let a = m.add("*", Duration::from_secs(60), "deploy", t0, at(SUNDAY)).unwrap();
        let b = m.add("login", Duration::from_secs(600), "", t0, at(SUNDAY)).unwrap();
        assert_eq!(m.active_for("checkout", t0, at(SUNDAY)).as_deref(), Some("deploy"));
        tokio::time::advance(Duration::from_secs(61)).await;
        let t1 = Instant::now();
        assert!(m.active_for("checkout", t1, at(SUNDAY)).is_none());
        assert!(m.active_for("login", t1, at(SUNDAY)).unwrap().contains("until 2026-11-29T00:10:00"));
        assert!(!m.remove(a.id) || m.list(t1, at(SUNDAY)).len() == 1);
        assert!(m.remove(b.id));
        assert!(!m.remove(b.id));
        assert!(m.active_for("login", t1, at(SUNDAY)).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn ad_hoc_windows_are_bounded_in_number_length_and_reason() {
        let mut m = Maintenance::new(vec![]);
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        assert_eq!(
            m.add("*", MAX_WINDOW + Duration::from_secs(1), "", t0, at(SUNDAY)).unwrap_err(),
            WindowError::Duration
        );
        assert_eq!(m.add("*", Duration::ZERO, "", t0, at(SUNDAY)).unwrap_err(), WindowError::Duration);
        let long = "x".repeat(MAX_REASON_BYTES + 1);
        assert_eq!(m.add("*", hour, &long, t0, at(SUNDAY)).unwrap_err(), WindowError::ReasonTooLong(1025));
        assert!(m.add("*", MAX_WINDOW, &long[1..], t0, at(SUNDAY)).is_ok(), "the limits themselves are allowed");
        for _ in 1..MAX_OPEN_WINDOWS {
            m.add("login", hour, "", t0, at(SUNDAY)).unwrap();
        }
        assert_eq!(m.add("login", hour, "", t0, at(SUNDAY)).unwrap_err(), WindowError::TooMany);
        // Expired windows no longer count.
        tokio::time::advance(hour).await;
        assert!(m.add("login", hour, "", Instant::now(), at(SUNDAY)).is_ok());
    }
}
