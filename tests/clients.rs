//! What real clients send and expect: compressed bodies (`curl --compressed`,
//! browsers), resumed downloads (`curl -C -`, `wget -c`), and conditional
//! requests on a miss (`wget -N`, `curl -z`), against the real binary.

mod support;

use std::io::Write;

use support::{files_below, send_raw, FakeOrigin, Reply, Server, TempDir};

/// Bytes standing for a gzip body: the proxy never decodes one, so any
/// bytes do, as long as they reach the client exactly as the origin sent them.
const GZIP_BODY: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03compressed\x00\xff";
const PLAIN_BODY: &[u8] = b"the plain text, longer than its compressed form";

/// An origin that answers with the gzip body when the request accepts gzip,
/// the plain one otherwise, both with `Vary: Accept-Encoding` (or without it
/// when the path says `/no-vary`).
fn origin_with_encodings() -> FakeOrigin {
    FakeOrigin::start(|request, stream| {
        let accepts = request.header("Accept-Encoding").unwrap_or_default();
        let gzip = accepts.split(',').any(|coding| coding.trim() == "gzip");
        let vary = if request.target.starts_with("/no-vary") {
            ""
        } else {
            "Vary: Accept-Encoding\r\n"
        };
        let (encoding, body) = if gzip {
            ("Content-Encoding: gzip\r\n", GZIP_BODY)
        } else {
            ("", PLAIN_BODY)
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n{vary}{encoding}Content-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(&[head.as_bytes(), body].concat());
    })
}

fn get_accepting(proxy: &Server, path: &str, accept_encoding: Option<&str>) -> Reply {
    let field = accept_encoding.map_or(String::new(), |value| {
        format!("Accept-Encoding: {value}\r\n")
    });
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{field}\r\n");
    send_raw(proxy.addr, request.as_bytes())
}

#[test]
fn compressed_and_identity_variants_are_stored_side_by_side() {
    let cache = TempDir::new("encodings");
    let origin = origin_with_encodings();
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let browser = Some("gzip, deflate, br, zstd");
    for round in ["MISS", "HIT"] {
        let compressed = get_accepting(&proxy, "/page", browser);
        assert_eq!(compressed.x_cache(), round);
        assert_eq!(compressed.body, GZIP_BODY, "byte for byte, never decoded");
        assert_eq!(
            compressed.header("Content-Encoding").as_deref(),
            Some("gzip")
        );
        assert_eq!(
            compressed.header("Vary").as_deref(),
            Some("Accept-Encoding")
        );
        let plain = get_accepting(&proxy, "/page", None);
        assert_eq!(
            (plain.x_cache(), plain.body.as_slice()),
            (round.into(), PLAIN_BODY)
        );
        assert_eq!(plain.header("Content-Encoding"), None);
    }
    // Another spelling of the same set is the same variant.
    let same_set = get_accepting(&proxy, "/page", Some("zstd, BR;q=0.9, gzip, identity"));
    assert_eq!(same_set.x_cache(), "HIT");
    let asked: Vec<String> = origin
        .received()
        .iter()
        .map(|request| request.header("Accept-Encoding").unwrap_or_default())
        .collect();
    assert_eq!(
        asked,
        ["br,gzip,zstd", "identity"],
        "normalised towards the origin"
    );
    let mut names = files_below(&cache.path);
    names.sort();
    assert_eq!(
        names,
        [
            "page@@",
            "page@@accept-encoding=br,gzip,zstd",
            "page@@accept-encoding=identity"
        ]
    );
}

#[test]
fn a_compressed_reply_without_vary_never_reaches_a_client_that_cannot_read_it() {
    let cache = TempDir::new("encodings-no-vary");
    let origin = origin_with_encodings();
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let compressed = get_accepting(&proxy, "/no-vary", Some("gzip"));
    assert_eq!(compressed.body, GZIP_BODY);
    // Said for the origin, so caches after this one key it too.
    assert_eq!(
        compressed.header("Vary").as_deref(),
        Some("Accept-Encoding")
    );
    let plain = get_accepting(&proxy, "/no-vary", None);
    assert_eq!(
        (plain.x_cache(), plain.body.as_slice()),
        ("MISS".into(), PLAIN_BODY)
    );
    assert_eq!(
        get_accepting(&proxy, "/no-vary", Some("gzip")).x_cache(),
        "HIT"
    );
}

/// A body of `length` bytes, each telling its offset apart.
fn numbered_body(length: usize) -> Vec<u8> {
    (0..length).map(|offset| (offset % 251) as u8).collect()
}

/// An origin that serves `body` with an `ETag`, and honours a `Range` as a
/// real server would (so a range it was sent would come back as a 206).
fn origin_with_ranges(body: Vec<u8>) -> FakeOrigin {
    FakeOrigin::start(move |request, stream| {
        let range = request.header("Range").and_then(|range| {
            let first = range.strip_prefix("bytes=")?.strip_suffix('-')?;
            first.parse::<usize>().ok()
        });
        let (status, part, extra) = match range {
            Some(first) => (
                "206 Partial Content",
                &body[first..],
                format!(
                    "Content-Range: bytes {first}-{}/{}\r\n",
                    body.len() - 1,
                    body.len()
                ),
            ),
            None => ("200 OK", &body[..], String::new()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nCache-Control: max-age=60\r\nETag: \"v1\"\r\n\
             Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n{extra}Content-Length: {}\r\n\r\n",
            part.len()
        );
        let _ = stream.write_all(&[head.as_bytes(), part].concat());
    })
}

fn get_with(proxy: &Server, path: &str, fields: &str) -> Reply {
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
    send_raw(proxy.addr, request.as_bytes())
}

#[test]
fn a_resume_on_a_miss_is_answered_and_the_whole_body_stored() {
    let cache = TempDir::new("resume-miss");
    let body = numbered_body(100_000);
    let origin = origin_with_ranges(body.clone());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let resumed = get_with(&proxy, "/big", "Range: bytes=60000-\r\n");
    assert_eq!((resumed.status, resumed.x_cache()), (206, "MISS".into()));
    assert_eq!(
        resumed.header("Content-Range").as_deref(),
        Some("bytes 60000-99999/100000")
    );
    assert_eq!(resumed.body, &body[60000..]);
    assert_eq!(origin.received()[0].header("Range"), None, "fetched whole");
    let whole = get_with(&proxy, "/big", "");
    assert_eq!((whole.status, whole.x_cache()), (200, "HIT".into()));
    assert_eq!(whole.body, body);
    assert_eq!(origin.received().len(), 1);
}

#[test]
fn a_range_of_a_body_too_large_to_store_is_answered_and_not_kept() {
    let cache = TempDir::new("resume-too-big");
    let body = numbered_body(300_000);
    let origin = origin_with_ranges(body.clone());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &["--max-size", "100K"]);
    let part = get_with(&proxy, "/huge", "Range: bytes=1000-\r\n");
    assert_eq!((part.status, part.body.len()), (206, body.len() - 1000));
    assert_eq!(part.body, &body[1000..]);
    assert!(
        files_below(&cache.path).is_empty(),
        "{:?}",
        files_below(&cache.path)
    );
}

#[test]
fn a_conditional_request_on_a_miss_fills_the_cache() {
    let cache = TempDir::new("conditional-miss");
    let origin = origin_with_ranges(b"the page".to_vec());
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    // `wget -N` and browsers with a warm cache of their own ask like this.
    let current = get_with(&proxy, "/page", "If-None-Match: \"v1\"\r\n");
    assert_eq!((current.status, current.body.len()), (304, 0));
    assert_eq!(
        origin.received()[0].header("If-None-Match"),
        None,
        "asked unconditionally"
    );
    let since = get_with(
        &proxy,
        "/page",
        "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
    );
    assert_eq!((since.status, since.x_cache()), (304, "HIT".into()));
    let changed = get_with(&proxy, "/page", "If-None-Match: \"v0\"\r\n");
    assert_eq!((changed.status, changed.text()), (200, "the page".into()));
    assert_eq!(changed.x_cache(), "HIT");
    assert_eq!(origin.received().len(), 1);
}

#[test]
fn a_304_that_changes_nothing_only_restarts_the_copys_age() {
    use std::os::unix::fs::MetadataExt;
    let cache = TempDir::new("quiet-304");
    // Validators only, as nginx serving files sends: every use is a check.
    let origin = FakeOrigin::start(|request, stream| {
        let date = support::http_date(std::time::SystemTime::now());
        let reply = if request.header("If-None-Match").is_some() {
            // A Date only for /file; /undated's 304 has none, and gets one.
            let date = match request.target.as_str() {
                "/file" => format!("Date: {date}\r\n"),
                _ => String::new(),
            };
            format!("HTTP/1.1 304 Not Modified\r\n{date}ETag: \"v1\"\r\n\r\n")
        } else {
            // Sent an hour ago (a slow network, a clock behind): the 304's
            // Date must then replace it.
            let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
            let date = support::http_date(hour_ago);
            format!(
                "HTTP/1.1 200 OK\r\nDate: {date}\r\nETag: \"v1\"\r\nContent-Length: 4\r\n\r\nbody"
            )
        };
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let stored = |name: &str| std::fs::metadata(cache.join(name)).expect("stored");
    assert_eq!(get_with(&proxy, "/file", "").x_cache(), "MISS");
    let before = stored("file@");
    let checked = get_with(&proxy, "/file", "");
    assert_eq!(
        (checked.x_cache(), checked.text()),
        ("REVALIDATED".into(), "body".into())
    );
    let after = stored("file@");
    assert_eq!(after.ino(), before.ino(), "the same file: not rewritten");
    assert!(after.modified().expect("mtime") >= before.modified().expect("mtime"));
    // The 304's Date replaced the stored one (RFC 9111 4.3.4), in place.
    let asked_at = support::http_date(std::time::SystemTime::now());
    let third = get_with(&proxy, "/file", "");
    let file = std::fs::read_to_string(cache.join("file@")).expect("entry");
    let date = support::http_date(std::time::SystemTime::now());
    assert!(
        [asked_at, date]
            .iter()
            .any(|date| file.contains(&format!("date: {date}"))),
        "{file}"
    );
    assert_eq!(third.text(), "body");
    assert_eq!(stored("file@").ino(), before.ino());
    get_with(&proxy, "/undated", "");
    let asked_at = support::http_date(std::time::SystemTime::now());
    let reply = get_with(&proxy, "/undated", "");
    let file = std::fs::read_to_string(cache.join("undated@")).expect("entry");
    let now = [asked_at, support::http_date(std::time::SystemTime::now())];
    let dated_now = now
        .iter()
        .any(|date| file.contains(&format!("date: {date}")));
    assert!(dated_now, "a 304 without Date dates the copy now: {file}");
    let sent = reply.header("Date").unwrap_or_default();
    assert!(now.contains(&sent), "and the reply too: {sent}");
}

#[test]
fn through_the_demo_origin_a_compressed_copy_is_stored_and_resumed_from() {
    let cache = TempDir::new("demo-gzip");
    let origin = Server::origin(&support::www(), &[]);
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let gzipped = std::fs::read(support::www().join("guide/book.txt.gz")).expect("book.txt.gz");
    let plain = std::fs::read(support::www().join("guide/book.txt")).expect("book.txt");
    // What `curl --compressed` sends.
    let curl = "Accept-Encoding: deflate, gzip, br, zstd\r\n";
    for round in ["MISS", "HIT"] {
        let compressed = get_with(&proxy, "/guide/book.txt", curl);
        assert_eq!(compressed.x_cache(), round);
        assert!(
            compressed.body == gzipped,
            "{round}: not the origin's gzip bytes"
        );
        let identity = get_with(&proxy, "/guide/book.txt", "");
        assert_eq!(identity.x_cache(), round);
        assert!(identity.body == plain, "{round}: not the plain file");
    }
    // A resume of the compressed download, from the stored copy.
    let rest = get_with(
        &proxy,
        "/guide/book.txt",
        &format!("{curl}Range: bytes=100-\r\n"),
    );
    assert_eq!((rest.status, rest.x_cache()), (206, "HIT".into()));
    assert!(rest.body == gzipped[100..], "the rest of the gzip bytes");
}

/// An origin that sends `length` numbered bytes in pieces of `piece` bytes,
/// `pause` apart (a `Content-Length` reply, fresh for a minute); any other
/// path than `/slow` gets a short reply at once.
fn paced_origin(length: usize, piece: usize, pause: std::time::Duration) -> FakeOrigin {
    FakeOrigin::start(move |request, stream| {
        if request.target != "/slow" {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother");
            return;
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: {length}\r\n\r\n"
        );
        let _ = stream.write_all(head.as_bytes());
        for chunk in numbered_body(length).chunks(piece) {
            std::thread::sleep(pause);
            if stream.write_all(chunk).is_err() {
                return;
            }
        }
    })
}

#[test]
fn an_origin_trickling_past_a_small_range_is_cut_so_the_next_client_waits_little() {
    let cache = TempDir::new("range-trickle");
    // A megabyte at 1 KiB every 100 ms would take 100 s.
    let origin = paced_origin(1_000_000, 1024, std::time::Duration::from_millis(100));
    let flags = [
        "--write-timeout",
        "300",
        "--min-rate",
        "64K",
        "--max-reply-time",
        "30000",
    ];
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &flags);
    let first_byte = get_with(&proxy, "/slow", "Range: bytes=0-0\r\n");
    assert_eq!(
        (first_byte.status, first_byte.body.as_slice()),
        (206, &[0u8][..])
    );
    let limit = std::time::Duration::from_secs(5);
    support::served_within(&proxy, "/other", "other", limit);
}

#[test]
fn a_resume_far_into_a_miss_waits_for_its_bytes_and_fills_the_cache() {
    let cache = TempDir::new("range-far");
    // 3 MB at 1 MB/s: the resumed part begins 2.5 s in, past --write-timeout.
    let origin = paced_origin(3_000_000, 100_000, std::time::Duration::from_millis(100));
    let flags = ["--write-timeout", "1000", "--min-rate", "256K"];
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &flags);
    let rest = get_with(&proxy, "/slow", "Range: bytes=2500000-\r\n");
    assert_eq!(rest.status, 206);
    assert!(
        rest.body == numbered_body(3_000_000)[2_500_000..],
        "the last 500000 bytes"
    );
    assert_eq!(get_with(&proxy, "/slow", "").x_cache(), "HIT");
}

#[test]
fn a_client_that_leaves_its_range_early_still_gets_the_cache_filled() {
    let cache = TempDir::new("range-leaves");
    // The rest (about 2 MB) fits what the cache reads with no client waiting:
    // one --origin-timeout at --min-rate, 2.5 MiB by default.
    let origin = paced_origin(2_000_000, 500_000, std::time::Duration::from_millis(10));
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    {
        let mut stream = std::net::TcpStream::connect(proxy.addr).expect("connect");
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-\r\n\r\n")
            .expect("request");
        let mut some = [0u8; 10_000];
        std::io::Read::read_exact(&mut stream, &mut some).expect("some of the part");
    } // The client hangs up here, almost 2 MB early.
    proxy.wait_for_log("the copy was filled all the same");
    let whole = get_with(&proxy, "/slow", "");
    assert_eq!(whole.x_cache(), "HIT");
    assert!(
        whole.body == numbered_body(2_000_000),
        "the whole body, byte for byte"
    );
}

#[test]
fn a_request_that_keeps_nothing_passes_its_range_and_conditions_on() {
    let cache = TempDir::new("no-store-range");
    let origin = origin_with_ranges(numbered_body(1000));
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let part = get_with(
        &proxy,
        "/doc",
        "Cache-Control: no-store\r\nRange: bytes=900-\r\n",
    );
    assert_eq!((part.status, part.body.len()), (206, 100));
    let asked = origin.received();
    assert_eq!(
        asked[0].header("Range").as_deref(),
        Some("bytes=900-"),
        "the origin's to answer"
    );
    assert!(files_below(&cache.path).is_empty());
}

#[test]
fn a_coding_named_on_a_second_line_still_keys_the_copy() {
    let cache = TempDir::new("encodings-second-line");
    // Its coding on a second line, and no Vary at all.
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Encoding: identity\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\ngz!",
    );
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let compressed = get_accepting(&proxy, "/second-line", Some("gzip"));
    assert_eq!(
        compressed.header("Vary").as_deref(),
        Some("Accept-Encoding")
    );
    let plain = get_accepting(&proxy, "/second-line", None);
    assert_eq!(
        plain.x_cache(),
        "MISS",
        "the gzip copy is not the plain client's"
    );
}
