//! Fault matrix, configuration rows: a CSV feeder with fewer rows than users, one broken file among 1,000,
//! a misspelled key deep in a step. `check` lists the problem with its location (exit 2) and `run` refuses
//! to start; two users never share an account.

#[path = "common/tempdir.rs"]
mod tempdir;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tempdir::tempdir;

use journeyd::config::{self, LoadOptions};
use journeyd::http::Clients;
use journeyd::runner::{Plan, VirtualUser};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_journeyd"));
    c.env_remove("JOURNEYD_LOG").env_remove("RUST_LOG");
    c
}

fn feeder(dir: &Path, users: u32, pick: &str) -> PathBuf {
    std::fs::write(dir.join("rows.csv"), "email\na@shop.test\nb@shop.test\n").unwrap();
    let file = dir.join(format!("feeder-{pick}.yml"));
    let text = format!(
        "name: feeder-{pick}\ntarget: http://127.0.0.1:1\nusers: {users}\ndata:\n  accounts: {{ csv: rows.csv, pick: {pick} }}\n\
         steps:\n  - name: one\n    get: \"/{{{{ accounts.email }}}}\"\n"
    );
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_csv_feeder_with_fewer_rows_than_users_is_a_load_time_error() {
    let dir = tempdir("feeder");
    let file = feeder(&dir, 5, "unique");
    let err = config::load(&[file], &LoadOptions::default()).expect_err("2 rows cannot serve 5 users");
    let text = err.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(text.contains("feeder-unique.yml:5:"), "located: {text}");
    assert!(text.contains("has 2 rows") && text.contains("at least 5"), "{text}");
}

#[test]
fn leases_never_hand_one_row_to_two_users() {
    let dir = tempdir("leases");
    let file = feeder(&dir, 2, "unique");
    let loaded = config::load(&[file], &LoadOptions::default()).unwrap();
    let plan = Arc::new(Plan::new(Arc::clone(&loaded.suite.journeys[0]), &Clients::new().unwrap()));
    let a = VirtualUser::new(&plan, 0).unwrap();
    let b = VirtualUser::new(&plan, 1).unwrap();
    assert!(VirtualUser::new(&plan, 2).is_err(), "a third user must be refused, not given a leased row");
    drop(a);
    assert!(VirtualUser::new(&plan, 3).is_ok(), "a released row can be leased again");
    drop(b);
}

/// 1,000 valid journey files and one broken one.
fn thousand_and_one(dir: &Path) {
    for i in 0..1000 {
        let text = format!(
            "name: j{i:04}\ntarget: http://127.0.0.1:1\nevery: 60s\nsteps:\n  - name: home\n    get: /\n    expect: [ status == 200 ]\n"
        );
        std::fs::write(dir.join(format!("j{i:04}.yml")), text).unwrap();
    }
    std::fs::write(
        dir.join("j0500-broken.yml"),
        "name: broken\ntarget: http://127.0.0.1:1\nsteps:\n  - name: home\n    get: /\n    expect: [ status =! 200 ]\n",
    )
    .unwrap();
}

#[test]
fn one_broken_file_among_a_thousand_is_listed_with_its_location_and_run_refuses_to_start() {
    let dir = tempdir("thousand");
    thousand_and_one(&dir);
    let started = std::time::Instant::now();
    let out = bin().arg("check").arg(&dir).output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("j0500-broken.yml:6:"), "no file:line:col in:\n{err}");
    let located: Vec<&str> = err.lines().filter(|l| l.contains(".yml:")).collect();
    assert_eq!(located.len(), 1, "only the broken file is listed:\n{err}");
    println!("matrix: check of 1,001 files, one broken -> exit 2 in {took:?}");

    let out = bin().args(["run", "--listen", "127.0.0.1:0"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "run must refuse to start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("j0500-broken.yml:6:") && err.contains("not starting"), "{err}");
}

#[test]
fn misspelled_keys_deep_in_a_step_are_located_with_a_did_you_mean() {
    let cases = [
        // (yaml, location, suggestion)
        (
            "name: deep\ntarget: http://x.test\nsteps:\n  - name: one\n    get: /\n  - name: two\n    post: /login\n    capture:\n      token: { json: token, secert: true }\n",
            "deep.yml:9:",
            "did you mean `secret`",
        ),
        (
            "name: deep\ntarget: http://x.test\nsteps:\n  - name: one\n    get: /\n  - name: two\n    get: /x\n    expcet: [ status == 200 ]\n",
            "deep.yml:8:",
            "did you mean `expect`",
        ),
        (
            "name: deep\ntarget: http://x.test\ndefaults:\n  max_bdy: 1MiB\nsteps:\n  - name: one\n    get: /\n",
            "deep.yml:4:",
            "did you mean `max_body`",
        ),
    ];
    let dir = tempdir("misspelled");
    for (yaml, at, hint) in cases {
        let file = dir.join("deep.yml");
        std::fs::write(&file, yaml).unwrap();
        let out = bin().arg("check").arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(at), "{at} missing:\n{err}");
        assert!(err.contains(hint), "{hint} missing:\n{err}");
    }
}
