//! A latency histogram that reports store losslessly: the HDR histogram's non-empty buckets as
//! `[value_us, count]` pairs. Reading the pairs back records every count into the same bucket it came
//! from, so quantiles, merges (histograms add) and baseline tests are exact, with no extra dependency.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Lowest value recorded (µs); shorter latencies count as 1 µs.
const LOW_US: u64 = 1;
/// Highest value recorded exactly (µs): one hour. Longer values are clamped (and still counted).
pub const HIGH_US: u64 = 3_600_000_000;
/// Three significant figures: every quantile is within 0.1 % of the true value.
const SIGFIG: u8 = 3;

/// A latency histogram in microseconds, with the bounds every report uses (so any two can be added).
#[derive(Debug, Clone, PartialEq)]
pub struct Hist(pub Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist(Histogram::new_with_bounds(LOW_US, HIGH_US, SIGFIG).expect("static bounds"))
    }
}

impl Hist {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(LOW_US, HIGH_US);
        self.0.saturating_record(us);
    }

    /// Adds every count of `other` (exact: both use the same bucket layout).
    pub fn add(&mut self, other: &Hist) {
        // Same bounds on both sides, so this cannot fail; saturate rather than panic if it ever did.
        for (value, count) in other.buckets() {
            let _ = self.0.record_n(value, count);
        }
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at quantile `q` (0..=1); zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.0.value_at_quantile(q))
    }

    pub fn max(&self) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.0.max())
    }

    pub fn mean(&self) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.0.mean() / 1e6)
    }

    /// Non-empty buckets in ascending order: (highest value equivalent to the bucket, count).
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.0.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
    }
}

/// What a histogram looks like in a report.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistRepr {
    /// Number of values; a checksum of `buckets` for people and tools.
    count: u64,
    /// `[value_us, count]` for every non-empty bucket, ascending.
    buckets: Vec<(u64, u64)>,
}

impl Serialize for Hist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        HistRepr { count: self.count(), buckets: self.buckets() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hist, D::Error> {
        let repr = HistRepr::deserialize(d)?;
        let mut h = Hist::default();
        for (value, count) in repr.buckets {
            if !(LOW_US..=HIGH_US).contains(&value) {
                return Err(serde::de::Error::custom(format!(
                    "histogram bucket value {value} is outside {LOW_US}..={HIGH_US} µs"
                )));
            }
            h.0.record_n(value, count).map_err(|e| serde::de::Error::custom(format!("histogram: {e:?}")))?;
        }
        if h.count() != repr.count {
            return Err(serde::de::Error::custom(format!(
                "histogram count {} does not match its buckets ({})",
                repr.count,
                h.count()
            )));
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_adds_exactly() {
        let mut a = Hist::default();
        let mut b = Hist::default();
        for i in 0..5000u64 {
            a.record(Duration::from_micros(i * 37 + 1));
            b.record(Duration::from_micros(i * i + 5));
        }
        let json = serde_json::to_string(&a).unwrap();
        let back: Hist = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.quantile(0.99), a.quantile(0.99));

        let mut sum = a.clone();
        sum.add(&b);
        let mut direct = Hist::default();
        for i in 0..5000u64 {
            direct.record(Duration::from_micros(i * 37 + 1));
            direct.record(Duration::from_micros(i * i + 5));
        }
        assert_eq!(sum, direct);
        assert_eq!(sum.buckets(), direct.buckets());
    }

    #[test]
    fn rejects_inconsistent_counts() {
        assert!(serde_json::from_str::<Hist>(r#"{"count": 3, "buckets": [[10, 2]]}"#).is_err());
        assert!(serde_json::from_str::<Hist>(r#"{"count": 1, "buckets": [[0, 1]]}"#).is_err());
    }
}
