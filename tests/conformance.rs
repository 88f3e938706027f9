//! RFC 9111 as the public cache test suite checks it, against the real binary
//! with its shipped defaults: which responses are stored, how long they stay
//! fresh, and how their header fields are read.

mod support;

use std::io::Write;
use std::time::{Duration, SystemTime};

use support::{get, http_date, send_raw, FakeOrigin, Reply, Server, TempDir};

/// An origin that answers every request with a 200 whose extra header lines
/// `fields(path)` gives, fresh dates included (they are made per reply).
fn origin_with(fields: fn(&str) -> String) -> FakeOrigin {
    FakeOrigin::start(move |request, stream| {
        let reply = format!(
            "HTTP/1.1 200 OK\r\nDate: {}\r\n{}Content-Length: 4\r\n\r\nbody",
            http_date(SystemTime::now()),
            fields(&request.target)
        );
        let _ = stream.write_all(reply.as_bytes());
    })
}

/// Asks twice; returns the second reply and how many requests reached the origin.
fn twice(proxy: &Server, origin: &FakeOrigin, path: &str) -> (Reply, usize) {
    get(proxy.addr, path);
    let second = get(proxy.addr, path);
    let asked = origin
        .received()
        .iter()
        .filter(|r| r.target == path)
        .count();
    (second, asked)
}

fn in_an_hour() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

#[test]
fn a_reply_with_no_freshness_and_no_validator_is_not_reused() {
    let cache = TempDir::new("freshness-none");
    let origin = origin_with(|_| String::new());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let (second, asked) = twice(&proxy, &origin, "/plain");
    assert_ne!(second.x_cache(), "HIT");
    assert_eq!(asked, 2, "RFC 9111 4.2.2: no freshness, no reuse");
}

#[test]
fn last_modified_gives_a_tenth_of_its_age_as_lifetime() {
    let cache = TempDir::new("heuristic");
    let origin = origin_with(|_| {
        let ten_hours_ago = SystemTime::now() - Duration::from_secs(10 * 3600);
        format!("Last-Modified: {}\r\n", http_date(ten_hours_ago))
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let (second, asked) = twice(&proxy, &origin, "/old-file");
    assert_eq!((second.x_cache(), asked), ("HIT".to_string(), 1));
    let status = second.header("Cache-Status").unwrap_or_default();
    assert!(
        status.contains("ttl=3600") || status.contains("ttl=3599"),
        "a tenth of ten hours: {status}"
    );
}

#[test]
fn only_the_first_age_value_counts() {
    let cache = TempDir::new("age-list");
    let origin = origin_with(|_| "Cache-Control: max-age=3600\r\nAge: 7200, 0\r\n".into());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let (second, asked) = twice(&proxy, &origin, "/aged");
    assert_ne!(second.x_cache(), "HIT", "7200 s old, fresh for 3600: stale");
    assert_eq!(asked, 2);
}

#[test]
fn expires_is_read_in_the_obsolete_date_forms_too() {
    let cache = TempDir::new("expires-forms");
    let origin = origin_with(|path| {
        // `Sun, 06 Nov 1994 08:49:37 GMT` as `Sunday, 06-Nov-94 08:49:37 GMT`
        // and as `Sun Nov  6 08:49:37 1994` (RFC 9110 5.6.7).
        let imf = http_date(in_an_hour());
        let (weekday, day, month, year, time) = (
            &imf[0..3],
            &imf[5..7],
            &imf[8..11],
            &imf[12..16],
            &imf[17..25],
        );
        let long_weekday = match weekday {
            "Mon" => "Monday",
            "Tue" => "Tuesday",
            "Wed" => "Wednesday",
            "Thu" => "Thursday",
            "Fri" => "Friday",
            "Sat" => "Saturday",
            _ => "Sunday",
        };
        let expires = if path == "/rfc850" {
            format!("{long_weekday}, {day}-{month}-{} {time} GMT", &year[2..])
        } else if path == "/upper-case" {
            imf.to_uppercase()
        } else {
            let day = day.trim_start_matches('0');
            format!("{weekday} {month} {day:>2} {time} {year}")
        };
        format!("Expires: {expires}\r\n")
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    for path in ["/rfc850", "/asctime", "/upper-case"] {
        let (second, asked) = twice(&proxy, &origin, path);
        assert_eq!((second.x_cache(), asked), ("HIT".to_string(), 1), "{path}");
    }
}

#[test]
fn an_invalid_expires_means_already_expired() {
    let cache = TempDir::new("expires-invalid");
    let origin = origin_with(|path| {
        let later = http_date(in_an_hour());
        match path {
            // Two lines where one belongs: neither can be trusted.
            "/two-lines" => format!("Expires: {later}\r\nExpires: {later}\r\n"),
            // `2:01:18` is not an IMF-fixdate time.
            _ => format!("Expires: {}{}\r\n", &later[..17], &later[18..]),
        }
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    for path in ["/two-lines", "/one-digit-hour"] {
        let (second, asked) = twice(&proxy, &origin, path);
        assert_ne!(second.x_cache(), "HIT", "{path}");
        assert_eq!(asked, 2, "{path}");
    }
}

#[test]
fn a_reply_to_credentials_is_shared_only_when_the_origin_says_so() {
    let cache = TempDir::new("authorization");
    let origin = origin_with(|path| match path {
        "/public" => "Cache-Control: public, max-age=60\r\n".into(),
        _ => "Cache-Control: max-age=60\r\n".into(),
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    for (path, shared) in [("/public", true), ("/personal", false)] {
        let with_credentials =
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic dXNlcjpwdw==\r\n\r\n");
        send_raw(proxy.addr, with_credentials.as_bytes());
        let anonymous = get(proxy.addr, path);
        assert_eq!(anonymous.x_cache() == "HIT", shared, "{path}");
    }
}

/// A 100 KiB body of counting bytes, so any slice can be checked.
fn counting_body() -> Vec<u8> {
    (0..100 * 1024)
        .map(|index: u32| (index % 251) as u8)
        .collect()
}

fn ask_range(proxy: &Server, path: &str, fields: &str) -> Reply {
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
    send_raw(proxy.addr, request.as_bytes())
}

#[test]
fn a_range_of_a_stored_response_is_served_from_the_file() {
    let cache = TempDir::new("ranges");
    let origin = FakeOrigin::start(|_, stream| {
        let body = counting_body();
        let head = format!(
            "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nCache-Control: max-age=60\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body);
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let body = counting_body();
    let length = body.len();
    assert_eq!(get(proxy.addr, "/file").body, body);
    // (Range, first byte, last byte): from the bytes read with the head, from
    // past them (a seek in the file), open-ended, a suffix, past the end.
    let cases = [
        ("bytes=2-5", 2, 5),
        ("bytes=50000-50009", 50_000, 50_009),
        ("bytes=30000-", 30_000, length - 1),
        ("bytes=-3", length - 3, length - 1),
        ("bytes=100-999999", 100, length - 1),
    ];
    for (range, first, last) in cases {
        let part = ask_range(&proxy, "/file", &format!("Range: {range}\r\n"));
        assert_eq!(
            (part.status, part.x_cache()),
            (206, "HIT".into()),
            "{range}"
        );
        assert_eq!(
            part.header("Content-Range"),
            Some(format!("bytes {first}-{last}/{length}")),
            "{range}"
        );
        assert_eq!(part.body, body[first..=last], "{range}");
        let content_length = part.header("Content-Length").unwrap_or_default();
        assert_eq!(content_length, (last - first + 1).to_string(), "{range}");
    }
    let beyond = ask_range(&proxy, "/file", "Range: bytes=200000-\r\n");
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("Content-Range"),
        Some(format!("bytes */{length}"))
    );
    assert!(beyond.body.is_empty());
    // If-Range names another version: the whole body, as it is now.
    let changed = ask_range(&proxy, "/file", "Range: bytes=0-9\r\nIf-Range: \"v0\"\r\n");
    assert_eq!((changed.status, changed.body.len()), (200, length));
    let same = ask_range(&proxy, "/file", "Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n");
    assert_eq!((same.status, same.body), (206, body[..10].to_vec()));
    // Several ranges at once: the whole body (RFC 9110 14.2 allows it).
    let several = ask_range(&proxy, "/file", "Range: bytes=0-1,5-6\r\n");
    assert_eq!((several.status, several.body.len()), (200, length));
    assert_eq!(origin.received().len(), 1, "every reply came from the copy");
}

#[test]
fn an_unknown_method_is_forwarded_and_its_success_invalidates() {
    let cache = TempDir::new("unknown-method");
    let origin = FakeOrigin::start(|request, stream| {
        let reply = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: {}\r\n\r\n{}",
            request.method.len(),
            request.method
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/thing").x_cache(), "MISS");
    assert_eq!(get(proxy.addr, "/thing").x_cache(), "HIT");
    let searched = send_raw(proxy.addr, b"M-SEARCH /thing HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((searched.status, searched.text()), (200, "M-SEARCH".into()));
    // RFC 9111 4.4: an unsafe method that succeeded may have changed it.
    let after = get(proxy.addr, "/thing");
    assert_eq!(
        (after.x_cache(), after.text()),
        ("MISS".into(), "GET".into())
    );
}

#[test]
fn the_clients_own_directives_are_honoured() {
    let cache = TempDir::new("request-directives");
    let origin = origin_with(|path| match path {
        "/strict" => "Cache-Control: max-age=1, must-revalidate\r\n".into(),
        _ => "Cache-Control: max-age=1\r\n".into(),
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let ask = |path: &str, directive: &str| {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nCache-Control: {directive}\r\n\r\n");
        send_raw(proxy.addr, request.as_bytes())
    };
    // only-if-cached: a stored copy or 504, never the origin.
    let nothing = ask("/easy", "only-if-cached");
    assert_eq!(nothing.status, 504);
    assert!(origin.received().is_empty(), "the origin was asked");
    get(proxy.addr, "/easy");
    get(proxy.addr, "/strict");
    assert_eq!(ask("/easy", "only-if-cached").x_cache(), "HIT");
    // min-fresh: a copy with less life left than asked for is checked.
    assert_ne!(ask("/easy", "min-fresh=30").x_cache(), "HIT");
    // max-stale: a stale copy will do, unless the origin said must-revalidate.
    std::thread::sleep(Duration::from_millis(2100));
    let asked_before = origin.received().len();
    assert_eq!(ask("/easy", "max-stale=60").x_cache(), "HIT");
    assert_eq!(origin.received().len(), asked_before);
    // Stale, must-revalidate: only-if-cached finds nothing that will do.
    assert_eq!(ask("/strict", "only-if-cached").status, 504);
    assert_ne!(ask("/strict", "max-stale=60").x_cache(), "HIT");
}

#[test]
fn cdn_cache_control_wins_over_cache_control_unless_turned_off() {
    let origin = origin_with(|path| match path {
        "/cdn-fresh" => "Cache-Control: no-store\r\nCDN-Cache-Control: max-age=3600\r\n".into(),
        "/cdn-private" => "Cache-Control: max-age=3600\r\nCDN-Cache-Control: private\r\n".into(),
        _ => "Cache-Control: max-age=3600\r\nCDN-Cache-Control: no-store\r\n".into(),
    });
    let cache = TempDir::new("cdn-cache-control");
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    for (path, reused) in [
        ("/cdn-fresh", true),
        ("/cdn-private", false),
        ("/cdn-no-store", false),
    ] {
        let (second, _) = twice(&proxy, &origin, path);
        assert_eq!(second.x_cache() == "HIT", reused, "{path}");
    }
    let plain_cache = TempDir::new("cdn-cache-control-off");
    let plain = Server::proxy_as_shipped(
        &origin.url,
        &plain_cache.path,
        &["--targeted-field", "none"],
    );
    for (path, reused) in [("/cdn-fresh", false), ("/cdn-private", true)] {
        get(plain.addr, path);
        let second = get(plain.addr, path);
        assert_eq!(
            second.x_cache() == "HIT",
            reused,
            "{path} with --targeted-field none"
        );
    }
}

#[test]
fn variants_are_stored_side_by_side_and_chosen_by_the_request() {
    let cache = TempDir::new("vary");
    let origin = FakeOrigin::start(|request, stream| {
        let language = request
            .header("Accept-Language")
            .unwrap_or_else(|| "none".into());
        let reply = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nVary: Accept-Language\r\nVary: accept-language\r\nContent-Length: {}\r\n\r\n{language}",
            language.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let in_language = |language: Option<&str>| {
        let field = language.map(|language| format!("Accept-Language: {language}\r\n"));
        let request = format!(
            "GET /page HTTP/1.1\r\nHost: t\r\n{}\r\n",
            field.unwrap_or_default()
        );
        send_raw(proxy.addr, request.as_bytes())
    };
    for round in ["MISS", "HIT"] {
        for language in [Some("fr"), Some("en, de"), None] {
            let reply = in_language(language);
            assert_eq!(reply.x_cache(), round, "{language:?}");
            assert_eq!(reply.text(), language.unwrap_or("none"), "{language:?}");
            assert_eq!(reply.header("Vary").as_deref(), Some("Accept-Language"));
        }
    }
    // Normalised: the same list written another way is the same variant.
    assert_eq!(in_language(Some("en,de")).x_cache(), "HIT");
    assert_eq!(origin.received().len(), 3);
    let mut names = support::files_below(&cache.path);
    names.sort();
    assert_eq!(
        names,
        [
            "page@@",
            "page@@accept-language",
            "page@@accept-language=en,de",
            "page@@accept-language=fr"
        ]
    );
    let marker = std::fs::read_to_string(cache.path.join("page@@")).expect("marker");
    assert_eq!(marker, "Vary: accept-language\n", "the normalised list");
    // PURGE of the URL removes every variant and the marker.
    let purged = send_raw(proxy.addr, b"PURGE /page HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(purged.status, 200);
    assert!(support::files_below(&cache.path).is_empty());
    assert_eq!(in_language(Some("fr")).x_cache(), "MISS");
}

#[test]
fn stale_while_revalidate_serves_at_once_and_checks_after_the_reply() {
    let cache = TempDir::new("swr");
    // The check after the reply is held until the test lets it go: if the
    // proxy asked before replying, the stale reply would wait for it.
    let (let_go, held) = std::sync::mpsc::channel::<()>();
    let held = std::sync::Mutex::new(held);
    let origin = FakeOrigin::start(move |request, stream| {
        let reply = if request.header("If-None-Match").is_none() {
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=0, stale-while-revalidate=3600\r\nETag: \"v1\"\r\nContent-Length: 3\r\n\r\nold"
        } else {
            let _ = held
                .lock()
                .expect("lock")
                .recv_timeout(Duration::from_secs(10));
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nETag: \"v2\"\r\nContent-Length: 3\r\n\r\nnew"
        };
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/news").x_cache(), "MISS");
    let stale = get(proxy.addr, "/news");
    assert_eq!(
        (stale.x_cache(), stale.text()),
        ("STALE".into(), "old".into())
    );
    let status = stale.header("Cache-Status").unwrap_or_default();
    assert!(status.contains("detail=stale-while-revalidate"), "{status}");
    let_go.send(()).expect("origin waiting");
    proxy.wait_for_log("after the reply: ");
    let checked = &origin.received()[1];
    assert_eq!(checked.header("If-None-Match").as_deref(), Some("\"v1\""));
    let fresh = get(proxy.addr, "/news");
    assert_eq!(
        (fresh.x_cache(), fresh.text()),
        ("HIT".into(), "new".into())
    );
    assert_eq!(fresh.header("ETag").as_deref(), Some("\"v2\""));
    assert_eq!(origin.received().len(), 2);
}

#[test]
fn stale_if_error_limits_how_stale_a_stand_in_may_be() {
    let cache = TempDir::new("stale-if-error");
    // Each URL is stored 5 s old with 1 s of life, so 4 s stale at once;
    // after that first reply the origin fails.
    let seen = std::sync::Mutex::new(std::collections::HashSet::new());
    let origin = FakeOrigin::start(move |request, stream| {
        let first = seen.lock().expect("lock").insert(request.target.clone());
        let reply = if first {
            let limit = request.target.strip_prefix("/sie-");
            let limit = limit.map_or(String::new(), |n| format!(", stale-if-error={n}"));
            format!("HTTP/1.1 200 OK\r\nAge: 5\r\nCache-Control: max-age=1{limit}\r\nContent-Length: 4\r\n\r\nkept")
        } else {
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail".into()
        };
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let twice_with = |path: &str, fields: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
        send_raw(proxy.addr, request.as_bytes());
        let second = send_raw(proxy.addr, request.as_bytes());
        (second.status, second.text())
    };
    let stood_in = (200, "kept".to_string());
    let failed = (500, "fail".to_string());
    assert_eq!(twice_with("/sie-10", ""), stood_in, "4 s stale, 10 allowed");
    assert_eq!(
        twice_with("/sie-2", ""),
        failed,
        "the origin's limit, not --max-stale"
    );
    assert_eq!(twice_with("/plain", ""), stood_in, "--max-stale's day");
    let client_limit = "Cache-Control: stale-if-error=2\r\n";
    assert_eq!(
        twice_with("/mine", client_limit),
        failed,
        "the client's own limit"
    );
}

#[test]
fn a_204_is_whole_with_its_head_and_is_stored() {
    let cache = TempDir::new("no-content");
    // No Content-Length: a 204 has no body, so its end is known anyway.
    let origin = FakeOrigin::fixed(b"HTTP/1.1 204 No Content\r\nCache-Control: max-age=60\r\n\r\n");
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let (second, asked) = twice(&proxy, &origin, "/empty");
    assert_eq!(
        (second.status, second.x_cache(), asked),
        (204, "HIT".into(), 1)
    );
    assert_eq!(second.header("Content-Length"), None);
}

#[test]
fn a_200_with_content_range_but_no_range_asked_is_whole() {
    let cache = TempDir::new("content-range-200");
    // RFC 9110 14.4: Content-Range means nothing in a 200.
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nContent-Range: bytes 0-3/4\r\nCache-Control: max-age=60\r\nContent-Length: 4\r\n\r\nbody",
    );
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let (second, asked) = twice(&proxy, &origin, "/whole");
    assert_eq!(
        (second.x_cache(), second.text(), asked),
        ("HIT".into(), "body".into(), 1)
    );
    assert_eq!(
        second.header("Content-Range").as_deref(),
        Some("bytes 0-3/4")
    );
}

#[test]
fn must_understand_stores_despite_no_store_only_a_known_status() {
    let cache = TempDir::new("must-understand");
    let origin = FakeOrigin::start(|request, stream| {
        let status = &request.target[1..];
        let reply = format!(
            "HTTP/1.1 {status} Whatever\r\nCache-Control: max-age=3600, no-store, must-understand\r\nContent-Length: 4\r\n\r\nbody"
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    assert_eq!(twice(&proxy, &origin, "/200").1, 1, "200 is understood");
    assert_eq!(twice(&proxy, &origin, "/599").1, 2, "599 is not");
}

#[test]
fn a_malformed_cdn_cache_control_is_ignored_as_a_whole() {
    let cache = TempDir::new("cdn-malformed");
    let origin = origin_with(|path| {
        let targeted = match path {
            "/unknown-type" => "max-age=10000, &&&&&",
            "/wrong-type" => "max-age=\"10000\"",
            "/empty" => "",
            "/parameters" => "max-age=10000;x",
            _ => "max-age=10000",
        };
        // A Last-Modified, so that an empty targeted field obeyed would give
        // a heuristic lifetime and a copy.
        format!(
            "CDN-Cache-Control: {targeted}\r\nCache-Control: no-store\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        )
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    assert_eq!(twice(&proxy, &origin, "/valid").1, 1, "obeyed: stored");
    for path in ["/unknown-type", "/wrong-type", "/empty", "/parameters"] {
        assert_eq!(
            twice(&proxy, &origin, path).1,
            2,
            "{path}: Cache-Control's no-store rules"
        );
    }
}

#[test]
fn if_modified_since_is_judged_by_date_when_there_is_no_last_modified() {
    let cache = TempDir::new("ims-date");
    let origin = origin_with(|_| "Cache-Control: max-age=3600\r\n".into());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/dated").x_cache(), "MISS");
    let request = format!(
        "GET /dated HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {}\r\n\r\n",
        http_date(in_an_hour())
    );
    let reply = send_raw(proxy.addr, request.as_bytes());
    assert_eq!((reply.status, reply.x_cache()), (304, "HIT".into()));
}

/// An origin for checks after the reply: the first request gets `first`,
/// every later one `later` (each a whole reply, head and body).
fn origin_changing(first: &'static str, later: &'static str) -> FakeOrigin {
    let asked = std::sync::atomic::AtomicUsize::new(0);
    FakeOrigin::start(move |_, stream| {
        let count = asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let reply = if count == 0 { first } else { later };
        let _ = stream.write_all(reply.as_bytes());
    })
}

const STALE_V1: &str = "HTTP/1.1 200 OK\r\nCache-Control: max-age=0, stale-while-revalidate=600\r\nETag: \"v1\"\r\nContent-Length: 7\r\n\r\nbody-v1";

#[test]
fn a_check_whose_304_names_another_version_fetches_it_whole() {
    let cache = TempDir::new("swr-other-etag");
    // A 304 for "v2" to a question about "v1", then the real "v2".
    let origin = FakeOrigin::start({
        let asked = std::sync::atomic::AtomicUsize::new(0);
        move |_, stream| {
            let reply = match asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => STALE_V1,
                1 => "HTTP/1.1 304 Not Modified\r\nETag: \"v2\"\r\nCache-Control: max-age=3600\r\n\r\n",
                _ => "HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nETag: \"v2\"\r\nContent-Length: 7\r\n\r\nbody-v2",
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/doc");
    assert_eq!(
        get(proxy.addr, "/doc").text(),
        "body-v1",
        "stale, served at once"
    );
    proxy.wait_for_log("after the reply: ");
    let now = get(proxy.addr, "/doc");
    assert_eq!(
        (now.x_cache(), now.text()),
        ("HIT".into(), "body-v2".into())
    );
    assert_eq!(now.header("ETag").as_deref(), Some("\"v2\""));
}

#[test]
fn a_check_whose_reply_now_varies_replaces_the_urls_own_copy() {
    let cache = TempDir::new("swr-now-varies");
    let origin = origin_changing(
        STALE_V1,
        "HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nVary: Accept-Language\r\nETag: \"v2\"\r\nContent-Length: 7\r\n\r\nbody-v2",
    );
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/doc");
    get(proxy.addr, "/doc");
    proxy.wait_for_log("after the reply: ");
    let now = get(proxy.addr, "/doc");
    assert_eq!(
        (now.x_cache(), now.text()),
        ("HIT".into(), "body-v2".into())
    );
    let mut names = support::files_below(&cache.path);
    names.sort();
    assert_eq!(
        names,
        ["doc@@", "doc@@accept-language"],
        "the old doc@ is gone"
    );
}

#[test]
fn a_check_is_cut_when_the_origin_trickles_so_the_next_client_waits_little() {
    let cache = TempDir::new("swr-trickle");
    let origin = FakeOrigin::start({
        let asked = std::sync::atomic::AtomicUsize::new(0);
        move |request, stream| {
            if request.target != "/doc" {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother");
            } else if asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                let _ = stream.write_all(STALE_V1.as_bytes());
            } else {
                // A promise of a megabyte, kept one byte every 100 ms.
                let head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 1000000\r\n\r\n";
                let _ = stream.write_all(head.as_bytes());
                for _ in 0..100 {
                    std::thread::sleep(Duration::from_millis(100));
                    if stream.write_all(b"x").is_err() {
                        return;
                    }
                }
            }
        }
    });
    let flags = ["--write-timeout", "300", "--min-rate", "64K"];
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &flags);
    get(proxy.addr, "/doc");
    assert_eq!(get(proxy.addr, "/doc").text(), "body-v1");
    // The trickle would last 10 s; a megabyte is more than the check may
    // read with no client waiting (one --origin-timeout at --min-rate), so
    // it is not begun.
    support::served_within(&proxy, "/other", "other", Duration::from_secs(3));
    proxy.wait_for_log("the rest of the body was more than the cache reads");
}

#[test]
fn a_reply_without_date_gets_one() {
    let cache = TempDir::new("no-date");
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 4\r\n\r\nbody",
    );
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    // RFC 9110 6.6.1: a recipient with a clock adds it, on the miss and the copy.
    for round in ["MISS", "HIT"] {
        let reply = get(proxy.addr, "/undated");
        assert_eq!(reply.x_cache(), round);
        let date = reply.header("Date").unwrap_or_default();
        assert!(
            date.ends_with(" GMT") && date.len() == 29,
            "{round}: {date:?}"
        );
    }
}
