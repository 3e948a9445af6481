//! `multipart:` and `graphql:` bodies against a server in-process on port 0: the parts and file bytes it
//! received, a new boundary per request, the GraphQL JSON, and `graphql.errors` failing a 200 that carries
//! errors, with their messages (redacted) as the evidence. Files past the bound are a load error.

mod common;

#[path = "common/tempdir.rs"]
mod tempdir;
use std::sync::{Arc, Mutex};
use tempdir::tempdir;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use common::{describe, journey, run_once, serve};
use journeyd::config::{self, LoadOptions};

/// What a route received: its Content-Type and body bytes.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn app(seen: Seen) -> Router {
    let keep = move |headers: HeaderMap, body: Bytes| {
        let seen = Arc::clone(&seen);
        async move {
            let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let text = String::from_utf8_lossy(&body).into_owned();
            seen.lock().unwrap().push((ct, body.to_vec()));
            // A GraphQL server answers 200 whatever went wrong, with `errors`.
            if text.contains("broken") {
                let errors = serde_json::json!([
                    { "message": "Cannot query field \"nope\" on type \"Query\"." },
                    { "message": "token gql-secret-4471 is not allowed", "path": ["me"] },
                ]);
                return axum::Json(serde_json::json!({ "data": null, "errors": errors }));
            }
            axum::Json(serde_json::json!({ "data": { "me": { "id": "u1" } } }))
        }
    };
    Router::new().route("/upload", post(keep.clone())).route("/graphql", post(keep))
}

/// The parts of a multipart body: (headers, content) per part, split on `boundary`.
fn parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut out = Vec::new();
    let positions: Vec<usize> =
        text.windows(delimiter.len()).enumerate().filter(|(_, w)| *w == delimiter.as_bytes()).map(|(i, _)| i).collect();
    assert!(body.ends_with(format!("--{boundary}--\r\n").as_bytes()), "closing delimiter");
    for pair in positions.windows(2) {
        let part = &text[pair[0] + delimiter.len() + 2..pair[1] - 2];
        let split = part.windows(4).position(|w| w == b"\r\n\r\n").expect("part headers end");
        out.push((String::from_utf8_lossy(&part[..split]).into_owned(), part[split + 4..].to_vec()));
    }
    out
}

#[tokio::test]
async fn multipart_sends_fields_and_file_bytes_with_a_new_boundary_per_request() {
    let seen: Seen = Arc::default();
    let t = serve(app(Arc::clone(&seen))).await;
    let dir = tempdir("multipart");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    std::fs::write(dir.join("avatar.bin"), &bytes).unwrap();
    let yaml = format!(
        r#"
name: upload
target: "{{{{ env.T }}}}"
secrets:
  note: {{ env: NOTE }}
steps:
  - name: first
    post: /upload
    multipart:
      title: "Ada's \"photo\""
      note: "{{{{ secrets.note }}}}"
      avatar: {{ file: {}, content_type: application/x-test, filename: "me.bin" }}
    expect: [ status == 200 ]
  - name: again
    post: /upload
    multipart:
      qty: 2
      avatar: {{ file: {} }}
    expect: [ status == 200 ]
"#,
        dir.join("avatar.bin").display(),
        dir.join("avatar.bin").display()
    );
    let j = journey(&yaml, &[("T", &t), ("NOTE", "note-value")]);
    let o = run_once(&j).await;
    assert!(o.failure().is_none(), "{}", describe(&o));

    let seen = seen.lock().unwrap().clone();
    let boundaries: Vec<String> =
        seen.iter().map(|(ct, _)| ct.strip_prefix("multipart/form-data; boundary=").expect(ct).to_string()).collect();
    assert_ne!(boundaries[0], boundaries[1], "a new boundary per request");

    let first = parts(&seen[0].1, &boundaries[0]);
    assert_eq!(first.len(), 3);
    assert_eq!(first[0].0, "Content-Disposition: form-data; name=\"title\"");
    assert_eq!(first[0].1, b"Ada's \"photo\"");
    assert_eq!(
        (first[1].0.as_str(), first[1].1.as_slice()),
        ("Content-Disposition: form-data; name=\"note\"", &b"note-value"[..])
    );
    assert_eq!(
        first[2].0,
        "Content-Disposition: form-data; name=\"avatar\"; filename=\"me.bin\"\r\nContent-Type: application/x-test"
    );
    assert_eq!(first[2].1, bytes, "the file's bytes, every one of them");

    let again = parts(&seen[1].1, &boundaries[1]);
    assert_eq!(again[0].1, b"2");
    assert_eq!(
        again[1].0,
        "Content-Disposition: form-data; name=\"avatar\"; filename=\"avatar.bin\"\r\nContent-Type: application/octet-stream"
    );
}

const GRAPHQL: &str = r#"
name: gql
target: "{{ env.T }}"
secrets:
  token: { env: TOKEN }
steps:
  - name: me
    post: /graphql
    graphql:
      query: "query Me($id: ID!) { me(id: $id) { id } }"
      variables: { id: "{{ secrets.token }}", n: 3, deep: { ok: true } }
      operation_name: Me
    expect: [ status == 200, graphql.errors == 0, json.data.me.id == u1 ]
  - name: broken
    post: /graphql
    graphql: { query: "{ broken nope }" }
    expect: [ status == 200, graphql.errors == 0 ]
"#;

#[tokio::test]
async fn graphql_is_a_json_post_and_errors_in_a_200_fail_the_check_with_their_messages() {
    let seen: Seen = Arc::default();
    let t = serve(app(Arc::clone(&seen))).await;
    let j = journey(GRAPHQL, &[("T", &t), ("TOKEN", "gql-secret-4471")]);
    let o = run_once(&j).await;

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, "application/json");
    let sent: serde_json::Value = serde_json::from_slice(&seen[0].1).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({
            "query": "query Me($id: ID!) { me(id: $id) { id } }",
            "variables": { "id": "gql-secret-4471", "n": 3, "deep": { "ok": true } },
            "operationName": "Me",
        })
    );
    let sent: serde_json::Value = serde_json::from_slice(&seen[1].1).unwrap();
    assert_eq!(sent, serde_json::json!({ "query": "{ broken nope }" }));

    let f = o.failure().unwrap_or_else(|| panic!("the second step fails: {}", describe(&o)));
    assert_eq!((f.step_name.as_str(), f.check.as_deref()), ("broken", Some("graphql.errors == 0")));
    assert_eq!(f.status, Some(200));
    assert_eq!(
        f.actual.as_deref(),
        Some(r#"2 errors: "Cannot query field \"nope\" on type \"Query\"."; "token [REDACTED] is not allowed""#)
    );
}

#[test]
fn a_missing_or_oversized_file_is_a_check_error_at_its_line() {
    let dir = tempdir("too-big");
    let file = std::fs::File::create(dir.join("big.bin")).unwrap();
    file.set_len(10 * 1024 * 1024 + 1).unwrap();
    std::fs::write(dir.join("ok.txt"), "fine").unwrap();
    let journey = "name: big\ntarget: http://127.0.0.1:9\nsteps:\n  - name: up\n    post: /up\n    multipart:\n      \
                   a: { file: ok.txt }\n      b: { file: big.bin }\n      c: { file: gone.bin }\n";
    std::fs::write(dir.join("big.yml"), journey).unwrap();
    let diags = config::load(&[dir.join("big.yml")], &LoadOptions::default()).unwrap_err();
    let text = config::render(&diags.0);
    let at = dir.join("big.yml").display().to_string();
    assert!(
        text.contains(&format!(
            "{at}:8:18: error: cannot read big.bin: is larger than 10 MiB, the most journeyd reads"
        )),
        "{text}"
    );
    assert!(text.contains("upload tests need at most 10 MiB"), "{text}");
    assert!(text.contains(&format!("{at}:9:18: error: cannot read gone.bin")), "{text}");
    assert_eq!(diags.0.len(), 2, "{text}");
}
