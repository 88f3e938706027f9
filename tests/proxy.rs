//! The request path end to end: the real binary, real sockets, real origins.

mod support;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use support::{files_below, get, ok_reply, send_raw, www, FakeOrigin, Server, TempDir};

#[test]
fn a_miss_then_a_hit_with_identical_bytes_for_text_and_binary() {
    let cache = TempDir::new("miss-hit");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for (path, file) in [
        ("/", "index.html"),
        ("/images/gradient.png", "images/gradient.png"),
    ] {
        let original = std::fs::read(www().join(file)).expect("read original");
        let miss = get(proxy.addr, path);
        assert_eq!(
            (miss.status, miss.x_cache()),
            (200, "MISS".to_string()),
            "{path}"
        );
        assert_eq!(
            miss.body, original,
            "{path}: miss body differs from the file"
        );
        let hit = get(proxy.addr, path);
        assert_eq!(
            (hit.status, hit.x_cache()),
            (200, "HIT".to_string()),
            "{path}"
        );
        assert_eq!(hit.body, original, "{path}: hit body differs from the file");
        assert_eq!(
            hit.header("Content-Length"),
            Some(original.len().to_string())
        );
        assert_eq!(hit.header("Content-Type"), miss.header("Content-Type"));
    }
    assert_eq!(
        get(proxy.addr, "/images/gradient.png")
            .header("Content-Type")
            .as_deref(),
        Some("image/png")
    );
}

#[test]
fn a_hit_is_served_without_the_origin() {
    let cache = TempDir::new("no-origin");
    let mut origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/data.json").x_cache(), "MISS");
    origin.kill();
    let hit = get(proxy.addr, "/data.json");
    assert_eq!((hit.status, hit.x_cache()), (200, "HIT".to_string()));
    assert_eq!(
        hit.body,
        std::fs::read(www().join("data.json")).expect("read")
    );
    // Something not cached yet now needs the (dead) origin: 502.
    assert_eq!(get(proxy.addr, "/style.css").status, 502);
}

#[test]
fn every_reply_says_what_the_cache_did() {
    let cache = TempDir::new("headers");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let miss = get(proxy.addr, "/style.css");
    assert_eq!(miss.header("Via").as_deref(), Some("1.1 cacheproxy"));
    assert_eq!(
        miss.header("Cache-Status").as_deref(),
        Some("cacheproxy; fwd=uri-miss; fwd-status=200; stored")
    );
    assert_eq!(miss.header("Connection").as_deref(), Some("close"));
    assert!(
        miss.header("Last-Modified").is_some(),
        "origin fields pass through"
    );
    let hit = get(proxy.addr, "/style.css");
    let cache_status = hit.header("Cache-Status").unwrap_or_default();
    assert!(
        cache_status.starts_with("cacheproxy; hit; ttl=6"),
        "{cache_status}"
    );
    assert_eq!(hit.header("Via").as_deref(), Some("1.1 cacheproxy"));
    assert!(hit
        .header("Age")
        .is_some_and(|age| age.parse::<u64>().is_ok()));
    assert!(miss.head.starts_with("HTTP/1.1 200 OK"));
    let refused = get(proxy.addr, "/%2e%2e/x");
    assert_eq!(refused.x_cache(), "BYPASS");
    assert!(refused.header("Cache-Status").is_some());
}

#[test]
fn the_entry_file_is_where_the_readme_says() {
    let cache = TempDir::new("layout");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for path in ["/", "/guide/", "/data.json?page=2", "/images/gradient.png"] {
        assert_eq!(get(proxy.addr, path).status, 200);
    }
    assert_eq!(
        files_below(&cache.path),
        ["@", "data.json@page=2", "guide/@", "images/gradient.png@"]
    );
    let entry = std::fs::read(cache.join("images/gradient.png@")).expect("entry");
    let png = std::fs::read(www().join("images/gradient.png")).expect("png");
    assert!(entry.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(entry.ends_with(&png), "the body follows the head unchanged");
}

#[test]
fn a_path_and_its_children_and_each_query_are_separate_entries() {
    let cache = TempDir::new("keys");
    let origin = FakeOrigin::start(|request, stream| {
        let body = format!("you asked for {}", request.target);
        let _ = stream.write_all(&ok_reply("text/plain", body.as_bytes()));
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let urls = [
        "/users",
        "/users/1",
        "/a?x=1",
        "/a?x=2",
        "/.well-known/security.txt",
    ];
    for url in urls {
        let miss = get(proxy.addr, url);
        assert_eq!(
            (miss.x_cache(), miss.text()),
            ("MISS".into(), format!("you asked for {url}"))
        );
    }
    for url in urls {
        let hit = get(proxy.addr, url);
        assert_eq!(
            (hit.x_cache(), hit.text()),
            ("HIT".into(), format!("you asked for {url}"))
        );
    }
    assert_eq!(origin.received().len(), urls.len(), "each URL fetched once");
}

#[test]
fn an_empty_body_is_a_hit_too() {
    let cache = TempDir::new("empty");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/empty").x_cache(), "MISS");
    let hit = get(proxy.addr, "/empty");
    assert_eq!((hit.x_cache(), hit.body.len()), ("HIT".into(), 0));
    assert_eq!(hit.header("Content-Length").as_deref(), Some("0"));
}

#[test]
fn head_on_a_miss_asks_with_head_and_stores_nothing() {
    let cache = TempDir::new("head");
    let origin = FakeOrigin::start(|request, stream| {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n";
        let _ = stream.write_all(head.as_bytes());
        if request.method != "HEAD" {
            let _ = stream.write_all(b"hello world");
        }
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let reply = send_raw(proxy.addr, b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((reply.status, reply.body.len()), (200, 0));
    assert_eq!(reply.header("Content-Length").as_deref(), Some("11"));
    assert_eq!(origin.received()[0].method, "HEAD");
    assert!(
        files_below(&cache.path).is_empty(),
        "{:?}",
        files_below(&cache.path)
    );
    // GET stores it; HEAD is then a hit with the right length and no body.
    assert_eq!(get(proxy.addr, "/h").text(), "hello world");
    let hit = send_raw(proxy.addr, b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((hit.x_cache(), hit.body.len()), ("HIT".into(), 0));
    assert_eq!(hit.header("Content-Length").as_deref(), Some("11"));
}

#[test]
fn writes_are_forwarded_with_their_body_and_never_stored() {
    let cache = TempDir::new("writes");
    let origin = FakeOrigin::start(|request, stream| {
        let body = format!(
            "{} {} got {} bytes",
            request.method,
            request.target,
            request.body.len()
        );
        let _ = stream.write_all(
            format!(
                "HTTP/1.1 201 Created\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let payload = vec![0xABu8; 100_000];
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let mut request = format!(
            "{method} /items HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        request.extend_from_slice(&payload);
        let reply = send_raw(proxy.addr, &request);
        assert_eq!(reply.status, 201, "{method}");
        assert_eq!(reply.text(), format!("{method} /items got 100000 bytes"));
        assert_eq!(
            reply.header("Cache-Status").as_deref(),
            Some("cacheproxy; fwd=method; fwd-status=201")
        );
    }
    let options = send_raw(proxy.addr, b"OPTIONS /items HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(options.text(), "OPTIONS /items got 0 bytes");
    let received = origin.received();
    assert!(
        received[..4].iter().all(|request| request.body == payload),
        "bodies arrive intact"
    );
    assert!(files_below(&cache.path).is_empty());
    // The same POST again goes to the origin again.
    let again = send_raw(
        proxy.addr,
        b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!((again.status, again.x_cache()), (201, "BYPASS".into()));
    assert_eq!(origin.received().len(), 6);
}

#[test]
fn a_large_body_with_expect_continue_is_forwarded() {
    let cache = TempDir::new("expect");
    let origin = FakeOrigin::start(|request, stream| {
        let _ = stream.write_all(&ok_reply(
            "text/plain",
            request.body.len().to_string().as_bytes(),
        ));
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let mut stream = std::net::TcpStream::connect(proxy.addr).expect("connect");
    stream
        .set_read_timeout(Some(support::PATIENCE))
        .expect("timeout");
    stream
        .write_all(b"PUT /big HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3000000\r\n\r\n")
        .expect("head");
    let mut interim = [0u8; 25];
    std::io::Read::read_exact(&mut stream, &mut interim).expect("interim reply");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(&vec![7u8; 3_000_000]).expect("body");
    let reply = support::read_reply(&mut stream);
    assert_eq!((reply.status, reply.text()), (200, "3000000".to_string()));
    assert!(origin.received()[0].header("Expect").is_none());
}

#[test]
fn a_chunked_request_body_gets_411() {
    let cache = TempDir::new("chunked-request");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let reply = send_raw(
        proxy.addr,
        b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    );
    assert_eq!(reply.status, 411);
    assert!(origin.received().is_empty());
}

#[test]
fn request_headers_lose_hop_by_hop_fields_and_gain_via_and_forwarded_for() {
    let cache = TempDir::new("request-headers");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let proxy = Server::proxy(&format!("{}/prefix/", origin.url), &cache.path, &[]);
    send_raw(
        proxy.addr,
        b"GET /p?q=1 HTTP/1.1\r\nHost: client.example\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\
          Keep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: secret\r\n\
          Accept-Encoding: gzip, br\r\nX-Forwarded-For: 10.1.2.3\r\nCookie: k=v\r\nUser-Agent: test-agent\r\n\r\n",
    );
    let seen = &origin.received()[0];
    assert_eq!(
        seen.target, "/prefix/p?q=1",
        "the origin's path prefix comes first"
    );
    for dropped in [
        "X-Hop",
        "Keep-Alive",
        "TE",
        "Upgrade",
        "Proxy-Authorization",
    ] {
        assert_eq!(seen.header(dropped), None, "{dropped} was forwarded");
    }
    // Normalised to the set of codings worth a variant (see src/encoding.rs).
    assert_eq!(seen.header("Accept-Encoding").as_deref(), Some("br,gzip"));
    assert_eq!(seen.header("Cookie").as_deref(), Some("k=v"));
    assert_eq!(seen.header("User-Agent").as_deref(), Some("test-agent"));
    assert_eq!(seen.header("Via").as_deref(), Some("1.1 cacheproxy"));
    assert_eq!(
        seen.header("X-Forwarded-For").as_deref(),
        Some("10.1.2.3, 127.0.0.1")
    );
    assert_ne!(seen.header("Host").as_deref(), Some("client.example"));
}

#[test]
fn origin_fields_and_bytes_pass_through_unchanged() {
    let cache = TempDir::new("response-headers");
    // A gzip body (not really gzip: bytes the proxy must not touch), odd header
    // bytes, hop-by-hop fields to drop, and fields that must survive.
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 6\r\nConnection: close, X-Private\r\n\
          X-Private: drop me\r\nKeep-Alive: timeout=5\r\nLink: </a>\r\nLink: </b>\r\n\
          X-Latin: caf\xe9\r\nETag: \"v1\"\r\n\r\n\x1f\x8b\x00\xff\x00\x01",
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    // A client that reads gzip: a gzip body is stored for such clients only.
    let request = b"GET /g HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n";
    for expected in ["MISS", "HIT"] {
        let reply = send_raw(proxy.addr, request);
        assert_eq!(reply.x_cache(), expected);
        assert_eq!(
            reply.body, b"\x1f\x8b\x00\xff\x00\x01",
            "{expected}: body changed"
        );
        assert_eq!(reply.header("Content-Encoding").as_deref(), Some("gzip"));
        assert_eq!(reply.header_count("Link"), 2);
        assert_eq!(reply.header("ETag").as_deref(), Some("\"v1\""));
        assert!(
            reply.head.as_bytes().windows(4).any(|w| w == b"caf\xef")
                || reply.head.contains("caf\u{fffd}")
        );
        assert_eq!(reply.header("X-Private"), None);
        assert_eq!(reply.header("Keep-Alive"), None);
        assert_eq!(reply.header_count("Connection"), 1);
    }
}

#[test]
fn statuses_are_stored_by_the_rules_and_redirects_pass_through() {
    let cache = TempDir::new("statuses");
    let origin = FakeOrigin::start(|request, stream| {
        let reply: &[u8] = match request.target.as_str() {
            "/moved" => b"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 5\r\n\r\nmoved",
            "/missing" => b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here!",
            "/broken" => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops",
            "/down" => b"HTTP/1.1 503 Service Unavailable\r\nCache-Control: max-age=60\r\nContent-Length: 4\r\n\r\ndown",
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew",
        };
        let _ = stream.write_all(reply);
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for round in ["MISS", "HIT"] {
        // 301 and 404 may be kept without being told (RFC 9110 15.1); any
        // status may be kept when the origin gives it a lifetime.
        let moved = get(proxy.addr, "/moved");
        assert_eq!((moved.status, moved.x_cache()), (301, round.into()));
        assert_eq!(moved.header("Location").as_deref(), Some("/new"));
        assert_eq!(moved.text(), "moved");
        let missing = get(proxy.addr, "/missing");
        assert_eq!((missing.status, missing.text()), (404, "not here!".into()));
        assert_eq!(missing.x_cache(), round);
        let down = get(proxy.addr, "/down");
        assert_eq!((down.status, down.x_cache()), (503, round.into()));
        // A 500 with no lifetime of its own is never kept.
        let broken = get(proxy.addr, "/broken");
        assert_eq!((broken.status, broken.text()), (500, "oops".into()));
        assert_eq!(broken.x_cache(), "BYPASS");
        assert_eq!(
            broken.header("Cache-Status").as_deref(),
            Some("cacheproxy; fwd=uri-miss; fwd-status=500; detail=status")
        );
    }
    let targets: Vec<String> = origin.received().iter().map(|r| r.target.clone()).collect();
    assert!(
        !targets.contains(&"/new".to_string()),
        "the redirect was followed: {targets:?}"
    );
    assert_eq!(
        targets,
        ["/moved", "/missing", "/down", "/broken", "/broken"]
    );
    assert_eq!(files_below(&cache.path).len(), 3);
}

#[test]
fn a_chunked_origin_reply_is_relayed_and_stored() {
    let cache = TempDir::new("chunked-origin");
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let miss = get(proxy.addr, "/c");
    assert_eq!(miss.header("Transfer-Encoding").as_deref(), Some("chunked"));
    assert_eq!(miss.text(), "hello world");
    let old_client = send_raw(proxy.addr, b"GET /c2 HTTP/1.0\r\n\r\n");
    assert_eq!(
        (old_client.status, old_client.text()),
        (200, "hello world".into())
    );
    assert_eq!(
        old_client.header("Transfer-Encoding"),
        None,
        "HTTP/1.0 has no chunked"
    );
    let hit = get(proxy.addr, "/c");
    assert_eq!(
        (hit.x_cache(), hit.text()),
        ("HIT".into(), "hello world".into())
    );
    assert_eq!(hit.header("Content-Length").as_deref(), Some("11"));
}

#[test]
fn absolute_form_targets_and_http_1_0_clients_work() {
    let cache = TempDir::new("forms");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    // An absolute-form target may name the origin, or the proxy itself by
    // its address or by `localhost` (a URL of another server gets 421: see
    // bad_input.rs). `Host` is not checked: a proxy is reached by any name.
    let port = proxy.addr.port();
    let targets = [
        (format!("{}/data.json", origin.url), "MISS"),
        (format!("{}/data.json", proxy.url), "HIT"),
        (format!("http://LOCALHOST:{port}/data.json"), "HIT"),
        ("/data.json".to_string(), "HIT"),
    ];
    for (target, x_cache) in targets {
        let request = format!("GET {target} HTTP/1.1\r\nHost: example.com\r\n\r\n");
        let reply = send_raw(proxy.addr, request.as_bytes());
        assert_eq!(
            (reply.status, reply.x_cache()),
            (200, x_cache.into()),
            "{target}"
        );
    }
    let old = send_raw(proxy.addr, b"GET /data.json HTTP/1.0\r\n\r\n");
    assert_eq!((old.status, old.x_cache()), (200, "HIT".into()));
    assert_eq!(
        old.body,
        std::fs::read(www().join("data.json")).expect("read")
    );
}

#[test]
fn the_proxy_never_serves_its_own_files() {
    let cache = TempDir::new("own-files");
    let origin = FakeOrigin::start(|request, stream| {
        let _ = stream.write_all(&ok_reply(
            "text/plain",
            format!("origin:{}", request.target).as_bytes(),
        ));
    });
    // A leftover temporary file still being written (locked by nobody, but
    // created after start-up) and the cache's own .gitignore.
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    std::fs::write(
        cache.join("secret@#123.0.tmp"),
        b"HTTP/1.1 200 OK\r\n\r\nhalf-written",
    )
    .expect("write");
    std::fs::write(cache.join(".gitignore"), b"*").expect("write");
    // Every spelling of those names is an ordinary URL, answered by the origin
    // (`%40` and `@` are different URLs, RFC 3986 6.2.2.2, so each is fetched).
    for target in [
        "/secret%40%23123.0.tmp",
        "/secret@%23123.0.tmp",
        "/.gitignore",
        "/secret",
    ] {
        let reply = get(proxy.addr, target);
        assert!(
            reply.text().starts_with("origin:"),
            "{target}: {}",
            reply.text()
        );
    }
    assert_eq!(origin.received().len(), 4);
}

#[test]
fn an_origin_that_drops_mid_body_leaves_no_entry() {
    let cache = TempDir::new("drop");
    let origin = FakeOrigin::start(|_, stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        let _ = stream.write_all(&[b'x'; 40_000]);
        // ...and the connection closes 60,000 bytes short.
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let reply = get(proxy.addr, "/big");
    assert_eq!(reply.header("Content-Length").as_deref(), Some("100000"));
    assert!(
        reply.body.len() < 100_000,
        "the client can tell the body is short"
    );
    proxy.wait_for_log("nothing stored");
    assert!(
        files_below(&cache.path).is_empty(),
        "{:?}",
        files_below(&cache.path)
    );
    assert_eq!(
        get(proxy.addr, "/big").x_cache(),
        "MISS",
        "asked again, still a miss"
    );
}

#[test]
fn a_client_that_leaves_mid_body_leaves_no_entry() {
    let cache = TempDir::new("client-leaves");
    let origin = FakeOrigin::start(|_, stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 20000000\r\n\r\n");
        for _ in 0..200 {
            if stream.write_all(&[b'y'; 100_000]).is_err() {
                return;
            }
        }
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    {
        let mut stream = std::net::TcpStream::connect(proxy.addr).expect("connect");
        stream
            .write_all(b"GET /huge HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("request");
        let mut first = [0u8; 1000];
        std::io::Read::read_exact(&mut stream, &mut first).expect("some of the reply");
    } // The client hangs up here, 19 MB early.
    proxy.wait_for_log("client went away");
    assert!(
        files_below(&cache.path).is_empty(),
        "{:?}",
        files_below(&cache.path)
    );
    assert_eq!(
        get(proxy.addr, "/%2e%2e").status,
        400,
        "the server goes on serving"
    );
}

#[test]
fn stray_temporary_files_are_removed_at_start() {
    let cache = TempDir::new("sweep");
    support::mark_as_cache(&cache.path);
    std::fs::create_dir_all(cache.join("deep/dir")).expect("mkdir");
    std::fs::write(cache.join("page@#999.1.tmp"), b"partial").expect("write");
    std::fs::write(cache.join("deep/dir/x@#999.2.tmp"), b"partial").expect("write");
    std::fs::write(cache.join("kept@"), b"HTTP/1.1 200 OK\r\n\r\nwhole").expect("write");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    proxy.wait_for_log("removed 2 stray temporary files");
    assert_eq!(files_below(&cache.path), ["kept@"]);
    assert_eq!(get(proxy.addr, "/kept").text(), "whole");
}

#[test]
fn two_proxies_sharing_a_cache_never_see_a_half_written_entry() {
    let cache = TempDir::new("shared");
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let served_body = body.clone();
    let origin = FakeOrigin::start(move |_, stream| {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            served_body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let (first_half, second_half) = served_body.split_at(served_body.len() / 2);
        let _ = stream.write_all(first_half);
        thread::sleep(Duration::from_millis(800));
        let _ = stream.write_all(second_half);
    });
    let writer = Server::proxy(&origin.url, &cache.path, &[]);
    let reader = Server::proxy(&origin.url, &cache.path, &["--origin-timeout", "100"]);
    let slow_fetch = thread::spawn({
        let addr = writer.addr;
        move || get(addr, "/shared")
    });
    // While the first proxy is half-way through storing, the second one must
    // not find an entry: it misses (and its own fetch times out: 504).
    thread::sleep(Duration::from_millis(300));
    let during = get(reader.addr, "/shared");
    assert_ne!(
        during.x_cache(),
        "HIT",
        "saw an entry before it was complete"
    );
    let first = slow_fetch.join().expect("first fetch");
    assert_eq!(first.body, body);
    let after = get(reader.addr, "/shared");
    assert_eq!(after.x_cache(), "HIT");
    assert_eq!(after.body, body, "the entry is whole");
}

#[test]
fn ctrl_c_stops_the_proxy() {
    let cache = TempDir::new("sigint");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let mut proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let status = std::process::Command::new("kill")
        .args(["-INT", &proxy.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let started = Instant::now();
    assert!(
        proxy.wait_exit(Duration::from_secs(5)).is_some(),
        "still running after SIGINT"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn an_unreadable_entry_is_a_miss_and_is_replaced() {
    let cache = TempDir::new("unreadable");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
    support::mark_as_cache(&cache.path);
    // One of ours gone bad: a stored head that no longer parses.
    std::fs::write(
        cache.join("page@"),
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\nx",
    )
    .expect("write");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let miss = get(proxy.addr, "/page");
    assert_eq!(
        (miss.x_cache(), miss.text()),
        ("MISS".to_string(), "fresh".to_string())
    );
    assert!(proxy
        .wait_for_request_log("GET /page ", 200, "MISS")
        .contains("unreadable"));
    let hit = get(proxy.addr, "/page");
    assert_eq!(
        (hit.x_cache(), hit.text()),
        ("HIT".to_string(), "fresh".to_string())
    );
}

#[test]
fn a_url_too_long_for_a_file_name_is_served_but_not_stored() {
    let cache = TempDir::new("long-name");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let long_query = format!("/page?{}", "q".repeat(300));
    for _ in 0..2 {
        let reply = get(proxy.addr, &long_query);
        assert_eq!((reply.status, reply.text()), (200, "ok".to_string()));
    }
    let line = proxy.wait_for_request_log("GET /page?", 200, "MISS");
    assert!(line.contains("not stored:"), "{line}");
    assert!(!line.contains("unreadable"), "{line}");
    assert!(files_below(&cache.path).is_empty());
}
