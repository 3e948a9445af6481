//! TLS for journeyd's own HTTP/1.1 client. So far: reading the certificates a server presents.
//!
//! Certificates are read by a small DER reader (`cert`, about 450 lines with its guards), not a crate: six
//! fields of already-verified certificates do not justify x509-cert (+8 crates: der, der_derive, spki,
//! const-oid, …; +8 to 13 s of clean debug build on this 2-core machine) or x509-parser (+12 crates: nom,
//! asn1-rs and its two proc-macro crates, num-bigint, …; +14 to 31 s), measured on 2026-12-06. Its tests
//! feed it every truncation of real certificates and random mutations of them.

// Used by the client configurations and verifiers that come next; until then only by the tests.
#[allow(dead_code)]
mod cert;

#[cfg(test)]
mod tests;
