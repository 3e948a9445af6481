//! Redaction of secret values from anything a person or machine might read.
//!
//! Secrets are known values (from `secrets:` and from captures marked `secret`), so redaction is a plain
//! substring replacement. Every path that turns response or request data into text — failure evidence, log
//! lines, alert annotations, reports, `check` output — goes through a `Redactor`.

use std::borrow::Cow;

/// What a redacted value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Secret values shorter than this are not redacted: masking every "a" or "1" would destroy evidence and
/// a one- or two-character secret is not protected by redaction anyway. `check` warns about them.
pub const MIN_SECRET_LEN: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    needles: Vec<String>,
}

impl Redactor {
    pub fn new<I, S>(secrets: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s.as_ref());
        }
        r
    }

    /// Adds a value (e.g. a captured session token) to mask.
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN || self.needles.iter().any(|n| n == secret) {
            return;
        }
        self.needles.push(secret.to_string());
        // Also mask the forms a secret takes on the wire: percent-encoded and JSON-escaped.
        let mut encoded = String::new();
        crate::template::url_encode_into(secret, &mut encoded);
        if encoded != secret {
            self.needles.push(encoded);
        }
        let json = serde_json::to_string(secret).unwrap_or_default();
        let json_inner = json.trim_matches('"');
        if json_inner != secret {
            self.needles.push(json_inner.to_string());
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.needles.iter().any(|n| text.contains(n.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), MASK);
            }
        }
        Cow::Owned(out)
    }

    pub fn redact_owned(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_plain_encoded_and_json_forms() {
        let r = Redactor::new(["p@ss word\"x"]);
        assert_eq!(r.redact("pw=p@ss word\"x"), "pw=[REDACTED]");
        assert_eq!(r.redact("pw=p%40ss%20word%22x"), "pw=[REDACTED]");
        assert_eq!(r.redact(r#"{"pw":"p@ss word\"x"}"#), r#"{"pw":"[REDACTED]"}"#);
        assert_eq!(r.redact("nothing here"), "nothing here");
    }

    #[test]
    fn longer_secret_wins() {
        let r = Redactor::new(["abc", "abcdef"]);
        assert_eq!(r.redact("xabcdefx"), "x[REDACTED]x");
    }
}
