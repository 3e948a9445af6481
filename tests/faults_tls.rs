//! Fault matrix, TLS rows: self-signed, expired and wrong-host certificates fail with reason `tls` by
//! default and pass only with the journey's explicit `defaults: { tls_skip_verify: true }`, which
//! `/metrics` shows as `journey_tls_skip_verify{journey=…} 1`. Certificates are generated in the test
//! (rcgen) and served in-process (tokio-rustls) on 127.0.0.1:0.

mod common;

use std::sync::Arc;

use common::{describe, journey, run_once, suite_from};
use journeyd::metrics::{Metrics, MetricsSink, StatsTable};
use journeyd::outcome::Reason;
use journeyd::pipeline::Sink;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A bad certificate of one kind.
#[derive(Debug, Clone, Copy)]
enum Bad {
    SelfSigned,
    Expired,
    WrongHost,
}

fn certificate(kind: Bad) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let host = match kind {
        Bad::WrongHost => "not-this-host.example",
        _ => "localhost",
    };
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
    if let Bad::Expired = kind {
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    }
    let cert = params.self_signed(&key).unwrap();
    (cert.der().clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

/// An HTTPS server on 127.0.0.1:0 answering 200 "tls ok"; returns `https://localhost:PORT`.
async fn serve_tls(kind: Bad) -> String {
    let (cert, key) = certificate(kind);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else { return };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = "HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\ntls ok";
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://localhost:{port}")
}

fn tls_journey(url: &str, skip: bool) -> Arc<journeyd::model::Journey> {
    let defaults = if skip { "defaults: { tls_skip_verify: true }\n" } else { "" };
    let yaml = format!(
        "name: tls\n{defaults}steps:\n  - name: only\n    get: \"{{{{ env.U }}}}/\"\n    expect: [ status == 200, body == \"tls ok\" ]\n"
    );
    journey(&yaml, &[("U", url)])
}

#[tokio::test]
async fn bad_certificates_fail_with_tls_by_default_and_pass_only_with_the_explicit_opt_out() {
    for kind in [Bad::SelfSigned, Bad::Expired, Bad::WrongHost] {
        let url = serve_tls(kind).await;
        let o = run_once(&tls_journey(&url, false)).await;
        let f = o.failure().unwrap_or_else(|| panic!("{kind:?} must fail by default"));
        assert_eq!(f.reason, Reason::Tls, "{kind:?}: {}", describe(&o));
        assert!(f.status.is_none(), "{kind:?}: no HTTP response over a rejected handshake");
        println!("matrix: {kind:?} -> {} in {:?}: {}", f.reason, o.duration, f.message);

        let o = run_once(&tls_journey(&url, true)).await;
        assert!(o.passed(), "{kind:?} with tls_skip_verify: {}", describe(&o));
    }
}

#[test]
fn the_opt_out_is_visible_in_metrics_per_journey() {
    let mut suite = suite_from(
        "name: insecure\ndefaults: { tls_skip_verify: true }\nsteps:\n  - name: only\n    get: https://localhost/\n",
        &[],
    );
    let strict = suite_from("name: strict\nsteps:\n  - name: only\n    get: https://localhost/\n", &[]);
    suite.journeys.extend(strict.journeys);
    let metrics = Metrics::new();
    let mut sink = MetricsSink::new(metrics.clone(), StatsTable::new());
    sink.suite_changed(&suite);
    let text = metrics.encode();
    assert!(text.contains("journey_tls_skip_verify{journey=\"insecure\"} 1"), "{text}");
    assert!(text.contains("journey_tls_skip_verify{journey=\"strict\"} 0"), "{text}");
}
