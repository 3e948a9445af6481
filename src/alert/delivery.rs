//! Delivery to receivers without losing alerts: one outbox and one task per receiver.
//!
//! The engine pushes notices into outboxes without waiting (a short lock, never I/O). Each receiver's task
//! sends what is pending, retries failures with exponential backoff and jitter, and keeps going after the
//! receiver recovers:
//! - Alertmanager outboxes hold the *current* state of each alert (keyed by labels): while Alertmanager is
//!   down, ten changes to one alert become one send of its latest state. Firing alerts are re-sent every
//!   `resend_interval`. Memory is bounded by the number of alerts, so nothing is ever dropped.
//! - Webhook and Slack outboxes hold messages in order (bounded: when full, the oldest is dropped and
//!   counted), plus the firing alerts, which get a reminder every `repeat_interval`.
//!
//! A 4xx answer (other than 429) will not get better by retrying: the message is dropped with an error log
//! and counted. Everything else (connection refused, timeouts, 5xx, 429) is retried.
//!
//! The HTTP client and the delivery settings are shared through a [`Transport`] every task reads per
//! attempt, so a reload that changes them applies to receivers that keep their outbox.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::metrics::AlertMetrics;
use super::notify::{alertmanager_body, slack_body, webhook_body, Alert, Notice, NoticeKind};
use crate::settings::{DeliveryConfig, ReceiverConfig, ReceiverKind};

#[derive(Debug, Clone)]
struct AmEntry {
    alert: Alert,
    /// Not yet accepted by Alertmanager in this state.
    dirty: bool,
    /// Bumped on every change, so an ack of an older state does not clear a newer one.
    version: u64,
}

#[derive(Debug, Clone)]
struct Message {
    /// Sequence number: an ack only removes the message that was sent, even if a full queue dropped it
    /// meanwhile.
    seq: u64,
    alert: Alert,
    reminder: bool,
}

#[derive(Debug, Default)]
struct State {
    alerts: BTreeMap<String, AmEntry>,
    version: u64,
    /// When Alertmanager's firing alerts are next re-sent.
    next_resend: Option<Instant>,
    queue: VecDeque<Message>,
    /// Webhook/Slack: firing alerts and when each is next reminded of.
    firing: BTreeMap<String, (Alert, Instant)>,
}

/// What every delivery task sends with.
pub struct Transport {
    /// Shared by all receivers (one connection pool); rebuilt only when `delivery.timeout` changes.
    pub client: reqwest::Client,
    pub delivery: DeliveryConfig,
}

impl Transport {
    pub fn new(delivery: DeliveryConfig) -> Result<Transport, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(delivery.timeout).user_agent(crate::user_agent()).build()?;
        Ok(Transport { client, delivery })
    }
}

/// One receiver's pending notifications.
pub struct Outbox {
    pub config: ReceiverConfig,
    /// Webhook/Slack queue bound: memory stays bounded however long a receiver is down. Atomic: a reload
    /// changes it for outboxes it keeps.
    capacity: AtomicUsize,
    /// A std mutex: held for a few map operations, never across an await, so the engine never waits on I/O.
    state: Mutex<State>,
    /// Wakes the delivery task when a notice arrives (a stored permit means no wake-up is lost).
    wake: Notify,
    /// Sent, failed and dropped counters, labelled with `config.name`.
    metrics: AlertMetrics,
}

/// What one send attempt carries.
enum Batch {
    Alertmanager(Vec<(String, u64, Alert)>),
    Message(Message),
}

impl Batch {
    fn len(&self) -> u64 {
        match self {
            Batch::Alertmanager(v) => v.len() as u64,
            Batch::Message(_) => 1,
        }
    }
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying: connection problems, timeouts, 5xx, 429.
    Retry(String),
    /// Not worth retrying: other 4xx.
    Permanent(String),
}

impl Outbox {
    pub fn new(config: ReceiverConfig, capacity: usize, metrics: AlertMetrics) -> Outbox {
        metrics.init_receiver(&config.name);
        Outbox {
            config,
            capacity: AtomicUsize::new(capacity.max(1)),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            metrics,
        }
    }

    /// A new `delivery.queue_capacity` (reload): a smaller queue drops its oldest messages now, counted.
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
        self.trim(&mut self.lock(), 0);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a notice; never waits for I/O.
    pub fn push(&self, n: &Notice, now: Instant) {
        let mut st = self.lock();
        let key = n.alert.key();
        if self.config.kind == ReceiverKind::Alertmanager {
            st.version += 1;
            let version = st.version;
            st.alerts.insert(key, AmEntry { alert: n.alert.clone(), dirty: true, version });
            if st.next_resend.is_none() {
                st.next_resend = Some(now + self.config.resend_interval);
            }
            drop(st);
            self.wake.notify_one();
            return;
        }
        match n.kind {
            NoticeKind::Update => {
                if let Some((a, _)) = st.firing.get_mut(&key) {
                    *a = n.alert.clone();
                }
                return;
            }
            NoticeKind::Firing => {
                st.firing.insert(key, (n.alert.clone(), now + self.config.repeat_interval));
            }
            NoticeKind::Resolved => {
                st.firing.remove(&key);
            }
        }
        self.enqueue(&mut st, n.alert.clone(), false);
        drop(st);
        self.wake.notify_one();
    }

    fn enqueue(&self, st: &mut State, alert: Alert, reminder: bool) {
        st.version += 1;
        let m = Message { seq: st.version, alert, reminder };
        self.trim(st, 1);
        st.queue.push_back(m);
    }

    /// Drops the oldest queued messages until `room` more fit.
    fn trim(&self, st: &mut State, room: usize) {
        let capacity = self.capacity.load(Ordering::Relaxed);
        while st.queue.len() + room > capacity {
            let Some(old) = st.queue.pop_front() else { return };
            self.metrics.dropped.with_label_values(&[&self.config.name]).inc();
            tracing::error!(
                receiver = %self.config.name,
                alertname = old.alert.label("alertname"),
                journey = old.alert.label("journey"),
                "notification queue full ({capacity} messages): dropped the oldest"
            );
        }
    }

    /// Gives up on everything pending: the receiver was removed by a reload and did not take it in time.
    /// Logged and counted in `journeyd_notifications_dropped_total`.
    pub fn abandon(&self) {
        let n = {
            let mut st = self.lock();
            let n = st.alerts.values().filter(|e| e.dirty).count() + st.queue.len();
            st.alerts.clear();
            st.queue.clear();
            st.firing.clear();
            n
        };
        if n > 0 {
            self.metrics.dropped.with_label_values(&[&self.config.name]).inc_by(n as u64);
            tracing::error!(
                receiver = %self.config.name,
                dropped = n,
                "receiver removed from the settings with notifications it did not take in time: dropped them"
            );
        }
    }

    /// Timers that fell due: Alertmanager re-sends, webhook reminders.
    fn due(&self, now: Instant) {
        let mut st = self.lock();
        if self.config.kind == ReceiverKind::Alertmanager {
            if st.next_resend.is_some_and(|t| t <= now) {
                let any = st.alerts.values().any(|e| !e.alert.resolved());
                st.next_resend = any.then_some(now + self.config.resend_interval);
                st.version += 1;
                let version = st.version;
                for e in st.alerts.values_mut() {
                    e.dirty = true;
                    e.version = version;
                }
            }
            return;
        }
        let due: Vec<Alert> = st
            .firing
            .values_mut()
            .filter(|(_, next)| *next <= now)
            .map(|(a, next)| {
                *next = now + self.config.repeat_interval;
                a.clone()
            })
            .collect();
        for alert in due {
            self.enqueue(&mut st, alert, true);
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        let st = self.lock();
        if self.config.kind == ReceiverKind::Alertmanager {
            st.next_resend
        } else {
            st.firing.values().map(|(_, t)| *t).min()
        }
    }

    fn take(&self) -> Option<Batch> {
        let st = self.lock();
        if self.config.kind == ReceiverKind::Alertmanager {
            let v: Vec<(String, u64, Alert)> = st
                .alerts
                .iter()
                .filter(|(_, e)| e.dirty)
                .map(|(k, e)| (k.clone(), e.version, e.alert.clone()))
                .collect();
            (!v.is_empty()).then_some(Batch::Alertmanager(v))
        } else {
            st.queue.front().cloned().map(Batch::Message)
        }
    }

    /// The batch is done with (accepted, or given up on).
    fn ack(&self, batch: &Batch) {
        let mut st = self.lock();
        match batch {
            Batch::Alertmanager(v) => {
                for (key, version, _) in v {
                    let current = st.alerts.get(key).map(|e| (e.version, e.alert.resolved()));
                    match current {
                        Some((ver, true)) if ver == *version => {
                            st.alerts.remove(key);
                        }
                        Some((ver, false)) if ver == *version => {
                            if let Some(e) = st.alerts.get_mut(key) {
                                e.dirty = false;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Batch::Message(m) => {
                if st.queue.front().is_some_and(|f| f.seq == m.seq) {
                    st.queue.pop_front();
                }
            }
        }
    }

    /// Messages or alert states not yet delivered (tests, shutdown logs).
    pub fn pending(&self) -> usize {
        let st = self.lock();
        st.alerts.values().filter(|e| e.dirty).count() + st.queue.len()
    }

    /// Logs and counts one attempt's result: the one place both happen.
    fn record(&self, result: &Result<(), SendError>, n: u64, attempt: u32) {
        let name = self.config.name.as_str();
        match result {
            Ok(()) => {
                self.metrics.notifications.with_label_values(&[name, "sent"]).inc_by(n);
                if attempt > 0 {
                    tracing::info!(
                        receiver = name,
                        attempts = attempt + 1,
                        "receiver is back: notifications delivered"
                    );
                } else {
                    tracing::debug!(receiver = name, alerts = n, "notifications delivered");
                }
            }
            Err(SendError::Retry(e)) => {
                self.metrics.notifications.with_label_values(&[name, "failed"]).inc_by(n);
                tracing::warn!(receiver = name, attempt = attempt + 1, "delivery failed, will retry: {e}");
            }
            Err(SendError::Permanent(e)) => {
                self.metrics.notifications.with_label_values(&[name, "failed"]).inc_by(n);
                self.metrics.dropped.with_label_values(&[name]).inc_by(n);
                tracing::error!(
                    receiver = name,
                    "receiver rejected the notification; dropped it (fix the receiver or its URL): {e}"
                );
            }
        }
    }
}

/// Exponential backoff with jitter: `initial × 2^attempt`, capped, then a random 50–100% of it (so many
/// journeyd replicas do not retry in lockstep).
pub fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let base = initial.saturating_mul(2u32.saturating_pow(attempt.min(20))).min(max);
    base.mul_f64(rand::rng().random_range(0.5..=1.0))
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<(), SendError> {
    let resp = client.post(url).json(body).send().await.map_err(|e| SendError::Retry(describe(&e)))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.chars().take(200).collect();
    let msg = format!("{url} answered {status}: {}", text.trim());
    if status.is_client_error() && status.as_u16() != 429 {
        Err(SendError::Permanent(msg))
    } else {
        Err(SendError::Retry(msg))
    }
}

/// A reqwest error with its causes ("error sending request: connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The URL a receiver's requests go to.
fn endpoint(cfg: &ReceiverConfig) -> String {
    match cfg.kind {
        ReceiverKind::Alertmanager => format!("{}/api/v2/alerts", cfg.url.trim_end_matches('/')),
        _ => cfg.url.clone(),
    }
}

/// Delivers one receiver's notices until `stop`; then delivers what is still pending (the caller bounds
/// how long it waits for that). Each attempt uses the transport current at that moment.
pub async fn run(
    outbox: Arc<Outbox>,
    transport: watch::Receiver<Arc<Transport>>,
    clock: Clock,
    stop: CancellationToken,
) {
    let cfg = outbox.config.clone();
    let url = endpoint(&cfg);
    let mut closing = false;
    loop {
        let timer = outbox.next_timer();
        if !closing {
            tokio::select! {
                _ = outbox.wake.notified() => {}
                _ = stop.cancelled() => closing = true,
                _ = async {
                    match timer {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
        let mut attempt = 0u32;
        loop {
            outbox.due(Instant::now());
            let Some(batch) = outbox.take() else { break };
            let body = match &batch {
                Batch::Alertmanager(v) => {
                    let alerts: Vec<Alert> = v.iter().map(|(_, _, a)| a.clone()).collect();
                    alertmanager_body(&alerts, clock.wall(Instant::now()), cfg.resend_interval)
                }
                Batch::Message(m) if cfg.kind == ReceiverKind::Slack => slack_body(&m.alert, m.reminder),
                Batch::Message(m) => webhook_body(&cfg.name, &m.alert, m.reminder),
            };
            let current = Arc::clone(&transport.borrow());
            let result = post(&current.client, &url, &body).await;
            outbox.record(&result, batch.len(), attempt);
            match result {
                Ok(()) | Err(SendError::Permanent(_)) => {
                    outbox.ack(&batch);
                    attempt = 0;
                }
                Err(SendError::Retry(_)) => {
                    let wait = backoff(attempt, current.delivery.initial_backoff, current.delivery.max_backoff);
                    attempt = attempt.saturating_add(1);
                    if closing {
                        tokio::time::sleep(wait).await;
                    } else {
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stop.cancelled() => closing = true,
                        }
                    }
                }
            }
        }
        if closing {
            return;
        }
    }
}
