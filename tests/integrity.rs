//! Integrity: nothing a client or an origin sends crashes the proxy, corrupts
//! an entry, or hands one user's reply to another. Each test reproduces one
//! attack that once worked.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::{files_below, get, run_to_end, send_raw, www, FakeOrigin, Server, TempDir};

/// A date whose year no calendar code should ever try to add up.
const HUGE_DATE: &str = "Sat, 01 Jan 300000000000 00:00:00 GMT";

#[test]
fn a_date_with_a_huge_year_kills_nothing() {
    let cache = TempDir::new("huge-date");
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=600\r\n\
         Date: {HUGE_DATE}\r\nExpires: {HUGE_DATE}\r\nLast-Modified: {HUGE_DATE}\r\n\r\nok"
    );
    let origin = FakeOrigin::replying(reply.into_bytes());
    let mut proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let conditional =
        format!("GET /x HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {HUGE_DATE}\r\n\r\n");
    for _ in 0..3 {
        let reply = send_raw(proxy.addr, conditional.as_bytes());
        assert_eq!((reply.status, reply.text()), (200, "ok".to_string()));
    }
    assert_eq!(get(proxy.addr, "/x").x_cache(), "HIT", "stored and served");
    assert!(proxy.is_running(), "the proxy died");
    let cache_dir = cache.path.to_str().expect("utf-8");
    let (code, stdout, stderr) = run_to_end(&["ls", "--cache-dir", cache_dir]);
    assert_eq!(code, Some(0), "ls: {stderr}");
    assert!(stdout.contains("/x"), "{stdout}");

    let mut demo = Server::origin(&www(), &[]);
    let reply = send_raw(
        demo.addr,
        format!("GET /data.json HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {HUGE_DATE}\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(reply.status, 200, "an invalid condition is ignored");
    assert!(demo.is_running(), "the demo origin died");
}

/// An origin whose every reply says `Cache-Control: max-age=600` and
/// `reply_head`, and then does what `body` says with the stream.
fn origin_with(
    reply_head: &'static str,
    body: impl Fn(&mut TcpStream) + Send + Sync + 'static,
) -> FakeOrigin {
    FakeOrigin::start(move |_, stream| {
        let head = format!("HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n{reply_head}\r\n");
        if stream.write_all(head.as_bytes()).is_ok() {
            body(stream);
        }
    })
}

#[test]
fn a_close_delimited_body_is_relayed_as_it_came_and_never_stored() {
    let cache = TempDir::new("close-delimited");
    let body = vec![b'c'; 300_000];
    let sent = body.clone();
    // No Content-Length, no chunked: the body ends when the origin closes,
    // and a cut connection looks exactly like the end (ureq treats a reset
    // as one), so no copy made from it can be trusted.
    let origin = origin_with("Content-Type: text/plain\r\n", move |stream| {
        let _ = stream.write_all(&sent);
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for _ in 0..2 {
        let reply = get(proxy.addr, "/stream");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, body);
        assert_eq!(reply.x_cache(), "BYPASS");
        assert_eq!(reply.header("Transfer-Encoding"), None, "{}", reply.head);
        assert_eq!(reply.header("Content-Length"), None, "{}", reply.head);
    }
    assert_eq!(origin.received().len(), 2, "never served from a copy");
    assert!(files_below(&cache.path)
        .iter()
        .all(|name| !name.contains("stream")));
}

#[test]
fn transfer_codings_the_proxy_cannot_decode_are_a_502() {
    let cases = [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding: \r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
    ];
    for te in cases {
        let cache = TempDir::new("codings");
        let origin = origin_with(te, |stream| {
            let _ = stream.write_all(b"5\r\nhello\r\n0\r\n\r\n");
        });
        let proxy = Server::proxy(&origin.url, &cache.path, &[]);
        let reply = get(proxy.addr, "/coded");
        assert_eq!(reply.status, 502, "{te:?}: {}", reply.text());
        assert!(
            reply.text().contains("transfer coding"),
            "{te:?}: {}",
            reply.text()
        );
        assert!(
            files_below(&cache.path)
                .iter()
                .all(|name| !name.contains("coded")),
            "{te:?}"
        );
    }
    // Transfer-Encoding in an HTTP/1.0 reply is faulty framing (RFC 9112 6.1).
    let cache = TempDir::new("codings-10");
    let origin = FakeOrigin::fixed(
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=600\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/old").status, 502);
}

#[test]
fn chunked_framing_wins_over_content_length() {
    let cache = TempDir::new("te-and-cl");
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=600\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for expected in ["MISS", "HIT"] {
        let reply = get(proxy.addr, "/both");
        assert_eq!((reply.status, reply.text()), (200, "hello".to_string()));
        assert_eq!(reply.x_cache(), expected);
        assert_ne!(
            reply.header("Content-Length").as_deref(),
            Some("3"),
            "{}",
            reply.head
        );
    }
}

#[test]
fn a_204_has_no_content_length_and_no_body() {
    let cache = TempDir::new("204");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let reply = get(proxy.addr, "/empty");
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("Content-Length"), None, "{}", reply.head);
    assert!(reply.body.is_empty());
}

#[test]
fn a_content_length_of_u64_max_is_a_clean_status() {
    let cache = TempDir::new("huge-length");
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\nCache-Control: max-age=600\r\n\r\nshort",
    );
    let flags = ["--max-size", "1M", "--client-timeout", "500"];
    let mut proxy = Server::proxy(&origin.url, &cache.path, &flags);
    let mut stream = TcpStream::connect(proxy.addr).expect("connect");
    stream
        .set_read_timeout(Some(support::PATIENCE))
        .expect("timeout");
    stream
        .write_all(b"GET /huge HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("request");
    let mut received = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut received);
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    let request =
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551615\r\n\r\nabc";
    let refused = send_raw(proxy.addr, request);
    assert!(
        matches!(refused.status, 400 | 408 | 413),
        "{}",
        refused.status
    );
    assert!(proxy.is_running(), "the proxy died");
    assert!(files_below(&cache.path)
        .iter()
        .all(|name| !name.contains("huge")));
}

#[test]
fn a_range_on_a_miss_is_fetched_whole_so_no_part_is_stored_as_whole() {
    let cache = TempDir::new("content-range");
    // An origin that would answer a range with part of the body under a
    // 200. It is never asked for one: the proxy fetches whole and cuts.
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Range: bytes 0-4/100\r\nCache-Control: max-age=600\r\n\r\nhello",
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let request = b"GET /part HTTP/1.1\r\nHost: t\r\nRange: bytes=1-2\r\n\r\n";
    for cache_status in ["MISS", "HIT"] {
        let reply = send_raw(proxy.addr, request);
        assert_eq!((reply.status, reply.text()), (206, "el".to_string()));
        assert_eq!(reply.x_cache(), cache_status);
        assert_eq!(reply.header_count("Content-Range"), 1, "{}", reply.head);
        assert_eq!(
            reply.header("Content-Range").as_deref(),
            Some("bytes 1-2/5")
        );
    }
    let asked = origin.received();
    assert_eq!((asked.len(), asked[0].header("Range")), (1, None));
}

#[test]
fn a_write_without_a_body_is_sent_without_one() {
    let cache = TempDir::new("empty-write");
    let origin = FakeOrigin::fixed(b"HTTP/1.1 204 No Content\r\n\r\n");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    send_raw(proxy.addr, b"DELETE /thing HTTP/1.1\r\nHost: t\r\n\r\n");
    send_raw(
        proxy.addr,
        b"POST /thing HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    let received = origin.received();
    assert_eq!(received.len(), 2);
    for request in &received {
        assert_eq!(
            request.header("Transfer-Encoding"),
            None,
            "{}",
            request.head
        );
        assert!(request.body.is_empty());
    }
    assert_eq!(
        received[0].header("Content-Length"),
        None,
        "{}",
        received[0].head
    );
    assert_eq!(received[1].header("Content-Length").as_deref(), Some("0"));
}

#[test]
fn two_host_headers_are_a_400_and_a_leading_empty_line_is_ignored() {
    let cache = TempDir::new("host");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let doubled = send_raw(
        proxy.addr,
        b"GET /data.json HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    );
    assert_eq!(doubled.status, 400, "{}", doubled.text());
    let leading = send_raw(
        proxy.addr,
        b"\r\nGET /data.json HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(leading.status, 200, "{}", leading.text());
}

#[test]
fn options_is_safe_and_drops_nothing() {
    let cache = TempDir::new("options");
    let origin = FakeOrigin::start(|request, stream| {
        let reply: &[u8] = if request.method == "OPTIONS" {
            b"HTTP/1.1 204 No Content\r\nAllow: GET, OPTIONS\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=600\r\n\r\nok"
        };
        let _ = stream.write_all(reply);
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/api").x_cache(), "MISS");
    let preflight = send_raw(
        proxy.addr,
        b"OPTIONS /api HTTP/1.1\r\nHost: t\r\nOrigin: http://elsewhere\r\n\r\n",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        get(proxy.addr, "/api").x_cache(),
        "HIT",
        "OPTIONS dropped the entry"
    );
}

#[test]
fn forwarding_headers_never_reach_the_origin() {
    let cache = TempDir::new("forwarded");
    // An origin that builds its page from X-Forwarded-Host, as many do: if
    // the header reached it, any client could store its own script URL in
    // the shared entry.
    let origin = FakeOrigin::start(|request, stream| {
        let host = request
            .header("X-Forwarded-Host")
            .unwrap_or("origin".into());
        let body = format!("<script src=\"//{host}/a.js\"></script>");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nCache-Control: max-age=600\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let poison = b"GET /page HTTP/1.1\r\nHost: t\r\nCache-Control: no-cache\r\n\
        X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: gopher\r\nForwarded: host=evil.example\r\n\
        X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\n\r\n";
    send_raw(proxy.addr, poison);
    let victim = get(proxy.addr, "/page");
    assert!(!victim.text().contains("evil"), "{}", victim.text());
    for request in origin.received() {
        for name in [
            "X-Forwarded-Host",
            "X-Forwarded-Proto",
            "Forwarded",
            "X-Original-URL",
            "X-Rewrite-URL",
        ] {
            assert_eq!(request.header(name), None, "{name} reached the origin");
        }
    }
}

#[test]
fn an_encoded_slash_is_not_a_slash() {
    let cache = TempDir::new("encoded-slash");
    let origin = FakeOrigin::start(|request, stream| {
        let body = format!("resource {}", request.target);
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nCache-Control: max-age=600\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for (path, expected) in [
        ("/files/a%2Fb", "resource /files/a%2Fb"),
        ("/files/a/b", "resource /files/a/b"),
        ("/a%40b", "resource /a%40b"),
        ("/a@b", "resource /a@b"),
    ] {
        let first = get(proxy.addr, path);
        assert_eq!(first.text(), expected, "{path}");
        assert_eq!(first.x_cache(), "MISS", "{path} shared another URL's entry");
        assert_eq!(get(proxy.addr, path).text(), expected, "{path}");
    }
    // Unreserved characters mean the same encoded or not (RFC 3986 6.2.2.2).
    assert_eq!(
        get(proxy.addr, "/%61%40b").x_cache(),
        "HIT",
        "/%61%40b is /a%40b"
    );
    // Traversal is still judged on the decoded path.
    assert_eq!(get(proxy.addr, "/files/a%2F..%2F..%2Fetc").status, 400);
}

/// An origin for revalidation tests: an unconditional request gets a 200
/// with ETag "v1" (stale at once, so the next request revalidates); a
/// conditional one gets `conditional`. Counts the requests.
fn revalidating_origin(conditional: &'static str) -> (FakeOrigin, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let origin = FakeOrigin::start(move |request, stream| {
        seen.fetch_add(1, Ordering::SeqCst);
        let reply = if request.header("If-None-Match").is_some() {
            conditional
        } else {
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\n\r\nversion"
        };
        let _ = stream.write_all(reply.as_bytes());
    });
    (origin, count)
}

#[test]
fn a_304_never_puts_a_cookie_or_private_reply_into_the_shared_entry() {
    let cache = TempDir::new("304-cookie");
    let (origin, _) = revalidating_origin(
        "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nSet-Cookie: sid=ALICE\r\n\
         Cache-Control: private, max-age=600\r\n\r\n",
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/account").x_cache(), "MISS");
    // Alice's request revalidates; her own reply may carry her cookie.
    let alice = get(proxy.addr, "/account");
    assert_eq!((alice.status, alice.text()), (200, "version".to_string()));
    let bob = get(proxy.addr, "/account");
    assert_ne!(
        bob.x_cache(),
        "HIT",
        "a private reply was served from the shared cache"
    );
    assert_eq!(bob.header("Set-Cookie"), None, "Bob got Alice's cookie");
    for entry in files_below(&cache.path) {
        let stored = std::fs::read(cache.path.join(&entry)).expect("read");
        let stored = String::from_utf8_lossy(&stored).to_ascii_lowercase();
        assert!(!stored.contains("alice"), "{entry} holds Alice's cookie");
        assert!(!stored.contains("private"), "{entry} holds a private reply");
    }
}

#[test]
fn a_304_for_another_version_is_not_merged_onto_the_old_body() {
    let cache = TempDir::new("304-etag");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    // The first 200 is version 1; by the time the proxy asks again, the
    // origin has version 2, and answers a conditional request with a 304
    // that names it (a broken or racing origin, but one the RFC prepares for).
    let origin = FakeOrigin::start(move |request, stream| {
        let reply = if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\n\r\nversion1"
        } else if request.header("If-None-Match").is_some() {
            "HTTP/1.1 304 Not Modified\r\nETag: \"v2\"\r\nCache-Control: max-age=600\r\n\r\n"
        } else {
            "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nETag: \"v2\"\r\nCache-Control: max-age=600\r\n\r\nversion2"
        };
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/doc").text(), "version1");
    let after = get(proxy.addr, "/doc");
    assert_eq!(after.header("ETag").as_deref(), Some("\"v2\""));
    assert_eq!(
        after.text(),
        "version2",
        "the old body went out under the new ETag"
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "one conditional request, then a full one"
    );
    assert_eq!(
        get(proxy.addr, "/doc").text(),
        "version2",
        "and the new version is stored"
    );
}

#[test]
fn a_clients_no_store_or_credentials_never_delete_the_shared_copy() {
    let cache = TempDir::new("304-no-store");
    let (origin, _) = revalidating_origin(
        "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\n\r\n",
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/shared").x_cache(), "MISS");
    for asking in [
        "Cache-Control: max-age=0, no-store\r\n",
        "Authorization: Basic eDp5\r\nCache-Control: no-cache\r\n",
    ] {
        let request = format!("GET /shared HTTP/1.1\r\nHost: t\r\n{asking}\r\n");
        let reply = send_raw(proxy.addr, request.as_bytes());
        assert_eq!(
            (reply.status, reply.text()),
            (200, "version".to_string()),
            "{asking}"
        );
        assert!(
            cache.join("shared@").is_file(),
            "{asking:?} deleted the shared copy"
        );
    }
}
