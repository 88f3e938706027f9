//! Bad requests, bad origins and slow clients: each gets a clear status and a
//! short plain-text reason, and the server goes on serving.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use support::{files_below, get, ok_reply, send_raw, www, FakeOrigin, Reply, Server, TempDir};

/// Asserts `reply` is an error with `status`, a plain-text reason, and the
/// proxy's own header fields.
fn assert_refused(reply: &Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.head);
    assert_eq!(
        reply.header("Content-Type").as_deref(),
        Some("text/plain; charset=utf-8"),
        "{what}"
    );
    assert!(!reply.text().trim().is_empty(), "{what}: no reason given");
    assert_eq!(
        reply.header("Content-Length"),
        Some(reply.body.len().to_string())
    );
    // The proxy's own refusals bypass the cache; origin failures are misses.
    let x_cache = if matches!(status, 502 | 504) {
        "MISS"
    } else {
        "BYPASS"
    };
    assert_eq!(reply.x_cache(), x_cache, "{what}");
}

/// The proxy still answers a normal request.
fn assert_still_serving(proxy: &Server) {
    let reply = get(proxy.addr, "/data.json");
    assert_eq!(
        reply.status, 200,
        "the proxy stopped serving: {}",
        reply.head
    );
}

#[test]
fn malformed_requests_get_400_431_405_505() {
    let cache = TempDir::new("malformed");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let long_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let cases: [(&[u8], u16); 8] = [
        (b"BR(EW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"HELLO\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (long_head.as_bytes(), 431),
        (b"TRACE / HTTP/1.1\r\nHost: t\r\n\r\n", 405),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ];
    for (request, status) in cases {
        let what = String::from_utf8_lossy(&request[..request.len().min(40)]).into_owned();
        let reply = send_raw(proxy.addr, request);
        assert_refused(&reply, status, &what);
        if status == 405 {
            let allow = reply.header("Allow").expect("405 carries Allow");
            assert!(allow.contains("GET") && !allow.contains("TRACE"), "{allow}");
        }
        assert_still_serving(&proxy);
    }
}

#[test]
fn a_request_for_another_server_gets_421_and_reaches_no_origin() {
    let cache = TempDir::new("misdirected");
    let origin = FakeOrigin::replying(ok_reply("application/json", b"{}"));
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    // What `curl -x http://PROXY http://example.com/data.json` sends: a reply
    // from our origin would be filed as example.com's.
    let foreign = send_raw(
        proxy.addr,
        b"GET http://example.com/data.json HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_refused(&foreign, 421, "a URL of another server");
    assert!(foreign
        .head
        .starts_with("HTTP/1.1 421 Misdirected Request\r\n"));
    let text = foreign.text();
    let says = [
        format!("reverse proxy for {}", origin.url),
        "not a forward proxy".to_string(),
        "http://example.com".to_string(),
        format!("curl {}/data.json", proxy.url),
        "not through it with curl -x or http_proxy".to_string(),
    ];
    for words in says {
        assert!(text.contains(&words), "no {words:?} in {text:?}");
    }
    proxy.wait_for_request_log("GET http://example.com/data.json", 421, "BYPASS");
    // What `curl -x http://PROXY https://example.com/` sends: a tunnel.
    let tunnel = send_raw(
        proxy.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert_refused(&tunnel, 421, "CONNECT");
    let text = tunnel.text();
    assert!(text.contains("no tunnel to example.com:443"), "{text:?}");
    assert!(text.contains(&format!("curl {}/", proxy.url)), "{text:?}");
    assert!(text.contains("reverse proxy for"), "{text:?}");
    assert!(text.contains("not through it with curl -x"), "{text:?}");
    // Neither went on to the origin, and nothing was stored.
    assert!(origin.received().is_empty(), "the origin was asked");
    assert_eq!(files_below(&cache.path), Vec::<String>::new());
    // And the proxy goes on serving its own URLs.
    assert_eq!(get(proxy.addr, "/data.json").status, 200);
    assert_eq!(origin.received().len(), 1);
}

#[test]
fn paths_that_escape_are_refused_and_touch_nothing() {
    let outside = TempDir::new("traversal");
    let cache = outside.join("cache");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECRET");
    let proxy = Server::proxy(&origin.url, &cache, &[]);
    for target in [
        "/../secret",
        "/a/../../secret",
        "/%2e%2e/secret",
        "/%2E%2e/%2e%2E/secret",
        "/a/..%2f..%2fsecret",
        "/..\\secret",
        "/a%00b",
        "/./a",
        "//etc/passwd",
        "/%zz",
        // Naming the proxy itself: a URL of ours, with a path that escapes.
        &format!("{}/../secret", proxy.url),
    ] {
        let reply = get(proxy.addr, target);
        assert_refused(&reply, 400, target);
    }
    assert!(
        origin.received().is_empty(),
        "a bad path reached the origin"
    );
    assert_eq!(files_below(&outside.path), Vec::<String>::new());
    assert_eq!(get(proxy.addr, "/fine").text(), "SECRET");
}

#[test]
fn an_escaped_backslash_is_an_ordinary_byte_of_a_name() {
    let outside = TempDir::new("backslash");
    let cache = outside.join("cache");
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 404 Not Found\r\nCache-Control: max-age=60\r\nContent-Length: 4\r\n\r\ngone",
    );
    let proxy = Server::proxy(&origin.url, &cache, &[]);
    for target in ["/docs/a%5Cb.html", "/a%5c..%5c..%5csecret"] {
        let reply = get(proxy.addr, target);
        assert_eq!(
            (reply.status, reply.text()),
            (404, "gone".into()),
            "{target}"
        );
    }
    let asked: Vec<String> = origin.received().iter().map(|r| r.target.clone()).collect();
    // As the copy is keyed: the same escapes, in upper-case hex (RFC 3986
    // 6.2.2.1), so the origin and the key agree on which URL this is.
    assert_eq!(
        asked,
        ["/docs/a%5Cb.html", "/a%5C..%5C..%5Csecret"],
        "as keyed"
    );
    let mut names = files_below(&outside.path);
    names.sort();
    assert_eq!(
        names,
        ["cache/a%5C..%5C..%5Csecret@", "cache/docs/a%5Cb.html@"]
    );
}

#[test]
fn an_unreachable_origin_gets_502() {
    let cache = TempDir::new("unreachable");
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let proxy = Server::proxy(&format!("http://127.0.0.1:{port}"), &cache.path, &[]);
    let reply = get(proxy.addr, "/x");
    assert_refused(&reply, 502, "unreachable origin");
    assert!(reply.text().contains("origin"), "{}", reply.text());
    assert_eq!(
        get(proxy.addr, "/y").status,
        502,
        "and it goes on answering"
    );
}

#[test]
fn an_origin_that_answers_garbage_gets_502() {
    let cache = TempDir::new("garbage");
    let origin = FakeOrigin::fixed(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_refused(&get(proxy.addr, "/x"), 502, "garbage");
    assert!(files_below(&cache.path).is_empty());
}

#[test]
fn a_slow_origin_gets_504_within_the_origin_timeout() {
    let cache = TempDir::new("slow-origin");
    let origin = Server::origin(&www(), &["--delay", "3000"]);
    let proxy = Server::proxy(&origin.url, &cache.path, &["--origin-timeout", "300"]);
    let started = Instant::now();
    let reply = get(proxy.addr, "/data.json");
    assert_refused(&reply, 504, "slow origin");
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "took {:?}",
        started.elapsed()
    );
    assert!(files_below(&cache.path).is_empty());
}

/// Opens a connection and keeps sending `head` one byte at a time, every
/// `pause`, until the server closes it or the head runs out; returns the reply.
fn trickle(addr: SocketAddr, head: &'static [u8], pause: Duration) -> thread::JoinHandle<Reply> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(support::PATIENCE))
        .expect("timeout");
    thread::spawn(move || {
        for byte in head {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(pause);
        }
        support::read_reply(&mut stream)
    })
}

#[test]
fn a_trickling_client_holds_the_server_no_longer_than_the_deadline() {
    let cache = TempDir::new("trickle");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &["--client-timeout", "800"]);
    let started = Instant::now();
    // 30 bytes, one every 200 ms: six seconds if nobody stopped it.
    let slow = trickle(
        proxy.addr,
        b"GET /data.json HTTP/1.1\r\nHost:",
        Duration::from_millis(200),
    );
    thread::sleep(Duration::from_millis(50));
    let patient = get(proxy.addr, "/data.json");
    let waited = started.elapsed();
    assert_eq!(patient.status, 200);
    assert!(
        waited < Duration::from_millis(2500),
        "the second client waited {waited:?}"
    );
    let slow_reply = slow.join().expect("trickling client");
    assert_refused(&slow_reply, 408, "trickling client");
}

#[test]
fn a_silent_client_is_dropped_at_the_deadline() {
    let cache = TempDir::new("silent");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &["--client-timeout", "500"]);
    let started = Instant::now();
    let mut silent = TcpStream::connect(proxy.addr).expect("connect");
    silent
        .set_read_timeout(Some(support::PATIENCE))
        .expect("timeout");
    thread::sleep(Duration::from_millis(50));
    let patient = get(proxy.addr, "/data.json");
    assert_eq!(patient.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "waited {:?}",
        started.elapsed()
    );
    assert_refused(&support::read_reply(&mut silent), 408, "silent client");
    proxy.wait_for_log(" 408 ");
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let cache = TempDir::new("write-timeout");
    let body = vec![b'z'; 64 * 1024 * 1024];
    let origin = FakeOrigin::replying(support::ok_reply("application/octet-stream", &body));
    let proxy = Server::proxy(&origin.url, &cache.path, &["--write-timeout", "300"]);
    assert_eq!(
        get(proxy.addr, "/big").body.len(),
        body.len(),
        "stored by a normal client"
    );
    // This client asks for 64 MiB and never reads a byte of it.
    let mut stuck = TcpStream::connect(proxy.addr).expect("connect");
    stuck
        .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("request");
    thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    let patient = send_raw(proxy.addr, b"HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (patient.status, patient.x_cache()),
        (200, "HIT".to_string())
    );
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "waited {:?}",
        started.elapsed()
    );
    proxy.wait_for_log("cut off: the client took nothing for --write-timeout");
    drop(stuck);
}

#[test]
fn an_origin_that_accepts_no_connection_in_time_gets_504() {
    let cache = TempDir::new("connect-timeout");
    // A listener that never accepts: once its queue of pending connections
    // is full, the kernel ignores new ones and a connect hangs.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut queued = Vec::new();
    while let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
        queued.push(stream);
        assert!(queued.len() < 10_000, "the listen queue never filled");
    }
    let origin_url = format!("http://{addr}");
    let proxy = Server::proxy(
        &origin_url,
        &cache.path,
        &["--origin-connect-timeout", "300"],
    );
    let started = Instant::now();
    let reply = get(proxy.addr, "/x");
    assert_refused(&reply, 504, "origin connect timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "took {:?}",
        started.elapsed()
    );
    drop(queued);
}

#[test]
#[cfg(feature = "tls")]
fn an_https_origin_that_does_not_speak_tls_gets_502() {
    let cache = TempDir::new("https");
    // A plain-HTTP server behind an https:// URL: it answers the TLS hello
    // with an HTTP reply, and the handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let https_url = format!("https://{}", listener.local_addr().expect("addr"));
    let plain = thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let proxy = Server::proxy(&https_url, &cache.path, &[]);
    let reply = get(proxy.addr, "/x");
    assert_refused(&reply, 502, "TLS to a plain-HTTP origin");
    // Said in words, with the fix, not as rustls's "InvalidContentType".
    let text = reply.text();
    let plain_url = https_url.replace("https://", "http://");
    let says = [
        "the origin did not answer with TLS".to_string(),
        format!("--origin {plain_url}"),
    ];
    for words in says {
        assert!(text.contains(&words), "no {words:?} in {text:?}");
    }
    assert!(!text.contains("InvalidContentType"), "{text:?}");
    assert!(files_below(&cache.path).is_empty());
    plain.join().expect("the plain server");
}

#[test]
fn a_long_target_that_grows_when_escaped_still_reaches_the_origin() {
    // The origin is asked for the key's spelling, where `{` is `%7B`: a
    // target within the 8 KiB head limit may triple on the way out.
    let cache = TempDir::new("long-target");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let target = format!("/{}", "{".repeat(7000));
    let reply = get(proxy.addr, &target);
    assert_eq!((reply.status, reply.text()), (200, "ok".into()));
    let asked = origin.received();
    assert_eq!(asked[0].target, format!("/{}", "%7B".repeat(7000)));
}

#[test]
fn an_origin_head_over_64_kib_is_refused_as_too_long() {
    let field = format!("X-Big: {}\r\n", "x".repeat(66 * 1024));
    let reply = format!("HTTP/1.1 200 OK\r\n{field}Content-Length: 2\r\n\r\nok");
    let origin = FakeOrigin::replying(reply.into_bytes());
    let cache = TempDir::new("big-origin-head");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let reply = get(proxy.addr, "/big");
    assert_eq!(reply.status, 502);
    assert!(reply.text().contains("too big"), "{}", reply.text());
}

#[test]
fn a_head_refused_as_it_is_read_is_logged_with_its_request_line() {
    let cache = TempDir::new("refused-logged");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    // A field line with no colon: refused while the head is parsed, before
    // any handler sees a request.
    let refused = send_raw(
        proxy.addr,
        b"\r\nGET /no-colon HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    );
    assert_refused(&refused, 400, "colon");
    let line = proxy.wait_for_log(" 400 ");
    assert!(line.contains("\"GET /no-colon HTTP/1.1\" 400 "), "{line}");
}
