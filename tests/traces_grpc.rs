//! OTLP over gRPC: an in-process gRPC receiver built on `h2::server` (plain h2c, or TLS with ALPN h2 and a
//! CA made at test time) decodes the real `ExportTraceServiceRequest` with `opentelemetry-proto` and answers
//! with a `grpc-status`. The daemon runs in-process; `verify` runs as the binary (TLS: its environment
//! names the CA). A reload moves export from one collector to another. No timed assertions.

mod common;
mod daemon_support;
mod trace_support;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::tls::Ca;
use daemon_support::{eventually, metric, write_atomic, InProcess};
use http::{HeaderMap, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use trace_support::{
    attr, collector, failing_journey, hex, journey, metrics, metrics_once, setup, site, ticking, verify, Collector,
    Received, TWO_STEPS,
};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The `grpc-status` the receiver answers with.
#[derive(Clone, Copy)]
enum Answer {
    /// 0, in a trailer after an (empty) `ExportTraceServiceResponse`.
    Ok,
    /// 14 (UNAVAILABLE), trailers-only, with a percent-encoded `grpc-message`.
    Unavailable,
}

/// A gRPC trace receiver on 127.0.0.1:0; with an acceptor, over TLS. Returns what it decoded and its port.
async fn grpc_receiver(answer: Answer, tls: Option<TlsAcceptor>) -> (Received, u16) {
    let received = Received::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = received.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (got, tls) = (got.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        let stream = acceptor.accept(tcp).await.expect("TLS handshake");
                        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "ALPN h2");
                        serve(stream, answer, got).await
                    }
                    None => serve(tcp, answer, got).await,
                }
            });
        }
    });
    (received, port)
}

/// One HTTP/2 connection: every call decoded and answered, each on its own task.
async fn serve<T: AsyncRead + AsyncWrite + Unpin>(io: T, answer: Answer, got: Received) {
    let Ok(mut connection) = h2::server::handshake(io).await else { return };
    while let Some(Ok((request, respond))) = connection.accept().await {
        let got = got.clone();
        tokio::spawn(async move {
            let (parts, mut body) = request.into_parts();
            assert_eq!(parts.uri.path(), EXPORT_PATH);
            assert_eq!(parts.headers["content-type"], "application/grpc");
            assert_eq!(parts.headers["te"], "trailers");
            let mut data = BytesMut::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.unwrap();
                let _ = body.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            let mut data = data.freeze();
            assert_eq!(data.get_u8(), 0, "not compressed");
            let len = data.get_u32() as usize;
            assert_eq!(len, data.len(), "one length-prefixed message");
            let message = ExportTraceServiceRequest::decode(data).expect("a valid OTLP protobuf message");
            got.0.lock().unwrap().push((parts.headers, message));
            respond_with(respond, answer);
        });
    }
}

fn respond_with(mut respond: h2::server::SendResponse<Bytes>, answer: Answer) {
    let head = Response::builder().status(200).header("content-type", "application/grpc");
    match answer {
        Answer::Unavailable => {
            let head = head.header("grpc-status", "14").header("grpc-message", "collector%20overloaded");
            respond.send_response(head.body(()).unwrap(), true).unwrap();
        }
        Answer::Ok => {
            let mut stream = respond.send_response(head.body(()).unwrap(), false).unwrap();
            let reply = ExportTraceServiceResponse::default().encode_to_vec();
            let mut framed = BytesMut::new();
            framed.put_u8(0);
            framed.put_u32(reply.len() as u32);
            framed.put_slice(&reply);
            stream.send_data(framed.freeze(), false).unwrap();
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            stream.send_trailers(trailers).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_a_run_arrives_as_the_same_span_tree_with_headers_as_metadata() {
    let (received, port) = grpc_receiver(Answer::Ok, None).await;
    let (seen, target) = site().await;
    let settings = format!(
        "traces:\n  protocol: grpc\n  endpoint: http://127.0.0.1:{port}\n  sample_passing: 1\n  headers: {{ x-api-key: k-grpc }}\n"
    );
    let daemon =
        InProcess::start(setup("traces-grpc", &[("shop.yml", journey("shop", &target, "1h", TWO_STEPS))], &settings))
            .await;
    let spans = eventually("the first run's spans over gRPC", || {
        let spans = received.spans();
        async move { spans.iter().any(|s| s.name == "item").then_some(spans) }
    })
    .await;
    let root = spans.iter().find(|s| s.parent_span_id.is_empty()).expect("a root span");
    assert_eq!(root.name, "shop");
    assert_eq!(attr(&root.attributes, "journey.outcome").as_deref(), Some("passed"));
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id), "one trace per run");
    let step = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"));
    let (home, item) = (step("home"), step("item"));
    for s in [home, item] {
        assert_eq!(s.parent_span_id, root.span_id, "{} is the run's child", s.name);
        assert_eq!(attr(&s.attributes, "http.response.status_code").as_deref(), Some("200"));
    }
    assert!(spans.iter().any(|s| s.parent_span_id == home.span_id), "the phases are the step's children");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen["/home"].0, format!("00-{}-{}-01", hex(&home.trace_id), hex(&home.span_id)));
    assert_eq!(attr(&received.resource(), "service.name").as_deref(), Some("journeyd"));
    let headers = received.0.lock().unwrap()[0].0.clone();
    assert_eq!(headers["x-api-key"], "k-grpc", "export headers travel as gRPC metadata");

    let m = metrics_once(&daemon, "journeyd_traces_exported_total", 1.0).await;
    assert!(metric(&m, "journeyd_trace_export_requests_total{result=\"ok\"}").unwrap() >= 1.0, "{m}");
    assert_eq!(metric(&m, "journeyd_trace_export_requests_total{result=\"error\"}"), Some(0.0), "{m}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_exports_over_grpc_with_tls_to_a_collector_behind_a_private_ca() {
    let ca = Ca::new("traces-grpc-ca");
    let leaf = ca.leaf_for(&["localhost"], 2099, 7);
    let (received, port) = grpc_receiver(Answer::Ok, Some(leaf.acceptor_alpn(&[b"h2"]))).await;
    let (_, target) = site().await;
    let dir = failing_journey("traces-grpc-tls", &target);
    let env = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("https://localhost:{port}")),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.file("traces-grpc-tls").display().to_string()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20sekrit-grpc-token".to_string()),
    ];
    let out = verify(vec!["--iterations".into(), "2".into(), dir.join("pay.yml").into()], env).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("traces: 2 runs exported, 0 dropped"), "{stderr}");
    assert!(!stderr.contains("sekrit"), "{stderr}");
    let spans = received.spans();
    assert_eq!(spans.iter().filter(|s| s.parent_span_id.is_empty()).count(), 2);
    assert!(spans.iter().any(|s| attr(&s.attributes, "journey.outcome").as_deref() == Some("failed")));
    assert_eq!(received.0.lock().unwrap()[0].0["authorization"], "Bearer sekrit-grpc-token");
}

/// Runs a ticking journey exporting over gRPC to `endpoint` until `runs` runs completed and an export
/// failed; every failure is counted as a dropped batch.
async fn runs_exporting_to(endpoint: &str, runs: f64, name: &str) {
    let settings = format!(
        "traces:\n  protocol: grpc\n  endpoint: {endpoint}\n  sample_passing: 1\n  queue_capacity: 2\n  batch_size: 1\n"
    );
    let failed = |m: &str| metric(m, "journeyd_trace_export_requests_total{result=\"error\"}").unwrap_or(0.0) >= 1.0;
    let m = ticking(&settings, runs, name, failed).await;
    assert!(metric(&m, "journeyd_traces_dropped_total{reason=\"export_failed\"}").unwrap() >= 1.0, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_or_refusing_grpc_collector_is_counted_and_never_slows_journeys() {
    let (received, port) = grpc_receiver(Answer::Unavailable, None).await;
    runs_exporting_to(&format!("http://127.0.0.1:{port}"), 6.0, "traces-grpc-14").await;
    assert!(received.requests() >= 1, "the calls reached the collector, which answered UNAVAILABLE");
    let logs = daemon_support::logs();
    assert!(logs.contains("gRPC status 14 (UNAVAILABLE): collector overloaded"), "the reason is logged");

    // Nothing listens on this port any more: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    runs_exporting_to(&format!("http://{closed}"), 6.0, "traces-grpc-refused").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_export_to_another_collector_and_protocol_without_a_restart() {
    let (first, http_endpoint) = collector(Collector::Accepts).await;
    let (second, port) = grpc_receiver(Answer::Ok, None).await;
    let (_, target) = site().await;
    let failing = "  - name: pay\n    get: /fail\n    expect: [ status == 200 ]\n";
    let settings = |endpoint: &str, protocol: &str| {
        format!("traces:\n  endpoint: {endpoint}\n  protocol: {protocol}\n  sample_passing: 0\n  trace_url: https://{protocol}.example/t/{{trace_id}}\n")
            .replace("https://grpc", "https://second")
            .replace("https://http/protobuf", "https://first")
    };
    let options = setup(
        "traces-reload",
        &[("pay.yml", journey("pay", &target, "200ms", failing))],
        &settings(&http_endpoint, "http/protobuf"),
    );
    let path = options.settings.clone().unwrap();
    let daemon = InProcess::start(options).await;
    eventually("a failed run at the first collector", || {
        let n = first.requests();
        async move { (n >= 1).then_some(()) }
    })
    .await;
    assert_eq!(second.requests(), 0);
    let exported_before = metric(&metrics(&daemon).await, "journeyd_traces_exported_total").unwrap();

    // An invalid `traces:` is rejected like any settings error, and export goes on where it was.
    write_atomic(&path, "traces:\n  protocol: carrier-pigeon\n");
    let e = daemon.reloader.reload().await.unwrap_err().to_string();
    assert!(e.contains("settings.yml:2:13: `traces.protocol`"), "{e}");
    let seen = first.requests();
    eventually("the first collector still gets runs", || {
        let n = first.requests();
        async move { (n > seen).then_some(()) }
    })
    .await;

    write_atomic(&path, &settings(&format!("http://127.0.0.1:{port}"), "grpc"));
    daemon.reloader.reload().await.expect("the new settings apply");
    let spans = eventually("a failed run at the second collector, over gRPC", || {
        let spans = second.spans();
        async move { spans.iter().any(|s| s.parent_span_id.is_empty()).then_some(spans) }
    })
    .await;
    let root = spans.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
    assert_eq!(attr(&root.attributes, "journey.outcome").as_deref(), Some("failed"));
    // Runs after the reload go to the second only: the first stops growing once what was queued is sent.
    // The counters go on across the reload.
    metrics_once(&daemon, "journeyd_traces_exported_total", exported_before + 1.0).await;
    let failures = daemon.text("/").await;
    assert!(failures.contains("https://second.example/t/"), "the status page links with the new trace_url");
    daemon.stop().await;
}
