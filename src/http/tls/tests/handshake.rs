//! Handshakes that succeed: what `seen` reads from them, and what the configurations are.

use std::sync::Arc;

use rcgen::date_time_ymd;
use tokio::io::AsyncReadExt;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::HandshakeKind;

use super::{connect, params, self_signed, serve, serve_versions, Pki, TLS12_ONLY};
use crate::http::tls::{seen, TlsConfigs};

/// 2040-01-01 and 2045-01-01 UTC.
const Y2040: i64 = 2_208_988_800;
const Y2045: i64 = 2_366_841_600;

fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn seen_reads_the_presented_chain() {
    // The intermediate expires before the leaf: the site expires with it.
    let root = self_signed(super::ca_params("Test Root"));
    let mut inter = super::ca_params("Test Intermediate");
    inter.not_after = date_time_ymd(2040, 1, 1);
    let inter = super::issue(inter, &root);
    let mut leaf = params("localhost", &["localhost"]);
    leaf.not_after = date_time_ymd(2045, 1, 1);
    leaf.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x0a, 0xbc]));
    let leaf = super::issue(leaf, &inter);
    let addr = serve(vec![leaf.der(), inter.der()], &leaf.key).await;

    let config = TlsConfigs::new().config(false, Some(&root.as_tls_ca())).unwrap();
    let tls = connect(config, addr, "localhost").await.unwrap();
    let seen = seen(tls.get_ref().1).expect("a completed handshake presented a certificate");
    assert_eq!(seen.version, "TLS 1.3");
    assert_eq!(seen.earliest_expiry, Y2040);
    assert_eq!(seen.leaf_expiry, Y2045);
    assert_eq!(seen.fingerprint_sha256, sha256_hex(&leaf.der()));
    assert_eq!(seen.serial, "0abc");
    assert_eq!(seen.subject, "CN=localhost,O=Acme");
    assert_eq!(seen.issuer, "CN=Test Intermediate,O=Acme");
}

#[tokio::test]
async fn seen_names_tls_1_2() {
    let pki = Pki::new();
    let addr = serve_versions(pki.chain(), &pki.leaf.key, TLS12_ONLY).await;
    let config = TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap();
    let tls = connect(config, addr, "localhost").await.unwrap();
    assert_eq!(seen(tls.get_ref().1).unwrap().version, "TLS 1.2");
}

#[tokio::test]
async fn every_connection_is_a_full_handshake_that_presents_the_certificate() {
    let pki = Pki::new();
    let addr = serve(pki.chain(), &pki.leaf.key).await;
    let ours = TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap();
    // The same configuration with rustls's default resumption: proves that this server would resume.
    let mut resuming = (*ours).clone();
    resuming.resumption = Resumption::default();
    let resuming = Arc::new(resuming);

    for (config, second) in [(ours, HandshakeKind::Full), (resuming, HandshakeKind::Resumed)] {
        for n in 0..2 {
            let mut tls = connect(config.clone(), addr, "localhost").await.unwrap();
            // Reading to the end takes in the session tickets that a TLS 1.3 server sends after the handshake.
            let mut body = Vec::new();
            tls.read_to_end(&mut body).await.unwrap();
            assert_eq!(body, b"ok");
            let conn = tls.get_ref().1;
            let kind = if n == 0 { HandshakeKind::Full } else { second };
            assert_eq!(conn.handshake_kind(), Some(kind), "connection {n}");
            if kind == HandshakeKind::Full {
                assert!(seen(conn).is_some(), "connection {n}: a full handshake presents the certificate");
            }
        }
    }
}

#[tokio::test]
async fn a_private_ca_with_tls_ca_passes_and_the_host_name_is_still_checked() {
    let pki = Pki::new();
    let addr = serve(pki.chain(), &pki.leaf.key).await;
    let configs = TlsConfigs::new();
    let ca = pki.root.as_tls_ca();
    let config = configs.config(false, Some(&ca)).unwrap();
    assert!(connect(config.clone(), addr, "localhost").await.is_ok());

    let other = Pki::with_leaf(params("other", &["other.example"]));
    let addr = serve(vec![other.leaf.der(), other.intermediate.der()], &other.leaf.key).await;
    let config = configs.config(false, Some(&other.root.as_tls_ca())).unwrap();
    let err = connect(config, addr, "localhost").await.unwrap_err();
    assert_eq!(super::super::handshake_message(&err), "certificate is not valid for localhost: it names other.example");
}

#[tokio::test]
async fn skip_verify_accepts_any_certificate_and_still_reads_it() {
    // Self-signed, for another host, expired: everything verification would refuse.
    let mut p = params("stale", &["not-this-host.example"]);
    p.not_before = date_time_ymd(2019, 1, 1);
    p.not_after = date_time_ymd(2020, 1, 1);
    let bad = self_signed(p);
    let addr = serve(vec![bad.der()], &bad.key).await;
    let configs = TlsConfigs::new();
    let tls = connect(configs.config(true, None).unwrap(), addr, "localhost").await.unwrap();
    let seen = seen(tls.get_ref().1).unwrap();
    assert_eq!(seen.fingerprint_sha256, sha256_hex(&bad.der()));
    assert_eq!(seen.leaf_expiry, 1_577_836_800);
    assert_eq!(seen.subject, seen.issuer);
}

#[test]
fn configs_are_built_once_per_setting_and_skip_verify_wins_over_a_ca() {
    fn shared_between_tasks<T: Send + Sync>() {}
    shared_between_tasks::<TlsConfigs>();
    let configs = TlsConfigs::new();
    let pki = Pki::new();
    let ca = pki.root.as_tls_ca();
    let skip = configs.config(true, None).unwrap();
    assert!(Arc::ptr_eq(&skip, &configs.config(true, Some(&ca)).unwrap()));
    let with_ca = configs.config(false, Some(&ca)).unwrap();
    assert!(Arc::ptr_eq(&with_ca, &configs.config(false, Some(&ca)).unwrap()));
    let webpki = configs.config(false, None).unwrap();
    assert!(Arc::ptr_eq(&webpki, &configs.config(false, None).unwrap()));
    assert!(!Arc::ptr_eq(&webpki, &with_ca) && !Arc::ptr_eq(&webpki, &skip));
    for config in [&skip, &with_ca, &webpki] {
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }
}

#[test]
fn a_tls_ca_without_a_usable_certificate_is_an_error() {
    let configs = TlsConfigs::new();
    let empty = crate::model::TlsCa { path: "ca.pem".into(), pem: b"just text\n".to_vec() };
    assert_eq!(
        configs.config(false, Some(&empty)).unwrap_err().to_string(),
        "tls_ca ca.pem: no certificate in the file (expected PEM `BEGIN CERTIFICATE` blocks)"
    );
    let broken = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    let broken = crate::model::TlsCa { path: "ca.pem".into(), pem: broken.to_vec() };
    let err = configs.config(false, Some(&broken)).unwrap_err().to_string();
    assert!(err.starts_with("tls_ca ca.pem: certificate 1 cannot be a trusted root: "), "{err}");
}
