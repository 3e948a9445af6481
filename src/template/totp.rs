//! Time-based one-time passwords (RFC 6238) for `{{ totp(secrets.seed) }}`: a journey that logs in with 2FA
//! computes the code an authenticator app would show.
//!
//! The seed is base32 (RFC 4648), as authenticator apps show it: case, spaces and `=` padding are ignored.
//! The code is a pure function of the key, the parameters and the Unix time ([`code_at`]), so tests pass
//! the RFC's times instead of waiting for them; rendering passes the wall clock.

use ring::hmac;

/// The HMAC a code is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// The RFC's default and what nearly every authenticator app uses.
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// `sha1`, `sha256` or `sha512`, any case (`SHA-256` too, as otpauth URIs write it).
    pub fn parse(text: &str) -> Option<Algorithm> {
        match text.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            // SHA-1 is what RFC 6238 and the apps use; as an HMAC it is not broken.
            Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// How codes are made: `totp(seed, digits=8, algorithm="sha256", period="30s")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub algorithm: Algorithm,
    /// 6 to 8 ([`DIGITS`]).
    pub digits: u32,
    /// Seconds a code is valid for (the RFC's time step X), at least 1.
    pub period_secs: u64,
}

/// The digit counts RFC 4226 allows a code to have (6 to 8; 10 digits would exceed the 31-bit value).
pub const DIGITS: std::ops::RangeInclusive<u32> = 6..=8;

impl Default for Params {
    fn default() -> Params {
        Params { algorithm: Algorithm::Sha1, digits: 6, period_secs: 30 }
    }
}

/// Why a seed is not base32. Never carries the seed's characters: a seed from a secret is printed nowhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("the seed is empty")]
    Empty,
    /// `position` counts characters from 1, as written (spaces included).
    #[error("the seed is not base32: character {position} is not one of A–Z and 2–7")]
    Char { position: usize },
    #[error("the seed is not base32: {letters} letters do not make whole bytes (a seed is usually 16 or 32)")]
    Length { letters: usize },
}

/// Decodes a base32 seed (RFC 4648 alphabet), ignoring case, whitespace and `=` padding.
pub fn decode_base32(text: &str) -> Result<Vec<u8>, SeedError> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits, mut letters) = (0u32, 0u32, 0usize);
    for (i, c) in text.chars().enumerate() {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            c if c.is_whitespace() || c == '=' => continue,
            _ => return Err(SeedError::Char { position: i + 1 }),
        };
        letters += 1;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if letters == 0 {
        return Err(SeedError::Empty);
    }
    // Lengths whose last letter holds no whole byte's worth of new bits are not an encoding of anything.
    if matches!(letters % 8, 1 | 3 | 6) {
        return Err(SeedError::Length { letters });
    }
    Ok(out)
}

/// The code for `key` at `unix_secs`: HMAC of the time step, dynamic truncation (RFC 4226 §5.3), zero-padded
/// to `digits`.
pub fn code_at(key: &[u8], params: &Params, unix_secs: u64) -> String {
    let step = unix_secs / params.period_secs.max(1);
    let tag = hmac::sign(&hmac::Key::new(params.algorithm.hmac(), key), &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([mac[offset], mac[offset + 1], mac[offset + 2], mac[offset + 3]]) & 0x7fff_ffff;
    let digits = params.digits.clamp(*DIGITS.start(), *DIGITS.end());
    format!("{:0width$}", word % 10u32.pow(digits), width = digits as usize)
}

/// The code for `key` now.
pub fn code_now(key: &[u8], params: &Params) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    code_at(key, params, now.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 base32 with padding, written out here so the decoder is tested against an independent encoder.
    fn encode_base32(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::new();
        for chunk in bytes.chunks(5) {
            let mut block = [0u8; 5];
            block[..chunk.len()].copy_from_slice(chunk);
            let n = u64::from_be_bytes([0, 0, 0, block[0], block[1], block[2], block[3], block[4]]);
            let letters = (chunk.len() * 8).div_ceil(5);
            for i in 0..8 {
                if i < letters {
                    out.push(ALPHABET[((n >> (35 - 5 * i)) & 31) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// RFC 6238 appendix B: the seeds are ASCII digits, 20, 32 and 64 bytes long; 8-digit codes.
    #[test]
    fn rfc_6238_appendix_b_vectors() {
        let table: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        let seeds = [
            (Algorithm::Sha1, "12345678901234567890".to_string()),
            (Algorithm::Sha256, "12345678901234567890123456789012".to_string()),
            (Algorithm::Sha512, "1234567890".repeat(6) + "1234"),
        ];
        for (time, sha1, sha256, sha512) in table {
            for ((algorithm, seed), expected) in seeds.iter().zip([sha1, sha256, sha512]) {
                // Through base32, lower case and spaced, as a person would paste it.
                let written = encode_base32(seed.as_bytes()).to_lowercase();
                let spaced: String = written
                    .chars()
                    .enumerate()
                    .flat_map(|(i, c)| (i > 0 && i % 4 == 0).then_some(' ').into_iter().chain([c]))
                    .collect();
                let key = decode_base32(&spaced).unwrap();
                assert_eq!(key, seed.as_bytes(), "{spaced}");
                let params = Params { algorithm: *algorithm, digits: 8, period_secs: 30 };
                assert_eq!(code_at(&key, &params, time), expected, "{algorithm:?} at {time}");
            }
        }
    }

    #[test]
    fn six_digits_are_the_last_six_and_the_period_selects_the_step() {
        let key = b"12345678901234567890";
        assert_eq!(code_at(key, &Params::default(), 59), "287082");
        // A 60 s period at 118 s is step 1, the same step as 59 s with 30 s.
        let minute = Params { period_secs: 60, ..Params::default() };
        assert_eq!(code_at(key, &minute, 118), "287082");
        let seven = Params { digits: 7, ..Params::default() };
        assert_eq!(code_at(key, &seven, 1111111109), "7081804");
    }

    #[test]
    fn seeds_that_are_not_base32_say_where_without_showing_it() {
        assert_eq!(decode_base32("JBSW Y3DP EHPK 3PXP"), Ok(b"Hello!\xde\xad\xbe\xef".to_vec()));
        assert_eq!(decode_base32("jbswy3dp======"), Ok(b"Hello".to_vec()));
        assert_eq!(decode_base32("JBSW1"), Err(SeedError::Char { position: 5 }));
        assert_eq!(decode_base32("  = "), Err(SeedError::Empty));
        assert_eq!(decode_base32("JBS"), Err(SeedError::Length { letters: 3 }));
        // The message says where, never what: a seed from a secret must not show a character of itself.
        let message = decode_base32("hunter8").unwrap_err().to_string();
        assert!(message.contains("character 7") && !message.contains('8'), "{message}");
        assert_eq!(Algorithm::parse("SHA-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("md5"), None);
    }
}
