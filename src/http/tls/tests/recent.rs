//! What recent handshakes established and is kept: the verifier's accepted chains (checked with the real
//! WebPKI verifier at chosen times, so validity can run out between two calls) and the facts `seen` reads.

use std::sync::Arc;
use std::time::Duration;

use rcgen::date_time_ymd;
use tokio_rustls::rustls::client::danger::ServerCertVerifier;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::{ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, Error, RootCertStore};

use super::{connect, issue, params, self_signed, serve, Pki};
use crate::http::tls::verify::Explaining;
use crate::http::tls::{handshake_message, seen, TlsConfigs};

/// A verifier trusting `pki`'s root, as a journey with it as `tls_ca` gets.
fn verifier(pki: &Pki) -> Explaining {
    let mut roots = RootCertStore::empty();
    roots.add(pki.root.der()).unwrap();
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::new(default_provider()));
    Explaining::new(inner.build().unwrap())
}

/// Midnight UTC of a day, as the verifier is told the time.
fn at(year: i32, month: u8, day: u8) -> UnixTime {
    let t = date_time_ymd(year, month, day).unix_timestamp();
    UnixTime::since_unix_epoch(Duration::from_secs(t as u64))
}

fn verify(v: &Explaining, pki: &Pki, host: &str, now: UnixTime) -> Result<(), Error> {
    let name = ServerName::try_from(host.to_string()).unwrap();
    v.verify_server_cert(&pki.leaf.der(), &[pki.intermediate.der()], &name, &[], now).map(|_| ())
}

fn dated_leaf(from: (i32, u8, u8), until: (i32, u8, u8)) -> Pki {
    let mut p = params("localhost", &["localhost"]);
    p.not_before = date_time_ymd(from.0, from.1, from.2);
    p.not_after = date_time_ymd(until.0, until.1, until.2);
    Pki::with_leaf(p)
}

#[test]
fn an_accepted_chain_fails_again_once_it_expires_and_before_it_is_valid() {
    let pki = dated_leaf((2020, 1, 1), (2030, 1, 1));
    let v = verifier(&pki);
    verify(&v, &pki, "localhost", at(2025, 6, 1)).unwrap();
    assert_eq!(v.remembered(), 1, "an accepted chain is kept");
    // Every later handshake with the same bytes is checked against its own time.
    for _ in 0..2 {
        let err = verify(&v, &pki, "localhost", at(2030, 1, 2)).unwrap_err();
        assert!(matches!(err, Error::InvalidCertificate(CertificateError::ExpiredContext { .. })), "{err:?}");
    }
    let err = verify(&v, &pki, "localhost", at(2019, 12, 31)).unwrap_err();
    assert!(matches!(err, Error::InvalidCertificate(CertificateError::NotValidYetContext { .. })), "{err:?}");
    verify(&v, &pki, "localhost", at(2029, 12, 31)).unwrap();
}

#[test]
fn an_intermediate_that_expires_first_ends_the_kept_acceptance() {
    let root = self_signed(super::ca_params("Test Root"));
    let mut inter = super::ca_params("Short Intermediate");
    inter.not_after = date_time_ymd(2028, 1, 1);
    let intermediate = issue(inter, &root);
    let mut leaf = params("localhost", &["localhost"]);
    leaf.not_after = date_time_ymd(2040, 1, 1);
    let leaf = issue(leaf, &intermediate);
    let pki = Pki { root, intermediate, leaf };
    let v = verifier(&pki);
    verify(&v, &pki, "localhost", at(2027, 1, 1)).unwrap();
    let err = verify(&v, &pki, "localhost", at(2029, 1, 1)).unwrap_err();
    let message = handshake_message(&std::io::Error::new(std::io::ErrorKind::InvalidData, err));
    assert!(
        message.starts_with("the intermediate certificate CN=Short Intermediate,O=Acme expired on 2028-01-01"),
        "{message}"
    );
}

#[test]
fn another_name_or_another_chain_is_verified_afresh() {
    let pki = Pki::new();
    let v = verifier(&pki);
    let now = UnixTime::now();
    verify(&v, &pki, "localhost", now).unwrap();
    let err = verify(&v, &pki, "other.example", now).unwrap_err();
    assert!(matches!(err, Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })), "{err:?}");
    // The same leaf without its intermediate: a different chain, which this root cannot reach.
    let name = ServerName::try_from("localhost").unwrap();
    let err = v.verify_server_cert(&pki.leaf.der(), &[], &name, &[], now).unwrap_err();
    assert!(matches!(err, Error::InvalidCertificate(_)), "{err:?}");
    assert_eq!(v.remembered(), 1, "failures are never kept");
}

#[test]
fn a_chain_under_roots_a_verifier_does_not_have_is_not_accepted_from_another_verifiers_memory() {
    let trusted = Pki::new();
    let other = Pki::new();
    let v = verifier(&trusted);
    verify(&verifier(&other), &other, "localhost", UnixTime::now()).unwrap();
    let err = verify(&v, &other, "localhost", UnixTime::now()).unwrap_err();
    assert!(matches!(err, Error::InvalidCertificate(_)), "{err:?}");
}

#[tokio::test]
async fn seen_reads_a_chain_once_and_a_new_chain_anew() {
    let pki = Pki::new();
    let addr = serve(pki.chain(), &pki.leaf.key).await;
    let config = TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap();
    let first = seen(connect(config.clone(), addr, "localhost").await.unwrap().get_ref().1).unwrap();
    let second = seen(connect(config, addr, "localhost").await.unwrap().get_ref().1).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "the same chain's facts are shared, not read again");

    let rotated = issue(params("localhost", &["localhost"]), &pki.intermediate);
    let addr = serve(vec![rotated.der(), pki.intermediate.der()], &rotated.key).await;
    let config = TlsConfigs::new().config(false, Some(&pki.root.as_tls_ca())).unwrap();
    let third = seen(connect(config, addr, "localhost").await.unwrap().get_ref().1).unwrap();
    assert_ne!(third.fingerprint_sha256, first.fingerprint_sha256);
    assert_ne!(third.serial, first.serial);
}
