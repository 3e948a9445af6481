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
    /// The journey's secrets and their wire forms, longest first, so a secret that contains another is
    /// masked whole.
    needles: Vec<String>,
    /// A virtual user's secret captures (session tokens) with their wire forms: this iteration's and the
    /// previous one's, the only ones its requests or a server's echo can still carry. A fresh token per
    /// iteration must not grow the list: it once held every token a user ever saw, and checking each new
    /// one against all of them was 6% of a load run's CPU (and a leak).
    captured: Vec<String>,
    /// How many entries at the front of `captured` came from the previous iteration.
    previous: usize,
}

/// `secret` and the forms it takes on the wire: percent-encoded and JSON-escaped.
fn wire_forms(secret: &str) -> impl Iterator<Item = String> {
    let mut encoded = String::new();
    crate::template::url_encode_into(secret, &mut encoded);
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json_inner = json.trim_matches('"').to_string();
    let encoded = (encoded != secret).then_some(encoded);
    let json_inner = (json_inner != secret).then_some(json_inner);
    std::iter::once(secret.to_string()).chain(encoded).chain(json_inner)
}

impl Redactor {
    pub fn new<I, S>(secrets: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut r = Redactor::default();
        for s in secrets {
            let s = s.as_ref();
            if s.len() >= MIN_SECRET_LEN && !r.needles.iter().any(|n| n == s) {
                r.needles.extend(wire_forms(s));
            }
        }
        r.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        r
    }

    /// Adds a value captured as secret (e.g. a session token) for this iteration and the next.
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN || self.all().any(|n| n == secret) {
            return;
        }
        self.captured.extend(wire_forms(secret));
    }

    /// A new iteration: the one before last's captures are forgotten, the last one's are still masked.
    pub fn next_iteration(&mut self) {
        self.captured.drain(..self.previous);
        self.previous = self.captured.len();
    }

    fn all(&self) -> impl Iterator<Item = &String> {
        self.needles.iter().chain(&self.captured)
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty() && self.captured.is_empty()
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.all().any(|n| text.contains(n.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut needles: Vec<&String> = self.all().collect();
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        let mut out = text.to_string();
        for n in needles {
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
    fn captured_secrets_are_kept_for_two_iterations_only() {
        let mut r = Redactor::new(["static-secret"]);
        r.add("token-1");
        assert_eq!(r.redact("a token-1 b"), "a [REDACTED] b");
        r.next_iteration();
        r.add("token-2");
        // The previous iteration's token may still be echoed back: still masked.
        assert_eq!(r.redact("token-1 token-2"), "[REDACTED] [REDACTED]");
        r.next_iteration();
        r.next_iteration();
        assert_eq!(r.redact("token-1 token-2 static-secret"), "token-1 token-2 [REDACTED]");
        for i in 0..1000 {
            r.add(&format!("token-{i:04}"));
            r.next_iteration();
        }
        assert!(r.captured.len() <= 1, "captures must not accumulate: {}", r.captured.len());
    }

    #[test]
    fn a_capture_containing_a_static_secret_is_masked_whole() {
        let mut r = Redactor::new(["abc"]);
        r.add("xxabcxx");
        assert_eq!(r.redact("1 xxabcxx 2 abc"), "1 [REDACTED] 2 [REDACTED]");
    }

    #[test]
    fn longer_secret_wins() {
        let r = Redactor::new(["abc", "abcdef"]);
        assert_eq!(r.redact("xabcdefx"), "x[REDACTED]x");
    }
}
