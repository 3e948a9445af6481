//! `cert_expiry` thresholds through the real `journeyd verify` and `journeyd check` binaries. The demo shop
//! speaks plain http, so no certificate is ever seen: the gate must fail saying so, never pass on nothing.
//! (With journeyd's own https client, the same run against an https target fills `earliest_cert`; that
//! path is covered at the report level in tests/report_certs.rs.)

use std::path::Path;
use std::process::Command;

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
    let dir = std::env::temp_dir().join(format!("journeyd-verify-certs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
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
