//! The two certificate verifiers: [`Explaining`], rustls's WebPKI verifier with errors a person can act on,
//! and [`AcceptAny`] for `tls_skip_verify`, which still checks the handshake signatures.

use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, SignatureScheme,
};

use super::cert::Cert;
use super::message::{ago, ahead, secs, utc};
use super::recent::Verified;

/// The hint for a certificate whose issuer is not trusted: how a journey trusts a private CA.
const ADD_CA: &str = "add it with `defaults: { tls_ca: FILE }`";

/// A rejection the stock errors cannot say well; carried in `CertificateError::Other`.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("unknown issuer: the certificate for {host} is self-signed ({subject}) and not trusted ({ADD_CA})")]
    SelfSigned { host: String, subject: String },
    #[error(
        "unknown issuer: the certificate for {host} was issued by {issuer}, which the server did not send \
         and no trusted root is: an incomplete chain, or a private CA ({ADD_CA})"
    )]
    IssuerNotSent { host: String, issuer: String },
    /// The server sent a chain up to `root` (or to a certificate issued by it), and `root` is not trusted.
    #[error("unknown issuer: the certificate for {host} was issued by {issuer}{}, which is not a trusted root ({ADD_CA})",
        root.as_ref().map(|r| format!(" under {r}")).unwrap_or_default())]
    UntrustedRoot { host: String, issuer: String, root: Option<String> },
    #[error("the certificate for {host} is a CA certificate ({subject}), not a server certificate")]
    CaAsLeaf { host: String, subject: String },
    #[error("the intermediate certificate {subject} expired on {} ({})", utc(*not_after), ago(now - not_after))]
    IntermediateExpired { subject: String, not_after: i64, now: i64 },
    #[error("the intermediate certificate {subject} is not valid yet: it becomes valid on {} ({})",
        utc(*not_before), ahead(not_before - now))]
    IntermediateNotValidYet { subject: String, not_before: i64, now: i64 },
}

/// rustls's WebPKI verifier, unchanged in what it accepts; its failures are rewritten where the chain says
/// more than the stock error (see [`explain`]). A chain it accepted is accepted again without the work
/// while every certificate in it is still valid (see [`super::recent`]), as browsers keep verification
/// results: the handshake's own signature is checked every time all the same.
#[derive(Debug)]
pub struct Explaining {
    inner: Arc<WebPkiServerVerifier>,
    /// Chains `inner` accepted, for this verifier's roots only.
    verified: Verified,
}

impl Explaining {
    pub fn new(inner: Arc<WebPkiServerVerifier>) -> Explaining {
        Explaining { inner, verified: Verified::default() }
    }

    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.verified.len()
    }
}

impl ServerCertVerifier for Explaining {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let key = Verified::key(end_entity, intermediates, server_name, ocsp_response);
        if self.verified.accepted(&key, now) {
            return Ok(ServerCertVerified::assertion());
        }
        let verified = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| explain(e, end_entity, intermediates, server_name))?;
        self.verified.remember(key, end_entity, intermediates);
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// Accepts any certificate (`tls_skip_verify: true`), but still checks that the server holds the key of the
/// certificate it presented, so the handshake is a real one and [`super::seen`] reads a real chain.
#[derive(Debug)]
pub struct AcceptAny {
    provider: Arc<CryptoProvider>,
}

impl AcceptAny {
    pub fn new(provider: Arc<CryptoProvider>) -> AcceptAny {
        AcceptAny { provider }
    }
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Rewrites a verification failure where the presented chain says more: who issued an untrusted leaf and
/// whether the chain looks incomplete, which certificate of the chain expired, the names a wrong-host
/// certificate does carry (as plain text), a CA certificate served as a leaf. Anything else, or a leaf this
/// reader cannot parse, keeps rustls's error.
fn explain(
    err: Error,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    name: &ServerName,
) -> Error {
    let Error::InvalidCertificate(cause) = &err else { return err };
    let Ok(leaf) = Cert::parse(end_entity) else { return err };
    let chain: Vec<Cert<'_>> = intermediates.iter().filter_map(|c| Cert::parse(c).ok()).collect();
    let host = name.to_str().into_owned();
    match cause {
        CertificateError::UnknownIssuer => other(unknown_issuer(host, &leaf, &chain)),
        CertificateError::NotValidForNameContext { expected, .. } => {
            CertificateError::NotValidForNameContext { expected: expected.clone(), presented: leaf.names() }.into()
        }
        CertificateError::ExpiredContext { time, not_after } => {
            let (now, not_after) = (secs(time), secs(not_after));
            match chain.iter().find(|c| c.not_after == not_after && leaf.not_after != not_after) {
                Some(c) => other(Rejected::IntermediateExpired { subject: c.subject.to_string(), not_after, now }),
                None => err,
            }
        }
        CertificateError::NotValidYetContext { time, not_before } => {
            let (now, not_before) = (secs(time), secs(not_before));
            match chain.iter().find(|c| c.not_before == not_before && leaf.not_before != not_before) {
                Some(c) => other(Rejected::IntermediateNotValidYet { subject: c.subject.to_string(), not_before, now }),
                None => err,
            }
        }
        // webpki's CaUsedAsEndEntity has no variant of its own in rustls; the leaf's basicConstraints says it.
        CertificateError::Other(_) if leaf.is_ca => {
            other(Rejected::CaAsLeaf { host, subject: leaf.subject.to_string() })
        }
        _ => err,
    }
}

/// Follows the chain the server sent up from the leaf, by name, to where it stops: at a self-signed
/// certificate (a root nobody trusts) or at one whose issuer was not sent.
fn unknown_issuer(host: String, leaf: &Cert<'_>, chain: &[Cert<'_>]) -> Rejected {
    let mut top = leaf;
    // At most one step per certificate sent: a loop of names (A issued by B, B by A) cannot spin.
    for _ in 0..chain.len() {
        if top.self_issued() {
            break;
        }
        match chain.iter().find(|c| c.subject.same_as(&top.issuer)) {
            Some(issuer) => top = issuer,
            None => break,
        }
    }
    let issuer = leaf.issuer.to_string();
    if std::ptr::eq(top, leaf) {
        return if leaf.self_issued() {
            Rejected::SelfSigned { host, subject: leaf.subject.to_string() }
        } else {
            Rejected::IssuerNotSent { host, issuer }
        };
    }
    // The server sent the leaf's issuer: the chain ends at a root it sent, or at the issuer of the last one.
    let root = if top.self_issued() { &top.subject } else { &top.issuer };
    let root = (!root.same_as(&leaf.issuer)).then(|| root.to_string());
    Rejected::UntrustedRoot { host, issuer, root }
}

fn other(rejected: Rejected) -> Error {
    CertificateError::Other(OtherError(Arc::new(rejected))).into()
}
