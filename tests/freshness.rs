//! Freshness, revalidation, stale-if-error, invalidation, purge and the size
//! bound, against the real binary. Time-based tests use lifetimes of 1 s.

mod support;

use std::io::Write;
use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use support::{files_below, get, run_to_end, send_raw, www, FakeOrigin, Reply, Server, TempDir};

/// Waits until a `max-age=1` copy stored just now has expired.
fn let_one_second_copies_expire() {
    thread::sleep(Duration::from_millis(1100));
}

fn get_with(proxy: &Server, path: &str, extra_headers: &str) -> Reply {
    send_raw(
        proxy.addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra_headers}\r\n").as_bytes(),
    )
}

fn cache_status(reply: &Reply) -> String {
    reply.header("Cache-Status").unwrap_or_default()
}

/// An origin serving `v1`, `v2`, ... (the version the test sets) with an
/// `ETag` of the version, the given `Cache-Control`, and 304 when the
/// request's `If-None-Match` names the current version.
fn versioned_origin(cache_control: &'static str, version: Arc<AtomicU32>) -> FakeOrigin {
    FakeOrigin::start(move |request, stream| {
        let current = format!("v{}", version.load(Ordering::SeqCst));
        let etag = format!("\"{current}\"");
        let reply = if request.header("If-None-Match").as_deref() == Some(etag.as_str()) {
            format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nCache-Control: {cache_control}\r\nX-Checked: yes\r\n\r\n")
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nETag: {etag}\r\nCache-Control: {cache_control}\r\nContent-Length: {}\r\n\r\n{current}",
                current.len()
            )
        };
        let _ = stream.write_all(reply.as_bytes());
    })
}

#[test]
fn an_expired_copy_is_revalidated_and_a_304_refreshes_it() {
    let cache = TempDir::new("revalidate");
    let origin = Server::origin(&www(), &["--max-age", "1"]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/data.json").x_cache(), "MISS");
    let hit = get(proxy.addr, "/data.json");
    assert_eq!(hit.x_cache(), "HIT");
    assert_eq!(hit.header("Cache-Control").as_deref(), Some("max-age=1"));
    let_one_second_copies_expire();
    let revalidated = get(proxy.addr, "/data.json");
    assert_eq!(
        (revalidated.status, revalidated.x_cache()),
        (200, "REVALIDATED".to_string())
    );
    assert!(cache_status(&revalidated).starts_with("cacheproxy; fwd=stale; fwd-status=304; ttl="));
    assert_eq!(
        revalidated.body,
        std::fs::read(www().join("data.json")).expect("read")
    );
    origin.wait_for_request_log("GET /data.json ", 304, "-");
    // The 304 restarted the copy's age: it is fresh again.
    let after = get(proxy.addr, "/data.json");
    assert_eq!(
        (after.x_cache(), after.header("Age").as_deref()),
        ("HIT".to_string(), Some("0"))
    );
}

#[test]
fn a_changed_resource_replaces_the_copy() {
    let cache = TempDir::new("replace");
    let version = Arc::new(AtomicU32::new(1));
    let origin = versioned_origin("max-age=1", Arc::clone(&version));
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/doc").text(), "v1");
    version.store(2, Ordering::SeqCst);
    let still_fresh = get(proxy.addr, "/doc");
    assert_eq!(
        (still_fresh.x_cache(), still_fresh.text()),
        ("HIT".to_string(), "v1".to_string())
    );
    let_one_second_copies_expire();
    let changed = get(proxy.addr, "/doc");
    assert_eq!(
        (changed.x_cache(), changed.text()),
        ("MISS".to_string(), "v2".to_string())
    );
    assert_eq!(
        cache_status(&changed),
        "cacheproxy; fwd=stale; fwd-status=200; stored"
    );
    assert_eq!(
        origin.received()[1].header("If-None-Match").as_deref(),
        Some("\"v1\"")
    );
    let hit = get(proxy.addr, "/doc");
    assert_eq!(
        (hit.x_cache(), hit.text()),
        ("HIT".to_string(), "v2".to_string())
    );
}

#[test]
fn a_304_updates_the_fields_it_carries() {
    let cache = TempDir::new("refresh-fields");
    let origin = versioned_origin("max-age=1", Arc::new(AtomicU32::new(1)));
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/doc").header("X-Checked"), None);
    let_one_second_copies_expire();
    assert_eq!(
        get(proxy.addr, "/doc").header("X-Checked").as_deref(),
        Some("yes")
    );
    let stored = std::fs::read_to_string(cache.join("doc@")).expect("entry");
    assert!(stored.contains("x-checked: yes\r\n"), "{stored}");
    assert!(stored.ends_with("\r\n\r\nv1"), "the body is kept: {stored}");
}

#[test]
fn the_lifetime_comes_from_s_maxage_then_max_age_then_expires_then_ttl() {
    let cache = TempDir::new("lifetime");
    let origin = FakeOrigin::start(|request, stream| {
        let now = SystemTime::now();
        let date = support::http_date(now);
        let in_a_minute = support::http_date(now + Duration::from_secs(60));
        let fields = match request.target.as_str() {
            "/s-maxage" => "Cache-Control: max-age=0, s-maxage=60\r\n".to_string(),
            "/max-age" => "Cache-Control: max-age=60\r\n".to_string(),
            "/expires" => format!("Date: {date}\r\nExpires: {in_a_minute}\r\n"),
            "/expired" => format!("Date: {date}\r\nExpires: {date}\r\n"),
            "/bad-expires" => "Expires: tomorrow\r\n".to_string(),
            "/max-age-wins" => {
                format!("Cache-Control: max-age=0\r\nDate: {date}\r\nExpires: {in_a_minute}\r\n")
            }
            _ => String::new(),
        };
        let reply = format!("HTTP/1.1 200 OK\r\n{fields}Content-Length: 2\r\n\r\nok");
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let no_ttl = Server::proxy(&origin.url, &cache.join("no-ttl"), &["--ttl", "0"]);
    for (path, second) in [
        ("/s-maxage", "HIT"),
        ("/max-age", "HIT"),
        ("/expires", "HIT"),
        ("/expired", "MISS"),
        ("/bad-expires", "MISS"),
        ("/max-age-wins", "MISS"),
        ("/plain", "HIT"),
    ] {
        assert_eq!(get(proxy.addr, path).x_cache(), "MISS", "{path}");
        assert_eq!(get(proxy.addr, path).x_cache(), second, "{path}");
    }
    assert_eq!(get(no_ttl.addr, "/plain").x_cache(), "MISS");
    let again = get(no_ttl.addr, "/plain");
    assert_eq!(
        again.x_cache(),
        "MISS",
        "--ttl 0 and no validators: fetched again"
    );
    assert!(cache_status(&again).starts_with("cacheproxy; fwd=stale"));
}

#[test]
fn the_origins_age_counts_against_the_lifetime() {
    let cache = TempDir::new("origin-age");
    let origin = FakeOrigin::start(|request, stream| {
        let age = if request.target == "/old" { 60 } else { 20 };
        let reply = format!("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nAge: {age}\r\nContent-Length: 2\r\n\r\nok");
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/old");
    assert_eq!(
        get(proxy.addr, "/old").x_cache(),
        "MISS",
        "60 s old at arrival: already stale"
    );
    get(proxy.addr, "/young");
    let hit = get(proxy.addr, "/young");
    assert_eq!(hit.x_cache(), "HIT");
    let age: u64 = hit
        .header("Age")
        .and_then(|age| age.parse().ok())
        .expect("Age");
    assert!((20..=21).contains(&age), "Age {age}");
    assert_eq!(hit.header_count("Age"), 1);
}

#[test]
fn age_on_a_reply_from_disk_is_the_current_age() {
    let cache = TempDir::new("age");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/style.css");
    thread::sleep(Duration::from_millis(1100));
    let hit = get(proxy.addr, "/style.css");
    assert_eq!(
        (hit.x_cache(), hit.header("Age").as_deref()),
        ("HIT".to_string(), Some("1"))
    );
    assert!(
        cache_status(&hit).ends_with("ttl=59"),
        "{}",
        cache_status(&hit)
    );
}

#[test]
fn responses_that_may_not_be_stored_bypass_the_cache() {
    let cache = TempDir::new("bypass");
    let origin = FakeOrigin::start(|request, stream| {
        let field = match request.target.as_str() {
            "/no-store" => "Cache-Control: no-store\r\n",
            "/private" => "Cache-Control: private, max-age=60\r\n",
            "/vary-star" => "Vary: *\r\n",
            "/cookie" => "Set-Cookie: session=1\r\n",
            "/vary-encoding" => "Vary: Accept-Encoding\r\n",
            _ => "",
        };
        let reply = format!("HTTP/1.1 200 OK\r\n{field}Content-Length: 2\r\n\r\nok");
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for (path, request_field, detail) in [
        ("/no-store", "", "no-store"),
        ("/private", "", "private"),
        ("/vary-star", "", "vary"),
        ("/cookie", "", "set-cookie"),
        (
            "/authorized",
            "Authorization: Bearer x\r\n",
            "authorization",
        ),
        (
            "/request-no-store",
            "Cache-Control: no-store\r\n",
            "request-no-store",
        ),
    ] {
        for _ in 0..2 {
            let reply = get_with(&proxy, path, request_field);
            assert_eq!(
                (reply.status, reply.text()),
                (200, "ok".to_string()),
                "{path}"
            );
            assert_eq!(reply.x_cache(), "BYPASS", "{path}");
            assert_eq!(
                cache_status(&reply),
                format!("cacheproxy; fwd=uri-miss; fwd-status=200; detail={detail}")
            );
        }
        proxy.wait_for_request_log(&format!("GET {path} "), 200, "BYPASS");
    }
    assert_eq!(origin.received().len(), 12, "every one went to the origin");
    assert!(
        files_below(&cache.path).is_empty(),
        "{:?}",
        files_below(&cache.path)
    );
    get(proxy.addr, "/vary-encoding");
    assert_eq!(
        get(proxy.addr, "/vary-encoding").x_cache(),
        "HIT",
        "Vary: Accept-Encoding is fine"
    );
}

#[test]
fn no_cache_from_the_origin_means_a_check_before_every_use() {
    let cache = TempDir::new("no-cache");
    let origin = versioned_origin("no-cache", Arc::new(AtomicU32::new(1)));
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(
        cache_status(&get(proxy.addr, "/n")),
        "cacheproxy; fwd=uri-miss; fwd-status=200; stored"
    );
    for _ in 0..2 {
        let reply = get(proxy.addr, "/n");
        assert_eq!(
            (reply.x_cache(), reply.text()),
            ("REVALIDATED".to_string(), "v1".to_string())
        );
    }
    assert_eq!(origin.received().len(), 3);
}

#[test]
fn the_client_can_insist_on_a_check() {
    let cache = TempDir::new("client-no-cache");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/data.json").x_cache(), "MISS");
    for insisting in [
        "Cache-Control: no-cache\r\n",
        "Pragma: no-cache\r\n",
        "Cache-Control: max-age=0\r\n",
    ] {
        let reply = get_with(&proxy, "/data.json", insisting);
        assert_eq!(reply.x_cache(), "REVALIDATED", "{insisting}");
        assert!(cache_status(&reply).starts_with("cacheproxy; fwd=request; fwd-status=304"));
    }
    assert_eq!(
        get_with(&proxy, "/data.json", "Cache-Control: max-age=30\r\n").x_cache(),
        "HIT"
    );
    assert_eq!(get(proxy.addr, "/data.json").x_cache(), "HIT");
}

#[test]
fn a_clients_own_conditional_request_gets_304_from_a_fresh_copy() {
    let cache = TempDir::new("client-conditional");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let first = get(proxy.addr, "/style.css");
    let etag = first.header("ETag").expect("the demo origin sends ETag");
    let last_modified = first.header("Last-Modified").expect("and Last-Modified");
    let matching = get_with(&proxy, "/style.css", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(
        (matching.status, matching.x_cache(), matching.body.len()),
        (304, "HIT".to_string(), 0)
    );
    assert_eq!(matching.header("ETag"), Some(etag));
    let other = get_with(
        &proxy,
        "/style.css",
        "If-None-Match: \"something-else\"\r\n",
    );
    assert_eq!((other.status, other.body.is_empty()), (200, false));
    let since = get_with(
        &proxy,
        "/style.css",
        &format!("If-Modified-Since: {last_modified}\r\n"),
    );
    assert_eq!(since.status, 304);
    let before = get_with(
        &proxy,
        "/style.css",
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
    );
    assert_eq!(before.status, 200);
    assert_eq!(
        origin
            .log()
            .iter()
            .filter(|line| line.contains("GET /style.css"))
            .count(),
        1
    );
}

#[test]
fn a_stale_copy_stands_in_when_the_origin_is_down() {
    let cache = TempDir::new("stale-if-error");
    let mut origin = Server::origin(&www(), &["--max-age", "1"]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/data.json");
    origin.kill();
    let_one_second_copies_expire();
    let stale = get(proxy.addr, "/data.json");
    assert_eq!((stale.status, stale.x_cache()), (200, "STALE".to_string()));
    assert_eq!(
        stale.body,
        std::fs::read(www().join("data.json")).expect("read")
    );
    let status = cache_status(&stale);
    let ttl: i64 = status
        .split("; ")
        .find_map(|parameter| parameter.strip_prefix("ttl="))
        .and_then(|ttl| ttl.parse().ok())
        .unwrap_or_else(|| panic!("no ttl in {status}"));
    assert!(ttl <= 0, "a stale copy has no freshness left: {status}");
    assert!(
        status.starts_with("cacheproxy; fwd=stale; ttl=")
            && status.ends_with("; detail=stale-if-error"),
        "{status}"
    );
    proxy.wait_for_request_log("GET /data.json ", 200, "STALE");
    assert_eq!(
        get(proxy.addr, "/never-fetched").status,
        502,
        "no copy, no stand-in"
    );
}

#[test]
fn a_stale_copy_stands_in_for_a_5xx_but_not_when_forbidden_or_too_old() {
    let cache = TempDir::new("stale-5xx");
    let failing = Arc::new(AtomicU32::new(0));
    let origin_failing = Arc::clone(&failing);
    let origin = FakeOrigin::start(move |request, stream| {
        if origin_failing.load(Ordering::SeqCst) == 1 {
            let _ = stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown");
            return;
        }
        let cache_control = match request.target.as_str() {
            "/must" => "max-age=1, must-revalidate",
            "/proxy" => "max-age=1, proxy-revalidate",
            "/shared" => "s-maxage=1",
            "/no-cache" => "no-cache",
            _ => "max-age=1",
        };
        let reply = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: {cache_control}\r\nContent-Length: 2\r\n\r\nok"
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let strict = Server::proxy(&origin.url, &cache.join("strict"), &["--max-stale", "1"]);
    for path in ["/plain", "/must", "/proxy", "/shared", "/no-cache"] {
        get(proxy.addr, path);
    }
    get(strict.addr, "/plain");
    failing.store(1, Ordering::SeqCst);
    let_one_second_copies_expire();
    let stale = get(proxy.addr, "/plain");
    assert_eq!(
        (stale.status, stale.x_cache(), stale.text()),
        (200, "STALE".to_string(), "ok".to_string())
    );
    assert!(
        cache_status(&stale).contains("fwd-status=503"),
        "{}",
        cache_status(&stale)
    );
    for forbidden in ["/must", "/proxy", "/shared", "/no-cache"] {
        let reply = get(proxy.addr, forbidden);
        assert_eq!(
            (reply.status, reply.text()),
            (503, "down".to_string()),
            "{forbidden}"
        );
    }
    thread::sleep(Duration::from_millis(2000));
    let too_old = get(strict.addr, "/plain");
    assert_eq!(
        too_old.status, 503,
        "more than --max-stale 1 past its lifetime"
    );
}

#[test]
fn a_successful_write_drops_the_copies_it_made_stale() {
    let cache = TempDir::new("invalidate");
    let origin = FakeOrigin::start(|request, stream| {
        let reply = match (request.method.as_str(), request.target.as_str()) {
            ("GET", _) => "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok".to_string(),
            ("POST", "/items") => format!(
                "HTTP/1.1 201 Created\r\nLocation: /items/5\r\nContent-Location: http://{}/summary\r\nContent-Length: 0\r\n\r\n",
                request.header("Host").unwrap_or_default()
            ),
            ("PUT", "/elsewhere") => {
                "HTTP/1.1 200 OK\r\nLocation: http://other.example/kept\r\nContent-Length: 0\r\n\r\n".to_string()
            }
            ("DELETE", "/broken") => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_string(),
            _ => "HTTP/1.1 204 No Content\r\n\r\n".to_string(),
        };
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let urls = [
        "/items",
        "/items/5",
        "/summary",
        "/kept",
        "/elsewhere",
        "/broken",
        "/untouched",
    ];
    for url in urls {
        assert_eq!(get(proxy.addr, url).x_cache(), "MISS", "{url}");
    }
    let post = send_raw(
        proxy.addr,
        b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!((post.status, post.x_cache()), (201, "BYPASS".to_string()));
    send_raw(
        proxy.addr,
        b"PUT /elsewhere HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    send_raw(proxy.addr, b"DELETE /broken HTTP/1.1\r\nHost: t\r\n\r\n");
    proxy.wait_for_request_log("POST /items ", 201, "BYPASS");
    assert!(proxy
        .wait_for_log("POST /items")
        .contains("invalidated /items /items/5 /summary"));
    for (url, expected) in [
        ("/items", "MISS"),
        ("/items/5", "MISS"),
        ("/summary", "MISS"),
        ("/elsewhere", "MISS"),
        ("/kept", "HIT"),
        ("/broken", "HIT"),
        ("/untouched", "HIT"),
    ] {
        assert_eq!(get(proxy.addr, url).x_cache(), expected, "{url}");
    }
}

#[test]
fn purge_drops_a_copy_on_request() {
    let cache = TempDir::new("purge-method");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/data.json?page=2");
    let purged = send_raw(
        proxy.addr,
        b"PURGE /data.json?page=2 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(
        (purged.status, purged.text()),
        (200, "purged /data.json?page=2\n".to_string())
    );
    assert!(files_below(&cache.path).is_empty());
    assert_eq!(get(proxy.addr, "/data.json?page=2").x_cache(), "MISS");
    let absent = send_raw(proxy.addr, b"PURGE /nothing HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (absent.status, absent.text()),
        (404, "nothing was stored for /nothing\n".to_string())
    );
    assert_eq!(
        send_raw(proxy.addr, b"PURGE /../x HTTP/1.1\r\nHost: t\r\n\r\n").status,
        400
    );
}

/// This machine's own address other than loopback, if it has one: the one
/// it would send from towards the outside (a UDP "connect" sends nothing).
fn own_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn purge_is_accepted_from_the_machines_own_address() {
    let Some(own) = own_address() else {
        eprintln!("skipped: this machine has no address but loopback");
        return;
    };
    let cache = TempDir::new("purge-own-address");
    let origin = FakeOrigin::replying(support::ok_reply("text/plain", b"x"));
    let own = own.to_string();
    let proxy = Server::proxy(&origin.url, &cache.path, &["--bind", &own]);
    assert_eq!(get(proxy.addr, "/page").x_cache(), "MISS");
    // The connection runs from this address to itself, not over loopback.
    let purged = send_raw(proxy.addr, b"PURGE /page HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (purged.status, purged.text()),
        (200, "purged /page\n".to_string())
    );
}

#[test]
fn ls_lists_entries_and_purge_removes_them() {
    let cache = TempDir::new("ls-purge");
    let origin = Server::origin(&www(), &["--max-age", "1"]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for path in ["/", "/data.json?page=2", "/images/gradient.png"] {
        get(proxy.addr, path);
    }
    let dir = cache.path.to_str().expect("utf-8");
    let (code, listing, _) = run_to_end(&["ls", "--cache-dir", dir]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = listing.lines().collect();
    assert!(
        lines[0].starts_with("URL") && lines[0].ends_with("STATE TYPE"),
        "{listing}"
    );
    let png_size = std::fs::metadata(www().join("images/gradient.png"))
        .expect("png")
        .len();
    let png_row: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        png_row[..3],
        ["/images/gradient.png", "200", png_size.to_string().as_str()],
        "{listing}"
    );
    assert_eq!(png_row[4..], ["fresh", "image/png"], "{listing}");
    assert_eq!(lines[1].split_whitespace().next(), Some("/"));
    assert_eq!(
        lines[2].split_whitespace().next(),
        Some("/data.json?page=2")
    );
    assert!(lines[4].starts_with("total: 3 entries, "), "{listing}");
    let_one_second_copies_expire();
    let (_, listing, _) = run_to_end(&["ls", "--cache-dir", dir]);
    assert_eq!(
        listing
            .lines()
            .filter(|line| line.contains(" stale "))
            .count(),
        3,
        "{listing}"
    );

    // A path with nothing stored is an error, as PURGE's 404 is, once the
    // others are purged.
    let (code, output, stderr) =
        run_to_end(&["purge", "--cache-dir", dir, "/data.json?page=2", "/missing"]);
    assert_eq!(code, Some(1));
    // Named in full: a URL's host and port do not say which cache changed.
    assert_eq!(output, format!("purged /data.json?page=2 from {dir}\n"));
    assert_eq!(
        stderr,
        format!("cacheproxy: error: nothing was stored for /missing in {dir}\n")
    );
    assert_eq!(files_below(&cache.path), ["@", "images/gradient.png@"]);
    let (code, output, _) = run_to_end(&["purge", "--cache-dir", dir, "--all"]);
    let purged = format!("purged 2 entries from {dir}\n");
    assert_eq!((code, output.as_str()), (Some(0), purged.as_str()));
    assert!(files_below(&cache.path).is_empty());
    let (code, _, stderr) = run_to_end(&["purge", "--cache-dir", dir]);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn the_size_bound_evicts_the_least_recently_served() {
    let cache = TempDir::new("max-size");
    let origin = FakeOrigin::start(|request, stream| {
        let size = if request.target == "/big" { 5000 } else { 1000 };
        let _ = stream.write_all(&support::ok_reply(
            "application/octet-stream",
            &vec![b'x'; size],
        ));
    });
    // Three 1000-byte bodies (plus their heads) do not fit in 2500 bytes; two do.
    let proxy = Server::proxy(&origin.url, &cache.path, &["--max-size", "2500"]);
    get(proxy.addr, "/a");
    get(proxy.addr, "/b");
    assert_eq!(get(proxy.addr, "/a").x_cache(), "HIT"); // /b is now the least recently served
    get(proxy.addr, "/c");
    assert_eq!(files_below(&cache.path), ["a@", "c@"]);
    proxy.wait_for_log("evicted 1 older entry");
    let big = get(proxy.addr, "/big");
    assert_eq!(
        (big.body.len(), big.x_cache()),
        (5000, "BYPASS".to_string())
    );
    assert!(cache_status(&big).ends_with("detail=too-big"));
    assert_eq!(files_below(&cache.path), ["a@", "c@"]);
    drop(proxy);

    // A restart with a smaller bound keeps the most recently served entry.
    let smaller = Server::proxy(&origin.url, &cache.path, &["--max-size", "1500"]);
    smaller.wait_for_log("evicted 1 entry to fit --max-size");
    assert_eq!(files_below(&cache.path), ["c@"]);
}

#[test]
fn a_copy_with_only_last_modified_is_revalidated_with_if_modified_since() {
    const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    let cache = TempDir::new("if-modified-since");
    let origin = FakeOrigin::start(|request, stream| {
        let reply = if request.header("If-Modified-Since").as_deref() == Some(LAST_MODIFIED) {
            "HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=1\r\n\r\n".to_string()
        } else {
            format!("HTTP/1.1 200 OK\r\nLast-Modified: {LAST_MODIFIED}\r\nCache-Control: max-age=1\r\nContent-Length: 3\r\n\r\nold")
        };
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/page").x_cache(), "MISS");
    let_one_second_copies_expire();
    let revalidated = get(proxy.addr, "/page");
    assert_eq!(
        (revalidated.x_cache(), revalidated.text()),
        ("REVALIDATED".to_string(), "old".to_string())
    );
    let asked = &origin.received()[1];
    assert_eq!(
        asked.header("If-Modified-Since").as_deref(),
        Some(LAST_MODIFIED)
    );
    assert_eq!(asked.header("If-None-Match"), None);
}
