//! The demo origin as a static server: single byte ranges (RFC 9110 section
//! 14). Each test starts the real binary on `www/` and speaks raw HTTP to it,
//! so every header and byte is checked as sent.

mod support;

use std::net::SocketAddr;

use support::{send_raw, www, Reply, Server};

/// The book's URL, and the file on disk.
const BOOK: &str = "/guide/book.txt";

fn plain_book() -> Vec<u8> {
    std::fs::read(www().join("guide/book.txt")).expect("read book.txt")
}

/// `method path` with the extra header lines `extra` (each ending in CRLF).
fn ask(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Reply {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n");
    send_raw(addr, request.as_bytes())
}

/// A `GET` of the book with one `Range`.
fn range(addr: SocketAddr, range: &str) -> Reply {
    ask(addr, "GET", BOOK, &format!("Range: {range}\r\n"))
}

#[test]
fn one_range_gets_206_with_just_those_bytes() {
    let origin = Server::origin(&www(), &[]);
    let plain = plain_book();
    let length = plain.len();
    let part = range(origin.addr, "bytes=100-199");
    assert_eq!(part.status, 206);
    assert_eq!(part.body, plain[100..200]);
    assert_eq!(
        part.header("Content-Range"),
        Some(format!("bytes 100-199/{length}"))
    );
    assert_eq!(part.header("Content-Length").as_deref(), Some("100"));
    assert_eq!(part.header("Accept-Ranges").as_deref(), Some("bytes"));
    // Resuming a download: from an offset to the end.
    let rest = range(origin.addr, &format!("bytes={}-", length - 1000));
    assert_eq!(rest.status, 206);
    assert_eq!(rest.body, plain[length - 1000..]);
    assert_eq!(
        rest.header("Content-Range"),
        Some(format!("bytes {}-{}/{length}", length - 1000, length - 1))
    );
}

#[test]
fn a_suffix_range_gets_the_last_bytes() {
    let origin = Server::origin(&www(), &[]);
    let plain = plain_book();
    let length = plain.len();
    let tail = range(origin.addr, "bytes=-500");
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, plain[length - 500..]);
    assert_eq!(
        tail.header("Content-Range"),
        Some(format!("bytes {}-{}/{length}", length - 500, length - 1))
    );
    let longer = range(origin.addr, &format!("bytes=-{}", length * 2));
    assert_eq!(longer.status, 206, "a suffix longer than the file");
    assert!(longer.body == plain, "is the whole file");
}

#[test]
fn a_range_past_the_end_gets_416_with_the_length() {
    let origin = Server::origin(&www(), &[]);
    let length = plain_book().len();
    for past in [format!("bytes={length}-"), "bytes=99999999-".to_string()] {
        let reply = range(origin.addr, &past);
        assert_eq!(reply.status, 416, "{past}");
        assert!(reply.head.starts_with("HTTP/1.1 416 Range Not Satisfiable"));
        assert_eq!(
            reply.header("Content-Range"),
            Some(format!("bytes */{length}"))
        );
        assert_eq!(reply.header("Content-Length").as_deref(), Some("0"));
        assert!(reply.body.is_empty());
    }
}

#[test]
fn several_ranges_or_another_version_in_if_range_get_the_whole_200() {
    let origin = Server::origin(&www(), &[]);
    let plain = plain_book();
    let several = range(origin.addr, "bytes=0-9,100-109");
    assert_eq!(several.status, 200);
    assert!(several.body == plain, "not the whole file");
    assert_eq!(several.header("Content-Range"), None);
    assert_eq!(several.header("Accept-Ranges").as_deref(), Some("bytes"));
    // If-Range: the part only if the client's other bytes are of this version.
    let etag = several.header("ETag").expect("ETag");
    let same = ask(
        origin.addr,
        "GET",
        BOOK,
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(same.status, 206);
    assert_eq!(same.body, plain[..10]);
    let changed = ask(
        origin.addr,
        "GET",
        BOOK,
        "Range: bytes=0-9\r\nIf-Range: \"another-version\"\r\n",
    );
    assert_eq!(changed.status, 200);
    assert!(changed.body == plain, "not the whole file");
}

#[test]
fn head_gets_the_head_of_the_get_and_no_body() {
    let origin = Server::origin(&www(), &[]);
    let plain = ask(origin.addr, "HEAD", BOOK, "");
    assert_eq!(plain.status, 200);
    assert!(plain.body.is_empty());
    assert_eq!(
        plain.header("Content-Length"),
        Some(plain_book().len().to_string())
    );
    assert_eq!(plain.header("Accept-Ranges").as_deref(), Some("bytes"));
    // Ranges are for GET only (RFC 9110 14.2): a HEAD describes the whole.
    let ranged = ask(origin.addr, "HEAD", BOOK, "Range: bytes=0-9\r\n");
    assert_eq!(ranged.status, 200);
    assert_eq!(ranged.header("Content-Range"), None);
    assert!(ranged.body.is_empty());
}
