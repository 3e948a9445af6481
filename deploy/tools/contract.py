"""The metric contract between journeyd and everything in deploy/ (rules, dashboard, manifests).

One table, used by the checkers: a rule or panel that names a metric, a label or a label value that
journeyd does not export fails `.ci/deploy-check` instead of silently showing "No data".
"""

# The closed value sets of the contract's enum-like labels.
OUTCOMES = ("success", "failure", "cancelled")
REASONS = (
    "connect", "dns", "tls", "timeout", "status", "check", "capture", "body", "redirect",
    # OAuth token fetches, and browser steps: a page script error, an element not found, the browser itself.
    "auth", "script", "element", "browser",
)
STATES = ("up", "degraded", "down", "maintenance", "unknown")
WINDOWS = ("5m", "30m", "1h", "6h")
RESULTS = ("sent", "failed")
# Browser journeys: navigation timing phases, web vitals in seconds, kinds of JavaScript error.
PHASES = ("ttfb", "dom_content_loaded", "load")
VITALS = ("fcp", "lcp", "tbt")
JS_ERROR_KINDS = ("exception", "console")
# What the progressive-delivery gates answered, and which gate.
ANSWERS = ("proceed", "halt", "error")
GATES = ("flagger-pre-rollout", "flagger-confirm-rollout", "flagger-rollout", "flagger-confirm-promotion", "argo-verdict")

CLOSED_LABELS = {
    "outcome": OUTCOMES,
    "reason": REASONS,
    "state": STATES,
    "window": WINDOWS,
    "result": RESULTS,
    "phase": PHASES,
    "vital": VITALS,
    "kind": JS_ERROR_KINDS,
    "answer": ANSWERS,
    "gate": GATES,
}

# The fixed histogram buckets (seconds), the same for every latency histogram journeyd exports.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# The one histogram that is not in seconds: the CLS score, bucketed around Google's 0.1 and 0.25 thresholds.
BUCKETS_OF = {"journey_browser_layout_shift_score": (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1)}

# name -> (type, labels): the brief's contract plus what README.md's metrics table adds.
METRICS = {
    "journey_success": ("gauge", ("journey",)),
    "journey_runs_total": ("counter", ("journey", "outcome")),
    "journey_duration_seconds": ("histogram", ("journey",)),
    "journey_step_duration_seconds": ("histogram", ("journey", "step")),
    "journey_step_failures_total": ("counter", ("journey", "step", "reason")),
    "journey_step_success": ("gauge", ("journey", "step")),
    "journey_step_status_code": ("gauge", ("journey", "step")),
    "journey_last_run_timestamp_seconds": ("gauge", ("journey",)),
    "journey_schedule_missed_total": ("counter", ("journey",)),
    "journey_state": ("gauge", ("journey", "state")),
    "journey_alert_firing": ("gauge", ("journey", "alertname")),
    "journey_slo_error_budget_remaining_ratio": ("gauge", ("journey",)),
    "journey_slo_burn_rate": ("gauge", ("journey", "window")),
    "journey_slo_objective_ratio": ("gauge", ("journey",)),
    "journey_start_delay_seconds": ("histogram", ("journey",)),
    "journey_iterations_dropped_total": ("counter", ("journey",)),
    "journey_tls_skip_verify": ("gauge", ("journey",)),
    "journey_ssl_earliest_cert_expiry": ("gauge", ("journey", "step")),
    "journey_tls_version_info": ("gauge", ("journey", "step", "version")),
    "journey_ssl_last_chain_info": (
        "gauge",
        ("journey", "step", "fingerprint_sha256", "serialnumber", "subject", "issuer"),
    ),
    "journey_deploy_regression": ("gauge", ("journey", "step")),
    "journey_browser_navigation_seconds": ("histogram", ("journey", "step", "phase")),
    "journey_browser_web_vital_seconds": ("histogram", ("journey", "step", "vital")),
    "journey_browser_layout_shift_score": ("histogram", ("journey", "step")),
    "journey_browser_js_errors_total": ("counter", ("journey", "step", "kind")),
    "journey_browser_failed_requests_total": ("counter", ("journey", "step")),
    "journeyd_browser_restarts_total": ("counter", ()),
    "journeyd_browser_contexts": ("gauge", ()),
    "journey_canary_regression": ("gauge", ("journey", "step", "target")),
    "journey_target_runs_total": ("counter", ("journey", "target", "outcome")),
    "journey_target_duration_seconds": ("histogram", ("journey", "target")),
    "journeyd_gate_requests_total": ("counter", ("gate", "answer")),
    "journeyd_build_info": ("gauge", ("version", "revision")),
    "journeyd_deploy_info": ("gauge", ("version",)),
    "journeyd_deploy_timestamp_seconds": ("gauge", ("version",)),
    "journeyd_location_info": ("gauge", ("location",)),
    "journeyd_journeys": ("gauge", ()),
    "journeyd_config_last_reload_successful": ("gauge", ()),
    "journeyd_config_last_reload_success_timestamp_seconds": ("gauge", ()),
    "journeyd_notifications_total": ("counter", ("receiver", "result")),
    "journeyd_notifications_dropped_total": ("counter", ("receiver",)),
    "journeyd_http_connections": ("gauge", ()),
    "journeyd_http_connections_limit": ("gauge", ()),
    "journeyd_http_connections_rejected_total": ("counter", ()),
}

# Labels Prometheus adds to every scraped series (static configs, the Prometheus Operator's defaults), and
# `location`, which the scrape config of a replica per location adds (docs/operations.md).
TARGET_LABELS = ("job", "instance", "namespace", "pod", "service", "container", "endpoint", "location")

# Series Prometheus itself makes.
BUILTIN = {
    "up": (),
    "ALERTS": ("alertname", "alertstate", "severity", "journey", "step"),
}


def series_labels(name):
    """Labels a series name may carry, or None when the name is not in the contract.

    Histogram series (`_bucket`, `_sum`, `_count`) inherit their histogram's labels (`_bucket` adds `le`).
    """
    if name in METRICS:
        return set(METRICS[name][1]) | set(TARGET_LABELS)
    if name in BUILTIN:
        return set(BUILTIN[name]) | set(TARGET_LABELS)
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and METRICS.get(base, ("",))[0] == "histogram":
            extra = {"le"} if suffix == "_bucket" else set()
            return set(METRICS[base][1]) | set(TARGET_LABELS) | extra
    return None
