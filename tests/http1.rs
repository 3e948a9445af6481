//! The plain-http client (`journeyd::http::h1`) against real servers on 127.0.0.1:0: keep-alive per virtual
//! user, a connection the server closed is retried once on a new one, every body framing (length, chunked
//! with trailers, read to close), gzip, interim 1xx responses, HEAD; and parity with the reqwest path on the
//! bundled journeys against the demo shop.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use common::{describe, journey};
use journeyd::http::Clients;
use journeyd::outcome::RunOutcome;
use journeyd::runner::{run_iteration, Plan, VirtualUser};

/// What the scripted server answers to one request: the raw response, and whether to close afterwards
/// (without saying so in the response, unless the response itself says `connection: close`).
type Script = dyn Fn(&str, usize) -> (Vec<u8>, bool) + Send + Sync;

/// A raw HTTP/1.1 server that keeps connections open and answers requests in order with `script`
/// (given the request head and the request's index on its connection). Records every request head.
struct Scripted {
    url: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn scripted(script: impl Fn(&str, usize) -> (Vec<u8>, bool) + Send + Sync + 'static) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let script: Arc<Script> = Arc::new(script);
    let (c, r) = (Arc::clone(&connections), Arc::clone(&requests));
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_conn(sock, Arc::clone(&script), Arc::clone(&r)));
        }
    });
    Scripted { url, connections, requests }
}

async fn serve_conn(mut sock: TcpStream, script: Arc<Script>, log: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    for nth in 0.. {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        log.lock().unwrap().push(head.clone());
        let (response, close) = script(&head, nth);
        if sock.write_all(&response).await.is_err() || close {
            return;
        }
    }
}

fn ok(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

fn three_steps(url: &str, extra: &str) -> Arc<journeyd::model::Journey> {
    let yaml = format!(
        "name: keepalive\ntarget: \"{{{{ env.T }}}}\"\ntimeout: 5s\nsteps:\n\
         \x20 - name: one\n    get: /one\n{extra}\
         \x20 - name: two\n    get: /two\n{extra}\
         \x20 - name: three\n    post: /three\n    json: {{\"n\": 3}}\n{extra}"
    );
    journey(&yaml, &[("T", url)])
}

/// Runs `n` iterations as one virtual user (its connection carries over between iterations).
async fn iterations(j: &Arc<journeyd::model::Journey>, clients: &Clients, n: usize) -> Vec<RunOutcome> {
    let plan = Plan::new(Arc::clone(j), clients);
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await);
    }
    out
}

#[tokio::test]
async fn a_virtual_user_keeps_one_connection_across_steps_and_iterations() {
    let server = scripted(|_, _| (ok("fine"), false)).await;
    let j = three_steps(&server.url, "    expect: [ body contains \"fine\" ]\n");
    let runs = iterations(&j, &Clients::new().unwrap(), 2).await;
    for o in &runs {
        assert!(o.passed(), "{}", describe(o));
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1, "six requests, one connection");
    let reused: Vec<bool> = runs.iter().flat_map(|o| o.steps.iter().map(|s| s.phases.reused)).collect();
    assert_eq!(reused, [false, true, true, true, true, true]);
    assert!(runs[0].steps[0].phases.connect > std::time::Duration::ZERO, "a new connection has a connect time");
    assert!(runs[0].steps[1].phases.connect.is_zero());

    let requests = server.requests.lock().unwrap().clone();
    assert!(requests[0].starts_with("GET /one HTTP/1.1\r\n"), "{}", requests[0]);
    let host = server.url.trim_start_matches("http://");
    let first = requests[0].to_ascii_lowercase();
    for want in [format!("host: {host}\r\n"), "accept-encoding: gzip, deflate\r\n".into(), "traceparent: 00-".into()] {
        assert!(first.contains(&want), "{want:?} missing from {first}");
    }
    assert!(first.contains("user-agent: journeyd/"), "{first}");
    let post = requests[2].to_ascii_lowercase();
    assert!(post.starts_with("post /three http/1.1\r\n"), "{post}");
    assert!(post.contains("content-type: application/json\r\n") && post.contains("content-length: 7\r\n"), "{post}");
}

#[tokio::test]
async fn a_connection_the_server_closed_silently_is_replaced_without_failing_the_step() {
    // Answers one request per connection and closes without `connection: close`: every reuse finds the
    // connection dead, before (probe) or after (retry) writing to it.
    let server = scripted(|_, _| (ok("fine"), true)).await;
    let j = three_steps(&server.url, "");
    let clients = Clients::new().unwrap();
    let runs = iterations(&j, &clients, 2).await;
    for o in &runs {
        assert!(o.passed(), "{}", describe(o));
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 6, "one connection per request");
    assert_eq!(server.requests.lock().unwrap().len(), 6, "no request was answered twice");
    assert!(runs.iter().flat_map(|o| &o.steps).all(|s| !s.phases.reused), "a replaced connection is new");
    // The same after an idle second, where the kept connection is probed before reuse.
    let plan = Plan::new(Arc::clone(&j), &clients);
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    let first = run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await;
    assert!(first.passed(), "{}", describe(&first));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await;
    assert!(second.passed(), "{}", describe(&second));
}

#[tokio::test]
async fn chunked_gzip_interim_head_and_read_to_close_bodies_are_read_whole() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"price": "42.50", "currency": "EUR"}"#).unwrap();
    let gz = gz.finish().unwrap();
    let server = scripted(move |head, _| {
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        match path.as_str() {
            // Chunked, in three chunks with a chunk extension, and a trailer.
            "/chunked" => (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-checksum: 1\r\n\r\n"
                    .to_vec(),
                false,
            ),
            // Gzip, itself sent chunked.
            "/gzip" => {
                let mut r = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
                for part in gz.chunks(10) {
                    r.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                    r.extend_from_slice(part);
                    r.extend_from_slice(b"\r\n");
                }
                r.extend_from_slice(b"0\r\n\r\n");
                (r, false)
            }
            "/continue" => {
                let mut r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n".to_vec();
                r.extend_from_slice(&ok("after interim"));
                (r, false)
            }
            "/head" => (b"HTTP/1.1 200 OK\r\ncontent-length: 12345\r\nx-head: yes\r\n\r\n".to_vec(), false),
            // No length, no chunking: the body ends when the server closes.
            _ => (b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end".to_vec(), true),
        }
    })
    .await;
    let yaml = "name: framing\ntarget: \"{{ env.T }}\"\ntimeout: 5s\nsteps:\n\
        \x20 - name: chunked\n    get: /chunked\n    expect: [ body == \"hello world\" ]\n\
        \x20 - name: gzip\n    get: /gzip\n    expect: [ json.price == \"42.50\", header.content-encoding not exists ]\n\
        \x20 - name: interim\n    get: /continue\n    expect: [ status == 200, body == \"after interim\" ]\n\
        \x20 - name: head\n    method: HEAD\n    url: /head\n    expect: [ status == 200, header.x-head == \"yes\" ]\n\
        \x20 - name: to-close\n    get: /close\n    expect: [ body == \"until the end\" ]\n\
        \x20 - name: after-close\n    get: /chunked\n    expect: [ body == \"hello world\" ]\n";
    let j = journey(yaml, &[("T", &server.url)]);
    let o = &iterations(&j, &Clients::new().unwrap(), 1).await[0];
    assert!(o.passed(), "{}", describe(o));
    assert_eq!(o.steps[3].body_bytes, 0, "a HEAD response has no body, whatever its content-length says");
    // chunked, gzip, interim and head share a connection; read-to-close ends it; the last step opens another.
    let reused: Vec<bool> = o.steps.iter().map(|s| s.phases.reused).collect();
    assert_eq!(reused, [false, true, true, true, true, false]);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_plain_http_client_and_reqwest_agree_on_the_bundled_journeys() {
    let shop = journeyd::shop::spawn(journeyd::shop::ShopOptions::default()).await.unwrap();
    let suite = common::bundled(&format!("http://{}", shop.addr));
    let h1 = Clients::new().unwrap();
    let mut reqwest_only = Clients::new().unwrap();
    reqwest_only.own = false;
    // A browser journey's requests are Chromium's, whichever HTTP client the others use.
    for j in suite.journeys.iter().filter(|j| j.browser.is_none()) {
        let a = &iterations(j, &h1, 2).await;
        let b = &iterations(j, &reqwest_only, 2).await;
        for (x, y) in a.iter().zip(b) {
            assert!(x.passed(), "h1: {}: {}", j.name, describe(x));
            assert!(y.passed(), "reqwest: {}: {}", j.name, describe(y));
            let shape =
                |o: &RunOutcome| o.steps.iter().map(|s| (s.status, s.body_bytes, s.redirects)).collect::<Vec<_>>();
            assert_eq!(shape(x), shape(y), "{}: status, body size and redirects per step", j.name);
        }
    }
}
