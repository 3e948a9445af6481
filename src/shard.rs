//! Sharding without coordination: `--shard i/n` gives each replica (or Job pod) a stable share of the work.
//!
//! The share is a pure function of names and indices, so every replica computes the same partition with no
//! communication: Kubernetes starts the replicas, Prometheus sums their histograms, Alertmanager deduplicates
//! their alerts.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0-based index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole: one shard of one.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether this shard owns the item named `key` (a journey name): FNV-1a, stable across builds.
    pub fn owns_name(&self, key: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        hash % u64::from(self.count) == u64::from(self.index)
    }

    /// Whether this shard owns item number `i` (a virtual user or an iteration).
    pub fn owns_index(&self, i: u64) -> bool {
        self.count <= 1 || i % u64::from(self.count) == u64::from(self.index)
    }

    /// This shard's part of `total` items numbered 0..total.
    pub fn share_of(&self, total: u64) -> u64 {
        if self.count <= 1 {
            return total;
        }
        let (n, i) = (u64::from(self.count), u64::from(self.index));
        total / n + u64::from(i < total % n)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `i/n` with `0 <= i < n`. The index may also be a StatefulSet pod name (`journeyd-2/4`): its trailing
    /// number is the ordinal.
    fn from_str(s: &str) -> Result<Shard, String> {
        let hint = "expected i/n with 0 <= i < n, e.g. --shard 0/3 (or a pod name ending in its ordinal: web-2/3)";
        let (i, n) = s.split_once('/').ok_or_else(|| format!("invalid shard {s:?}: {hint}"))?;
        let digits: String =
            i.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
        let index: u32 = digits.parse().map_err(|_| format!("invalid shard index {i:?}: {hint}"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("invalid shard count {n:?}: {hint}"))?;
        if count == 0 || index >= count {
            return Err(format!("invalid shard {s:?}: {hint}"));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_indices_and_pod_names() {
        assert_eq!("1/3".parse::<Shard>().unwrap(), Shard { index: 1, count: 3 });
        assert_eq!("journeyd-2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert!("3/3".parse::<Shard>().is_err());
        assert!("x/3".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
    }

    #[test]
    fn shards_partition_names_and_indices_exactly() {
        let names: Vec<String> = (0..1000).map(|i| format!("journey-{i}")).collect();
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for name in &names {
            assert_eq!(shards.iter().filter(|s| s.owns_name(name)).count(), 1);
        }
        let per: Vec<usize> = shards.iter().map(|s| names.iter().filter(|n| s.owns_name(n)).count()).collect();
        assert!(per.iter().all(|&c| c > 250), "roughly even: {per:?}");
        for total in [0u64, 1, 7, 10, 100] {
            assert_eq!(shards.iter().map(|s| s.share_of(total)).sum::<u64>(), total);
            for s in &shards {
                assert_eq!((0..total).filter(|&i| s.owns_index(i)).count() as u64, s.share_of(total));
            }
        }
    }
}
