//! One line for a failed handshake: what an on-call engineer reads first, so it says what was wrong with
//! the certificate or the server, with dates and names, and never the URL (it may carry secrets).

use std::error::Error as StdError;
use std::io;

use tokio_rustls::rustls::{self, AlertDescription, CertificateError, InvalidMessage};

use super::verify::Rejected;

/// Host names listed when a certificate is for other hosts; the rest are counted.
const MAX_NAMES: usize = 5;

/// The message for a failed handshake (see [`super`]).
pub fn handshake_message(err: &io::Error) -> String {
    let mut source: Option<&(dyn StdError + 'static)> = err.get_ref().map(|e| e as _);
    while let Some(e) = source {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return describe(tls);
        }
        source = e.source();
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => "the server closed the connection during the TLS handshake".into(),
        io::ErrorKind::ConnectionReset => "the server reset the connection during the TLS handshake".into(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => {
            "the connection was closed during the TLS handshake".into()
        }
        _ => format!("TLS handshake failed: {err}"),
    }
}

const NOT_TLS: &str = "the server did not answer with TLS (is it plain http on this port?)";

fn describe(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => certificate(c),
        E::AlertReceived(a) => alert(*a),
        E::PeerIncompatible(p) => format!("no TLS version or cipher suite in common with the server ({})", snake(p)),
        // The first bytes back were not a TLS record header: HTTP's "HTTP/1.1 400" reads as content type 0x48.
        E::InvalidMessage(
            InvalidMessage::InvalidContentType
            | InvalidMessage::UnknownProtocolVersion
            | InvalidMessage::MessageTooLarge,
        ) => NOT_TLS.into(),
        E::InvalidMessage(m) => format!("the server sent a malformed TLS message ({})", snake(m)),
        E::PeerMisbehaved(p) => format!("the server broke the TLS protocol ({})", snake(p)),
        E::NoCertificatesPresented => "the server presented no certificate".into(),
        other => format!("TLS handshake failed: {other}"),
    }
}

fn alert(a: AlertDescription) -> String {
    let name = match a {
        AlertDescription::Unknown(code) => format!("unknown alert {code}"),
        _ => snake(&a),
    };
    match a {
        AlertDescription::ProtocolVersion
        | AlertDescription::HandshakeFailure
        | AlertDescription::InsufficientSecurity => {
            format!("no TLS version or cipher suite in common with the server (it answered: {name})")
        }
        AlertDescription::CertificateRequired => {
            format!("the server requires a client certificate (it answered: {name})")
        }
        _ => format!("the server ended the TLS handshake (it answered: {name})"),
    }
}

fn certificate(c: &CertificateError) -> String {
    use CertificateError as C;
    match c {
        C::ExpiredContext { time, not_after } => {
            let (now, not_after) = (secs(time), secs(not_after));
            format!("certificate expired on {} ({})", utc(not_after), ago(now - not_after))
        }
        C::Expired => "certificate expired".into(),
        C::NotValidYetContext { time, not_before } => {
            let (now, not_before) = (secs(time), secs(not_before));
            format!(
                "certificate is not valid yet: it becomes valid on {} ({})",
                utc(not_before),
                ahead(not_before - now)
            )
        }
        C::NotValidYet => "certificate is not valid yet".into(),
        C::NotValidForNameContext { expected, presented } => {
            format!("certificate is not valid for {}: it names {}", expected.to_str(), names(presented))
        }
        C::NotValidForName => "certificate is not valid for this host name".into(),
        C::UnknownIssuer => "unknown issuer: the certificate does not chain to a trusted root".into(),
        C::Revoked => "certificate has been revoked".into(),
        // webpki says this of a certificate not signed by its issuer's key, and of a handshake not signed by
        // the key of the server's certificate.
        C::BadSignature => {
            "signature does not verify: a certificate not signed by its issuer, or a server without the key of \
             its certificate"
                .into()
        }
        C::BadEncoding => "the server sent a malformed certificate".into(),
        C::UnhandledCriticalExtension => "certificate has a critical extension that is not supported".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "certificate is not for TLS servers (its extendedKeyUsage lacks serverAuth)".into()
        }
        C::UnsupportedSignatureAlgorithmContext { .. } | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "certificate is signed with an unsupported algorithm".into()
        }
        C::Other(other) => match other.0.downcast_ref::<Rejected>() {
            Some(ours) => ours.to_string(),
            // webpki's own (its Display is the variant's name, such as `EndEntityUsedAsCa`)
            None => format!("certificate rejected: {other}"),
        },
        other => format!("certificate rejected: {other}"),
    }
}

/// `not-this-host.example, *.x, … and 3 more`
fn names(presented: &[String]) -> String {
    if presented.is_empty() {
        return "no host (the certificate has no subjectAltName)".into();
    }
    let mut out = presented.iter().take(MAX_NAMES).cloned().collect::<Vec<_>>().join(", ");
    if presented.len() > MAX_NAMES {
        out.push_str(&format!(" and {} more", presented.len() - MAX_NAMES));
    }
    out
}

pub(super) fn secs(t: &rustls::pki_types::UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

/// `2020-01-01 00:00:00 UTC`
pub(super) fn utc(unix: i64) -> String {
    let (y, mo, d) = crate::units::civil_from_days(unix.div_euclid(86_400));
    let sod = unix.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC", sod / 3600, sod % 3600 / 60, sod % 60)
}

/// `3 days ago` for a time `secs` in the past.
pub(super) fn ago(secs: i64) -> String {
    match secs / 86_400 {
        0 => "less than a day ago".into(),
        1 => "1 day ago".into(),
        n => format!("{n} days ago"),
    }
}

/// `in 3 days` for a time `secs` ahead.
pub(super) fn ahead(secs: i64) -> String {
    match secs / 86_400 {
        0 => "in less than a day".into(),
        1 => "in 1 day".into(),
        n => format!("in {n} days"),
    }
}

/// `ProtocolVersion` → `protocol_version`, the names TLS alerts have in the RFCs; data in parentheses is
/// dropped (a variant's payload is not for people).
fn snake(value: &dyn std::fmt::Debug) -> String {
    let debug = format!("{value:?}");
    let name = debug.split(['(', ' ', '{']).next().unwrap_or_default();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_spans_read_as_people_write_them() {
        assert_eq!(utc(1_577_836_800), "2020-01-01 00:00:00 UTC");
        assert_eq!(utc(1_577_836_800 - 1), "2019-12-31 23:59:59 UTC");
        assert_eq!(ago(3600), "less than a day ago");
        assert_eq!(ago(86_400 * 2 + 5), "2 days ago");
        assert_eq!(ahead(86_400 + 1), "in 1 day");
    }

    #[test]
    fn alert_names_are_the_rfc_spellings() {
        assert_eq!(snake(&AlertDescription::HandshakeFailure), "handshake_failure");
        assert_eq!(snake(&AlertDescription::ProtocolVersion), "protocol_version");
        assert_eq!(
            alert(AlertDescription::Unknown(200)),
            "the server ended the TLS handshake (it answered: unknown alert 200)"
        );
        assert_eq!(
            alert(AlertDescription::UnrecognisedName),
            "the server ended the TLS handshake (it answered: unrecognised_name)"
        );
    }

    #[test]
    fn a_long_name_list_is_capped() {
        let many: Vec<String> = (0..8).map(|i| format!("h{i}.example")).collect();
        assert_eq!(names(&many), "h0.example, h1.example, h2.example, h3.example, h4.example and 3 more");
        assert_eq!(names(&[]), "no host (the certificate has no subjectAltName)");
    }

    #[test]
    fn plain_io_errors_during_the_handshake_are_named() {
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(handshake_message(&eof), "the server closed the connection during the TLS handshake");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(handshake_message(&reset), "the server reset the connection during the TLS handshake");
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::NoCertificatesPresented);
        assert_eq!(handshake_message(&wrapped), "the server presented no certificate");
    }
}
