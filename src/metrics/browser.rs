//! The browser journeys' families: navigation timing, web vitals, layout shift, JavaScript errors and failed
//! requests per step, and the process's Chromium (restarts, open contexts). Labels are the journey and
//! step names and closed sets (`phase`, `vital`, `kind`), never a URL or an error text.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Registry};

use crate::outcome::PageMeasures;

use super::{counter, LATENCY_BUCKETS};

/// `phase` values of `journey_browser_navigation_seconds`.
pub const NAV_PHASES: [&str; 3] = ["ttfb", "dom_content_loaded", "load"];
/// `vital` values of `journey_browser_web_vital_seconds`.
pub const VITALS: [&str; 3] = ["fcp", "lcp", "tbt"];
/// `kind` values of `journey_browser_js_errors_total`.
pub const JS_KINDS: [&str; 2] = ["exception", "console"];
/// Buckets of the CLS score: Google's thresholds are 0.1 (good) and 0.25 (poor).
pub const CLS_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0];

#[derive(Clone)]
pub struct BrowserFamilies {
    pub navigation: HistogramVec,
    pub vitals: HistogramVec,
    pub cls: HistogramVec,
    pub js_errors: IntCounterVec,
    pub failed_requests: IntCounterVec,
}

impl BrowserFamilies {
    pub fn new() -> BrowserFamilies {
        let hist = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
                .expect("static histogram definition")
        };
        BrowserFamilies {
            navigation: hist(
                "journey_browser_navigation_seconds",
                "Navigation timing of the document a browser step loaded, by phase (ttfb, dom_content_loaded, load), \
                 from the navigation's start.",
                &["journey", "step", "phase"],
                LATENCY_BUCKETS,
            ),
            vitals: hist(
                "journey_browser_web_vital_seconds",
                "Web vitals of the document a browser step loaded, by vital (fcp, lcp, tbt).",
                &["journey", "step", "vital"],
                LATENCY_BUCKETS,
            ),
            cls: hist(
                "journey_browser_layout_shift_score",
                "Cumulative Layout Shift of the document a browser step loaded (unitless).",
                &["journey", "step"],
                CLS_BUCKETS,
            ),
            js_errors: counter(
                "journey_browser_js_errors_total",
                "JavaScript errors a browser step saw, by kind (exception: uncaught; console: console.error).",
                &["journey", "step", "kind"],
            ),
            failed_requests: counter(
                "journey_browser_failed_requests_total",
                "Sub-requests of a browser step's page that failed (status >= 400, blocked, refused).",
                &["journey", "step"],
            ),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.navigation.clone()),
            Box::new(self.vitals.clone()),
            Box::new(self.cls.clone()),
            Box::new(self.js_errors.clone()),
            Box::new(self.failed_requests.clone()),
        ]
    }

    /// Creates a browser step's counters at 0, so `rate()` sees the first error.
    pub fn touch(&self, journey: &str, step: &str) {
        for kind in JS_KINDS {
            self.js_errors.with_label_values(&[journey, step, kind]);
        }
        self.failed_requests.with_label_values(&[journey, step]);
    }

    /// Removes a step's series (a reload removed it).
    pub fn forget(&self, journey: &str, step: &str) {
        for phase in NAV_PHASES {
            let _ = self.navigation.remove_label_values(&[journey, step, phase]);
        }
        for vital in VITALS {
            let _ = self.vitals.remove_label_values(&[journey, step, vital]);
        }
        let _ = self.cls.remove_label_values(&[journey, step]);
        for kind in JS_KINDS {
            let _ = self.js_errors.remove_label_values(&[journey, step, kind]);
        }
        let _ = self.failed_requests.remove_label_values(&[journey, step]);
    }

    pub fn record(&self, journey: &str, step: &str, p: &PageMeasures) {
        for (phase, d) in NAV_PHASES.iter().zip([p.ttfb, p.dom_content_loaded, p.load]) {
            if let Some(d) = d {
                self.navigation.with_label_values(&[journey, step, phase]).observe(d.as_secs_f64());
            }
        }
        for (vital, d) in VITALS.iter().zip([p.fcp, p.lcp, p.tbt]) {
            if let Some(d) = d {
                self.vitals.with_label_values(&[journey, step, vital]).observe(d.as_secs_f64());
            }
        }
        if let Some(cls) = p.cls {
            self.cls.with_label_values(&[journey, step]).observe(cls);
        }
        let js = [p.js_exceptions, p.console_errors];
        for (kind, n) in JS_KINDS.iter().zip(js) {
            self.js_errors.with_label_values(&[journey, step, kind]).inc_by(u64::from(n));
        }
        self.failed_requests.with_label_values(&[journey, step]).inc_by(u64::from(p.failed_requests));
    }
}

impl Default for BrowserFamilies {
    fn default() -> Self {
        BrowserFamilies::new()
    }
}

/// `journeyd_browser_restarts_total` and `journeyd_browser_contexts`, read at scrape time from whoever runs
/// the browser (the daemon wires the runner's host in; metrics never import the runner).
pub struct BrowserProcessCollector {
    restarts: Box<dyn Fn() -> u64 + Send + Sync>,
    contexts: Box<dyn Fn() -> usize + Send + Sync>,
    descs: Vec<Desc>,
    restarts_metric: IntCounter,
    contexts_metric: IntGauge,
}

impl BrowserProcessCollector {
    pub fn register(
        registry: &Registry,
        restarts: impl Fn() -> u64 + Send + Sync + 'static,
        contexts: impl Fn() -> usize + Send + Sync + 'static,
    ) -> prometheus::Result<()> {
        let restarts_metric = IntCounter::new(
            "journeyd_browser_restarts_total",
            "Times the browser journeys' Chromium was found dead and started again.",
        )?;
        let contexts_metric =
            IntGauge::new("journeyd_browser_contexts", "Browser contexts (browser journey runs) open now.")?;
        let descs = restarts_metric.desc().into_iter().chain(contexts_metric.desc()).cloned().collect();
        registry.register(Box::new(BrowserProcessCollector {
            restarts: Box::new(restarts),
            contexts: Box::new(contexts),
            descs,
            restarts_metric,
            contexts_metric,
        }))
    }
}

impl Collector for BrowserProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let seen = (self.restarts)();
        let counted = self.restarts_metric.get();
        if seen > counted {
            self.restarts_metric.inc_by(seen - counted);
        }
        self.contexts_metric.set((self.contexts)() as i64);
        let mut out = self.restarts_metric.collect();
        out.extend(self.contexts_metric.collect());
        out
    }
}
