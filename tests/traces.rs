//! OpenTelemetry export: an OTLP/HTTP receiver on port 0 decodes what journeyd sends with the OpenTelemetry
//! project's own protobuf definitions (`opentelemetry-proto`), and a site on port 0 records the
//! `traceparent` and `tracestate` it receives. The daemon runs in-process; `verify` runs as the binary.
//! No timed assertions: a collector that hangs or refuses is judged by the runs journeys keep completing,
//! the missed-tick counter and the drop counters.

mod daemon_support;

mod trace_support;

use daemon_support::{eventually, get_text, metric, tempdir, InProcess};
use opentelemetry_proto::tonic::trace::v1::Span;
use trace_support::{
    attr, collector, failing_journey, hex, journey, metrics, metrics_once, setup, site, ticking, verify, Collector,
    Received, TWO_STEPS,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_a_trace_whose_step_spans_are_the_sites_parents() {
    let (received, endpoint) = collector(Collector::Accepts).await;
    let (seen, target) = site().await;
    let settings = format!(
        "traces:\n  endpoint: {endpoint}\n  sample_passing: 1\n  headers: {{ x-api-key: k-123 }}\n  resource_attributes: {{ deployment.environment: test }}\n"
    );
    let mut options = setup("traces-tree", &[("shop.yml", journey("shop", &target, "1h", TWO_STEPS))], &settings);
    options.location = Some("eu-west".parse().unwrap());
    let daemon = InProcess::start(options).await;
    let spans = eventually("the first run's spans", || {
        let spans = received.spans();
        async move { spans.iter().any(|s| s.name == "item").then_some(spans) }
    })
    .await;

    let root = spans.iter().find(|s| s.parent_span_id.is_empty()).expect("a root span");
    assert_eq!(root.name, "shop");
    assert_eq!(attr(&root.attributes, "journey.name").as_deref(), Some("shop"));
    assert_eq!(attr(&root.attributes, "journey.outcome").as_deref(), Some("passed"));
    assert_eq!(attr(&root.attributes, "journey.run_id"), Some(hex(&root.trace_id)));
    assert!(attr(&root.attributes, "journey.user").is_some());
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id), "one trace per run");

    let step = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"));
    let (home, item) = (step("home"), step("item"));
    for s in [home, item] {
        assert_eq!(s.parent_span_id, root.span_id, "{} is the run's child", s.name);
        assert_eq!(s.kind, 3, "a step span is a CLIENT span");
        assert_eq!(attr(&s.attributes, "http.request.method").as_deref(), Some("GET"));
        assert_eq!(attr(&s.attributes, "http.response.status_code").as_deref(), Some("200"));
        assert_eq!(attr(&s.attributes, "server.address").as_deref(), Some("127.0.0.1"));
        assert!(s.start_time_unix_nano >= root.start_time_unix_nano && s.end_time_unix_nano <= root.end_time_unix_nano);
    }
    assert!(item.start_time_unix_nano >= home.end_time_unix_nano, "steps run one after the other");
    assert_eq!(attr(&item.attributes, "journey.step").as_deref(), Some("item"));
    assert_eq!(attr(&item.attributes, "url.template").as_deref(), Some("/items/{{ vars.item }}"), "the URL as written");
    let everything = format!("{spans:?}");
    assert!(!everything.contains("/items/42"), "never the rendered URL");

    // Phases: children of their step, laid end to end inside it.
    let phases: Vec<&Span> = spans.iter().filter(|s| s.parent_span_id == home.span_id).collect();
    let names: Vec<&str> = phases.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"connect") && names.contains(&"waiting"), "a fresh connection's phases: {names:?}");
    assert!(phases.iter().all(|p| p.start_time_unix_nano >= home.start_time_unix_nano
        && p.end_time_unix_nano <= home.end_time_unix_nano + 1_000));

    // The site saw the step span's context: its own span would be the step span's child.
    let seen = seen.lock().unwrap().clone();
    for (path, span) in [("/home", home), ("/items/42", item)] {
        let (traceparent, tracestate) = &seen[path];
        assert_eq!(traceparent, &format!("00-{}-{}-01", hex(&span.trace_id), hex(&span.span_id)), "{path}");
        assert_eq!(tracestate, "journeyd=synthetic");
    }

    let resource = received.resource();
    assert_eq!(attr(&resource, "service.name").as_deref(), Some("journeyd"));
    assert_eq!(attr(&resource, "journeyd.location").as_deref(), Some("eu-west"));
    assert_eq!(attr(&resource, "journeyd.shard").as_deref(), Some("0/1"));
    assert_eq!(attr(&resource, "deployment.environment").as_deref(), Some("test"));
    assert_eq!(attr(&resource, "service.version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    let headers = received.0.lock().unwrap()[0].0.clone();
    assert_eq!(headers["x-api-key"], "k-123");

    let m = metrics_once(&daemon, "journeyd_traces_exported_total", 1.0).await;
    assert_eq!(metric(&m, "journeyd_traces_dropped_total{reason=\"queue_full\"}"), Some(0.0));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_runs_are_always_exported_with_their_trace_in_evidence_and_alerts() {
    let (received, endpoint) = collector(Collector::Accepts).await;
    let (_, target) = site().await;
    let settings = format!(
        "traces:\n  endpoint: {endpoint}\n  sample_passing: 0\n  trace_url: https://tempo.example/trace/{{trace_id}}\n"
    );
    let failing = "  - name: home\n    get: /home\n  - name: pay\n    get: /fail\n    expect: [ status == 200 ]\n";
    let journeys = [
        ("ok.yml", journey("fine", &target, "200ms", TWO_STEPS)),
        ("bad.yml", journey("broken", &target, "200ms", failing)),
    ];
    let daemon = InProcess::start(setup("traces-failed", &journeys, &settings)).await;
    let client = reqwest::Client::new();
    let spans = eventually("three failed runs exported", || {
        let spans = received.spans();
        async move { (spans.iter().filter(|s| s.parent_span_id.is_empty()).count() >= 3).then_some(spans) }
    })
    .await;
    let m = metrics(&daemon).await;
    let passed = metric(&m, "journey_runs_total{journey=\"fine\",outcome=\"success\"}").unwrap_or(0.0);
    assert!(passed >= 1.0, "the passing journey ran: {m}");
    assert!(
        spans.iter().all(|s| attr(&s.attributes, "journey.name").as_deref() != Some("fine")),
        "share 0: no passing run"
    );

    let root = spans.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
    assert_eq!(attr(&root.attributes, "journey.outcome").as_deref(), Some("failed"));
    assert_eq!(attr(&root.attributes, "journey.reason").as_deref(), Some("status"));
    assert_eq!(root.status.as_ref().unwrap().code, 2, "ERROR");
    let pay = spans.iter().find(|s| s.name == "pay" && s.trace_id == root.trace_id).unwrap();
    assert_eq!(attr(&pay.attributes, "journey.check").as_deref(), Some("status == 200"));
    assert_eq!(attr(&pay.attributes, "error.type").as_deref(), Some("status"));
    assert_eq!(attr(&pay.attributes, "http.response.status_code").as_deref(), Some("503"));
    let home = spans.iter().find(|s| s.name == "home" && s.trace_id == root.trace_id).unwrap();
    assert!(home.status.is_none(), "the step that passed is not an error");

    // The failure's evidence (status API) and the alert carry a trace id that was exported.
    let exported: Vec<String> = spans.iter().map(|s| hex(&s.trace_id)).collect();
    let alerts = eventually("JourneyDown with a trace link", || {
        let client = client.clone();
        let url = daemon.url("/api/v1/alerts");
        async move {
            let text = get_text(&client, &url).await;
            text.contains("trace_url").then_some(text)
        }
    })
    .await;
    let v: serde_json::Value = serde_json::from_str(&alerts).unwrap();
    let found = v.to_string();
    let id =
        exported.iter().find(|id| found.contains(id.as_str())).unwrap_or_else(|| panic!("no exported id in {found}"));
    assert!(found.contains(&format!("https://tempo.example/trace/{id}")), "{found}");
    let failures = get_text(&client, &daemon.url("/api/v1/failures")).await;
    assert!(failures.contains("\"trace_id\""), "{failures}");
    assert!(exported.iter().any(|id| failures.contains(id.as_str())), "{failures}");
    let page = get_text(&client, &daemon.url("/")).await;
    assert!(page.contains("href=\"https://tempo.example/trace/"), "the status page links to the trace: {page}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_run_is_exported_and_journey_degraded_links_its_trace() {
    let (received, endpoint) = collector(Collector::Accepts).await;
    let (_, target) = site().await;
    let settings = format!(
        "traces:\n  endpoint: {endpoint}\n  sample_passing: 0\n  trace_url: https://tempo.example/trace/{{trace_id}}\n"
    );
    // `/slow` takes 30 ms: every run passes, over its 10 ms budget, so it is degraded.
    let slow = journey("slow", &target, "200ms", "  - name: wait\n    get: /slow\n    expect: [ status == 200 ]\n")
        .replace(
            "alerts: { failure_threshold: 1 }",
            "alerts: { failure_threshold: 1, latency: [ { step: wait, quantile: p99, budget: 10ms, window: 10m } ] }",
        );
    let daemon = InProcess::start(setup("traces-degraded", &[("slow.yml", slow)], &settings)).await;
    let client = reqwest::Client::new();
    let alerts = eventually("JourneyDegraded with a trace link", || {
        let (client, url) = (client.clone(), daemon.url("/api/v1/alerts"));
        async move {
            let text = get_text(&client, &url).await;
            (text.contains("JourneyDegraded") && text.contains("trace_url")).then_some(text)
        }
    })
    .await;
    let v: serde_json::Value = serde_json::from_str(&alerts).unwrap();
    let found = v.to_string();
    let id = eventually("the degraded run's trace at the collector", || {
        let spans = received.spans();
        let found = found.clone();
        async move {
            spans
                .iter()
                .filter(|s| s.parent_span_id.is_empty())
                .map(|s| (hex(&s.trace_id), attr(&s.attributes, "journey.outcome")))
                .find(|(id, _)| found.contains(&format!("\"trace_id\":\"{id}\"")))
        }
    })
    .await;
    assert_eq!(id.1.as_deref(), Some("degraded"), "a slow run is degraded in its trace too");
    assert!(found.contains(&format!("https://tempo.example/trace/{}", id.0)), "{found}");
    daemon.stop().await;
}

/// Runs a ticking journey against a collector in `mode` (or at `endpoint`) until `runs` runs completed.
async fn runs_against(mode: Collector, endpoint: Option<String>, runs: f64, name: &str) -> (String, Received) {
    let (received, url) = collector(mode).await;
    let endpoint = endpoint.unwrap_or(url);
    let settings = format!(
        "traces:\n  endpoint: {endpoint}\n  sample_passing: 1\n  queue_capacity: 2\n  batch_size: 1\n  timeout: 1h\n"
    );
    (ticking(&settings, runs, name, |_| true).await, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_collector_never_slows_journeys_and_drops_are_counted() {
    let (m, received) = runs_against(Collector::Hangs, None, 12.0, "traces-hung").await;
    let dropped = metric(&m, "journeyd_traces_dropped_total{reason=\"queue_full\"}").unwrap();
    assert!(dropped >= 12.0 - 3.0, "every run beyond the one in flight and the two queued is dropped: {m}");
    assert_eq!(received.requests(), 1, "one request at a time: the hung one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_or_failing_collector_never_slows_journeys_and_failures_are_counted() {
    let (m, received) = runs_against(Collector::Fails, None, 8.0, "traces-500").await;
    let failed = metric(&m, "journeyd_traces_dropped_total{reason=\"export_failed\"}").unwrap();
    assert!(failed >= 1.0 && received.requests() >= 1, "{m}");
    assert!(metric(&m, "journeyd_trace_export_requests_total{result=\"error\"}").unwrap() >= 1.0, "{m}");

    // Nothing listens on this port any more: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (m, _) =
        runs_against(Collector::Accepts, Some(format!("http://{closed}/v1/traces")), 8.0, "traces-refused").await;
    assert!(metric(&m, "journeyd_traces_dropped_total{reason=\"export_failed\"}").unwrap() >= 1.0, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_exports_its_runs_and_reports_the_trace_of_a_failure() {
    let (received, endpoint) = collector(Collector::Accepts).await;
    let (_, target) = site().await;
    let dir = failing_journey("traces-verify", &target);
    let base = endpoint.trim_end_matches("/v1/traces").to_string();
    let (report, junit) = (dir.join("report.json"), dir.join("junit.xml"));
    let args = vec![
        "--iterations".into(),
        "3".into(),
        dir.join("pay.yml").into(),
        "--report".into(),
        report.clone().into(),
        "--junit".into(),
        junit.clone().into(),
    ];
    let env = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", base), ("OTEL_SERVICE_NAME", "ci-gate".to_string())];
    let out = verify(args, env).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("traces: 3 runs exported, 0 dropped"), "{stderr}");
    let spans = received.spans();
    assert_eq!(spans.iter().filter(|s| s.parent_span_id.is_empty()).count(), 3);
    assert_eq!(attr(&received.resource(), "service.name").as_deref(), Some("ci-gate"));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let id =
        report["journeys"]["pay"]["failures"]["status"]["first"]["trace_id"].as_str().expect("trace_id in the report");
    assert!(spans.iter().any(|s| hex(&s.trace_id) == id), "the report's trace was exported");
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(junit.contains(&format!("trace: {id}")), "{junit}");
}

#[test]
fn a_malformed_otel_variable_stops_run_with_usage_and_names_the_variable_not_the_value() {
    let dir = tempdir("traces-bad-env");
    std::fs::write(dir.join("a.yml"), journey("a", "http://127.0.0.1:9", "1h", TWO_STEPS)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_journeyd"))
        .args(["run", "--listen", "127.0.0.1:0"])
        .arg(&dir)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .env("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=sekrit-token,broken")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("trace export: OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not `name=value`"), "{stderr}");
    assert!(!stderr.contains("sekrit"), "{stderr}");
}
