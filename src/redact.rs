//! Redaction of secret values from anything a person or machine might read.
//!
//! Secrets are known values (from `secrets:`, from captures marked `secret`, from a URL's userinfo), so
//! redaction is substring replacement — of every form a value takes on the wire and in output, matched in
//! one pass of one automaton:
//! - plain, and each line (trimmed) of a multi-line value such as a PEM key;
//! - percent-encoded as `{{ }}` query and form fields are (RFC 3986, `%2D`) and as `query:` values are
//!   (`application/x-www-form-urlencoded`: `+` for a space, `%7E`), each with upper- and lowercase hex;
//! - JSON-escaped and Rust-`Debug`-escaped (a quoted `actual` value);
//! - base64 in both alphabets, padded and not, of the value alone and of `user:value` (Basic auth from a
//!   URL's userinfo); and inside any longer base64 stream (a JWT, `user:value` for a user not known here):
//!   a value starting at byte offset 0, 1 or 2 (mod 3) of the stream has a stable inner run of base64
//!   characters for each alignment, which is masked with the one character either side that mixes its bits
//!   with its neighbours'. Values shorter than [`MIN_INNER_B64`] characters of stable run are not looked
//!   for inside streams (too short to tell from chance).
//!
//! Order matters as much as forms: text is redacted whole, before anything cuts, collapses or escapes it —
//! the functions that shorten text ([`Redactor::redact_truncate`], [`truncate`]) never cut inside a mask,
//! and a cut that leaves the start of a secret's form at its end drops it.
//!
//! Cost: the journey's secrets' forms are computed once (`new`); a captured value (`add`) is only stored, and
//! its forms and the automaton are made on the first `redact` after the set changes — only evidence paths
//! redact, and a passing iteration never does (making a session token's forms in `add` was 14% of a 4-step
//! checkout journey's instructions in `verify`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// What a redacted value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Secret values shorter than this are not redacted: masking every "a" or "1" would destroy evidence and
/// a one- or two-character secret is not protected by redaction anyway. `check` warns about them.
pub const MIN_SECRET_LEN: usize = 3;

/// Shortest stable run of a secret's base64 looked for inside a longer base64 stream: shorter runs (secrets
/// under 5 bytes) match unrelated text by chance. Such a secret's own base64 is still masked.
pub const MIN_INNER_B64: usize = 6;

/// Shortest start of a secret's form dropped from the end of cut text: shorter tails are ordinary text.
const MIN_PREFIX: usize = 3;

/// One form of one secret.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Needle {
    text: String,
    /// Base64 characters before and after a match that mix the secret's bits with its neighbours': masked
    /// with it when they are there (the inner run of a secret inside a longer base64 stream).
    widen: (u8, u8),
}

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// The journey's secrets in every form, for the whole run.
    needles: Vec<Needle>,
    /// A virtual user's secret captures (session tokens) and URL credentials, as captured: this iteration's
    /// and the previous one's, the only ones its requests or a server's echo can still carry. A fresh token
    /// per iteration must not grow the list: it once held every token a user ever saw, and checking each
    /// new one against all of them was 6% of a load run's CPU (and a leak).
    captured: Vec<Captured>,
    /// How many entries at the front of `captured` came from the previous iteration.
    previous: usize,
    /// The forms of `captured` and one automaton over `needles` then those forms, made by the first use
    /// after they change: `add` runs per iteration in load tests, `redact` only on evidence paths. Cloned
    /// with the redactor, so every virtual user shares the journey's automaton (an `Arc` inside).
    matcher: OnceLock<Matcher>,
}

/// A captured secret, kept raw until something is redacted.
#[derive(Debug, Clone)]
enum Captured {
    /// A value in all its forms.
    Value(String),
    /// `user:password` as sent in `Authorization: Basic`: plain and its base64 forms.
    Basic(String),
}

impl Captured {
    fn raw(&self) -> &str {
        match self {
            Captured::Value(s) | Captured::Basic(s) => s,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Matcher {
    /// The forms of the captured values, after the journey's needles in the automaton's pattern order.
    forms: Vec<Needle>,
    /// `None`: nothing to mask.
    automaton: Option<AhoCorasick>,
}

/// Adds `form` unless it is too short or already there.
fn push(out: &mut Vec<Needle>, text: String, widen: (u8, u8)) {
    if text.len() >= MIN_SECRET_LEN && !out.iter().any(|n| n.text == text) {
        out.push(Needle { text, widen });
    }
}

/// Percent-escapes with lowercase hex (`%2d`): some clients and servers write it so.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex = 0;
    for c in encoded.chars() {
        if hex > 0 {
            out.push(c.to_ascii_lowercase());
            hex -= 1;
        } else {
            hex = if c == '%' { 2 } else { 0 };
            out.push(c);
        }
    }
    out
}

/// The base64 forms of `bytes`: alone (both alphabets, padded or not).
fn base64_forms(bytes: &[u8], out: &mut Vec<Needle>) {
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        push(out, engine.encode(bytes), (0, 0));
    }
}

/// The stable inner runs of `bytes`' base64 inside a longer stream, at the three alignments. With `p`
/// bytes before it in its 3-byte group, character `j` of the encoding covers bits `6j..6j+6`; those of
/// the secret alone are `8p..8(p+n)`.
fn base64_inner(bytes: &[u8], out: &mut Vec<Needle>) {
    for p in 0..3 {
        let mut buf = vec![0u8; p];
        buf.extend_from_slice(bytes);
        let bits = 8 * buf.len();
        let (start, end) = ((8 * p).div_ceil(6), bits / 6);
        if end < start + MIN_INNER_B64 {
            continue;
        }
        let widen = (u8::from(p > 0), u8::from(bits % 6 != 0));
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            push(out, engine.encode(&buf)[start..end].to_string(), widen);
        }
    }
}

/// `secret` and the forms it takes on the wire and in output (see the module doc).
fn forms(secret: &str, out: &mut Vec<Needle>) {
    push(out, secret.to_string(), (0, 0));
    let mut rfc = String::new();
    crate::template::url_encode_into(secret, &mut rfc);
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    for encoded in [rfc, form] {
        push(out, lower_hex(&encoded), (0, 0));
        push(out, encoded, (0, 0));
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    push(out, json[1..json.len() - 1].to_string(), (0, 0));
    let debug = format!("{secret:?}");
    push(out, debug[1..debug.len() - 1].to_string(), (0, 0));
    base64_forms(secret.as_bytes(), out);
    base64_inner(secret.as_bytes(), out);
    if secret.contains(['\n', '\r']) {
        for line in secret.lines().map(str::trim).filter(|l| l.len() >= MIN_SECRET_LEN) {
            forms(line, out);
        }
    }
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
            if s.len() >= MIN_SECRET_LEN && !r.needles.iter().any(|n| n.text == s) {
                forms(s, &mut r.needles);
            }
        }
        // Built now, so the clones every virtual user takes share it.
        r.built();
        r
    }

    /// Adds a value captured as secret (e.g. a session token) for this iteration and the next.
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN || self.knows(secret) {
            return;
        }
        self.captured.push(Captured::Value(secret.to_string()));
        self.matcher = OnceLock::new();
    }

    /// Adds the credentials of `user:password` as sent in `Authorization: Basic` (the base64 of the pair,
    /// whole) and the password itself, for this iteration and the next. A known user lets the whole token
    /// be masked, not only the password's inner run (which short passwords do not have).
    pub fn add_basic_credentials(&mut self, user: &str, password: &str) {
        self.add(password);
        let pair = format!("{user}:{password}");
        if password.len() < MIN_SECRET_LEN || self.knows(&pair) {
            return;
        }
        self.captured.push(Captured::Basic(pair));
        self.matcher = OnceLock::new();
    }

    /// Adds a URL's userinfo password, as written in the URL and decoded, and the Basic credentials an
    /// HTTP client derives from it; a URL without a password adds nothing. Call it wherever a URL is
    /// rendered for a request, before any evidence of that request is written.
    pub fn add_url_credentials(&mut self, url: &url::Url) {
        let Some(raw) = url.password() else { return };
        let user = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy();
        let password = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        self.add(raw);
        self.add_basic_credentials(&user, &password);
    }

    /// A new iteration: the one before last's captures are forgotten, the last one's are still masked.
    pub fn next_iteration(&mut self) {
        if self.previous > 0 {
            self.captured.drain(..self.previous);
            self.matcher = OnceLock::new();
        }
        self.previous = self.captured.len();
    }

    /// Every form of every secret, in the automaton's pattern order.
    fn all(&self) -> impl Iterator<Item = &Needle> {
        self.needles.iter().chain(&self.built().forms)
    }

    fn knows(&self, secret: &str) -> bool {
        self.needles.iter().any(|n| n.text == secret) || self.captured.iter().any(|c| c.raw() == secret)
    }

    /// The length of the longest form of any secret: how far past a window a match can reach.
    pub fn longest(&self) -> usize {
        self.all().map(|n| n.text.len()).max().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty() && self.captured.is_empty()
    }

    fn built(&self) -> &Matcher {
        self.matcher.get_or_init(|| {
            let mut forms_of_captured = Vec::new();
            for c in &self.captured {
                match c {
                    Captured::Value(v) => forms(v, &mut forms_of_captured),
                    Captured::Basic(pair) => {
                        push(&mut forms_of_captured, pair.clone(), (0, 0));
                        base64_forms(pair.as_bytes(), &mut forms_of_captured);
                    }
                }
            }
            if self.needles.is_empty() && forms_of_captured.is_empty() {
                return Matcher::default();
            }
            let patterns = self.needles.iter().chain(&forms_of_captured).map(|n| n.text.as_str());
            // The NFA: a DFA searches faster but took 200 µs to build for one journey's secrets and a
            // capture, paid again by every failing iteration that captured a token.
            let built = AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns);
            // Only a pattern set past the automaton's size limits fails: thousands of long secrets.
            let automaton = Some(built.expect("the secrets of one journey fit an automaton"));
            Matcher { forms: forms_of_captured, automaton }
        })
    }

    fn needle(&self, pattern: usize) -> &Needle {
        self.needles.get(pattern).unwrap_or_else(|| &self.built().forms[pattern - self.needles.len()])
    }

    /// `text` with every form of every secret masked; borrowed when nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(ac) = &self.built().automaton else { return Cow::Borrowed(text) };
        let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
        let bytes = text.as_bytes();
        let mut out: Option<String> = None;
        let mut last = 0;
        for m in ac.find_iter(text) {
            let (widen_before, widen_after) = self.needle(m.pattern().as_usize()).widen;
            let mut start = m.start();
            if widen_before > 0 && start > last && is_b64(bytes[start - 1]) {
                start -= 1;
            }
            let mut end = m.end();
            if widen_after > 0 && end < bytes.len() && is_b64(bytes[end]) {
                end += 1;
            }
            let s = out.get_or_insert_with(|| String::with_capacity(text.len()));
            // A widened end ran into this match: the mask before it grows over it.
            if start < last {
                last = last.max(end);
                continue;
            }
            s.push_str(&text[last..start]);
            s.push_str(MASK);
            last = end;
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut s) => {
                s.push_str(&text[last..]);
                Cow::Owned(s)
            }
        }
    }

    pub fn redact_owned(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(s) => s,
        }
    }

    /// `text` redacted whole, then cut to at most `max` bytes (`…` marks a cut): the only order in which a
    /// secret across the cut cannot show its first characters.
    pub fn redact_truncate(&self, text: &str, max: usize) -> String {
        self.clip(&self.redact(text), max, false)
    }

    /// Cuts already redacted `text` to at most `max` bytes, never inside a mask. `cut_before`: the text
    /// was cut before it was redacted (a body read to a cap) so its end may hold the start of a secret.
    /// Either cut drops a tail that is the start of a secret's form.
    pub fn clip(&self, text: &str, max: usize, cut_before: bool) -> String {
        let mut end = cut_end(text, max);
        if end < text.len() || cut_before {
            let head = &text[..end];
            let tail = self
                .all()
                .filter_map(|n| {
                    (MIN_PREFIX..n.text.len().min(head.len() + 1))
                        .rev()
                        .find(|&k| n.text.is_char_boundary(k) && head.ends_with(&n.text[..k]))
                })
                .max()
                .unwrap_or(0);
            end -= tail;
        }
        ellipsis(text, end)
    }
}

/// Where to cut `text` to at most `max` bytes: on a char boundary, never inside a mask.
fn cut_end(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // A mask that starts before the cut and ends after it goes whole.
    let mut from = end.saturating_sub(MASK.len() - 1);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    if let Some(i) = text[from..].find(MASK).map(|i| from + i).filter(|&i| i < end && i + MASK.len() > end) {
        end = i;
    }
    end
}

fn ellipsis(text: &str, end: usize) -> String {
    if end >= text.len() {
        return text.to_string();
    }
    let mut out = String::with_capacity(end + 3);
    let _ = write!(out, "{}…", &text[..end]);
    out
}

/// Cuts already redacted `text` to at most `max` bytes (`…` marks a cut), never inside a mask: for
/// display code that has no redactor (the demo's table, a report's one-line summary).
pub fn truncate(text: &str, max: usize) -> String {
    ellipsis(text, cut_end(text, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_near_multi_byte_characters_never_panic() {
        // A body of lossy text (U+FFFD is 3 bytes) cut anywhere: the mask search window must start on a char
        // boundary too (a random 64 KiB body once made it start inside one and panic).
        let r = Redactor::new(["s3cret-value"]);
        let text = "\u{FFFD}é[REDACTED]\u{FFFD}\u{FFFD}ab\u{FFFD}".repeat(40);
        for max in 0..text.len() + 2 {
            let cut = r.clip(&text, max, true);
            assert!(cut.len() <= max.max(text.len()) + "…".len());
            let _ = truncate(&text, max);
        }
    }

    #[test]
    fn masks_plain_encoded_and_json_forms() {
        let r = Redactor::new(["p@ss word\"x"]);
        assert_eq!(r.redact("pw=p@ss word\"x"), "pw=[REDACTED]");
        assert_eq!(r.redact("pw=p%40ss%20word%22x"), "pw=[REDACTED]");
        assert_eq!(r.redact(r#"{"pw":"p@ss word\"x"}"#), r#"{"pw":"[REDACTED]"}"#);
        assert_eq!(r.redact("nothing here"), "nothing here");
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_form_encoding_and_lowercase_hex() {
        let r = Redactor::new(["a b~c/d"]);
        // `query:` values: url::form_urlencoded, as `query_pairs_mut` writes them.
        let mut url = url::Url::parse("http://h/p").unwrap();
        url.query_pairs_mut().append_pair("q", "a b~c/d");
        assert_eq!(url.as_str(), "http://h/p?q=a+b%7Ec%2Fd");
        assert_eq!(r.redact(url.as_str()), "http://h/p?q=[REDACTED]");
        assert_eq!(r.redact("q=a+b%7ec%2fd"), "q=[REDACTED]");
        assert_eq!(r.redact("q=a%20b~c%2fd&"), "q=[REDACTED]&");
    }

    #[test]
    fn masks_debug_escaping() {
        let r = Redactor::new(["tab\tquote\"end"]);
        let quoted = format!("{:?}", "x tab\tquote\"end y");
        assert_eq!(r.redact(&quoted), r#""x [REDACTED] y""#);
    }

    #[test]
    fn masks_base64_alone_in_both_alphabets_padded_or_not() {
        // Chosen so the standard and URL-safe alphabets differ (`+/` against `-_`) and padding is needed.
        let secret = "s3cr?t>>>~";
        let r = Redactor::new([secret]);
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            let b64 = engine.encode(secret);
            assert_eq!(r.redact(&format!("token {b64} end")), "token [REDACTED] end", "{b64}");
        }
    }

    #[test]
    fn masks_base64_inside_a_longer_stream_at_every_alignment() {
        let secret = "CANARY-token-9e0c";
        let r = Redactor::new([secret]);
        for prefix in ["", "u", "us", "use", "user:", "a-much-longer-user:"] {
            for suffix in ["", "x", "xy", "xyz", "@rest-of-it"] {
                let raw = format!("{prefix}{secret}{suffix}");
                for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
                    let b64 = engine.encode(&raw);
                    let out = r.redact(&b64);
                    assert!(out.contains(MASK), "{raw:?} as {b64} not masked: {out}");
                    // Nothing left decodes to a 4-byte run of the secret.
                    for part in out.split(MASK) {
                        let leaked = decoded_runs(part)
                            .iter()
                            .any(|b| b.as_bytes().windows(4).any(|w| secret.as_bytes().windows(4).any(|s| s == w)));
                        assert!(!leaked, "{raw:?} as {b64}: {out}");
                    }
                }
            }
        }
    }

    /// The text each alignment of `part` decodes to (lossy), for checking what is left around a mask.
    fn decoded_runs(part: &str) -> Vec<String> {
        let clean: String = part.chars().filter(|c| c.is_ascii_alphanumeric() || "+/-_".contains(*c)).collect();
        (0..4.min(clean.len()))
            .filter_map(|skip| {
                let s = &clean[skip..];
                let s = &s[..s.len() / 4 * 4];
                let s = s.replace('-', "+").replace('_', "/");
                STANDARD.decode(s).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
            })
            .collect()
    }

    #[test]
    fn basic_credentials_are_masked_whole_even_for_a_short_password() {
        let mut r = Redactor::new(Vec::<String>::new());
        r.add_basic_credentials("alice", "pw1");
        let token = STANDARD.encode("alice:pw1");
        assert_eq!(r.redact(&format!("Authorization: Basic {token}")), "Authorization: Basic [REDACTED]");
        assert_eq!(r.redact("pw1"), MASK);
    }

    #[test]
    fn url_userinfo_passwords_are_masked_as_written_decoded_and_as_basic() {
        let mut r = Redactor::new(Vec::<String>::new());
        let url = url::Url::parse("https://bob:p%40ss!w0rd@example.com/x").unwrap();
        r.add_url_credentials(&url);
        assert_eq!(r.redact(url.as_str()), "https://bob:[REDACTED]@example.com/x");
        assert_eq!(r.redact("echo p@ss!w0rd"), "echo [REDACTED]");
        let basic = format!("Basic {}", STANDARD.encode("bob:p@ss!w0rd"));
        assert_eq!(r.redact(&basic), "Basic [REDACTED]");
        let mut none = Redactor::new(Vec::<String>::new());
        none.add_url_credentials(&url::Url::parse("https://bob@example.com/").unwrap());
        assert!(none.is_empty());
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_masked() {
        let pem = "-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEF\n  AASCAUEwggE9AgEAAkEA0xZ  \n-----END KEY-----\n";
        let r = Redactor::new([pem]);
        assert_eq!(r.redact(&format!("got {pem}")), "got [REDACTED]");
        // A server that re-wraps or re-indents the key, or an excerpt that collapsed the whitespace.
        let echoed = "key: MIIBVwIBADANBgkqhkiG9w0BAQEF AASCAUEwggE9AgEAAkEA0xZ";
        assert_eq!(r.redact(echoed), "key: [REDACTED] [REDACTED]");
        assert_eq!(
            r.redact(r#"{"k":"-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEF"#),
            r#"{"k":"[REDACTED]\n[REDACTED]"#
        );
    }

    #[test]
    fn redact_truncate_redacts_before_it_cuts() {
        let token = "tok-1234567890";
        let r = Redactor::new([token]);
        let text = format!("{}{token} tail", "x".repeat(20));
        for max in 20..40 {
            let out = r.redact_truncate(&text, max);
            assert!(!out.contains("tok-"), "max {max}: {out}");
            assert!(out.len() <= max + '…'.len_utf8(), "max {max}: {out}");
        }
        // Never half a mask.
        assert_eq!(r.redact_truncate(&text, 25), format!("{}…", "x".repeat(20)));
        assert_eq!(r.redact_truncate(&text, 30), format!("{}[REDACTED]…", "x".repeat(20)));
    }

    #[test]
    fn clip_drops_the_start_of_a_secret_left_by_an_earlier_cut() {
        let r = Redactor::new(["tok-1234567890"]);
        // A body read to a cap ended inside the token: the redactor cannot see it, the clip can.
        assert_eq!(r.clip("body tok-12345", 100, true), "body …");
        assert_eq!(r.clip("body tok-12345", 100, false), "body tok-12345");
        assert_eq!(r.clip("body to", 100, true), "body to");
        let encoded = Redactor::new(["a b~c/d-efgh"]);
        assert_eq!(encoded.clip("q=a+b%7Ec", 100, true), "q=…");
    }

    #[test]
    fn truncate_never_cuts_a_mask() {
        let text = "ab [REDACTED] cd";
        for max in 3..13 {
            assert_eq!(truncate(text, max), format!("{}…", &text[..max.min(3)]), "max {max}");
        }
        assert_eq!(truncate(text, 13), "ab [REDACTED]…");
        assert_eq!(truncate(text, 99), text);
        assert_eq!(truncate("héllo", 2), "h…");
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
        let per_token = {
            let mut one = Redactor::new(["static-secret"]);
            one.add("token-0000");
            one.all().count()
        };
        for i in 0..1000 {
            r.add(&format!("token-{i:04}"));
            r.next_iteration();
        }
        let kept = r.all().count();
        assert!(kept <= per_token, "captures must not accumulate: {kept}");
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
