//! The live fault table, read on every request.
//!
//! The hot path is one atomic load when no fault is active and a short read lock plus a copy of a
//! small `Copy` struct otherwise.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use tokio::time::Instant;

use super::faults::{route_index, Fault, UnknownRoute, ROUTES, WILDCARD};
use super::spec::FaultSpec;

/// The live fault table, shared by the serve loop, the admin API and tests (cheap to clone).
#[derive(Clone)]
pub struct FaultHandle {
    inner: Arc<Inner>,
}

struct Inner {
    /// Lets the hot path skip the lock entirely while no fault is set (the benchmark's normal case).
    active: AtomicBool,
    table: RwLock<Table>,
    /// Stall periods are counted from here, so every run of the shop stalls at the same offsets.
    start: Instant,
    /// Requests currently held by `hang`: a readiness signal for tests and shown by the admin API.
    hanging: watch::Sender<usize>,
}

#[derive(Default)]
struct Table {
    /// What was set per route (index into [`ROUTES`]), shown by `GET /admin/faults`.
    set: [Option<Fault>; ROUTES.len()],
    /// Per route: the wildcard overlaid with the route's own fault, precomputed so requests read one slot.
    effective: [Option<Fault>; ROUTES.len()],
}

impl Default for FaultHandle {
    fn default() -> Self {
        FaultHandle::new()
    }
}

impl FaultHandle {
    pub fn new() -> FaultHandle {
        FaultHandle {
            inner: Arc::new(Inner {
                active: AtomicBool::new(false),
                table: RwLock::new(Table::default()),
                start: Instant::now(),
                hanging: watch::Sender::new(0),
            }),
        }
    }

    /// Replaces the route's fault (`*` for all routes). An empty fault clears the route.
    pub fn set(&self, route: &str, fault: Fault) -> Result<(), UnknownRoute> {
        let idx = route_index(route)?;
        self.update(|t| t.set[idx] = Some(fault).filter(|f| !f.is_empty()));
        Ok(())
    }

    /// Applies a `--fault` flag, merged with what the route already has.
    pub fn apply_spec(&self, spec: &FaultSpec) -> Result<(), UnknownRoute> {
        let current = self.get(&spec.route)?.unwrap_or_default();
        self.set(&spec.route, current.overlaid_with(&spec.fault))
    }

    pub fn clear(&self, route: &str) -> Result<(), UnknownRoute> {
        self.set(route, Fault::default())
    }

    pub fn clear_all(&self) {
        self.update(|t| t.set = [None; ROUTES.len()]);
    }

    /// The fault set on exactly this route name (not merged with `*`).
    pub fn get(&self, route: &str) -> Result<Option<Fault>, UnknownRoute> {
        let idx = route_index(route)?;
        Ok(self.read().set[idx])
    }

    /// Every route with a fault set, by name.
    pub fn snapshot(&self) -> BTreeMap<String, Fault> {
        let t = self.read();
        ROUTES.iter().zip(t.set.iter()).filter_map(|(name, f)| f.map(|f| (name.to_string(), f))).collect()
    }

    /// The fault in force for a request on route `idx` (an index into [`ROUTES`]; [`WILDCARD`] for
    /// paths outside the named routes).
    pub(crate) fn effective(&self, idx: usize) -> Option<Fault> {
        if !self.inner.active.load(Ordering::Acquire) {
            return None;
        }
        self.read().effective[idx]
    }

    pub(crate) fn start(&self) -> Instant {
        self.inner.start
    }

    /// How many requests `hang` is holding right now; `wait_for` on it to know a request is stuck.
    pub fn hanging(&self) -> watch::Receiver<usize> {
        self.inner.hanging.subscribe()
    }

    /// Counts a hung request until the guard drops (answered at shutdown, or the client went away).
    pub(crate) fn hang_guard(&self) -> HangGuard {
        self.inner.hanging.send_modify(|n| *n += 1);
        HangGuard(self.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        // A panic while holding the lock cannot leave the table half-written (updates are whole-slot
        // assignments), so a poisoned lock is still consistent.
        self.inner.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut Table)) {
        let mut t = self.inner.table.write().unwrap_or_else(|e| e.into_inner());
        change(&mut t);
        let wild = t.set[WILDCARD];
        for i in 0..ROUTES.len() {
            t.effective[i] = match (wild, t.set[i]) {
                (Some(w), Some(own)) if i != WILDCARD => Some(w.overlaid_with(&own)),
                (w, own) => own.or(w),
            };
        }
        let any = t.set.iter().any(Option::is_some);
        self.inner.active.store(any, Ordering::Release);
    }
}

pub(crate) struct HangGuard(FaultHandle);

impl Drop for HangGuard {
    fn drop(&mut self) {
        self.0.inner.hanging.send_modify(|n| *n -= 1);
    }
}

impl fmt::Debug for FaultHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.snapshot().iter().map(|(k, v)| (k.clone(), v.to_string()))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wildcard_overlays_route_faults() {
        let h = FaultHandle::new();
        assert_eq!(h.effective(0), None);
        h.set("*", Fault::latency(Duration::from_millis(50))).unwrap();
        h.set("checkout", Fault::status(503)).unwrap();
        let checkout = route_index("checkout").unwrap();
        let login = route_index("login").unwrap();
        let merged = h.effective(checkout).unwrap();
        assert_eq!((merged.status, merged.latency), (Some(503), Some(Duration::from_millis(50))));
        assert_eq!(h.effective(login), Some(Fault::latency(Duration::from_millis(50))));
        assert_eq!(h.snapshot().len(), 2);
        h.clear("*").unwrap();
        assert_eq!(h.effective(login), None);
        assert_eq!(h.effective(checkout), Some(Fault::status(503)));
        h.clear_all();
        assert_eq!(h.effective(checkout), None);
        assert!(h.set("nope", Fault::hang()).unwrap_err().to_string().contains("valid routes"));
    }
}
