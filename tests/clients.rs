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
