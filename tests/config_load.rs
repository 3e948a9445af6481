//! Valid journey files load into the model they describe; directories, warnings and fingerprints.

#[path = "common/tempdir.rs"]
mod tempdir;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempdir::tempdir;

use journeyd::config::{self, LoadOptions, Severity};
use journeyd::model::{Body, CaptureSource, HeaderTemplate, LoadModel, Pick, Predicate, Stage, StageTarget, Think};
use journeyd::template::{Part, Scope};

const VALID: &str = "tests/data/valid";

fn options(strict: bool) -> LoadOptions {
    let env = HashMap::from([
        ("JD_FULL_URL".to_string(), "http://127.0.0.1:9".to_string()),
        ("JD_FULL_REGION".to_string(), "eu-west".to_string()),
        ("JD_FULL_KEY".to_string(), "key-0123456789".to_string()),
    ]);
    LoadOptions { env, strict_env: strict, ..LoadOptions::default() }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_directory_loads_its_yaml_files_only() {
    let loaded = config::load(&[PathBuf::from(VALID)], &options(true)).unwrap();
    let names: Vec<&str> = loaded.suite.journeys.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["full", "rate-model", "stages-model"]);
    let files: Vec<String> = loaded.files.iter().map(|f| f.display().to_string()).collect();
    assert_eq!(files, ["tests/data/valid/full.yml", "tests/data/valid/rate.yml", "tests/data/valid/stages.yml"]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn every_key_lands_in_the_model() {
    let loaded = config::load(&[PathBuf::from(VALID)], &options(true)).unwrap();
    let j = loaded.suite.get("full").unwrap();
    assert_eq!(j.description, "Every key of the format, once.");
    assert_eq!(j.tags, ["test", "full"]);
    assert_eq!(j.source, Path::new("tests/data/valid/full.yml"));
    assert_eq!(j.target.as_ref().unwrap().parts, vec![Part::Lit("http://127.0.0.1:9/api".into())]);
    assert_eq!((j.every, j.users, j.timeout), (Duration::from_secs(60), 2, Duration::from_secs(45)));
    assert_eq!(j.load, LoadModel::Closed { users: 2 });
    assert_eq!(j.vars, [("prefix".to_string(), "api".to_string()), ("region".to_string(), "eu-west".to_string())]);
    assert_eq!(j.depends_on, ["rate-model"]);

    let d = &j.defaults;
    let header_names: Vec<&str> = d.headers.iter().map(|(k, _)| k.as_str()).collect();
    // Parsed at load: header names are `HeaderName`s (lower case), a fixed value is checked and built once.
    assert_eq!(header_names, ["x-region", "authorization"]);
    assert!(matches!(&d.headers[0].1, HeaderTemplate::Static(v) if v == "eu-west"), "{:?}", d.headers[0].1);
    assert!(matches!(&d.headers[1].1, HeaderTemplate::Dynamic(t) if t.uses_secret()), "{:?}", d.headers[1].1);
    assert_eq!(
        (d.max_redirects, d.step_timeout, d.tls_skip_verify, d.max_body_bytes),
        (0, Some(ms(5000)), true, 65536)
    );

    assert_eq!(j.data.len(), 2);
    assert_eq!((j.data[0].name.as_str(), j.data[0].pick), ("users", Pick::Sequential));
    assert_eq!((j.data[1].name.as_str(), j.data[1].pick), ("extra", Pick::Random));
    assert_eq!(j.data[0].columns, ["email", "name"]);
    assert_eq!(j.data[0].rows.len(), 5);
    assert_eq!(j.secrets[0].value, "s3cret-token", "one trailing newline dropped");
    assert_eq!(j.secrets[1].value, "key-0123456789");

    let methods: Vec<&str> = j.steps.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PURGE", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);
    assert_eq!(j.capture_slots, 6);
    assert_eq!(j.secret_captures, [2]);
}

#[test]
fn first_step_options_checks_and_captures() {
    let loaded = config::load(&[PathBuf::from(VALID)], &options(true)).unwrap();
    let s = &loaded.suite.get("full").unwrap().steps[0];
    assert_eq!(s.url.source, "/search");
    let query: Vec<&str> = s.query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(query, ["q", "page", "id"]);
    assert_eq!((s.max_redirects, s.timeout), (3, Some(ms(2000))));
    assert_eq!(s.think, Some(Think { min: ms(100), max: ms(300) }));
    let soft: Vec<bool> = s.expect.iter().map(|c| c.soft).collect();
    assert_eq!(soft, [false, true, false, false, false]);
    assert_eq!(s.expect[3].text, r#"body matches "\d+ results""#);
    assert!(matches!(&s.expect[3].predicate, Predicate::Matches(re) if re.as_str() == r"\d+ results"));
    let captures: Vec<(&str, usize, bool)> = s.capture.iter().map(|c| (c.name.as_str(), c.slot, c.secret)).collect();
    assert_eq!(
        captures,
        [
            ("first", 0, false),
            ("location", 1, false),
            ("session", 2, true),
            ("code", 3, false),
            ("n", 4, false),
            ("whole", 5, false)
        ]
    );
    assert!(matches!(&s.capture[0].source, CaptureSource::Json(p) if p.to_string() == "results[0].id"));
    assert!(matches!(&s.capture[1].source, CaptureSource::Header(h) if h == "Location"));
    assert!(matches!(&s.capture[2].source, CaptureSource::Cookie(c) if c == "session"));
    assert!(matches!(&s.capture[3].source, CaptureSource::Status));
    assert!(matches!(&s.capture[4].source, CaptureSource::Regex { group: 1, .. }));
    assert!(matches!(&s.capture[5].source, CaptureSource::Regex { group: 0, .. }));
}

#[test]
fn bodies_render_with_captures_data_and_secrets() {
    let loaded = config::load(&[PathBuf::from(VALID)], &options(true)).unwrap();
    let j = loaded.suite.get("full").unwrap();
    let captures = vec![Some("42".to_string()), None, Some("sess".into()), Some("200".into()), None, None];
    let row: Vec<String> = vec!["ada@shop.test".into(), "Ada Lovelace".into()];
    let rows: Vec<&[String]> = vec![&row, &row];
    let scope = Scope { secrets: &j.secrets, rows: &rows, captures: &captures, tokens: &[] };

    assert_eq!(j.steps[0].query[0].1.render(&scope), "Ada%20Lovelace");
    assert_eq!(j.steps[1].url.render(&scope), "http://127.0.0.1:9/cache/42");
    assert_eq!(j.steps[1].max_redirects, 0, "defaults.redirects: false");
    assert_eq!(j.steps[1].think, Some(Think { min: ms(50), max: ms(50) }));
    let Some(Body::Raw { text, content_type }) = &j.steps[2].body else { panic!("raw body") };
    assert_eq!((text.render(&scope).as_ref(), content_type.as_deref()), ("id=42&code=200", Some("text/plain")));
    let Some(Body::Form(fields)) = &j.steps[3].body else { panic!("form body") };
    assert_eq!(fields[0].1.render(&scope), "ada@shop.test");
    let Some(Body::Json(json)) = &j.steps[4].body else { panic!("json body") };
    assert_eq!(
        String::from_utf8(json.try_render(&scope, &mut Vec::new()).unwrap()).unwrap(),
        r#"{"id":"42","n":3,"ok":true,"none":null,"list":[1.5,"Ada Lovelace"],"nested":{"k":"key-0123456789"}}"#
    );
    assert!(json.uses_secret());
}

#[test]
fn load_models() {
    let loaded = config::load(&[PathBuf::from(VALID)], &options(true)).unwrap();
    let rate = loaded.suite.get("rate-model").unwrap();
    assert_eq!(rate.load, LoadModel::Open { rate_per_sec: 2.0, max_users: 4 });
    assert_eq!(rate.data[0].pick, Pick::Unique);
    let stages = loaded.suite.get("stages-model").unwrap();
    assert!(stages.target.is_none());
    assert_eq!(
        stages.load,
        LoadModel::Stages(vec![
            Stage { target: StageTarget::Rate(10.0), duration: Duration::from_secs(30) },
            Stage { target: StageTarget::Users(3), duration: Duration::from_secs(120) },
        ])
    );
    assert_eq!(stages.timeout, Duration::from_secs(30), "default timeout is min(every, 30s)");
}

#[test]
fn missing_env_is_a_warning_unless_strict() {
    let mut opts = options(false);
    opts.env.remove("JD_FULL_KEY");
    opts.env.remove("JD_FULL_REGION");
    let loaded = config::load(&[PathBuf::from(VALID)], &opts).unwrap();
    let text = config::render(&loaded.warnings);
    assert_eq!(
        text,
        "tests/data/valid/full.yml:12:15: warning: environment variable `JD_FULL_REGION` is not set; using an empty value
   |
12 |   region: \"{{ env.JD_FULL_REGION }}\"
   |               ^
   = hint: `run` and `verify` refuse to start without it

tests/data/valid/full.yml:18:15: warning: secret `key`: environment variable `JD_FULL_KEY` is not set; using an empty value
   |
18 |   key: { env: JD_FULL_KEY }
   |               ^
   = hint: set JD_FULL_KEY in the environment journeyd runs in
"
    );
    assert!(loaded.warnings.iter().all(|w| w.severity == Severity::Warning));
    assert_eq!(loaded.suite.get("full").unwrap().secrets[1].value, "");

    opts.strict_env = true;
    let errors = config::load(&[PathBuf::from(VALID)], &opts).unwrap_err();
    assert_eq!(errors.errors().count(), 2);
}

#[test]
fn fingerprints_follow_env_secrets_and_csv() {
    let fp = |opts: &LoadOptions| {
        let loaded = config::load(&[PathBuf::from(VALID)], opts).unwrap();
        let get = |n: &str| loaded.suite.get(n).unwrap().fingerprint;
        (get("full"), get("rate-model"))
    };
    let base = fp(&options(true));
    assert_eq!(fp(&options(true)), base, "stable across loads");
    let mut other = options(true);
    other.env.insert("JD_FULL_KEY".into(), "another-key".into());
    let changed = fp(&other);
    assert_ne!(changed.0, base.0, "a secret value changed");
    assert_eq!(changed.1, base.1, "rate-model uses no env");

    // A changed CSV changes the journey that reads it.
    let dir = tempdir("fp");
    let journey = "name: csv\ntarget: http://127.0.0.1:9\ndata: { u: { csv: u.csv } }\nsteps: [ { name: a, get: '/{{ u.id }}' } ]\n";
    std::fs::write(dir.join("j.yml"), journey).unwrap();
    std::fs::write(dir.join("u.csv"), "id\n1\n").unwrap();
    let first = config::load(&[dir.join("j.yml")], &options(true)).unwrap().suite.journeys[0].fingerprint;
    std::fs::write(dir.join("u.csv"), "id\n2\n").unwrap();
    let second = config::load(&[dir.join("j.yml")], &options(true)).unwrap().suite.journeys[0].fingerprint;
    assert_ne!(first, second);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_str_resolves_files_next_to_the_path_and_warns_on_dependencies() {
    let text = std::fs::read_to_string("tests/data/valid/full.yml").unwrap();
    let loaded = config::load_str(Path::new("tests/data/valid/full.yml"), &text, &options(true)).unwrap();
    assert_eq!(loaded.suite.journeys[0].data[0].rows.len(), 5);
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].message, "depends_on names unknown journey `rate-model`");
}

#[test]
fn paths_that_do_not_exist_or_hold_no_journeys() {
    let err = config::load(&[PathBuf::from("tests/data/nope.yml")], &options(true)).unwrap_err();
    assert_eq!(err.to_string(), "tests/data/nope.yml: error: cannot read: no such file or directory");

    let empty = tempdir("empty");
    std::fs::write(empty.join("data.csv"), "a\n1\n").unwrap();
    let err = config::load(std::slice::from_ref(&empty), &options(true)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: error: no journey files found\n  = hint: pass journey files, or a directory that holds *.yml files",
            empty.display()
        )
    );
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn diagnostics_never_show_a_secret_value() {
    let mut opts = options(true);
    opts.env.insert("JD_LEAKY".into(), "hunter2-hunter2".into());
    let text = "name: leak\ntarget: http://127.0.0.1:9\nsecrets: { pw: { env: JD_LEAKY } }\nsteps:\n  - name: a\n    get: /x?pw=hunter2-hunter2&t={{ nope }}\n";
    let err = config::load_str(Path::new("leak.yml"), text, &opts).unwrap_err();
    let shown = err.to_string();
    assert!(!shown.contains("hunter2-hunter2"), "{shown}");
    assert!(shown.contains("/x?pw=[REDACTED]&t={{ nope }}"), "{shown}");
    // The caret still points at the unknown name in the redacted line.
    let caret_line = shown.lines().nth(3).unwrap();
    let snippet_line = shown.lines().nth(2).unwrap();
    let caret = caret_line.find('^').unwrap();
    assert_eq!(&snippet_line[caret..caret + 4], "nope");

    // Even when the file does not parse.
    let broken = "name: leak\nsecrets: { pw: { env: JD_LEAKY } }\nusers: hunter2-hunter2\nsteps: []\n";
    let shown = config::load_str(Path::new("leak.yml"), broken, &opts).unwrap_err().to_string();
    assert!(!shown.contains("hunter2-hunter2"), "{shown}");
}
