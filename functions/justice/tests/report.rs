//! The risk report in a real browser: headless Chromium (Debian's `chromium`, or `CHROMIUM`)
//! driven over the DevTools protocol. The page must load with no console error, exception or
//! Content-Security-Policy violation, hold a chart and a table row per resource, and sort,
//! filter, page and link as a reader expects. Without Chromium these tests fail, never skip.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

mod common;

/// `justice` with `args`, which must succeed.
fn justice(args: &[&str]) -> Output {
    let out = common::justice(args);
    assert!(
        out.status.success(),
        "justice {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The README's replay into `state`, then its report page.
fn replayed_report(state: &Path) -> PathBuf {
    let s = state.to_str().expect("utf-8 path");
    let out = common::readme_replay(s, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = state.join("report.html");
    justice(&[
        "report",
        "--state",
        s,
        "--now",
        "2023-06-22T12:00:00Z",
        "-o",
        page.to_str().expect("utf-8 path"),
    ]);
    page
}

/// A headless Chromium and one page of it, over the DevTools protocol.
struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next: u64,
    /// Console errors, uncaught exceptions and error log entries (CSP violations among them).
    errors: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch() -> Browser {
        let bin = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let profile = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `{bin}` ({e}): install Debian's `chromium` (.ci/run does) or set CHROMIUM")
            });
        // Chromium prints where its DevTools endpoint listens; the rest of its stderr is
        // drained so that it never blocks on a full pipe.
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        // Only a guard against a browser that never starts: nothing here measures speed.
        let url = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("Chromium printed no DevTools endpoint");
        let (ws, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next: 0,
            errors: Vec::new(),
            _profile: profile,
        };
        let target = b.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = b.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().expect("session").to_owned();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            b.call(domain, json!({}));
        }
        b
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next += 1;
        let mut msg = json!({"id": self.next, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to DevTools");
        self.next
    }

    /// The next message; events are noted (errors kept) and returned too.
    fn receive(&mut self) -> Value {
        loop {
            let msg = self.ws.read().expect("read from DevTools");
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            match v["method"].as_str() {
                Some("Runtime.exceptionThrown") => self
                    .errors
                    .push(format!("exception: {}", v["params"]["exceptionDetails"])),
                Some("Runtime.consoleAPICalled")
                    if matches!(v["params"]["type"].as_str(), Some("error" | "assert")) =>
                {
                    self.errors
                        .push(format!("console: {}", v["params"]["args"]))
                }
                Some("Log.entryAdded") if v["params"]["entry"]["level"] == "error" => self
                    .errors
                    .push(format!("log: {}", v["params"]["entry"]["text"])),
                _ => {}
            }
            return v;
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        loop {
            let v = self.receive();
            if v["id"].as_u64() == Some(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Opens `page` and waits for its load event.
    fn open(&mut self, page: &Path) {
        let url = format!("file://{}", page.canonicalize().expect("page").display());
        self.send("Page.navigate", json!({"url": url}));
        while self.receive()["method"] != "Page.loadEventFired" {}
        // Console and log events of the load arrive before this round trip answers.
        self.eval("1");
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("data"))
            .expect("base64");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::write(path, png).expect("write screenshot");
    }
}

/// The names of the visible rows of the table that holds `row_id`, in order.
const VISIBLE_NAMES: &str = "Array.from(document.querySelectorAll('tbody.r')).filter(b => !b.hidden && !b.closest('section[hidden]')).map(b => b.dataset.name)";

#[test]
fn the_report_renders_sorts_and_filters_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = replayed_report(dir.path());
    let mut b = Browser::launch();
    b.open(&page);
    assert!(b.errors.is_empty(), "console errors: {:#?}", b.errors);

    // A table row and a chart per resource; the charts mark the three thresholds.
    let rows = b.eval("document.querySelectorAll('tbody.r').length");
    let rows = rows.as_u64().expect("rows");
    assert!(rows >= 10, "{rows} rows");
    assert_eq!(
        b.eval("document.querySelectorAll('svg.chart polyline').length"),
        json!(rows)
    );
    assert_eq!(
        b.eval("document.querySelectorAll('svg.chart line').length"),
        json!(rows * 3)
    );
    assert_eq!(b.eval("document.scripts.length"), json!(1));
    assert_eq!(
        b.eval("document.getElementById('count').textContent"),
        json!(format!("{rows} resource(s) shown"))
    );
    // The summary counts what the tables hold.
    let cards: u64 = (0..4)
        .map(|i| {
            b.eval(&format!(
                "+document.querySelectorAll('.card b')[{i}].textContent"
            ))
            .as_u64()
            .expect("card")
        })
        .sum();
    assert_eq!(cards, rows);

    // Sorting: the largest table, by name both ways, then by score.
    let table = "Array.from(document.querySelectorAll('table.res')).sort((a, b) => b.tBodies.length - a.tBodies.length)[0]";
    let names = format!("Array.from(({table}).tBodies).map(b => b.dataset.name)");
    let scores = format!("Array.from(({table}).tBodies).map(b => +b.dataset.score)");
    b.eval(&format!(
        "({table}).querySelector('th[data-sort=name]').click()"
    ));
    let asc: Vec<String> = serde_json::from_value(b.eval(&names)).expect("names");
    assert!(asc.len() >= 3, "{asc:?}");
    let mut sorted = asc.clone();
    sorted.sort_by_key(|s| s.to_lowercase());
    assert_eq!(asc, sorted, "ascending by name");
    b.eval(&format!(
        "({table}).querySelector('th[data-sort=name]').click()"
    ));
    let desc: Vec<String> = serde_json::from_value(b.eval(&names)).expect("names");
    assert_eq!(desc, asc.iter().rev().cloned().collect::<Vec<_>>());
    b.eval(&format!(
        "({table}).querySelector('th[data-sort=score]').click()"
    ));
    let s: Vec<u64> = serde_json::from_value(b.eval(&scores)).expect("scores");
    assert!(
        s.windows(2).all(|w| w[0] >= w[1]),
        "score descending: {s:?}"
    );

    // Filtering: by text (any field), then by level.
    b.eval("const q = document.getElementById('q'); q.value = 'c7n-data-index'; q.dispatchEvent(new Event('input'))");
    assert_eq!(b.eval(VISIBLE_NAMES), json!(["c7n-data-index"]));
    assert_eq!(
        b.eval("document.getElementById('count').textContent"),
        json!("1 resource(s) shown")
    );
    b.eval("q.value = 'AWS::S3::Bucket   '; q.dispatchEvent(new Event('input'))");
    let buckets: Vec<String> = serde_json::from_value(b.eval(VISIBLE_NAMES)).expect("names");
    assert!(
        !buckets.is_empty() && (buckets.len() as u64) < rows,
        "{buckets:?}"
    );
    b.eval("q.value = ''; q.dispatchEvent(new Event('input')); const lv = document.getElementById('lv'); lv.value = '3'; lv.dispatchEvent(new Event('change'))");
    let kill = b.eval("Array.from(document.querySelectorAll('tbody.r')).filter(b => !b.hidden && !b.closest('section[hidden]')).every(b => b.dataset.level === '3')");
    assert_eq!(kill, json!(true));
    assert_eq!(
        b.eval("document.getElementById('count').textContent"),
        json!(format!(
            "{} resource(s) shown",
            b.eval("+document.querySelectorAll('.card b')[0].textContent")
        ))
    );

    // A top risk's link shows that resource, whatever the filter, with its details open.
    b.eval("document.querySelector('ol.top a').click()");
    b.eval("1");
    assert_eq!(
        b.eval("document.getElementById('r-0').hidden"),
        json!(false)
    );
    assert_eq!(
        b.eval("document.querySelector('#r-0 details').open"),
        json!(true)
    );
    assert_eq!(b.eval("document.getElementById('lv').value"), json!("0"));
    assert!(b.errors.is_empty(), "console errors: {:#?}", b.errors);

    // The README's screenshots: the summary, and the riskiest resource opened.
    let shots = std::env::var_os("REPORT_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    b.eval("window.scrollTo(0, 0)");
    b.screenshot(&shots.join("report.png"));
    b.eval("document.getElementById('r-0').scrollIntoView(); window.scrollBy(0, -90)");
    b.screenshot(&shots.join("report-resource.png"));
}

/// The error checks above can fail: a page whose script throws, logs an error or is blocked
/// by a Content-Security-Policy is caught.
#[test]
fn the_browser_check_catches_a_broken_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = Browser::launch();
    for (name, html) in [
        ("throws.html", "<!DOCTYPE html><title>t</title><script>null.x()</script>"),
        ("logs.html", "<!DOCTYPE html><title>t</title><script>console.error('bad')</script>"),
        (
            "csp.html",
            "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\"><title>t</title><script>1</script>",
        ),
    ] {
        let page = dir.path().join(name);
        std::fs::write(&page, html).expect("write");
        b.errors.clear();
        b.open(&page);
        assert!(!b.errors.is_empty(), "{name}: no error seen");
    }
}

/// A local store holding `states` as the scorer leaves them (no history: each chart is one
/// point).
fn store_of(states: &[justice_core::RiskState]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = justice_local::LocalRiskStore::open(dir.path()).expect("store");
    justice_tests::runtime().block_on(justice_tests::write_states(&store, states));
    store.flush().expect("flush");
    drop(store);
    dir
}

fn numbered(i: usize, name: &str, team: &str) -> justice_core::RiskState {
    let mut s = justice_tests::states::sg(30 + (i as u32 * 7) % 200, &[22]);
    let id = format!("sg-{i:08x}");
    s.key =
        justice_core::ResourceKey::new(&s.account, &s.region, &s.resource_type, &id).expect("key");
    s.resource_id = id;
    s.arn = None;
    s.resource_name = Some(name.to_owned());
    s.tags = Some([("team".to_owned(), team.to_owned())].into());
    s
}

fn report_of(dir: &Path) -> PathBuf {
    let page = dir.join("report.html");
    justice(&[
        "report",
        "--state",
        dir.to_str().expect("utf-8 path"),
        "--now",
        "2026-09-21T00:00:00Z",
        "-o",
        page.to_str().expect("utf-8 path"),
    ]);
    page
}

/// A table of 130 resources shows 50 (the rest are written hidden, so a browser does not lay
/// them out), "Show more" shows the rest, and a filter still finds a row of the hidden ones.
#[test]
fn a_large_table_shows_a_page_at_a_time() {
    let states: Vec<_> = (0..130)
        .map(|i| numbered(i, &format!("group-{i:03}"), "team-a"))
        .collect();
    let dir = store_of(&states);
    let page = report_of(dir.path());
    let html = std::fs::read_to_string(&page).expect("page");
    assert_eq!(html.matches("<tbody class=\"r\" id=\"r-").count(), 130);
    assert_eq!(
        html.matches("\" hidden data-name=").count(),
        80,
        "written hidden"
    );
    let mut b = Browser::launch();
    b.open(&page);
    assert!(b.errors.is_empty(), "console errors: {:#?}", b.errors);
    let visible = format!("({VISIBLE_NAMES}).length");
    assert_eq!(b.eval(&visible), json!(50));
    assert_eq!(
        b.eval("document.querySelector('.pager').hidden"),
        json!(false)
    );
    assert_eq!(
        b.eval("document.querySelector('.pager span').textContent"),
        json!("showing 50 of 130")
    );
    // The riskiest 50 are the ones shown.
    let shown: Vec<u64> = serde_json::from_value(b.eval(
        "Array.from(document.querySelectorAll('tbody.r')).filter(b => !b.hidden).map(b => +b.dataset.score)",
    ))
    .expect("scores");
    let mut all: Vec<u64> = states.iter().map(|s| u64::from(s.score)).collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(shown, all[..50]);
    b.eval("document.querySelector('.pager button').click()");
    assert_eq!(b.eval(&visible), json!(130));
    assert_eq!(
        b.eval("document.querySelector('.pager').hidden"),
        json!(true)
    );
    b.eval("const q = document.getElementById('q'); q.value = 'group-129'; q.dispatchEvent(new Event('input'))");
    assert_eq!(b.eval(VISIBLE_NAMES), json!(["group-129"]));
    assert!(b.errors.is_empty(), "console errors: {:#?}", b.errors);
}

/// Hostile names, tags and evidence, in a real browser: shown as text, running nothing.
#[test]
fn hostile_text_is_shown_as_text_and_runs_nothing() {
    let evil = [
        "\"><img src=x onerror=console.error('xss')>",
        "</script><script>console.error('xss')</script>",
        "' onmouseover='console.error(1)' x='",
        "<svg onload=console.error('xss')>",
        "<b>bold</b> &amp; <!-- comment -->",
    ];
    let states: Vec<_> = evil
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut s = numbered(i, e, e);
            s.owner = Some((*e).to_owned());
            for f in &mut s.findings {
                f.finding.evidence = (*e).to_owned();
            }
            s
        })
        .collect();
    let dir = store_of(&states);
    let page = report_of(dir.path());
    let mut b = Browser::launch();
    b.open(&page);
    b.eval("document.querySelectorAll('details').forEach(d => d.open = true)");
    b.eval(
        "document.querySelectorAll('*').forEach(e => e.dispatchEvent(new MouseEvent('mouseover')))",
    );
    b.eval("1");
    assert!(b.errors.is_empty(), "hostile text ran: {:#?}", b.errors);
    assert_eq!(b.eval("document.scripts.length"), json!(1));
    assert_eq!(
        b.eval("document.querySelectorAll('img, b b, svg:not(.chart), svg svg').length"),
        json!(0)
    );
    assert_eq!(
        b.eval("Array.from(document.querySelectorAll('*')).some(e => Array.from(e.attributes).some(a => a.name.startsWith('on')))"),
        json!(false)
    );
    // Each name reads as it was written.
    let names: Vec<String> = serde_json::from_value(b.eval(
        "Array.from(document.querySelectorAll('tbody.r tr.main td:first-child b')).map(b => b.textContent)",
    ))
    .expect("names");
    for e in evil {
        assert!(
            names.iter().any(|n| n == e),
            "{e} not shown as text: {names:?}"
        );
    }
}
