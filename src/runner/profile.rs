//! Load profiles as pure functions of time: the segments a load model splits into, the intended times of
//! open-model arrivals under a (linearly ramping) rate, and the user count of a (linearly ramping) closed
//! model. The scheduler in `load.rs` sleeps until the times these compute; tests check them directly.

use std::time::Duration;

use crate::model::{LoadModel, StageTarget};

/// One linear piece of a load profile: from `from` to `to` (per second, or users) over `duration`
/// (`None`: forever at `from`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ramp {
    pub from: f64,
    pub to: f64,
    pub duration: Option<Duration>,
}

/// A run of same-kind stages: arrivals (open) or a user count (closed).
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Arrivals { ramps: Vec<Ramp>, max_users: u32 },
    Users { ramps: Vec<Ramp> },
}

impl Segment {
    /// How long the segment lasts (`None`: until the stop condition).
    pub fn duration(&self) -> Option<Duration> {
        let ramps = match self {
            Segment::Arrivals { ramps, .. } | Segment::Users { ramps } => ramps,
        };
        ramps.iter().map(|r| r.duration).sum()
    }
}

/// Most in-flight iterations a rate stage may need; more is a misconfiguration, not a load test.
const STAGES_MAX_USERS_CAP: u32 = 10_000;

/// Splits a load model into segments, each run by one scheduler. `timeout` is the journey's (it sizes the
/// user pool of rate stages).
pub fn segments(model: &LoadModel, timeout: Duration) -> Vec<Segment> {
    match model {
        LoadModel::Closed { users } => {
            vec![Segment::Users {
                ramps: vec![Ramp { from: f64::from(*users), to: f64::from(*users), duration: None }],
            }]
        }
        LoadModel::Open { rate_per_sec, max_users } => vec![Segment::Arrivals {
            ramps: vec![Ramp { from: *rate_per_sec, to: *rate_per_sec, duration: None }],
            max_users: *max_users,
        }],
        LoadModel::Stages(stages) => {
            let mut out: Vec<Segment> = Vec::new();
            let mut prev: Option<StageTarget> = None;
            for stage in stages {
                let (is_rate, to) = match stage.target {
                    StageTarget::Rate(r) => (true, r),
                    StageTarget::Users(u) => (false, f64::from(u)),
                };
                let from = match prev {
                    Some(StageTarget::Rate(r)) if is_rate => r,
                    Some(StageTarget::Users(u)) if !is_rate => f64::from(u),
                    _ => 0.0,
                };
                let ramp = Ramp { from, to, duration: Some(stage.duration) };
                match (out.last_mut(), is_rate) {
                    (Some(Segment::Arrivals { ramps, .. }), true) | (Some(Segment::Users { ramps }), false) => {
                        ramps.push(ramp)
                    }
                    (_, true) => out.push(Segment::Arrivals { ramps: vec![ramp], max_users: 0 }),
                    (_, false) => out.push(Segment::Users { ramps: vec![ramp] }),
                }
                prev = Some(stage.target);
            }
            for seg in &mut out {
                if let Segment::Arrivals { ramps, max_users } = seg {
                    let peak = ramps.iter().map(|r| r.from.max(r.to)).fold(0.0, f64::max);
                    *max_users = ((peak * timeout.as_secs_f64()).ceil() as u32).clamp(1, STAGES_MAX_USERS_CAP);
                }
            }
            out
        }
    }
}

/// The intended times of arrivals under a (piecewise linear) rate profile.
#[derive(Debug, Clone)]
pub struct ArrivalGrid {
    ramps: Vec<Ramp>,
    /// Arrivals before each ramp, and the offset at which it starts.
    starts: Vec<(f64, Duration)>,
}

impl ArrivalGrid {
    pub fn new(ramps: &[Ramp]) -> ArrivalGrid {
        let mut starts = Vec::with_capacity(ramps.len());
        let (mut count, mut at) = (0.0, Duration::ZERO);
        for r in ramps {
            starts.push((count, at));
            if let Some(d) = r.duration {
                count += (r.from + r.to) / 2.0 * d.as_secs_f64();
                at += d;
            }
        }
        ArrivalGrid { ramps: ramps.to_vec(), starts }
    }

    /// Offset from the start of arrival `i` (0-based): the moment the integral of the rate reaches `i`, so a
    /// constant rate R gives `i / R`. `None` past the end of the profile.
    pub fn offset(&self, i: u64) -> Option<Duration> {
        let k = i as f64;
        for (r, &(before, at)) in self.ramps.iter().zip(&self.starts) {
            let k = k - before;
            let t = match r.duration {
                None if r.from > 0.0 => k / r.from,
                None => return None,
                Some(d) => {
                    let secs = d.as_secs_f64();
                    if k >= (r.from + r.to) / 2.0 * secs {
                        continue;
                    }
                    // Solve from·t + (to − from)·t²/(2·secs) = k in the numerically stable form.
                    let a = (r.to - r.from) / (2.0 * secs);
                    let disc = (r.from * r.from + 4.0 * a * k).max(0.0);
                    let denom = r.from + disc.sqrt();
                    if k <= 0.0 {
                        0.0
                    } else if denom <= 0.0 {
                        continue;
                    } else {
                        (2.0 * k / denom).min(secs)
                    }
                }
            };
            return Some(at + Duration::from_secs_f64(t.max(0.0)));
        }
        None
    }

    /// The rate (per second) at `offset`, for the length of an arrival's slot.
    pub fn rate_at(&self, offset: Duration) -> f64 {
        for (r, &(_, at)) in self.ramps.iter().zip(&self.starts) {
            match r.duration {
                None => return r.from,
                Some(d) if offset < at + d => {
                    return r.from + (r.to - r.from) * (offset - at).as_secs_f64() / d.as_secs_f64();
                }
                Some(_) => {}
            }
        }
        self.ramps.last().map_or(0.0, |r| r.to)
    }
}

/// The target user count of a (piecewise linear) users profile.
#[derive(Debug, Clone)]
pub struct UserCurve {
    ramps: Vec<Ramp>,
}

/// Float slack so that a change computed for time t is seen at time t.
const EPS: f64 = 1e-9;

impl UserCurve {
    pub fn new(ramps: &[Ramp]) -> UserCurve {
        UserCurve { ramps: ramps.to_vec() }
    }

    /// Users wanted at `offset`: the line rounded toward the stage's start (down when ramping up, up when
    /// ramping down), so a user joins when the line reaches it and leaves when the line falls below it.
    /// `None` past the end.
    pub fn users_at(&self, offset: Duration) -> Option<u32> {
        let mut at = Duration::ZERO;
        for r in &self.ramps {
            let Some(d) = r.duration else { return Some(r.from.round() as u32) };
            if offset < at + d {
                let u = r.from + (r.to - r.from) * (offset - at).as_secs_f64() / d.as_secs_f64();
                let n = if r.to >= r.from { (u + EPS).floor() } else { (u - EPS).ceil() };
                return Some(n.max(0.0) as u32);
            }
            at += d;
        }
        None
    }

    /// The next offset after `offset` at which `users_at` may change (a user joins or leaves, or a stage
    /// ends). `None`: never.
    pub fn next_change(&self, offset: Duration) -> Option<Duration> {
        let mut at = Duration::ZERO;
        for r in &self.ramps {
            let d = r.duration?;
            if offset < at + d {
                let delta = r.to - r.from;
                if delta.abs() < EPS {
                    return Some(at + d);
                }
                let secs = d.as_secs_f64();
                let u = r.from + delta * (offset - at).as_secs_f64() / secs;
                let next = if delta > 0.0 { (u + EPS).floor() + 1.0 } else { (u - EPS).ceil() - 1.0 };
                let t = at + Duration::from_secs_f64(((next - r.from) / delta * secs).clamp(0.0, secs));
                return Some(t.max(offset + Duration::from_micros(1)).min(at + d));
            }
            at += d;
        }
        None
    }
}
