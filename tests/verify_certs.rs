//! `cert_expiry` thresholds through the real `journeyd verify` and `journeyd check` binaries. The demo shop
//! speaks plain http, so no certificate is ever seen: the gate must fail saying so, never pass on nothing.
//! Against an https target (a real TLS server in this process, a certificate from a private CA made at test
//! time) the gate reads the certificate the handshakes presented.

use std::path::Path;
use std::process::Command;

mod common;

use common::tls::{Ca, TlsServer};
use journeyd::report::Report;
use journeyd::shop::{self, ShopOptions};

/// `journeyd ARGS`, off the runtime so the in-process shop keeps serving: (exit code, stdout, stderr).
async fn journeyd(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_journeyd"))
            .args(&args)
            .env_remove("SHOP_URL")
            .env("NO_COLOR", "1")
            .env("JOURNEYD_LOG", "warn")
            .output()
            .expect("run journeyd");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    })
    .await
    .unwrap()
}

fn tmp(name: &str) -> std::path::PathBuf {
    common::tempdir::tempfile(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cert_expiry_gate_on_a_plain_http_site_fails_and_says_why() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let journeys = Path::new(env!("CARGO_MANIFEST_DIR")).join("journeys").join("price-view.yml");
    let report = tmp("r.json");
    let args = [
        journeys.display().to_string(),
        "--target".into(),
        shop.url(),
        "--iterations".into(),
        "2".into(),
        "--no-progress".into(),
        "--threshold".into(),
        "price-view: cert_expiry > 14d".into(),
        "--report".into(),
        report.display().to_string(),
    ];
    let (code, stdout, stderr) = journeyd(["verify".to_string()].into_iter().chain(args).collect()).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout
            .contains("FAIL  price-view: cert_expiry > 14d  — actual no TLS certificate seen: no new https connection"),
        "{stdout}"
    );
    let r = Report::read(&report).unwrap();
    assert!(r.journeys["price-view"].earliest_cert.is_none());
    assert!(!std::fs::read_to_string(&report).unwrap().contains("earliest_cert"));
}

#[tokio::test]
async fn a_bad_cert_expiry_threshold_is_a_usage_error_with_a_hint() {
    let journeys = Path::new(env!("CARGO_MANIFEST_DIR")).join("journeys").join("price-view.yml");
    let path = journeys.display().to_string();
    let args = ["verify", &path, "--target", "http://127.0.0.1:9", "--threshold", "cert_expiry > 14"];
    let (code, _, stderr) = journeyd(args.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid threshold `cert_expiry > 14`: time left `14` has no unit"), "{stderr}");
    assert!(stderr.contains("hint: add one: 14d (days) or 14h"), "{stderr}");

    // In a journey file, `journeyd check` points at it.
    let file = tmp("gate.yml");
    std::fs::write(
        &file,
        "name: gate\ntarget: https://shop.example\nthresholds: [ \"cert_expiry > 2 weeks\" ]\nsteps:\n  - name: home\n    get: /\n",
    )
    .unwrap();
    let (code, stdout, stderr) = journeyd(vec!["check".into(), file.display().to_string()]).await;
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    let out = format!("{stdout}{stderr}");
    assert!(out.contains("gate.yml:3:30: error: unknown unit ` weeks` in duration `2 weeks`"), "{out}");
}

/// The civil date `days` days from now (UTC): the certificate's expiry, in rcgen's terms.
fn days_from_now(days: i64) -> (i32, u8, u8) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    // Howard Hinnant's days-to-civil.
    let z = now / 86_400 + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((yoe + era * 400 + i64::from(m <= 2)) as i32, m, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cert_expiry_gate_reads_the_certificate_an_https_site_presents() {
    let ca = Ca::new("Verify Test CA");
    let (y, m, d) = days_from_now(10);
    let server = TlsServer::start(&ca.leaf_until("localhost", y, m, d, 0x5eed)).await;
    let journey = tmp("https.yml");
    let ca_file = ca.file("verify");
    std::fs::write(
        &journey,
        format!(
            "name: secure\ntarget: {}\ndefaults: {{ tls_ca: \"{}\" }}\nsteps:\n  - name: home\n    get: /\n    \
             expect: [ status == 200 ]\n",
            server.url(),
            ca_file.display()
        ),
    )
    .unwrap();
    let run = |threshold: &str, report: &Path| {
        let args = [
            "verify",
            journey.to_str().unwrap(),
            "--iterations",
            "3",
            "--no-progress",
            "--threshold",
            threshold,
            "--report",
            report.to_str().unwrap(),
        ];
        journeyd(args.iter().map(|a| a.to_string()).collect())
    };
    let report = tmp("ten-days.json");
    let (code, stdout, stderr) = run("secure: cert_expiry > 14d", &report).await;
    assert_eq!(code, 1, "10 days left is under 14: {stdout}\n{stderr}");
    assert!(stdout.contains("FAIL  secure: cert_expiry > 14d"), "{stdout}");
    assert!(stdout.contains("CN=localhost"), "names the certificate: {stdout}");
    let earliest =
        Report::read(&report).unwrap().journeys["secure"].earliest_cert.clone().expect("a certificate was seen");
    let left = earliest.expires_unix
        - std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((9 * 86_400..=10 * 86_400).contains(&left), "expires in {left} s");

    let (code, stdout, stderr) = run("secure: cert_expiry > 5d", &tmp("five-days.json")).await;
    assert_eq!(code, 0, "10 days left is over 5: {stdout}\n{stderr}");
    // Load users keep their connection: 3 iterations, one handshake.
    assert_eq!(server.handshakes(), 2, "one per verify run");
}
