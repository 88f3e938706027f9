//! `cacheproxy explain` says what the proxy will do; these tests then ask
//! the running proxy and check that it does that, for every decision.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use support::{get, run_to_end, send_raw, FakeOrigin, Server, TempDir};

/// An origin whose replies carry `Cache-Control` by path, an `ETag`, and
/// answer `If-None-Match` with 304; with `down` set, every reply is a 503.
fn origin(down: Arc<AtomicBool>) -> FakeOrigin {
    FakeOrigin::start(move |request, stream| {
        let path = request.target.as_str();
        let cache_control = match path {
            "/fresh" => "max-age=60",
            "/check" => "max-age=0",
            "/later" => "max-age=1, stale-while-revalidate=600",
            "/on-error" => "max-age=1, stale-if-error=600",
            _ => "max-age=60",
        };
        // `Age: 5` makes a copy with `max-age=1` stale at once, no waiting.
        let reply = if down.load(Ordering::SeqCst) {
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_string()
        } else if request.header("If-None-Match").as_deref() == Some("\"v1\"") {
            format!("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: {cache_control}\r\n\r\n")
        } else {
            let vary = if path == "/vary" {
                "Vary: Accept-Language\r\n"
            } else {
                ""
            };
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"v1\"\r\nAge: 5\r\n\
                 Cache-Control: {cache_control}\r\n{vary}\r\nok"
            )
        };
        let _ = stream.write_all(reply.as_bytes());
    })
}

/// The decision line of `cacheproxy explain PATH ARGS...` on `cache`.
fn explain(cache: &TempDir, path: &str, args: &[&str]) -> String {
    let dir = cache.path.to_str().expect("utf-8 path");
    let mut all = vec!["explain", path, "--cache-dir", dir];
    all.extend(args);
    let (code, out, err) = run_to_end(&all);
    assert_eq!(code, Some(0), "explain {path} {args:?}: {err}");
    let decision = out.lines().find_map(|line| line.strip_prefix("decision:"));
    decision
        .unwrap_or_else(|| panic!("no decision in {out:?}"))
        .trim()
        .to_string()
}

/// A `GET` of `path` with `fields` (each a full `Name: value` line).
fn get_with(proxy: &Server, path: &str, fields: &[&str]) -> support::Reply {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n");
    for field in fields {
        request.push_str(field);
        request.push_str("\r\n");
    }
    request += "Connection: close\r\n\r\n";
    send_raw(proxy.addr, request.as_bytes())
}

#[test]
fn explain_agrees_with_the_proxy_on_fetch_hit_check_and_pass() {
    let cache = TempDir::new("explain");
    let down = Arc::new(AtomicBool::new(false));
    let origin = origin(Arc::clone(&down));
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);

    assert!(explain(&cache, "/fresh", &[]).starts_with("fetch (nothing stored"));
    assert_eq!(get(proxy.addr, "/fresh").x_cache(), "MISS");
    assert!(explain(&cache, "/fresh", &[]).starts_with("hit (fresh"));
    assert_eq!(get(proxy.addr, "/fresh").x_cache(), "HIT");
    assert_eq!(origin.received().len(), 1, "a hit does not ask the origin");

    let insists = ["-H", "Cache-Control: no-cache"];
    assert!(explain(&cache, "/fresh", &insists).starts_with("check (the client insists"));
    let checked = get_with(&proxy, "/fresh", &["Cache-Control: no-cache"]);
    assert_eq!(checked.x_cache(), "REVALIDATED");

    assert_eq!(get(proxy.addr, "/check").x_cache(), "MISS");
    let check = explain(&cache, "/check", &[]);
    assert!(check.starts_with("check (stale"), "{check}");
    assert_eq!(get(proxy.addr, "/check").x_cache(), "REVALIDATED");
    let asked = origin.received().pop().expect("a request");
    assert_eq!(asked.header("If-None-Match").as_deref(), Some("\"v1\""));

    let no_store = ["-H", "Cache-Control: no-store"];
    assert!(explain(&cache, "/other", &no_store).starts_with("pass (the client said no-store"));
    let passed = get_with(&proxy, "/other", &["Cache-Control: no-store"]);
    assert_eq!(passed.x_cache(), "BYPASS");
    assert!(
        explain(&cache, "/other", &[]).starts_with("fetch"),
        "nothing was stored"
    );
}

#[test]
fn explain_agrees_with_the_proxy_on_stale_copies() {
    let cache = TempDir::new("explain-stale");
    let down = Arc::new(AtomicBool::new(false));
    let origin = origin(Arc::clone(&down));
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/later");
    get(proxy.addr, "/on-error");

    let later = explain(&cache, "/later", &[]);
    assert!(
        later.starts_with("hit, then check (stale, within stale-while-revalidate"),
        "{later}"
    );
    assert_eq!(get(proxy.addr, "/later").x_cache(), "STALE");

    let accepted = ["-H", "Cache-Control: max-stale=100"];
    assert!(explain(&cache, "/on-error", &accepted)
        .starts_with("hit (stale, but the client's max-stale"));
    assert_eq!(
        get_with(&proxy, "/on-error", &["Cache-Control: max-stale=100"]).x_cache(),
        "HIT"
    );

    down.store(true, Ordering::SeqCst);
    let on_error = explain(&cache, "/on-error", &[]);
    assert!(
        on_error.ends_with("if the origin fails: the stale copy stands in, RFC 5861 4"),
        "{on_error}"
    );
    let stale = get(proxy.addr, "/on-error");
    assert_eq!(
        (stale.x_cache(), stale.text()),
        ("STALE".to_string(), "ok".to_string())
    );
}

#[test]
fn explain_finds_the_variant_a_request_selects() {
    let cache = TempDir::new("explain-vary");
    let origin = origin(Arc::new(AtomicBool::new(false)));
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    get_with(&proxy, "/vary", &["Accept-Language: fr"]);
    let dir = cache.path.to_str().expect("utf-8 path");
    let args = [
        "explain",
        "/vary",
        "--cache-dir",
        dir,
        "-H",
        "Accept-Language: fr",
    ];
    let (_, out, _) = run_to_end(&args);
    assert!(out.contains("vary@@accept-language=fr"), "{out}");
    assert!(explain(&cache, "/vary", &["-H", "Accept-Language: fr"]).starts_with("hit"));
    assert!(explain(&cache, "/vary", &["-H", "Accept-Language: de"]).starts_with("fetch"));
    assert_eq!(
        get_with(&proxy, "/vary", &["Accept-Language: de"]).x_cache(),
        "MISS"
    );
    assert_eq!(
        get_with(&proxy, "/vary", &["Accept-Language: fr"]).x_cache(),
        "HIT"
    );
}

#[test]
fn explain_refuses_what_the_proxy_refuses() {
    let cache = TempDir::new("explain-bad");
    support::mark_as_cache(&cache.path);
    let dir = cache.path.to_str().expect("utf-8 path");
    let (code, _, err) = run_to_end(&["explain", "/a/../b", "--cache-dir", dir]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/a/../b: "), "{err}");
    let (code, _, err) = run_to_end(&["explain", "/", "--cache-dir", dir, "-H", "no colon"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not 'Name: value'"), "{err}");
    // The proxy answers 421 for another server's URL; a loopback one is ours.
    let (code, _, err) = run_to_end(&["explain", "http://example.com/x", "--cache-dir", dir]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("names another server"), "{err}");
    let (code, out, err) = run_to_end(&["explain", "http://127.0.0.1:8888/x", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("fetch"), "{out}");
}

#[test]
fn a_mistake_on_explains_command_line_points_to_its_own_help() {
    let (code, _, err) = run_to_end(&["explain", "/", "--ttl", "soon"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("(see cacheproxy explain --help)"), "{err}");
    let (_, _, err) = run_to_end(&[]);
    assert!(
        err.contains("cacheproxy explain"),
        "the commands named: {err}"
    );
}

#[test]
fn explain_says_when_the_file_cannot_be_read() {
    let cache = TempDir::new("explain-unreadable");
    support::mark_as_cache(&cache.path);
    std::fs::write(cache.join("bad@"), b"not a stored response").expect("write");
    let dir = cache.path.to_str().expect("utf-8 path");
    let (code, out, err) = run_to_end(&["explain", "/bad", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("bad@, unreadable ("), "{out}");
    assert!(
        out.contains("decision:  fetch (the file cannot be read"),
        "{out}"
    );
}

#[test]
fn explain_and_the_trace_say_where_a_lifetime_comes_from() {
    // No Cache-Control or Expires: the lifetime is guessed from
    // Last-Modified (RFC 9111 4.2.2), a tenth of 20 days, capped at a day.
    let now = SystemTime::now();
    let modified = now - Duration::from_secs(20 * 86_400);
    let (date, modified) = (support::http_date(now), support::http_date(modified));
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: {date}\r\nLast-Modified: {modified}\r\n\r\nok"
    );
    let origin = FakeOrigin::replying(reply.into_bytes());
    let cache = TempDir::new("explain-lifetime");
    let proxy = Server::proxy(&origin.url, &cache.path, &["--trace"]);
    assert_eq!(get(proxy.addr, "/guessed").x_cache(), "MISS");
    let dir = cache.path.to_str().expect("utf-8 path");
    let (_, out, _) = run_to_end(&["explain", "/guessed", "--cache-dir", dir]);
    let from = "a tenth of the time since Last-Modified, at most a day";
    assert!(
        out.contains(&format!("lifetime:  86400 s, from {from}")),
        "{out}"
    );
    assert_eq!(get(proxy.addr, "/guessed").x_cache(), "HIT");
    proxy.wait_for_log(&format!("of its 86400 s lifetime ({from}"));
}
