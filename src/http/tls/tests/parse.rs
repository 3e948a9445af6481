//! The DER reader: the fields equal what rcgen was told, and hostile bytes give errors, never panics.

use std::net::IpAddr;
use std::time::Duration;

use proptest::prelude::*;
use rcgen::{date_time_ymd, DnType, SerialNumber};

use super::{ca_params, issue, params, self_signed, Pki};
use crate::http::tls::cert::{days_from_civil, Cert, CertError};

/// 2024-02-29 12:34:56 UTC (a leap day, and a time of day), then 2050-01-01 (GeneralizedTime from there).
const NOT_BEFORE: i64 = 1_709_210_096;
const NOT_AFTER_2050: i64 = 2_524_608_000;

#[test]
fn the_fields_are_what_the_certificate_was_made_with() {
    let mut p = params("shop.example", &["shop.example", "*.shop.example", "127.0.0.1"]);
    // High bit set: DER prepends a zero byte, which the hex form drops as blackbox_exporter does.
    p.serial_number = Some(SerialNumber::from_slice(&[0x8a, 0x01, 0x02]));
    p.not_before = date_time_ymd(2024, 2, 29) + Duration::from_secs(12 * 3600 + 34 * 60 + 56);
    p.not_after = date_time_ymd(2050, 1, 1);
    let ca = self_signed(ca_params("Acme Private CA"));
    let leaf = issue(p, &ca);
    let der = leaf.der();
    let cert = Cert::parse(&der).unwrap();
    assert_eq!(cert.serial_hex(), "8a0102");
    assert_eq!(cert.subject.as_str(), "CN=shop.example,O=Acme");
    assert_eq!(cert.issuer.as_str(), "CN=Acme Private CA,O=Acme");
    assert_eq!(cert.not_before, NOT_BEFORE);
    assert_eq!(cert.not_after, NOT_AFTER_2050);
    assert_eq!(cert.dns_names, ["shop.example", "*.shop.example"]);
    assert_eq!(cert.ip_addresses, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(cert.names(), ["shop.example", "*.shop.example", "127.0.0.1"]);
    assert!(!cert.is_ca);
    assert!(!cert.self_issued());

    let ca_der = ca.der();
    let ca = Cert::parse(&ca_der).unwrap();
    assert!(ca.is_ca);
    assert!(ca.self_issued());
    assert!(ca.subject.same_as(&cert.issuer), "chains are matched by the issuer's DER");
    assert!(ca.dns_names.is_empty());
}

#[test]
fn names_are_rfc_4514_escaped_and_kept_on_one_line() {
    let mut p = params("x", &[]);
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CountryName, "DE");
    p.distinguished_name.push(DnType::OrganizationName, "Acme, Inc. <\"eu\">");
    p.distinguished_name.push(DnType::CommonName, " #shop+x\n ");
    let der = self_signed(p).der();
    let cert = Cert::parse(&der).unwrap();
    assert_eq!(cert.subject.as_str(), r#"CN=\ #shop\+x\0a\ ,O=Acme\, Inc. \<\"eu\"\>,C=DE"#);
}

#[test]
fn an_attribute_without_a_short_name_is_its_oid_and_hex() {
    let mut p = params("x", &[]);
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]), "ops@example.com");
    let der = self_signed(p).der();
    let cert = Cert::parse(&der).unwrap();
    // UTF8String (0x0c), 15 bytes (0x0f)
    assert_eq!(cert.subject.as_str(), "1.2.840.113549.1.9.1=#0c0f6f7073406578616d706c652e636f6d");
}

#[test]
fn an_empty_subject_reads_as_empty_and_says_so_in_messages() {
    let mut p = params("x", &["localhost"]);
    p.distinguished_name = rcgen::DistinguishedName::new();
    let der = self_signed(p).der();
    let cert = Cert::parse(&der).unwrap();
    assert_eq!(cert.subject.as_str(), "");
    assert_eq!(cert.subject.to_string(), "(an empty name)");
}

#[test]
fn a_huge_name_is_clipped() {
    let long = "a".repeat(2000);
    let der = self_signed(params(&long, &[])).der();
    let cert = Cert::parse(&der).unwrap();
    assert!(cert.subject.as_str().len() <= 256 + '…'.len_utf8(), "{}", cert.subject.as_str().len());
    assert!(cert.subject.as_str().ends_with('…'));
}

#[test]
fn calendar_dates_round_trip() {
    for days in (-800_000..800_000).step_by(997) {
        let (y, m, d) = crate::units::civil_from_days(days);
        assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
    }
    assert_eq!(days_from_civil(2020, 1, 1) * 86_400, 1_577_836_800);
}

#[test]
fn every_truncation_of_a_real_chain_is_an_error() {
    let pki = Pki::new();
    for der in [pki.leaf.der(), pki.intermediate.der(), pki.root.der()] {
        assert!(Cert::parse(&der).is_ok());
        for len in 0..der.len() {
            assert!(Cert::parse(&der[..len]).is_err(), "a prefix of {len} of {} bytes parsed", der.len());
        }
    }
}

#[test]
fn hostile_encodings_are_named() {
    // A length far past the end.
    assert_eq!(
        Cert::parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00]).err(),
        Some(CertError::Truncated("Certificate"))
    );
    // BER's indefinite length, and more length bytes than any certificate needs.
    assert_eq!(Cert::parse(&[0x30, 0x80, 0x00, 0x00]).err(), Some(CertError::NotDer("Certificate")));
    assert_eq!(Cert::parse(&[0x30, 0x85, 1, 0, 0, 0, 0]).err(), Some(CertError::NotDer("Certificate")));
    // A long-form length that fits the short form.
    assert_eq!(Cert::parse(&[0x30, 0x81, 0x01, 0x00]).err(), Some(CertError::NotDer("Certificate")));
    // A multi-byte tag, and the wrong tag.
    assert_eq!(Cert::parse(&[0x1f, 0x01, 0x00]).err(), Some(CertError::NotDer("Certificate")));
    assert_eq!(Cert::parse(&[0x31, 0x00]).err(), Some(CertError::Tag { expected: "Certificate", found: 0x31 }));
    // Bytes after the certificate.
    let mut der = Pki::new().leaf.der().to_vec();
    der.push(0);
    assert_eq!(Cert::parse(&der).err(), Some(CertError::Trailing("Certificate")));
}

/// A real leaf certificate, made once for the property tests.
fn sample() -> &'static [u8] {
    static SAMPLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| Pki::new().leaf.der().to_vec())
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Cert::parse(&bytes);
    }

    #[test]
    fn a_mutated_certificate_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut der = sample().to_vec();
        for (at, byte) in edits {
            let i = at.index(der.len());
            der[i] = byte;
        }
        let _ = Cert::parse(&der);
        let _ = Cert::parse(&der[..cut.index(der.len())]);
    }
}
