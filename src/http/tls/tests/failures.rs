//! Each way a handshake fails, against a real server, and the one line `handshake_message` makes of it.

use std::sync::Arc;

use rcgen::{date_time_ymd, BasicConstraints, IsCa};
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;

use super::{
    days_since, failure, issue, params, self_signed, serve, serve_plain_http, serve_raw, serve_versions, Pki,
    TLS12_ONLY, TLS13_ONLY,
};
use crate::http::tls::{client_config, TlsConfigs};

const ADD_CA: &str = "(add it with `defaults: { tls_ca: FILE }`)";

#[tokio::test]
async fn an_expired_certificate_says_when() {
    let mut p = params("localhost", &["localhost"]);
    p.not_before = date_time_ymd(2019, 1, 1);
    p.not_after = date_time_ymd(2020, 1, 1);
    let pki = Pki::with_leaf(p);
    let addr = serve(pki.chain(), &pki.leaf.key).await;
    let before = days_since(1_577_836_800);
    let message = failure(TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap(), addr).await;
    let after = days_since(1_577_836_800);
    let said = |days| format!("certificate expired on 2020-01-01 00:00:00 UTC ({days} days ago)");
    assert!(message == said(before) || message == said(after), "{message}");
}

#[tokio::test]
async fn an_expired_intermediate_is_named() {
    let root = self_signed(super::ca_params("Test Root"));
    let mut inter = super::ca_params("Old Intermediate");
    inter.not_before = date_time_ymd(2019, 1, 1);
    inter.not_after = date_time_ymd(2020, 1, 1);
    let inter = issue(inter, &root);
    let leaf = issue(params("localhost", &["localhost"]), &inter);
    let addr = serve(vec![leaf.der(), inter.der()], &leaf.key).await;
    let message = failure(TlsConfigs::new().config(false, Some(&root.as_tls_ca())).unwrap(), addr).await;
    assert!(
        message.starts_with(
            "the intermediate certificate CN=Old Intermediate,O=Acme expired on 2020-01-01 00:00:00 UTC ("
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_certificate_not_valid_yet_says_from_when() {
    let mut p = params("localhost", &["localhost"]);
    p.not_before = date_time_ymd(2090, 1, 1);
    p.not_after = date_time_ymd(2091, 1, 1);
    let pki = Pki::with_leaf(p);
    let addr = serve(pki.chain(), &pki.leaf.key).await;
    let message = failure(TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap(), addr).await;
    let days = -days_since(3_786_912_000);
    let said =
        |days| format!("certificate is not valid yet: it becomes valid on 2090-01-01 00:00:00 UTC (in {days} days)");
    assert!(message == said(days) || message == said(days - 1), "{message}");
}

#[tokio::test]
async fn a_wrong_host_lists_the_names_the_certificate_has() {
    let pki = Pki::with_leaf(params("elsewhere", &["not-this-host.example", "*.x", "10.0.0.1"]));
    let addr = serve(pki.chain(), &pki.leaf.key).await;
    let message = failure(TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap(), addr).await;
    assert_eq!(message, "certificate is not valid for localhost: it names not-this-host.example, *.x, 10.0.0.1");
}

#[tokio::test]
async fn an_untrusted_root_behind_a_full_chain_is_named() {
    let pki = Pki::new();
    let webpki_only = TlsConfigs::new().config(false, None).unwrap();
    let said = format!(
        "unknown issuer: the certificate for localhost was issued by CN=Test Intermediate,O=Acme under \
         CN=Test Root,O=Acme, which is not a trusted root {ADD_CA}"
    );
    // leaf + intermediate (as servers send), and with the root too.
    let addr = serve(pki.chain(), &pki.leaf.key).await;
    assert_eq!(failure(webpki_only.clone(), addr).await, said);
    let addr = serve(vec![pki.leaf.der(), pki.intermediate.der(), pki.root.der()], &pki.leaf.key).await;
    assert_eq!(failure(webpki_only.clone(), addr).await, said);

    // A leaf issued by the root itself, which the server sends.
    let direct = issue(params("localhost", &["localhost"]), &pki.root);
    let addr = serve(vec![direct.der(), pki.root.der()], &direct.key).await;
    assert_eq!(
        failure(webpki_only, addr).await,
        format!("unknown issuer: the certificate for localhost was issued by CN=Test Root,O=Acme, which is not a trusted root {ADD_CA}")
    );
}

#[tokio::test]
async fn a_missing_intermediate_reads_as_an_incomplete_chain() {
    let pki = Pki::new();
    let addr = serve(vec![pki.leaf.der()], &pki.leaf.key).await;
    // The root is trusted: only the intermediate the server did not send is missing.
    let message = failure(TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap(), addr).await;
    assert_eq!(
        message,
        "unknown issuer: the certificate for localhost was issued by CN=Test Intermediate,O=Acme, which the \
         server did not send and no trusted root is: an incomplete chain, or a private CA (add it with \
         `defaults: { tls_ca: FILE }`)"
    );
}

#[tokio::test]
async fn a_self_signed_certificate_says_so() {
    let cert = self_signed(params("localhost", &["localhost"]));
    let addr = serve(vec![cert.der()], &cert.key).await;
    let message = failure(TlsConfigs::new().config(false, None).unwrap(), addr).await;
    assert_eq!(
        message,
        format!("unknown issuer: the certificate for localhost is self-signed (CN=localhost,O=Acme) and not trusted {ADD_CA}")
    );
}

#[tokio::test]
async fn a_ca_certificate_served_as_the_leaf_says_so() {
    let mut p = params("Sub CA", &["localhost"]);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pki = Pki::with_leaf(p);
    let addr = serve(pki.chain(), &pki.leaf.key).await;
    let message = failure(TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap(), addr).await;
    assert_eq!(
        message,
        "the certificate for localhost is a CA certificate (CN=Sub CA,O=Acme), not a server certificate"
    );
}

#[tokio::test]
async fn no_version_in_common_names_the_alert() {
    let pki = Pki::new();
    let addr = serve_versions(pki.chain(), &pki.leaf.key, TLS13_ONLY).await;
    let tls12 = Arc::new(client_config(false, Some(&pki.root.as_tls_ca()), TLS12_ONLY).unwrap());
    assert_eq!(
        failure(tls12, addr).await,
        "no TLS version or cipher suite in common with the server (it answered: protocol_version)"
    );
}

#[tokio::test]
async fn a_plain_http_server_is_recognised() {
    let addr = serve_plain_http().await;
    let message = failure(TlsConfigs::new().config(false, None).unwrap(), addr).await;
    assert_eq!(message, "the server did not answer with TLS (is it plain http on this port?)");
}

#[tokio::test]
async fn a_server_that_hangs_up_is_named() {
    let addr = serve_raw(None).await;
    let message = failure(TlsConfigs::new().config(false, None).unwrap(), addr).await;
    assert_eq!(message, "the server closed the connection during the TLS handshake");
}

/// Presents one certificate but signs the handshake with another key: a server that does not hold the key
/// of the certificate it shows.
#[derive(Debug)]
struct WrongKey(Arc<CertifiedKey>);

impl ResolvesServerCert for WrongKey {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[tokio::test]
async fn skip_verify_still_checks_the_handshake_signature() {
    let shown = self_signed(params("localhost", &["localhost"]));
    let other = rcgen::KeyPair::generate().unwrap();
    let provider = Arc::new(default_provider());
    let key_der = tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer::from(other.serialize_der());
    let signer = provider.key_provider.load_private_key(key_der.into()).unwrap();
    let certified = Arc::new(CertifiedKey::new(vec![shown.der()], signer));
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(WrongKey(certified)));
    let addr = super::serve_config(config).await;
    let message = failure(TlsConfigs::new().config(true, None).unwrap(), addr).await;
    assert_eq!(
        message,
        "signature does not verify: a certificate not signed by its issuer, or a server without the key of its \
         certificate"
    );
}
