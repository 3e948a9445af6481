//! Certificates made with rcgen.

mod parse;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio_rustls::rustls::pki_types::CertificateDer;

/// A certificate and its key.
pub struct Issued {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Issued {
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
}

/// Parameters for `CN=cn,O=Acme` with these subjectAltNames.
pub fn params(cn: &str, sans: &[&str]) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::OrganizationName, "Acme");
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

/// Parameters for a CA certificate named `CN=cn,O=Acme`.
pub fn ca_params(cn: &str) -> CertificateParams {
    let mut p = params(cn, &[]);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    p
}

pub fn self_signed(params: CertificateParams) -> Issued {
    let key = KeyPair::generate().unwrap();
    Issued { cert: params.self_signed(&key).unwrap(), key }
}

pub fn issue(params: CertificateParams, issuer: &Issued) -> Issued {
    let key = KeyPair::generate().unwrap();
    Issued { cert: params.signed_by(&key, &issuer.cert, &issuer.key).unwrap(), key }
}

/// A root, an intermediate under it, and a leaf for `localhost` under that.
pub struct Pki {
    pub root: Issued,
    pub intermediate: Issued,
    pub leaf: Issued,
}

impl Pki {
    pub fn new() -> Pki {
        Pki::with_leaf(params("localhost", &["localhost"]))
    }

    pub fn with_leaf(leaf: CertificateParams) -> Pki {
        let root = self_signed(ca_params("Test Root"));
        let intermediate = issue(ca_params("Test Intermediate"), &root);
        let leaf = issue(leaf, &intermediate);
        Pki { root, intermediate, leaf }
    }
}
