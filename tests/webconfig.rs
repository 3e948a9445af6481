//! `--web-config` on the real daemon: HTTPS with a certificate generated at test time, basic auth with a
//! bcrypt hash on every route, plain HTTP refused, and a broken file refused at start with exit 2.

mod daemon_support;

use std::process::Command;

use daemon_support::{tempdir, write_atomic, Daemon};

fn web_setup(name: &str, password: &str) -> (std::path::PathBuf, String) {
    let dir = tempdir(name);
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.join("server.crt"), &cert_pem).unwrap();
    std::fs::write(dir.join("server.key"), cert.key_pair.serialize_pem()).unwrap();
    // Cost 4 keeps the test fast; real files use 10 or more.
    let hash = bcrypt::hash(password, 4).unwrap();
    // Relative paths resolve against the web-config file's directory, as in exporter-toolkit.
    let web = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    );
    std::fs::write(dir.join("web.yml"), web).unwrap();
    std::fs::create_dir_all(dir.join("journeys")).unwrap();
    write_atomic(
        &dir.join("journeys").join("j.yml"),
        "name: j\ntarget: http://127.0.0.1:1\nevery: 1h\ntimeout: 1s\nsteps:\n  - name: one\n    get: /\n",
    );
    (dir, cert_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_protect_every_route() {
    let (dir, cert_pem) = web_setup("webconfig", "s3cret pass");
    let web = dir.join("web.yml");
    let d = Daemon::start(
        "webconfig",
        &[
            "--enable-lifecycle",
            "--enable-admin-api",
            "--web-config",
            web.to_str().unwrap(),
            dir.join("journeys").to_str().unwrap(),
        ],
        &[],
    );
    assert!(d.base.starts_with("https://127.0.0.1:"), "{}", d.base);
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();

    for path in ["/metrics", "/", "/api/v1/journeys", "/api/v1/failures", "/-/healthy", "/-/ready"] {
        let url = d.url(path);
        let anonymous = https.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path} without credentials");
        assert_eq!(anonymous.headers()["www-authenticate"], "Basic");
        assert_eq!(anonymous.headers()["x-frame-options"], "deny", "configured headers on 401 too");
        let wrong = https.get(&url).basic_auth("alice", Some("wrong")).send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{path} with a wrong password");
        let stranger = https.get(&url).basic_auth("mallory", Some("s3cret pass")).send().await.unwrap();
        assert_eq!(stranger.status(), 401, "{path} with an unknown user");
        let right = https.get(&url).basic_auth("alice", Some("s3cret pass")).send().await.unwrap();
        assert_eq!(right.status(), 200, "{path} with the right password");
        assert_eq!(right.headers()["x-frame-options"], "deny", "configured headers on {path}");
    }
    let body = https.get(d.url("/metrics")).basic_auth("alice", Some("s3cret pass")).send().await.unwrap();
    assert!(body.text().await.unwrap().contains("journeyd_build_info"));
    let reload = https.post(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(reload.status(), 401, "reload needs credentials too");
    let reload = https.post(d.url("/-/reload")).basic_auth("alice", Some("s3cret pass")).send().await.unwrap();
    assert_eq!(reload.status(), 200);
    // The admin API behind the same credentials: how the shipped examples enable it.
    let window = serde_json::json!({ "journey": "j", "duration": "5m", "reason": "webconfig test" });
    let open = https.post(d.url("/api/v1/maintenance")).json(&window).send().await.unwrap();
    assert_eq!(open.status(), 401, "the admin API needs credentials too");
    let open = https
        .post(d.url("/api/v1/maintenance"))
        .basic_auth("alice", Some("s3cret pass"))
        .json(&window)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 201);

    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new();
    let r = plain
        .get(d.url("/metrics").replace("https://", "http://"))
        .basic_auth("alice", Some("s3cret pass"))
        .send()
        .await;
    assert!(r.is_err() || !r.unwrap().status().is_success(), "plain HTTP must not be served");
    // A client that does not trust the certificate fails the handshake.
    assert!(reqwest::Client::new().get(d.url("/-/healthy")).send().await.is_err());

    // The TLS listener shuts down cleanly too (idle keep-alive connections of `https` included).
    let mut d = d;
    d.signal("TERM");
    let status = tokio::task::block_in_place(|| d.wait_exit());
    assert_eq!(status.code(), Some(0), "{}", d.log_text());
}

#[test]
fn a_broken_web_config_stops_the_daemon_at_start_with_exit_2() {
    let (dir, _) = web_setup("webconfig-bad", "pw");
    let journeys = dir.join("journeys");
    let cases = [
        ("unknown.yml", "basic_auth_user:\n  alice: x\n", "unknown.yml:1:"),
        ("plain.yml", "basic_auth_users:\n  alice: hunter2\n", "basic_auth_users.alice: not a bcrypt hash"),
        ("nocert.yml", "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n", "missing.crt"),
    ];
    for (file, text, expected) in cases {
        std::fs::write(dir.join(file), text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_journeyd"))
            .args(["run", "--listen", "127.0.0.1:0", "--web-config"])
            .arg(dir.join(file))
            .arg(&journeys)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{file}: expected {expected:?} in:\n{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_a_changed_web_config_and_rejects_a_broken_one() {
    let (dir, cert_pem) = web_setup("webconfig-reload", "first pass");
    let web = dir.join("web.yml");
    let d = Daemon::start(
        "webconfig-reload",
        &[
            "--enable-lifecycle",
            "--enable-admin-api",
            "--web-config",
            web.to_str().unwrap(),
            dir.join("journeys").to_str().unwrap(),
        ],
        &[],
    );
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let status = |user: &'static str, password: &'static str| {
        let (https, url) = (https.clone(), d.url("/metrics"));
        async move { https.get(url).basic_auth(user, Some(password)).send().await.unwrap().status().as_u16() }
    };
    let reload = |user: &'static str, password: &'static str| {
        let (https, url) = (https.clone(), d.url("/-/reload"));
        async move { https.post(url).basic_auth(user, Some(password)).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("alice", "first pass").await, 200);

    // Rotate: bob replaces alice (same certificate files).
    let hash = bcrypt::hash("second pass", 4).unwrap();
    let rotated = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  bob: {hash}\n"
    );
    write_atomic(&web, &rotated);
    assert_eq!(reload("alice", "first pass").await, 200);
    assert_eq!(status("alice", "first pass").await, 401, "the old user is gone after the reload");
    assert_eq!(status("bob", "second pass").await, 200, "the new user works without a restart");

    // A broken file is rejected and the running configuration keeps going.
    write_atomic(&web, "basic_auth_users:\n  bob: not-a-hash\n");
    assert_ne!(reload("bob", "second pass").await, 200);
    assert_eq!(status("bob", "second pass").await, 200);
    let metrics = https.get(d.url("/metrics")).basic_auth("bob", Some("second pass")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(text.contains("journeyd_config_last_reload_successful 0"), "a rejected reload is visible");
    // So is a switch from https to plain http, which would invalidate every scrape URL.
    write_atomic(&web, &format!("basic_auth_users:\n  bob: {hash}\n"));
    assert_ne!(reload("bob", "second pass").await, 200);
    assert!(d.log_text().contains("needs a restart"), "{}", d.log_text());
    assert_eq!(status("bob", "second pass").await, 200, "still https, still bob");
}
