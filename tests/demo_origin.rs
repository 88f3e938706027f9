//! The demo origin as a static server: precompressed `.gz` siblings sent to
//! clients that accept gzip (nginx's `gzip_static`), and single byte ranges
//! (RFC 9110 section 14); and only regular files, so a FIFO in its root
//! cannot hold it. Each test starts the real binary (on `www/`, or on a
//! root of its own) and speaks raw HTTP to it, so every header and byte is
//! checked as sent.

mod support;

use std::net::SocketAddr;

use support::{send_raw, www, Reply, Server, TempDir};

/// The book's URL, and its two representations on disk.
const BOOK: &str = "/guide/book.txt";

fn plain_book() -> Vec<u8> {
    std::fs::read(www().join("guide/book.txt")).expect("read book.txt")
}

fn gzipped_book() -> Vec<u8> {
    std::fs::read(www().join("guide/book.txt.gz")).expect("read book.txt.gz")
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
fn a_client_that_accepts_gzip_gets_the_gz_file_byte_for_byte() {
    let origin = Server::origin(&www(), &[]);
    let gzipped = gzipped_book();
    for accept in [
        "gzip",
        "x-gzip",
        "*",
        "GZip;Q=0.5",
        "deflate, gzip, br, zstd",
        "br;q=1.0, gzip;q=0.8, *;q=0",
    ] {
        let reply = ask(
            origin.addr,
            "GET",
            BOOK,
            &format!("Accept-Encoding: {accept}\r\n"),
        );
        assert_eq!(reply.status, 200, "{accept:?}");
        assert!(reply.body == gzipped, "{accept:?}: not the .gz bytes");
        assert_eq!(reply.header("Content-Encoding").as_deref(), Some("gzip"));
        assert_eq!(
            reply.header("Content-Type").as_deref(),
            Some("text/plain; charset=utf-8"),
            "the type of book.txt, not of a .gz"
        );
        assert_eq!(reply.header("Vary").as_deref(), Some("Accept-Encoding"));
        assert_eq!(
            reply.header("Content-Length"),
            Some(gzipped.len().to_string())
        );
    }
}

#[test]
fn a_client_that_does_not_accept_gzip_gets_the_plain_file_with_vary() {
    let origin = Server::origin(&www(), &[]);
    let plain = plain_book();
    for extra in [
        "",
        "Accept-Encoding: identity\r\n",
        "Accept-Encoding: br, deflate\r\n",
        "Accept-Encoding: \r\n",
        // A weight of zero refuses (more cases in the unit tests of demo_origin.rs).
        "Accept-Encoding: gzip;q=0\r\n",
        "Accept-Encoding: gzip;q=0, *\r\n",
    ] {
        let reply = ask(origin.addr, "GET", BOOK, extra);
        assert_eq!(reply.status, 200, "{extra:?}");
        assert!(reply.body == plain, "{extra:?}: not the plain bytes");
        assert_eq!(reply.header("Content-Encoding"), None, "{extra:?}");
        assert_eq!(
            reply.header("Vary").as_deref(),
            Some("Accept-Encoding"),
            "{extra:?}: the plain reply varies too"
        );
    }
    // A file without a `.gz` sibling has one representation: nothing varies.
    let json = ask(
        origin.addr,
        "GET",
        "/data.json",
        "Accept-Encoding: gzip\r\n",
    );
    assert_eq!(json.status, 200);
    assert_eq!(
        json.body,
        std::fs::read(www().join("data.json")).expect("read")
    );
    assert_eq!(json.header("Content-Encoding"), None);
    assert_eq!(json.header("Vary"), None);
}

#[test]
fn each_representation_has_its_own_validators() {
    let origin = Server::origin(&www(), &[]);
    let gzip = "Accept-Encoding: gzip\r\n";
    let plain_tag = ask(origin.addr, "GET", BOOK, "").header("ETag");
    let gzip_tag = ask(origin.addr, "GET", BOOK, gzip).header("ETag");
    let (plain_tag, gzip_tag) = (plain_tag.expect("ETag"), gzip_tag.expect("ETag"));
    assert_ne!(plain_tag, gzip_tag);
    // A cache revalidating its gzip copy hears "not modified"...
    let current = ask(
        origin.addr,
        "GET",
        BOOK,
        &format!("{gzip}If-None-Match: {gzip_tag}\r\n"),
    );
    assert_eq!(current.status, 304);
    assert_eq!(current.header("ETag").as_deref(), Some(gzip_tag.as_str()));
    assert_eq!(current.header("Vary").as_deref(), Some("Accept-Encoding"));
    assert!(current.body.is_empty());
    // ... but that tag does not stand for the plain file.
    let other = ask(
        origin.addr,
        "GET",
        BOOK,
        &format!("If-None-Match: {gzip_tag}\r\n"),
    );
    assert_eq!(other.status, 200);
    assert!(other.body == plain_book(), "not the plain bytes");
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
    // A range of the gzip representation counts the bytes of the .gz.
    let gzipped = gzipped_book();
    let compressed = ask(
        origin.addr,
        "GET",
        BOOK,
        "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n",
    );
    assert_eq!(compressed.status, 206);
    assert_eq!(compressed.body, gzipped[..10]);
    assert_eq!(
        compressed.header("Content-Encoding").as_deref(),
        Some("gzip")
    );
    assert_eq!(
        compressed.header("Content-Range"),
        Some(format!("bytes 0-9/{}", gzipped.len()))
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
    // The gzip file's tag does not name the plain file: a client must never
    // splice bytes of one representation onto the other.
    let gzip_tag = ask(origin.addr, "HEAD", BOOK, "Accept-Encoding: gzip\r\n")
        .header("ETag")
        .expect("ETag");
    let spliced = ask(
        origin.addr,
        "GET",
        BOOK,
        &format!("Range: bytes=0-9\r\nIf-Range: {gzip_tag}\r\n"),
    );
    assert_eq!(spliced.status, 200);
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
    assert_eq!(plain.header("Vary").as_deref(), Some("Accept-Encoding"));
    assert_eq!(plain.header("Accept-Ranges").as_deref(), Some("bytes"));
    assert_eq!(plain.header("Content-Encoding"), None);
    let gzipped = ask(origin.addr, "HEAD", BOOK, "Accept-Encoding: gzip\r\n");
    assert_eq!(gzipped.status, 200);
    assert!(gzipped.body.is_empty());
    assert_eq!(
        gzipped.header("Content-Length"),
        Some(gzipped_book().len().to_string())
    );
    assert_eq!(gzipped.header("Content-Encoding").as_deref(), Some("gzip"));
    // Ranges are for GET only (RFC 9110 14.2): a HEAD describes the whole.
    let ranged = ask(origin.addr, "HEAD", BOOK, "Range: bytes=0-9\r\n");
    assert_eq!(ranged.status, 200);
    assert_eq!(ranged.header("Content-Range"), None);
    assert!(ranged.body.is_empty());
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_root_is_a_404_and_the_origin_goes_on_serving() {
    // Opening a FIFO waits for a writer; an origin that opened this one
    // would never answer again.
    let root = TempDir::new("fifo-root");
    std::fs::write(root.join("plain.txt"), b"a regular file").expect("write");
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("pipe.txt"))
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let origin = Server::origin(&root.path, &[]);
    // `send_raw` waits at most `PATIENCE` for the reply.
    let fifo = ask(origin.addr, "GET", "/pipe.txt", "");
    assert_eq!(fifo.status, 404, "{}", fifo.head);
    let plain = ask(origin.addr, "GET", "/plain.txt", "");
    assert_eq!(plain.status, 200, "{}", plain.head);
    assert_eq!(plain.body, b"a regular file");
}
