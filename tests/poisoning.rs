//! A shared cache's first promise: what one client sends cannot change what
//! another client gets. Each test here is one way an anonymous client could
//! once file a wrong reply under a URL that everyone asks for, tried as an
//! attacker would, against the real binary with its shipped defaults.

mod support;

use std::io::Write;
use std::time::{Duration, SystemTime};

use support::{get, http_date, send_raw, target_echo_origin, FakeOrigin, Reply, Server, TempDir};

/// `GET path` with extra header lines `fields` (each ending in `\r\n`).
fn ask(proxy: &Server, path: &str, fields: &str) -> Reply {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{fields}\r\n");
    send_raw(proxy.addr, request.as_bytes())
}

/// An origin that answers in the language the request asks for, and says so
/// with `Vary`: the body is `lang=` and the `Accept-Language` it received.
fn multilingual_origin() -> FakeOrigin {
    FakeOrigin::start(|request, stream| {
        let language = request
            .header("Accept-Language")
            .unwrap_or_else(|| "default".into());
        let body = format!("lang={language}");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nDate: {}\r\nCache-Control: max-age=600\r\n\
             Vary: Accept-Language\r\nContent-Length: {}\r\n\r\n{body}",
            http_date(SystemTime::now()),
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    })
}

#[test]
fn a_varied_field_named_in_connection_cannot_file_a_reply_under_its_value() {
    let (cache, origin) = (TempDir::new("poison-connection"), multilingual_origin());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let french = "Accept-Language: fr\r\n";
    // The attacker names Accept-Language in Connection, so the proxy drops it
    // on the way (RFC 9110 7.6.1) and the origin answers in its default.
    let attack = format!("{french}Connection: close, Accept-Language\r\n");
    let attacker = ask(&proxy, "/page", &attack);
    assert_eq!(attacker.text(), "lang=default");
    let reader = ask(&proxy, "/page", french);
    assert_eq!(reader.text(), "lang=fr", "a French reader gets French");
    assert_eq!(reader.x_cache(), "MISS", "not the attacker's copy");
    // With no-cache, the attacker would replace a variant that was right.
    let attack = format!("{attack}Cache-Control: no-cache\r\n");
    assert_eq!(ask(&proxy, "/page", &attack).text(), "lang=default");
    let reader = ask(&proxy, "/page", french);
    assert_eq!(
        (reader.text().as_str(), reader.x_cache().as_str()),
        ("lang=fr", "HIT")
    );
    // And the attacker's copy is what a reader without the field gets.
    let plain = ask(&proxy, "/page", "");
    assert_eq!(
        (plain.text().as_str(), plain.x_cache().as_str()),
        ("lang=default", "HIT")
    );
}

/// An origin that judges `If-Match` and `If-Unmodified-Since` after it has
/// set its caching fields, as a caching middleware in front of a file
/// handler does: a failed precondition comes back as a cacheable 412.
fn origin_with_preconditions() -> FakeOrigin {
    FakeOrigin::start(|request, stream| {
        let date = http_date(SystemTime::now());
        let failed = request
            .header("If-Match")
            .is_some_and(|tag| tag != "\"v1\"")
            || request.header("If-Unmodified-Since").is_some();
        let reply = if failed {
            format!(
                "HTTP/1.1 412 Precondition Failed\r\nDate: {date}\r\n\
                 Cache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nfailed"
            )
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nDate: {date}\r\nCache-Control: max-age=600\r\nETag: \"v1\"\r\n\
                 Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 5\r\n\r\nwhole"
            )
        };
        let _ = stream.write_all(reply.as_bytes());
    })
}

#[test]
fn if_match_and_if_unmodified_since_on_a_miss_never_store_a_412() {
    let (cache, origin) = (TempDir::new("poison-412"), origin_with_preconditions());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    // The proxy fetches the whole reply and judges the condition itself.
    let attacker = ask(&proxy, "/file", "If-Match: \"nope\"\r\n");
    assert_eq!(attacker.status, 412, "the client's own condition failed");
    assert!(attacker.body.is_empty());
    assert_eq!(
        attacker.header("Cache-Control"),
        None,
        "a 412 is not for keeping"
    );
    let reader = get(proxy.addr, "/file");
    assert_eq!((reader.status, reader.text().as_str()), (200, "whole"));
    assert_eq!(reader.x_cache(), "HIT");
    // A condition that holds gets the body, from the copy.
    let holds = ask(&proxy, "/file", "If-Match: \"v1\"\r\n");
    assert_eq!((holds.status, holds.text().as_str()), (200, "whole"));
    // no-cache on a URL already cached: the check must not store a 412 either.
    let old = "If-Unmodified-Since: Sat, 05 Nov 1994 00:00:00 GMT\r\n";
    let attacker = ask(
        &proxy,
        "/file",
        &format!("Cache-Control: no-cache\r\n{old}"),
    );
    assert_eq!(attacker.status, 412);
    let reader = get(proxy.addr, "/file");
    assert_eq!((reader.status, reader.text().as_str()), (200, "whole"));
    for received in origin.received() {
        assert_eq!(received.header("If-Match"), None, "{}", received.head);
        assert_eq!(received.header("If-Unmodified-Since"), None);
    }
}

#[test]
fn a_stored_404_or_301_ignores_the_clients_conditions() {
    let origin = FakeOrigin::start(|request, stream| {
        let status = if request.target == "/moved" {
            "301 Moved Permanently\r\nLocation: /new"
        } else {
            "404 Not Found"
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\nDate: {}\r\nCache-Control: max-age=600\r\nETag: \"gone\"\r\n\
             Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 4\r\n\r\ngone",
            http_date(SystemTime::now())
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let cache = TempDir::new("poison-404");
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let conditions = [
        "If-None-Match: \"gone\"\r\n",
        "If-Modified-Since: Mon, 07 Nov 1994 00:00:00 GMT\r\n",
    ];
    for (path, status) in [("/deleted", 404), ("/moved", 301)] {
        // On the miss, and from the copy: the same answer (RFC 9110 13.2.1).
        for (turn, condition) in conditions.iter().enumerate() {
            let reply = ask(&proxy, path, condition);
            assert_eq!(reply.status, status, "{path} {condition}");
            assert_eq!(reply.text(), "gone");
            let label = if turn == 0 { "MISS" } else { "HIT" };
            assert_eq!(reply.x_cache(), label);
        }
    }
}

#[test]
fn a_304_that_adds_vary_does_not_make_the_copy_answer_everyone() {
    // The copy is stored without Vary and is stale at once; the check's 304
    // says that the response varies by language after all.
    let origin = FakeOrigin::start(|request, stream| {
        let date = http_date(SystemTime::now());
        let reply = if request.header("If-None-Match").is_some() {
            format!(
                "HTTP/1.1 304 Not Modified\r\nDate: {date}\r\nETag: \"v1\"\r\n\
                 Cache-Control: max-age=600\r\nVary: Accept-Language\r\n\r\n"
            )
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nDate: {date}\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\n\
                 Content-Length: 2\r\n\r\nfr"
            )
        };
        let _ = stream.write_all(reply.as_bytes());
    });
    let cache = TempDir::new("poison-304-vary");
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    assert_eq!(
        ask(&proxy, "/news", "Accept-Language: fr\r\n").x_cache(),
        "MISS"
    );
    let checked = ask(&proxy, "/news", "Accept-Language: fr\r\n");
    assert_eq!(checked.status, 200, "the 304 speaks for this request");
    assert_eq!(checked.text(), "fr");
    let german = ask(&proxy, "/news", "Accept-Language: de\r\n");
    assert_ne!(
        german.x_cache(),
        "HIT",
        "the copy checked for fr is not de's"
    );
    assert_eq!(
        origin.received().len(),
        3,
        "the German reader was asked for"
    );
}

#[test]
fn a_second_max_age_cannot_stretch_a_copys_lifetime() {
    let origin = FakeOrigin::start(|_, stream| {
        let reply = format!(
            "HTTP/1.1 200 OK\r\nDate: {}\r\nCache-Control: max-age=0\r\n\
             Cache-Control: max-age=31536000\r\nContent-Length: 4\r\n\r\nbody",
            http_date(SystemTime::now())
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let cache = TempDir::new("poison-two-max-age");
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/a");
    // RFC 9111 4.2.1: the first value counts, so the copy is stale at once.
    let second = get(proxy.addr, "/a");
    assert_ne!(second.x_cache(), "HIT");
    assert_eq!(origin.received().len(), 2);
}

/// Writes `head`, then the body one byte every 50 ms, until the proxy hangs
/// up or `body_bytes` are out. Returns whether the proxy hung up first.
fn drip(stream: &mut std::net::TcpStream, head: &str, body_bytes: usize) -> bool {
    if stream.write_all(head.as_bytes()).is_err() {
        return true;
    }
    for _ in 0..body_bytes {
        std::thread::sleep(Duration::from_millis(50));
        if stream.write_all(b"x").is_err() {
            return true;
        }
    }
    false
}

#[test]
fn a_one_byte_range_does_not_buy_the_download_of_the_rest() {
    // The origin promises 64 MiB and sends them slowly: a fill nobody waits
    // for would hold the one thread for minutes.
    let origin = FakeOrigin::start(|request, stream| {
        if request.target == "/big" {
            let head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n\
                        Content-Length: 67108864\r\n\r\nx";
            drip(stream, head, 400);
        } else {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother");
        }
    });
    let cache = TempDir::new("poison-range-stall");
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let part = ask(&proxy, "/big", "Range: bytes=0-0\r\n");
    assert_eq!((part.status, part.text().as_str()), (206, "x"));
    support::served_within(&proxy, "/other", "other", Duration::from_secs(3));
    proxy.wait_for_log("the rest of the body was more than the cache reads");
    let stored = support::files_below(&cache.path);
    assert!(
        !stored.iter().any(|name| name.starts_with("big")),
        "{stored:?}"
    );
}

#[test]
fn a_fill_abandoned_once_is_not_bought_again_by_the_same_cheap_request() {
    // 200 bytes, of which the rest comes too slowly for one --origin-timeout.
    let origin = FakeOrigin::start(|request, stream| {
        if request.header("Range").as_deref() == Some("bytes=5000-") {
            let reply = "HTTP/1.1 416 Range Not Satisfiable\r\nCache-Control: max-age=600\r\n\
                         Content-Range: bytes */200\r\nContent-Length: 0\r\n\r\n";
            let _ = stream.write_all(reply.as_bytes());
        } else if request.header("Range").is_some() {
            let reply = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/200\r\n\
                         Content-Length: 1\r\n\r\nx";
            let _ = stream.write_all(reply.as_bytes());
        } else {
            let head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n\
                        Content-Length: 200\r\n\r\nx";
            drip(stream, head, 199);
        }
    });
    let cache = TempDir::new("poison-range-again");
    let flags = ["--origin-timeout", "500"];
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &flags);
    let part = ask(&proxy, "/slow", "Range: bytes=0-0\r\n");
    assert_eq!((part.status, part.text().as_str()), (206, "x"));
    proxy.wait_for_log("the rest of the body was more than the cache reads");
    // The same request again is passed on as it is: the origin cuts the part.
    let again = ask(&proxy, "/slow", "Range: bytes=0-0\r\n");
    assert_eq!((again.status, again.text().as_str()), (206, "x"));
    let asked: Vec<_> = origin
        .received()
        .iter()
        .map(|r| r.header("Range"))
        .collect();
    assert_eq!(asked, [None, Some("bytes=0-0".to_string())]);
    assert!(
        support::files_below(&cache.path).is_empty(),
        "nothing stored"
    );
    // What the origin answers a passed-on range is that client's alone, even
    // an error it says may be kept: a plain reader must never get it.
    let beyond = ask(&proxy, "/slow", "Range: bytes=5000-\r\n");
    assert_eq!(beyond.status, 416);
    let stored = support::files_below(&cache.path);
    assert!(stored.is_empty(), "the 416 is not stored: {stored:?}");
}

#[test]
fn the_check_after_a_stale_while_revalidate_reply_has_one_small_budget() {
    let origin = FakeOrigin::start({
        let asked = std::sync::atomic::AtomicUsize::new(0);
        move |request, stream| {
            let turn = asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if request.target == "/other" {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother");
            } else if turn == 0 {
                let reply = "HTTP/1.1 200 OK\r\nCache-Control: max-age=0, \
                             stale-while-revalidate=600\r\nETag: \"v1\"\r\n\
                             Content-Length: 3\r\n\r\nold";
                let _ = stream.write_all(reply.as_bytes());
            } else if request.header("If-None-Match").is_some() && turn == 1 {
                // The check: a new version, 200 bytes, dripping.
                let head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nETag: \"v2\"\r\n\
                            Content-Length: 200\r\n\r\n";
                drip(stream, head, 200);
            } else {
                let reply = "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n";
                let _ = stream.write_all(reply.as_bytes());
            }
        }
    });
    let cache = TempDir::new("poison-swr-budget");
    let flags = ["--origin-timeout", "500"];
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &flags);
    assert_eq!(get(proxy.addr, "/news").x_cache(), "MISS");
    assert_eq!(get(proxy.addr, "/news").x_cache(), "STALE");
    // The check runs before the next connection is taken: it must be short.
    support::served_within(&proxy, "/other", "other", Duration::from_secs(3));
    proxy.wait_for_log("checked ");
    // Abandoned once: the next stale reader's copy is checked while it waits.
    let next = get(proxy.addr, "/news");
    assert_eq!(
        (next.x_cache().as_str(), next.text().as_str()),
        ("REVALIDATED", "old")
    );
}

#[test]
fn an_escaped_spelling_of_a_path_cannot_file_a_reply_under_the_plain_one() {
    // `/%70age` and `/page` are one URL (RFC 3986 6.2.2.2) and so one copy:
    // the origin must be asked in the spelling the copy is kept under, or an
    // origin that routes on the raw path files its `/%70age` answer as `/page`.
    let (cache, origin) = (TempDir::new("poison-escape"), target_echo_origin());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    assert_eq!(
        ask(&proxy, "/%70%61ge%2fx?q=%70", "").text(),
        "body of /page%2Fx?q=%70"
    );
    assert_eq!(ask(&proxy, "/%70age", "").text(), "body of /page");
    let plain = ask(&proxy, "/page", "");
    assert_eq!(
        (plain.text(), plain.x_cache()),
        ("body of /page".into(), "HIT".into())
    );
    // A byte that may not stand raw in a URL is sent escaped, whichever way it came.
    assert_eq!(ask(&proxy, "/a%22b", "").text(), "body of /a%22b");
    assert_eq!(ask(&proxy, "/caf%c3%a9", "").text(), "body of /caf%C3%A9");
}

#[test]
fn a_raw_bracket_keys_and_reaches_the_origin_as_itself() {
    // `[` and `]` are reserved (RFC 3986 2.2): `/a[b` and `/a%5Bb` are two
    // URLs, each with its own copy, and each is asked for as itself, so a
    // PURGE of the one the client used finds its copy.
    let (cache, origin) = (TempDir::new("poison-bracket"), target_echo_origin());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    assert_eq!(ask(&proxy, "/a[b]", "").text(), "body of /a[b]");
    assert_eq!(ask(&proxy, "/a%5Bb%5D", "").text(), "body of /a%5Bb%5D");
    let purge = send_raw(proxy.addr, b"PURGE /a[b] HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(purge.status, 200, "{}", purge.text());
    assert_eq!(ask(&proxy, "/a%5Bb%5D", "").x_cache(), "HIT");
}
