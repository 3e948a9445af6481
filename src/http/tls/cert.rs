//! Just enough X.509 to report and explain a certificate: serial, issuer, subject, validity, the
//! subjectAltName DNS names and IP addresses, and whether basicConstraints says CA. Signatures, keys and
//! every other extension are left to webpki, which verifies what it reads itself (why this is hand-written,
//! with the measured cost of the crates that would do it: the module doc of [`super`]).
//!
//! Every read is bounds-checked: a truncated certificate, a length past the end, an unexpected tag or a
//! nonsense date is a [`CertError`], never a panic. Strict DER only (definite, minimal lengths; single-byte
//! tags), as webpki requires of the same bytes.

use std::fmt;
use std::net::IpAddr;

const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// id-ce-subjectAltName (2.5.29.17) and id-ce-basicConstraints (2.5.29.19), as encoded.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];

/// Longest name text kept: a hostile certificate must not turn a one-line message into a page.
const MAX_NAME_TEXT: usize = 256;

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("truncated DER in {0}")]
    Truncated(&'static str),
    #[error("expected {expected}, found DER tag {found:#04x}")]
    Tag { expected: &'static str, found: u8 },
    #[error("not strict DER (length or tag form) in {0}")]
    NotDer(&'static str),
    #[error("invalid {0}")]
    Invalid(&'static str),
    #[error("unexpected data after {0}")]
    Trailing(&'static str),
}

/// The fields of a certificate that a monitor reports or explains a failure with, borrowed from its DER.
#[derive(Debug, Clone)]
pub struct Cert<'a> {
    /// The serialNumber INTEGER's content as encoded (two's complement: may start with a zero byte).
    serial: &'a [u8],
    pub issuer: Name<'a>,
    pub subject: Name<'a>,
    /// notBefore and notAfter in Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// subjectAltName dNSName entries, as written (wildcards included).
    pub dns_names: Vec<String>,
    /// subjectAltName iPAddress entries.
    pub ip_addresses: Vec<IpAddr>,
    /// basicConstraints cA is TRUE: a CA certificate, which must not be a server's own.
    pub is_ca: bool,
}

/// A distinguished name: its DER (what chains are matched by, byte for byte, as webpki does) and its
/// RFC 4514 text (`CN=shop.example,O=Acme`: most specific first).
#[derive(Clone, PartialEq, Eq)]
pub struct Name<'a> {
    /// The Name SEQUENCE's content.
    raw: &'a [u8],
    text: String,
}

impl Name<'_> {
    /// The RFC 4514 text (empty for an empty name).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn same_as(&self, other: &Name<'_>) -> bool {
        self.raw == other.raw
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

/// For messages: the text, or a word saying there is none.
impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.text.is_empty() { "(an empty name)" } else { &self.text })
    }
}

impl<'a> Cert<'a> {
    pub fn parse(der: &'a [u8]) -> Result<Cert<'a>, CertError> {
        let mut outer = Reader(der);
        let mut cert = Reader(outer.expect(SEQUENCE, "Certificate")?);
        outer.finish("Certificate")?;
        // signatureAlgorithm and signatureValue follow; webpki checks them, nothing here needs them.
        let mut tbs = Reader(cert.expect(SEQUENCE, "tbsCertificate")?);
        tbs.optional(0xa0)?; // version
        let serial = tbs.expect(INTEGER, "serialNumber")?;
        if serial.is_empty() {
            return Err(CertError::Invalid("serialNumber"));
        }
        tbs.expect(SEQUENCE, "signature")?;
        let issuer = Name::parse(tbs.expect(SEQUENCE, "issuer")?)?;
        let mut validity = Reader(tbs.expect(SEQUENCE, "validity")?);
        let not_before = time(&mut validity)?;
        let not_after = time(&mut validity)?;
        validity.finish("validity")?;
        let subject = Name::parse(tbs.expect(SEQUENCE, "subject")?)?;
        tbs.expect(SEQUENCE, "subjectPublicKeyInfo")?;
        let mut cert = Cert {
            serial,
            issuer,
            subject,
            not_before,
            not_after,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            is_ca: false,
        };
        while !tbs.is_empty() {
            match tbs.any("tbsCertificate")? {
                // issuerUniqueID, subjectUniqueID (primitive or constructed)
                (0x81 | 0x82 | 0xa1 | 0xa2, _) => {}
                (0xa3, value) => {
                    let mut wrapper = Reader(value);
                    cert.extensions(wrapper.expect(SEQUENCE, "extensions")?)?;
                    wrapper.finish("extensions")?;
                }
                (found, _) => return Err(CertError::Tag { expected: "extensions", found }),
            }
        }
        Ok(cert)
    }

    /// Lowercase hex without separators, leading zero bytes stripped: blackbox_exporter's `serialnumber`
    /// (Go's `%x` of `big.Int.Bytes()`).
    pub fn serial_hex(&self) -> String {
        let start = self.serial.iter().position(|&b| b != 0).unwrap_or(self.serial.len());
        hex(&self.serial[start..])
    }

    /// Issuer and subject are the same name: a root or a self-signed certificate.
    pub fn self_issued(&self) -> bool {
        self.issuer.same_as(&self.subject)
    }

    /// The names a host is checked against, for messages: DNS names, then IP addresses.
    pub fn names(&self) -> Vec<String> {
        let ips = self.ip_addresses.iter().map(IpAddr::to_string);
        self.dns_names.iter().cloned().chain(ips).collect()
    }

    fn extensions(&mut self, list: &'a [u8]) -> Result<(), CertError> {
        let mut list = Reader(list);
        while !list.is_empty() {
            let mut ext = Reader(list.expect(SEQUENCE, "Extension")?);
            let id = ext.expect(OID, "extnID")?;
            ext.optional(BOOLEAN)?; // critical
            let value = ext.expect(OCTET_STRING, "extnValue")?;
            ext.finish("Extension")?;
            if id == SUBJECT_ALT_NAME {
                self.subject_alt_name(value)?;
            } else if id == BASIC_CONSTRAINTS {
                self.is_ca = basic_constraints_ca(value)?;
            }
        }
        Ok(())
    }

    fn subject_alt_name(&mut self, value: &[u8]) -> Result<(), CertError> {
        let mut outer = Reader(value);
        let mut names = Reader(outer.expect(SEQUENCE, "subjectAltName")?);
        outer.finish("subjectAltName")?;
        while !names.is_empty() {
            match names.any("GeneralName")? {
                (0x82, dns) => self.dns_names.push(String::from_utf8_lossy(dns).into_owned()),
                (0x87, ip) => self.ip_addresses.push(match <[u8; 4]>::try_from(ip) {
                    Ok(v4) => IpAddr::from(v4),
                    Err(_) => IpAddr::from(<[u8; 16]>::try_from(ip).map_err(|_| CertError::Invalid("iPAddress"))?),
                }),
                _ => {} // email, URI, directory names: not what a host is checked against
            }
        }
        Ok(())
    }
}

/// basicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
fn basic_constraints_ca(value: &[u8]) -> Result<bool, CertError> {
    let mut outer = Reader(value);
    let mut seq = Reader(outer.expect(SEQUENCE, "basicConstraints")?);
    outer.finish("basicConstraints")?;
    match seq.optional(BOOLEAN)? {
        None => Ok(false),
        Some([b]) => Ok(*b != 0),
        Some(_) => Err(CertError::Invalid("basicConstraints cA")),
    }
}

impl<'a> Name<'a> {
    /// Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }; `raw` is the SEQUENCE's content.
    fn parse(raw: &'a [u8]) -> Result<Name<'a>, CertError> {
        let mut rdns = Vec::new();
        let mut seq = Reader(raw);
        while !seq.is_empty() {
            let mut set = Reader(seq.expect(SET, "RelativeDistinguishedName")?);
            let mut parts = Vec::new();
            while !set.is_empty() {
                let mut atv = Reader(set.expect(SEQUENCE, "AttributeTypeAndValue")?);
                let oid = atv.expect(OID, "attribute type")?;
                let value = atv.any_raw("attribute value")?;
                atv.finish("AttributeTypeAndValue")?;
                parts.push(attribute(oid, value)?);
            }
            rdns.push(parts.join("+"));
        }
        rdns.reverse(); // RFC 4514: the last RDN (the most specific) first
        let mut text = rdns.join(",");
        if text.len() > MAX_NAME_TEXT {
            let mut cut = MAX_NAME_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        Ok(Name { raw, text })
    }
}

/// `CN=value`, or `1.2.3.4=#hex` for a type without a short name (RFC 4514 §2.3, §2.4).
fn attribute(oid: &[u8], (tag, value, whole): (u8, &[u8], &[u8])) -> Result<String, CertError> {
    let key = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "SERIALNUMBER",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x11] => "POSTALCODE",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return Ok(format!("{}=#{}", dotted(oid)?, hex(whole))),
    };
    let text: String = match tag {
        // UTF8String, NumericString, PrintableString, IA5String, VisibleString
        0x0c | 0x12 | 0x13 | 0x16 | 0x1a => String::from_utf8_lossy(value).into_owned(),
        // TeletexString: in practice Latin-1
        0x14 => value.iter().map(|&b| char::from(b)).collect(),
        // BMPString (UTF-16BE)
        0x1e => {
            let units = value.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
        }
        // UniversalString (UTF-32BE)
        0x1c => value
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => return Ok(format!("{key}=#{}", hex(whole))),
    };
    Ok(format!("{key}={}", escape(&text)))
}

/// RFC 4514 §2.4 escaping, plus control characters as `\hh` so that a name stays on one line.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '#' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            c if c.is_control() && (c as u32) < 0x100 => out.push_str(&format!("\\{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// An OID's dotted text (`2.5.4.3`).
fn dotted(oid: &[u8]) -> Result<String, CertError> {
    if oid.is_empty() || oid[oid.len() - 1] & 0x80 != 0 {
        return Err(CertError::Invalid("OID"));
    }
    let mut arcs = Vec::new();
    let mut arc: u64 = 0;
    for &b in oid {
        arc = arc.checked_mul(128).ok_or(CertError::Invalid("OID"))? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(arc);
            arc = 0;
        }
    }
    let first = arcs[0];
    let (a, b) = if first < 40 {
        (0, first)
    } else if first < 80 {
        (1, first - 40)
    } else {
        (2, first - 80)
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push_str(&format!(".{arc}"));
    }
    Ok(out)
}

/// Time ::= UTCTime (`YYMMDDHHMMSSZ`, 1950–2049) | GeneralizedTime (`YYYYMMDDHHMMSSZ`), in Unix seconds.
fn time(r: &mut Reader<'_>) -> Result<i64, CertError> {
    let (tag, v) = r.any("validity")?;
    let (year, rest) = match (tag, v.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&v[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&v[..4])?, &v[4..]),
        (UTC_TIME | GENERALIZED_TIME, _) => return Err(CertError::Invalid("time")),
        (found, _) => return Err(CertError::Tag { expected: "UTCTime or GeneralizedTime", found }),
    };
    if rest[10] != b'Z' {
        return Err(CertError::Invalid("time"));
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return Err(CertError::Invalid("time")),
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return Err(CertError::Invalid("time"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn digits(d: &[u8]) -> Result<i64, CertError> {
    d.iter().try_fold(0i64, |n, &b| match b {
        b'0'..=b'9' => Ok(n * 10 + i64::from(b - b'0')),
        _ => Err(CertError::Invalid("time")),
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil; the inverse of
/// [`crate::units::civil_from_days`]).
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// A cursor over DER: each read takes one TLV off the front or fails, never reading past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next TLV: its tag, its content and its whole encoding.
    fn any_raw(&mut self, what: &'static str) -> Result<(u8, &'a [u8], &'a [u8]), CertError> {
        let start = self.0;
        let (&tag, rest) = start.split_first().ok_or(CertError::Truncated(what))?;
        if tag & 0x1f == 0x1f {
            return Err(CertError::NotDer(what)); // multi-byte tags: nothing read here has one
        }
        let (&first, mut rest) = rest.split_first().ok_or(CertError::Truncated(what))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            // 0x80 is BER's indefinite length; more than 4 length bytes is more than any certificate.
            if n == 0 || n > 4 {
                return Err(CertError::NotDer(what));
            }
            let bytes = rest.get(..n).ok_or(CertError::Truncated(what))?;
            rest = &rest[n..];
            if bytes[0] == 0 {
                return Err(CertError::NotDer(what));
            }
            let len = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            if len < 0x80 {
                return Err(CertError::NotDer(what));
            }
            usize::try_from(len).map_err(|_| CertError::Truncated(what))?
        };
        let value = rest.get(..len).ok_or(CertError::Truncated(what))?;
        self.0 = &rest[len..];
        let whole = &start[..start.len() - self.0.len()];
        Ok((tag, value, whole))
    }

    fn any(&mut self, what: &'static str) -> Result<(u8, &'a [u8]), CertError> {
        self.any_raw(what).map(|(tag, value, _)| (tag, value))
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], CertError> {
        match self.any(what)? {
            (t, value) if t == tag => Ok(value),
            (found, _) => Err(CertError::Tag { expected: what, found }),
        }
    }

    /// The next TLV's content if it has `tag`; nothing is consumed otherwise.
    fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, CertError> {
        if self.0.first() == Some(&tag) {
            self.any("optional field").map(|(_, value)| Some(value))
        } else {
            Ok(None)
        }
    }

    fn finish(&self, what: &'static str) -> Result<(), CertError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CertError::Trailing(what))
        }
    }
}
