//! Fault matrix, TLS rows: self-signed, expired and wrong-host certificates fail with reason `tls` by
//! default and pass only with the journey's explicit `defaults: { tls_skip_verify: true }`, which
//! `/metrics` shows as `journey_tls_skip_verify{journey=…} 1`. Certificates are generated in the test
//! (rcgen) and served in-process (tokio-rustls) on 127.0.0.1:0. A private CA (`defaults: { tls_ca: FILE }`)
//! is trusted without turning verification off, and still checks the host name.

mod common;

use std::sync::Arc;

use common::{describe, journey, run_once, suite_from};
use journeyd::metrics::{Metrics, MetricsSink, StatsTable};
use journeyd::outcome::Reason;
use journeyd::pipeline::Sink;
use tokio::io::AsyncWriteExt;
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
    serve_cert(cert, key).await
}

async fn serve_cert(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    common::tls::serve_each(TlsAcceptor::from(Arc::new(config)), |mut tls| async move {
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
    })
    .await
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
        // What an on-call engineer reads (a self-signed certificate is untrusted before its name is checked).
        let says = match kind {
            Bad::SelfSigned | Bad::WrongHost => "unknown issuer: the certificate for localhost is self-signed",
            Bad::Expired => "certificate expired on 2020-01-01 00:00:00 UTC (",
        };
        assert!(f.message.starts_with(says), "{kind:?}: {}", f.message);
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

/// A private CA and a certificate it signed for `host`.
fn private_ca_and_leaf(host: &str) -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "journeyd test CA");
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    (ca_cert.pem(), cert.der().clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

fn ca_journey(url: &str, ca_file: Option<&std::path::Path>) -> Arc<journeyd::model::Journey> {
    let defaults = ca_file.map(|p| format!("defaults: {{ tls_ca: \"{}\" }}\n", p.display())).unwrap_or_default();
    let yaml = format!(
        "name: private-ca\n{defaults}steps:\n  - name: only\n    get: \"{{{{ env.U }}}}/\"\n    expect: [ body == \"tls ok\" ]\n"
    );
    journey(&yaml, &[("U", url)])
}

#[tokio::test]
async fn a_private_ca_is_trusted_with_tls_ca_and_the_host_name_is_still_checked() {
    let dir = common::tempdir::tempdir("tls-ca");

    let (ca_pem, cert, key) = private_ca_and_leaf("localhost");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let url = serve_cert(cert, key).await;
    let o = run_once(&ca_journey(&url, Some(&ca_file))).await;
    assert!(o.passed(), "signed by the trusted CA: {}", describe(&o));
    let o = run_once(&ca_journey(&url, None)).await;
    let f = o.failure().expect("without tls_ca the private CA is unknown");
    assert_eq!(f.reason, Reason::Tls, "{}", describe(&o));
    assert!(f.message.starts_with("unknown issuer: the certificate for localhost was issued by CN="), "{}", f.message);

    // The same CA, a certificate for another name: the name check alone rejects it.
    let (other_ca_pem, cert, key) = private_ca_and_leaf("not-this-host.example");
    let other_ca = dir.join("other-ca.pem");
    std::fs::write(&other_ca, &other_ca_pem).unwrap();
    let url = serve_cert(cert, key).await;
    let o = run_once(&ca_journey(&url, Some(&other_ca))).await;
    let f = o.failure().expect("a certificate for another host must fail");
    assert_eq!(f.reason, Reason::Tls, "{}", describe(&o));
    assert!(
        f.message.contains("is not valid for localhost: it names not-this-host.example"),
        "the host name: {}",
        f.message
    );
    println!("matrix: wrong host name (trusted CA) -> {}: {}", f.reason, f.message);
}

#[test]
fn a_tls_ca_file_without_certificates_is_a_load_error_with_its_location() {
    let dir = common::tempdir::tempdir("tls-ca-bad");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let file = dir.join("j.yml");
    for (ca, want) in
        [(empty.display().to_string(), "no PEM certificate"), ("missing.pem".into(), "cannot read missing.pem")]
    {
        let yaml =
            format!("name: j\ndefaults:\n  tls_ca: \"{ca}\"\nsteps:\n  - name: only\n    get: https://localhost/\n");
        let err = journeyd::config::load_str(&file, &yaml, &journeyd::config::LoadOptions::default()).unwrap_err();
        let text = journeyd::config::render(&err.0);
        assert!(text.contains(want), "{text}");
        assert!(text.contains("j.yml:3:"), "points at the tls_ca line: {text}");
    }
}
