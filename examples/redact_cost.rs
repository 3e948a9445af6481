//! The cost of redaction on the paths that pay it, for docs/reliability.md (not a benchmark: no timing is
//! asserted anywhere).
//!
//! ```text
//! cargo run --release --example redact_cost
//! ```
//!
//! A journey with three secrets and one secret capture per iteration (the checkout journey's shape); the
//! evidence is a request line and a 300-byte JSON excerpt, as a failed step writes them.

use std::hint::black_box;
use std::time::Instant;

use journeyd::redact::Redactor;

fn per_call(name: &str, n: u32, mut f: impl FnMut(u32)) {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    println!("{name:<52} {:>9.0} ns", start.elapsed().as_nanos() as f64 / f64::from(n));
}

fn main() {
    let secrets = ["s3cr3t-db-Passw0rd!", "api-key-6f1d0e9a2b4c8e7f", "hunter2-shop-password"];
    let request = "POST http://shop.internal:8080/api/checkout?session=abc123&cart=42&step=pay";
    let excerpt = r#"{"body":"","headers":{"accept":"*/*","accept-encoding":"gzip","host":"127.0.0.1:44241","traceparent":"00-c7609bf813d7fb4b3acf1d6b6519106d-c40e33a42d7c5c55-01","user-agent":"journeyd/0.1.0 (+synthetic monitoring)"},"method":"GET","path":"/echo/search","query":"q=shoes&page=2"}"#;
    let leaky = excerpt.replace("shoes", "tok-000001-a8f3e2d1c0b9");
    let n = 200_000;

    let base = Redactor::new(secrets);
    per_call("redact, nothing to mask (request + excerpt)", n, |_| {
        black_box(base.redact(black_box(request)));
        black_box(base.redact(black_box(excerpt)));
    });
    let mut r = base.clone();
    r.add("tok-000001-a8f3e2d1c0b9");
    let _ = r.redact("warm");
    per_call("redact, a captured token to mask (request + excerpt)", n, |_| {
        black_box(r.redact(black_box(request)));
        black_box(r.redact(black_box(&leaky)));
    });
    let mut r = base.clone();
    per_call("add + next_iteration (one capture per iteration)", n, |i| {
        r.next_iteration();
        r.add(&format!("tok-{i:06}-a8f3e2d1c0b9"));
    });
    let mut r = base.clone();
    per_call("add + next_iteration + a failure's redact", n / 10, |i| {
        r.next_iteration();
        r.add(&format!("tok-{i:06}-a8f3e2d1c0b9"));
        black_box(r.redact(black_box(request)));
        black_box(r.redact(black_box(&leaky)));
    });
}
