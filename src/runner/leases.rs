//! Data rows for virtual users: leased (`pick: unique`), round robin, or random.
//!
//! A unique lease is taken when a virtual user starts and returned when it ends, so two concurrent users never
//! hold the same test account. The free list is locked only at lease and return — never per request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::{DataSource, Pick};

/// The row pools of one journey, one per data source.
#[derive(Debug)]
pub struct RowPools {
    pools: Vec<Pool>,
}

#[derive(Debug)]
struct Pool {
    source: DataSource,
    /// Row indices not leased right now (`Unique`), used as a stack so recently returned rows are reused
    /// first (their sessions on the site are warm).
    free: Mutex<Vec<usize>>,
    /// Next row for `Sequential`.
    next: AtomicUsize,
}

/// Rows held by one virtual user; unique rows go back to their pool on drop.
#[derive(Debug)]
pub struct Lease {
    pools: Arc<RowPools>,
    /// Row index per data source.
    rows: Vec<usize>,
    /// Which of `rows` are unique leases to return.
    unique: Vec<bool>,
}

/// There was no free row: more concurrent users than rows in a `pick: unique` source. Config validation
/// prevents this for the declared user counts; it can still happen when `verify --users` asks for more.
#[derive(Debug, Clone, thiserror::Error)]
#[error("data source `{source_name}` has no free row: {rows} rows, all leased to other virtual users (pick: unique never shares a row); add rows or lower the user count")]
pub struct NoFreeRow {
    pub source_name: String,
    pub rows: usize,
}

impl RowPools {
    pub fn new(sources: &[DataSource]) -> Arc<RowPools> {
        let pools = sources
            .iter()
            .map(|s| Pool {
                source: s.clone(),
                free: Mutex::new((0..s.rows.len()).rev().collect()),
                next: AtomicUsize::new(0),
            })
            .collect();
        Arc::new(RowPools { pools })
    }

    /// Takes one row from every source for a virtual user.
    pub fn lease(self: &Arc<Self>) -> Result<Lease, NoFreeRow> {
        let mut lease = Lease {
            pools: Arc::clone(self),
            rows: Vec::with_capacity(self.pools.len()),
            unique: Vec::with_capacity(self.pools.len()),
        };
        for pool in &self.pools {
            let rows = pool.source.rows.len();
            let (row, unique) = match pool.source.pick {
                Pick::Unique => {
                    let taken = pool.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    match taken {
                        Some(row) => (row, true),
                        // `lease` drops here and returns the rows it already holds.
                        None => return Err(NoFreeRow { source_name: pool.source.name.clone(), rows }),
                    }
                }
                Pick::Sequential => (pool.next.fetch_add(1, Ordering::Relaxed) % rows.max(1), false),
                Pick::Random => (rand::random_range(0..rows.max(1)), false),
            };
            lease.rows.push(row);
            lease.unique.push(unique);
        }
        Ok(lease)
    }

    /// Number of rows free in a unique source (for tests and the status page).
    pub fn free_rows(&self, source: usize) -> usize {
        self.pools[source].free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Lease {
    /// The held row of each source, for template rendering.
    pub fn row_slices(&self) -> Vec<&[String]> {
        self.rows
            .iter()
            .zip(&self.pools.pools)
            .map(|(&row, pool)| pool.source.rows.get(row).map_or(&[][..], Vec::as_slice))
            .collect()
    }

    /// Re-picks rows of `random` and `sequential` sources for the next iteration (unique rows stay).
    pub fn advance(&mut self) {
        for (i, pool) in self.pools.pools.iter().enumerate() {
            let rows = pool.source.rows.len().max(1);
            match pool.source.pick {
                Pick::Unique => {}
                Pick::Sequential => self.rows[i] = pool.next.fetch_add(1, Ordering::Relaxed) % rows,
                Pick::Random => self.rows[i] = rand::random_range(0..rows),
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        for (i, &unique) in self.unique.iter().enumerate() {
            if unique {
                let pool = &self.pools.pools[i];
                pool.free.lock().unwrap_or_else(|e| e.into_inner()).push(self.rows[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(pick: Pick, n: usize) -> DataSource {
        DataSource {
            name: "accounts".into(),
            columns: vec!["email".into()],
            rows: Arc::new((0..n).map(|i| vec![format!("u{i}@x")]).collect()),
            pick,
        }
    }

    #[test]
    fn unique_rows_are_never_shared_and_come_back() {
        let pools = RowPools::new(&[source(Pick::Unique, 2)]);
        let a = pools.lease().unwrap();
        let b = pools.lease().unwrap();
        assert_ne!(a.row_slices()[0], b.row_slices()[0]);
        let err = pools.lease().unwrap_err();
        assert_eq!(err.rows, 2);
        drop(a);
        assert_eq!(pools.free_rows(0), 1);
        let c = pools.lease().unwrap();
        assert_ne!(c.row_slices()[0], b.row_slices()[0]);
    }

    #[test]
    fn failed_lease_returns_rows_it_took() {
        let pools = RowPools::new(&[source(Pick::Unique, 2), source(Pick::Unique, 1)]);
        let _a = pools.lease().unwrap();
        assert!(pools.lease().is_err());
        assert_eq!(pools.free_rows(0), 1, "the row taken from the first source went back");
    }

    #[test]
    fn sequential_rows_rotate() {
        let pools = RowPools::new(&[source(Pick::Sequential, 3)]);
        let mut a = pools.lease().unwrap();
        let first = a.row_slices()[0][0].clone();
        a.advance();
        assert_ne!(a.row_slices()[0][0], first);
    }
}
