//! `totp(…)`, `base64(…)` and `~` in real requests: what a server in-process on port 0 received (a Basic
//! header of two secrets, TOTP codes that validate with the same seed server-side), that both are masked in
//! evidence, and that a secret seed that is not base32 fails the step with a message, not a panic.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{describe, journey, run_once, serve};
use journeyd::outcome::Reason;
use journeyd::template::totp::{code_at, decode_base32, Algorithm, Params};

const SEED: &str = "JBSW Y3DP EHPK 3PXP";
const USER: &str = "ada@shop.test";
const PASSWORD: &str = "pw-7c1e:with colon";

const JOURNEY: &str = r#"
name: twofa
target: "{{ env.T }}"
secrets:
  user: { env: U }
  password: { env: P }
  seed: { env: SEED }
steps:
  - name: login
    post: /login
    headers:
      Authorization: "Basic {{ base64(secrets.user ~ ':' ~ secrets.password) }}"
      X-Otp: "{{ totp(secrets.seed) }}"
    json:
      otp8: "{{ totp(secrets.seed, digits=8, algorithm='sha256') }}"
      otp60: "{{ totp(secrets.seed, period=60) }}"
    expect:
      - status == 200
      - { check: 'json.headers.x-otp == "not-it"', soft: true }
      - 'json.headers.authorization == "not-it"'
"#;

/// An echo at `/login` that also keeps what it got: headers and body.
fn app(seen: Arc<Mutex<Vec<(HeaderMap, String)>>>) -> Router {
    Router::new().route(
        "/login",
        post(move |headers: HeaderMap, body: String| {
            let seen = Arc::clone(&seen);
            async move {
                let json = serde_json::json!({
                    "headers": {
                        "authorization": headers.get("authorization").and_then(|v| v.to_str().ok()),
                        "x-otp": headers.get("x-otp").and_then(|v| v.to_str().ok()),
                    },
                    "body": body,
                });
                seen.lock().unwrap().push((headers, body));
                axum::Json(json)
            }
        }),
    )
}

/// True when `code` is the code for `seed` in the step before, at or after now (the server's leeway).
fn validates(code: &str, params: &Params) -> bool {
    let key = decode_base32(SEED).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let p = params.period_secs;
    [now - p, now, now + p].iter().any(|t| code_at(&key, params, *t) == code)
}

#[tokio::test]
async fn basic_of_two_secrets_and_totp_codes_are_sent_and_masked_in_evidence() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let t = serve(app(Arc::clone(&seen))).await;
    let j = journey(JOURNEY, &[("T", &t), ("U", USER), ("P", PASSWORD), ("SEED", SEED)]);
    let o = run_once(&j).await;

    let (headers, body) = seen.lock().unwrap().pop().expect("the login was sent");
    let basic = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
    assert_eq!(headers["authorization"], basic.as_str());
    let otp = headers["x-otp"].to_str().unwrap().to_string();
    assert!(otp.len() == 6 && otp.bytes().all(|b| b.is_ascii_digit()), "{otp}");
    assert!(validates(&otp, &Params::default()), "{otp} is not a code for the seed");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let otp8 = body["otp8"].as_str().unwrap();
    assert_eq!(otp8.len(), 8);
    assert!(validates(otp8, &Params { algorithm: Algorithm::Sha256, digits: 8, period_secs: 30 }), "{otp8}");
    assert!(validates(body["otp60"].as_str().unwrap(), &Params { period_secs: 60, ..Params::default() }));

    // The server echoed both credentials back; the evidence shows where they were, not what.
    let f = o.failure().unwrap_or_else(|| panic!("the last check fails: {}", describe(&o)));
    assert_eq!(f.actual.as_deref(), Some(r#""Basic [REDACTED]""#), "{f:?}");
    assert_eq!(o.soft_failures[0].actual.as_deref(), Some(r#""[REDACTED]""#), "{:?}", o.soft_failures);
    let evidence = format!("{o:?}");
    let token = STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for leaked in [token.as_str(), &otp, otp8, PASSWORD] {
        assert!(!evidence.contains(leaked), "evidence shows {leaked}: {evidence}");
    }
}

#[tokio::test]
async fn a_secret_seed_that_is_not_base32_fails_the_step_before_sending() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let t = serve(app(Arc::clone(&seen))).await;
    let bad = "hunter1-not-base32";
    let j = journey(JOURNEY, &[("T", &t), ("U", USER), ("P", PASSWORD), ("SEED", bad)]);
    let o = run_once(&j).await;
    let f = o.failure().unwrap_or_else(|| panic!("{}", describe(&o)));
    assert_eq!(f.reason, Reason::Check);
    assert_eq!(
        f.message,
        "the request could not be rendered: totp(secrets.seed): the seed is not base32: character 7 is not one of \
         A–Z and 2–7"
    );
    assert!(!format!("{o:?}").contains("hunter"), "{o:?}");
    assert!(seen.lock().unwrap().is_empty(), "nothing is sent without its code");
}
