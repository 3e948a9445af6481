//! The browser engine against a real Chromium and a small axum app on 127.0.0.1:0: navigation and status,
//! actions changing the DOM, every kind of wait, queries, signals (exceptions, console errors, failed
//! sub-requests), screenshots, timings, isolation of contexts, a hung page killed at its deadline, and a
//! killed Chromium replaced and counted. Without Chromium these tests print `SKIPPED: …` and pass, unless
//! `JOURNEYD_REQUIRE_CHROMIUM=1`.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::extract::Path as AxPath;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use tokio::time::Instant;

use journeyd::browser::{
    find_chromium, Browser, BrowserError, BrowserErrorKind, BrowserOptions, ConsoleLevel, Locator, PageOptions,
    WaitFor, WaitUntil,
};

const HOME: &str = r#"<!doctype html><html><head><title>Engine test</title></head><body>
<h1 id="heading" data-sku="SKU-1001">Welcome to the test shop</h1>
<button id="add" onclick="const li = document.createElement('li'); li.className = 'item'; li.textContent = 'item ' + (document.querySelectorAll('.item').length + 1); document.getElementById('list').appendChild(li)">Add an item</button>
<button id="off" disabled>Not yet</button>
<ul id="list"></ul>
<input id="name" oninput="document.getElementById('echo').textContent = this.value">
<span id="echo"></span>
<input id="typed" onkeydown="if (event.key === 'Enter') document.getElementById('pressed').textContent = 'entered ' + this.value">
<span id="pressed"></span>
<select id="size" onchange="document.getElementById('chosen').textContent = this.value">
  <option value="s">Small</option><option value="m">Medium</option><option value="l">Large</option>
</select>
<span id="chosen"></span>
<div id="later" style="display:none">Shown later</div>
<div id="going">Going away</div>
<a id="next" href="/second#arrived">Proceed to checkout</a>
<script>
setTimeout(() => { document.getElementById('later').style.display = 'block'; }, 300);
setTimeout(() => { document.getElementById('going').remove(); }, 200);
</script>
</body></html>"#;

const ERRORS: &str = r#"<!doctype html><html><head><title>Broken</title></head><body><p>Broken bundle</p>
<script>
console.error('console says no');
fetch('/api/missing').then(() => { document.body.dataset.fetched = 'yes'; });
setTimeout(() => { throw new Error('boom from the bundle'); }, 0);
</script></body></html>"#;

async fn app() -> String {
    let router = Router::new()
        .route("/", get(|| async { ([("set-cookie", "session=abc123; Path=/")], Html(HOME)) }))
        .route("/second", get(|| async { Html("<!doctype html><title>Second</title><p id='second'>Second page</p>") }))
        .route("/errors", get(|| async { Html(ERRORS) }))
        .route("/api/missing", get(|| async { (StatusCode::NOT_FOUND, "no such thing") }))
        .route("/gone", get(|| async { (StatusCode::GONE, Html("<!doctype html><title>Gone</title><p>gone</p>")) }))
        .route("/empty-404", get(|| async { StatusCode::NOT_FOUND }))
        .route("/hang", get(|| async { std::future::pending::<&str>().await }))
        .route(
            "/set/{value}",
            get(|AxPath(value): AxPath<String>| async move {
                ([("set-cookie", format!("who={value}; Path=/"))], Html("<!doctype html><p>set</p>")).into_response()
            }),
        );
    common::serve(router).await
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(15)
}

async fn launch(executable: &Path, max_contexts: usize) -> Browser {
    let options = BrowserOptions { executable: executable.to_path_buf(), max_contexts };
    Browser::launch(options).await.expect("Chromium starts")
}

fn css(selector: &str) -> Locator {
    Locator::Css(selector.to_string())
}

#[test]
fn find_chromium_names_the_bad_path_and_how_to_fix_it() {
    let err = find_chromium(Some(Path::new("/nonexistent/chromium"))).unwrap_err();
    assert_eq!(err.kind(), BrowserErrorKind::Unavailable);
    let text = err.to_string();
    for part in
        ["/nonexistent/chromium", "does not exist", "--chromium PATH", "JOURNEYD_CHROMIUM", "apt-get install chromium"]
    {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    let not_executable = find_chromium(Some(Path::new("Cargo.toml"))).unwrap_err().to_string();
    assert!(not_executable.contains("is not executable"), "{not_executable}");
}

#[tokio::test]
async fn actions_change_the_dom_and_queries_read_it() {
    let Some(chromium) = common::chromium() else { return };
    let base = app().await;
    let browser = launch(&chromium, 2).await;
    let mut page = browser.new_page(PageOptions::default(), soon()).await.unwrap();

    let nav = page.goto(&format!("{base}/"), WaitUntil::Load, soon()).await.unwrap();
    assert_eq!((nav.status, nav.url.as_str()), (Some(200), format!("{base}/").as_str()));
    assert_eq!(page.title().await.unwrap(), "Engine test");
    assert_eq!(page.cookie("session").await.unwrap().as_deref(), Some("abc123"));
    assert_eq!(page.cookie("nope").await.unwrap(), None);
    assert_eq!(page.attribute(&css("#heading"), "data-sku").await.unwrap().as_deref(), Some("SKU-1001"));
    assert_eq!(page.attribute(&css("#heading"), "data-nope").await.unwrap(), None);
    assert_eq!(page.text(&css("#nothing")).await.unwrap(), None);
    assert_eq!(
        page.text(&Locator::parse("text=welcome TO the")).await.unwrap().as_deref(),
        Some("Welcome to the test shop")
    );

    page.click(&css("#add"), soon()).await.unwrap();
    page.click(&Locator::parse("text=Add an item"), soon()).await.unwrap();
    assert_eq!(page.count(&css(".item")).await.unwrap(), 2);
    assert_eq!(page.text(&css(".item:last-child")).await.unwrap().as_deref(), Some("item 2"));

    page.fill(&css("#name"), "first", soon()).await.unwrap();
    page.fill(&css("#name"), "Ada Lovelace", soon()).await.unwrap();
    assert_eq!(page.text(&css("#echo")).await.unwrap().as_deref(), Some("Ada Lovelace"), "fill replaces the value");

    page.type_text(&css("#typed"), "abc", soon()).await.unwrap();
    page.press("Enter", soon()).await.unwrap();
    assert_eq!(page.text(&css("#pressed")).await.unwrap().as_deref(), Some("entered abc"));

    page.select(&css("#size"), "l", soon()).await.unwrap();
    assert_eq!(page.text(&css("#chosen")).await.unwrap().as_deref(), Some("l"));
    page.select(&css("#size"), "Medium", soon()).await.unwrap();
    assert_eq!(page.text(&css("#chosen")).await.unwrap().as_deref(), Some("m"), "by label when no value matches");

    page.wait_for(&WaitFor::Visible(css("#later")), soon()).await.unwrap();
    assert!(page.is_visible(&css("#later")).await.unwrap());
    page.wait_for(&WaitFor::Hidden(css("#going")), soon()).await.unwrap();
    assert_eq!(page.count(&css("#going")).await.unwrap(), 0);
    page.wait_for(&WaitFor::Attached(css("#off")), soon()).await.unwrap();
    page.wait_for(&WaitFor::NetworkIdle, soon()).await.unwrap();

    page.click(&Locator::parse("text=Proceed to checkout"), soon()).await.unwrap();
    page.wait_for(&WaitFor::Url("*/second#arrived".to_string()), soon()).await.unwrap();
    page.wait_for(&WaitFor::Visible(css("#second")), soon()).await.unwrap();
    assert_eq!(page.title().await.unwrap(), "Second");
    assert_eq!(page.url().await.unwrap(), format!("{base}/second#arrived"));

    let nav = page.goto(&format!("{base}/gone"), WaitUntil::DomContentLoaded, soon()).await.unwrap();
    assert_eq!(nav.status, Some(410), "an error status is the navigation's, not a failure to load");
    let nav = page.goto(&format!("{base}/empty-404"), WaitUntil::Load, soon()).await.unwrap();
    assert_eq!(nav.status, Some(404), "an error without a body is still the site's answer");
    page.goto(&format!("{base}/gone"), WaitUntil::Load, soon()).await.unwrap();
    let nav = page.goto(&format!("{base}/gone#top"), WaitUntil::Load, soon()).await.unwrap();
    assert_eq!((nav.status, nav.url), (None, format!("{base}/gone#top")), "same-document navigation");
    page.close().await;
    browser.shutdown().await;
}

#[tokio::test]
async fn waiting_for_what_never_comes_fails_with_the_reason_and_the_page_stays_usable() {
    let Some(chromium) = common::chromium() else { return };
    let base = app().await;
    let browser = launch(&chromium, 1).await;
    let mut page = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    page.goto(&format!("{base}/"), WaitUntil::Load, soon()).await.unwrap();
    let short = || Instant::now() + Duration::from_millis(400);

    let err = page.click(&css("#checkout"), short()).await.unwrap_err();
    assert_eq!(err, BrowserError::NotFound("`#checkout`".to_string()));
    let err = page.click(&css("#off"), short()).await.unwrap_err();
    assert_eq!(err.kind(), BrowserErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("(it is disabled)"), "{err}");
    let err = page.wait_for(&WaitFor::Hidden(css("#heading")), short()).await.unwrap_err();
    assert!(err.to_string().contains("`#heading` to be hidden (it is visible)"), "{err}");
    let err = page.wait_for(&WaitFor::Url("/never".to_string()), short()).await.unwrap_err();
    assert_eq!(err.kind(), BrowserErrorKind::Timeout, "{err}");
    let err = page.select(&css("#size"), "xxl", short()).await.unwrap_err();
    assert!(err.to_string().contains("(it is without that option)"), "{err}");
    let err = page.count(&css("##bad")).await.unwrap_err();
    assert_eq!(err.kind(), BrowserErrorKind::Protocol, "{err}");
    let err = page.press("Hyper", short()).await.unwrap_err();
    assert_eq!(err.kind(), BrowserErrorKind::Protocol, "{err}");

    // Still usable, for evidence.
    assert_eq!(page.title().await.unwrap(), "Engine test");
    let png = page.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "{} bytes", png.len());
    let dom = page.dom_excerpt(120).await.unwrap();
    assert!(dom.starts_with("<html><head><title>Engine test</title>") && dom.len() <= 120, "{dom}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // dropped: refused
    let err = page.goto(&format!("http://{closed}/"), WaitUntil::Load, soon()).await.unwrap_err();
    assert_eq!(err.kind(), BrowserErrorKind::Navigation, "{err}");
    assert!(err.to_string().contains("net::ERR_CONNECTION_REFUSED"), "{err}");
    browser.shutdown().await;
}

#[tokio::test]
async fn signals_and_timings_are_collected() {
    let Some(chromium) = common::chromium() else { return };
    let base = app().await;
    let browser = launch(&chromium, 1).await;
    let mut page = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    page.goto(&format!("{base}/errors"), WaitUntil::NetworkIdle, soon()).await.unwrap();
    page.wait_for(&WaitFor::Attached(css("body[data-fetched]")), soon()).await.unwrap();

    let signals = page.take_signals();
    assert_eq!(signals.exceptions.len(), 1, "{signals:?}");
    let exception = &signals.exceptions[0];
    assert!(exception.message.contains("boom from the bundle"), "{exception:?}");
    assert!(exception.location.as_deref().unwrap_or_default().starts_with(&format!("{base}/errors:")), "{exception:?}");
    let errors: Vec<_> = signals.console.iter().filter(|m| m.level == ConsoleLevel::Error).collect();
    assert!(errors.iter().any(|m| m.text == "console says no" && m.source == "console"), "{signals:?}");
    assert_eq!(signals.failed_requests.len(), 1, "{signals:?}");
    let failed = &signals.failed_requests[0];
    assert_eq!(
        (failed.url.as_str(), failed.status, failed.same_origin),
        (format!("{base}/api/missing").as_str(), Some(404), true)
    );
    let urls: Vec<_> = signals.requests.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(urls, [format!("{base}/errors"), format!("{base}/api/missing")]);
    assert_eq!(page.take_signals(), Default::default(), "taken signals are gone");

    page.goto(&format!("{base}/"), WaitUntil::Load, soon()).await.unwrap();
    let t = page.timings().await.unwrap();
    for (name, value) in [("ttfb", t.ttfb), ("dom_content_loaded", t.dom_content_loaded), ("load", t.load)] {
        assert!(value.is_some_and(|v| v > Duration::ZERO), "{name}: {t:?}");
    }
    assert!(t.ttfb <= t.dom_content_loaded && t.dom_content_loaded <= t.load, "{t:?}");
    page.wait_for(&WaitFor::Visible(css("#later")), soon()).await.unwrap();
    let t = page.timings().await.unwrap();
    assert!(t.fcp.is_some() && t.lcp.is_some() && t.tbt.is_some(), "painted text: {t:?}");
    assert!(t.cls.is_some_and(|cls| cls >= 0.0), "{t:?}");
    browser.shutdown().await;
}

#[tokio::test]
async fn contexts_are_isolated_and_bounded() {
    let Some(chromium) = common::chromium() else { return };
    let base = app().await;
    let browser = launch(&chromium, 2).await;
    let mut a = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    let mut b = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    assert_eq!(browser.open_contexts(), 2);
    a.goto(&format!("{base}/set/alice"), WaitUntil::Load, soon()).await.unwrap();
    b.goto(&format!("{base}/second"), WaitUntil::Load, soon()).await.unwrap();
    assert_eq!(a.cookie("who").await.unwrap().as_deref(), Some("alice"));
    assert_eq!(b.cookie("who").await.unwrap(), None, "a cookie set in one context is not in another");

    let err = browser.new_page(PageOptions::default(), Instant::now() + Duration::from_millis(200)).await.err();
    assert_eq!(err.map(|e| e.kind()), Some(BrowserErrorKind::Timeout), "a third context waits for a permit");
    a.close().await;
    assert_eq!(browser.open_contexts(), 1);
    let mut c = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    c.goto(&format!("{base}/second"), WaitUntil::Load, soon()).await.unwrap();
    assert_eq!(c.cookie("who").await.unwrap(), None, "a new context starts empty");
    drop(b);
    drop(c);
    assert_eq!(browser.open_contexts(), 0, "dropped pages give their permits back");
    browser.shutdown().await;
}

#[tokio::test]
async fn a_page_that_never_loads_fails_at_its_deadline_and_is_gone() {
    let Some(chromium) = common::chromium() else { return };
    let base = app().await;
    let browser = launch(&chromium, 1).await;
    let mut page = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    let target = page.target_id().to_string();
    assert!(browser.page_target_ids().await.unwrap().contains(&target));

    let deadline = Instant::now() + Duration::from_millis(700);
    let err = page.goto(&format!("{base}/hang"), WaitUntil::Load, deadline).await.unwrap_err();
    assert_eq!(err.kind(), BrowserErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("/hang to load"), "{err}");
    assert_eq!(page.title().await.unwrap_err().kind(), BrowserErrorKind::Crashed, "the killed page is unusable");
    let mut targets = browser.page_target_ids().await.unwrap();
    while targets.contains(&target) {
        tokio::time::sleep(Duration::from_millis(20)).await; // closing is asynchronous; the test's timeout bounds it
        targets = browser.page_target_ids().await.unwrap();
    }
    drop(page);
    let mut again = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    assert_eq!(again.goto(&format!("{base}/second"), WaitUntil::Load, soon()).await.unwrap().status, Some(200));
    browser.shutdown().await;
}

#[tokio::test]
async fn a_killed_chromium_is_replaced_on_the_next_page_and_counted() {
    let Some(chromium) = common::chromium() else { return };
    let base = app().await;
    let browser = launch(&chromium, 2).await;
    let mut before = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    before.goto(&format!("{base}/second"), WaitUntil::Load, soon()).await.unwrap();
    let pid = browser.pid().expect("a running Chromium has a pid");
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(killed.success());

    let err = before.goto(&format!("{base}/"), WaitUntil::Load, soon()).await.unwrap_err();
    assert_eq!(err.kind(), BrowserErrorKind::Crashed, "{err}");
    assert_eq!(before.title().await.unwrap_err().kind(), BrowserErrorKind::Crashed);
    drop(before);

    let mut after = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    assert_eq!(browser.restarts(), 1);
    assert_ne!(browser.pid(), Some(pid));
    assert_eq!(after.goto(&format!("{base}/"), WaitUntil::Load, soon()).await.unwrap().status, Some(200));
    assert_eq!(after.title().await.unwrap(), "Engine test");
    drop(after);
    browser.shutdown().await;
    let err = browser.new_page(PageOptions::default(), soon()).await.err().map(|e| e.kind());
    assert_eq!(err, Some(BrowserErrorKind::Unavailable), "no page after shutdown");
}

/// The `--user-data-dir` Chromium was started with, read from its command line.
fn profile_dir(pid: u32) -> std::path::PathBuf {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let arg = cmdline
        .split(|b| *b == 0)
        .filter_map(|a| std::str::from_utf8(a).ok())
        .find_map(|a| a.strip_prefix("--user-data-dir="))
        .expect("Chromium runs with --user-data-dir");
    std::path::PathBuf::from(arg)
}

#[tokio::test]
async fn shutdown_and_drop_leave_no_process_and_no_profile_behind() {
    let Some(chromium) = common::chromium() else { return };
    let base = app().await;

    let browser = launch(&chromium, 1).await;
    let pid = browser.pid().unwrap();
    let profile = profile_dir(pid);
    let mut page = browser.new_page(PageOptions::default(), soon()).await.unwrap();
    page.goto(&format!("{base}/second"), WaitUntil::Load, soon()).await.unwrap();
    assert!(profile.is_dir(), "{profile:?}");
    browser.shutdown().await;
    assert!(!profile.exists(), "shutdown removes {profile:?}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "shutdown reaps Chromium {pid}");
    assert_eq!(page.title().await.unwrap_err().kind(), BrowserErrorKind::Crashed, "a page of a closed browser");
    drop(page);

    // Dropped without shutdown (a caller that forgot, a panic): killed, and its profile removed on the spot.
    let browser = launch(&chromium, 1).await;
    let profile = profile_dir(browser.pid().unwrap());
    assert!(profile.is_dir(), "{profile:?}");
    drop(browser);
    assert!(!profile.exists(), "drop removes {profile:?}");
}

/// Whether `pid` is still a live process (a zombie waiting for init to reap it is dead).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()), Some("Z" | "X")),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_journeyd_killed_with_sigkill_takes_its_chromium_with_it() {
    let Some(chromium) = common::chromium() else { return };
    if std::env::var_os("BROWSER_ENGINE_CHILD").is_some() {
        // The child: a "journeyd" that starts Chromium and then dies without running any destructor.
        let browser = launch(&chromium, 1).await;
        println!("CHROMIUM_PID={}", browser.pid().unwrap());
        std::future::pending::<()>().await;
    }
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_journeyd_killed_with_sigkill_takes_its_chromium_with_it",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BROWSER_ENGINE_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let pid: u32 = stdout
        .lines()
        .map_while(Result::ok)
        // libtest prints `test NAME ... ` without a newline first: the pid ends that line.
        .find_map(|line| line.split_once("CHROMIUM_PID=").map(|(_, p)| p.trim().parse().unwrap()))
        .expect("the child prints Chromium's pid");
    assert!(alive(pid), "Chromium {pid} runs while its journeyd does");
    child.kill().unwrap(); // SIGKILL: no destructor, no shutdown
    child.wait().unwrap();
    // The watcher's kill is asynchronous; a Chromium that outlived its journeyd would wait here forever, so
    // the wait has a (generous) end that fails the test.
    let give_up = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(Instant::now() < give_up, "Chromium {pid} outlived the journeyd that started it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
