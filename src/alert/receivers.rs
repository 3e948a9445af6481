//! The running receivers: one outbox and one delivery task each, changed in place by a settings reload.
//!
//! A reload diffs receivers by name and configuration. An unchanged receiver keeps its outbox (pending
//! queue, retry state, reminder timers) and its task. A removed one is retired: it is told nothing more, and
//! gets [`RETIRE_WITHIN`] to deliver what is still pending; what it has not taken by then is dropped and
//! counted. A changed one (same name, another URL, kind or interval) is retired and started again, like a
//! removal and an addition. A new delivery section reaches every task through the shared [`Transport`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::delivery::{self, Outbox, Transport};
use super::metrics::AlertMetrics;
use crate::settings::ReceiverConfig;

/// How long a receiver removed by a reload may keep delivering what was pending for it. Short: it is no
/// longer wanted, and a reload storm must not pile up tasks.
pub const RETIRE_WITHIN: Duration = Duration::from_secs(5);

struct Running {
    outbox: Arc<Outbox>,
    /// This receiver's own stop, a child of the root: a reload retires one receiver, shutdown all.
    stop: CancellationToken,
    /// Taken by shutdown, which waits for it; the outbox stays for the pending counts.
    task: Option<JoinHandle<()>>,
}

pub struct Receivers {
    running: Vec<Running>,
    /// Read by every task per attempt; replaced when the delivery section changes.
    transport: watch::Sender<Arc<Transport>>,
    /// Shutdown: every task starts its final flush.
    stop: CancellationToken,
    clock: Clock,
    metrics: AlertMetrics,
    /// Retired receivers still delivering (each bounded by `RETIRE_WITHIN`); shutdown waits for them too.
    retiring: Vec<JoinHandle<()>>,
}

impl Receivers {
    pub fn new(transport: Transport, stop: CancellationToken, clock: Clock, metrics: AlertMetrics) -> Receivers {
        let (transport, _) = watch::channel(Arc::new(transport));
        Receivers { running: Vec::new(), transport, stop, clock, metrics, retiring: Vec::new() }
    }

    /// The client and delivery settings in force.
    pub fn transport(&self) -> Arc<Transport> {
        Arc::clone(&self.transport.borrow())
    }

    /// Makes `configs` the receivers: keeps the unchanged ones, retires the others, and returns outboxes
    /// for the new and changed ones. They are not delivering yet: the caller fills them with what they
    /// should hear first, then [`Receivers::start`]s them. `transport`: a new client or delivery section.
    pub fn reconfigure(&mut self, configs: &[ReceiverConfig], transport: Option<Transport>) -> Vec<Arc<Outbox>> {
        if let Some(t) = transport {
            self.transport.send_replace(Arc::new(t));
        }
        let capacity = self.transport.borrow().delivery.queue_capacity;
        self.retiring.retain(|t| !t.is_finished());
        let (kept, gone): (Vec<Running>, Vec<Running>) =
            std::mem::take(&mut self.running).into_iter().partition(|r| configs.contains(&r.outbox.config));
        self.running = kept;
        for r in &self.running {
            r.outbox.set_capacity(capacity);
        }
        for r in gone {
            let change = if configs.iter().any(|c| c.name == r.outbox.config.name) { "changed" } else { "removed" };
            tracing::info!(receiver = %r.outbox.config.name, change, "receiver retired");
            self.retiring.push(tokio::spawn(retire(r)));
        }
        configs
            .iter()
            .filter(|c| !self.running.iter().any(|r| r.outbox.config == **c))
            .map(|c| Arc::new(Outbox::new(c.clone(), capacity, self.metrics.clone())))
            .collect()
    }

    /// Starts delivering from `outbox`.
    pub fn start(&mut self, outbox: Arc<Outbox>) {
        let stop = self.stop.child_token();
        let task =
            tokio::spawn(delivery::run(Arc::clone(&outbox), self.transport.subscribe(), self.clock, stop.clone()));
        self.running.push(Running { outbox, stop, task: Some(task) });
    }

    pub fn outboxes(&self) -> impl Iterator<Item = &Arc<Outbox>> {
        self.running.iter().map(|r| &r.outbox)
    }

    /// Every task, for shutdown: the caller has cancelled the root stop and waits for them.
    pub fn take_tasks(&mut self) -> Vec<JoinHandle<()>> {
        let mut tasks: Vec<JoinHandle<()>> = std::mem::take(&mut self.retiring);
        tasks.extend(self.running.iter_mut().filter_map(|r| r.task.take()));
        tasks
    }
}

/// Stops a receiver's task once what is pending is delivered, or after [`RETIRE_WITHIN`]: then it is
/// aborted and what it still held is dropped and counted.
async fn retire(r: Running) {
    r.stop.cancel();
    let Some(task) = r.task else { return };
    let abort = task.abort_handle();
    if tokio::time::timeout(RETIRE_WITHIN, task).await.is_err() {
        abort.abort();
        r.outbox.abandon();
    }
}
