//! `Accept-Encoding`, normalised: which of the codings worth caching a
//! client accepts, as one short name.
//!
//! An origin may send a compressed body (`Content-Encoding: gzip`) to a
//! client that accepts it, and says so with `Vary: Accept-Encoding`. Keyed
//! by the raw `Accept-Encoding`, a cache would keep one copy per browser
//! version (`gzip, deflate, br, zstd`, `gzip, deflate`, `br;q=1.0, gzip;q=0.8,
//! *;q=0.1`, ...). Instead the proxy asks the origin for, and keys the copy
//! by, the set of codings the client accepts among gzip, br and zstd, in a
//! fixed order: at most eight variants per URL, and usually two or three.
//! The same name goes to the origin as the request's `Accept-Encoding`, so
//! the copy stored under it is one every client with that set can read.
//!
//! Not here: how variants are named and found ([`crate::vary`]). The proxy
//! never compresses or decompresses a body itself: bodies pass byte for byte.

use crate::http::RequestHead;

/// The codings a copy is kept for, in the order their names are joined.
const CODINGS: [&str; 3] = ["br", "gzip", "zstd"];

/// The name of each set of accepted codings, by the set as bits (bit 0: br,
/// bit 1: gzip, bit 2: zstd). Static, so a lookup allocates nothing.
const SET_NAMES: [&str; 8] = [
    "identity",
    "br",
    "gzip",
    "br,gzip",
    "zstd",
    "br,zstd",
    "gzip,zstd",
    "br,gzip,zstd",
];

/// The codings among gzip, br and zstd that `request` accepts, as one
/// name: `gzip`, `br,gzip`, ..., or `identity` when it accepts none of them
/// (or sends no `Accept-Encoding`, which RFC 9110 12.5.3 lets a server read
/// as "anything", but which a cache may not answer with a coding the client
/// might not read).
pub fn accepted(request: &RequestHead) -> &'static str {
    let mut listed = 0; // Codings named, acceptable or not.
    let mut acceptable = 0;
    let mut wildcard = false;
    let items = request
        .headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("Accept-Encoding"))
        .flat_map(|header| header.value.split(|&byte| byte == b','));
    for item in items {
        let mut parts = item.split(|&byte| byte == b';');
        let coding = parts.next().unwrap_or_default().trim_ascii();
        let refused = parts.any(is_zero_weight);
        if coding == b"*" {
            wildcard = !refused;
            continue;
        }
        // RFC 9110 8.4.1.3: `x-gzip` is `gzip`.
        let coding = if coding.eq_ignore_ascii_case(b"x-gzip") {
            b"gzip".as_slice()
        } else {
            coding
        };
        if let Some(index) = CODINGS
            .iter()
            .position(|known| coding.eq_ignore_ascii_case(known.as_bytes()))
        {
            let bit = 1 << index;
            listed |= bit;
            if !refused {
                acceptable |= bit;
            }
        }
    }
    // `*` stands for every coding not named otherwise.
    if wildcard {
        acceptable |= 0b111 & !listed;
    }
    SET_NAMES[acceptable]
}

/// Whether a parameter is `q=0` (in any of its spellings: `0`, `0.0`,
/// `0.000`): "not acceptable" (RFC 9110 12.4.2).
fn is_zero_weight(parameter: &[u8]) -> bool {
    let parameter = parameter.trim_ascii();
    let Some(weight) = parameter
        .strip_prefix(b"q=")
        .or_else(|| parameter.strip_prefix(b"Q="))
    else {
        return false;
    };
    let point = weight.iter().position(|&byte| byte == b'.');
    let (whole, fraction) = weight.split_at(point.unwrap_or(weight.len()));
    // `fraction` is empty, or `.` and its digits.
    whole == b"0" && fraction.iter().skip(1).all(|&digit| digit == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request_head;

    fn accepted_by(fields: &str) -> &'static str {
        let head = format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
        accepted(&parse_request_head(head.as_bytes()).expect("valid"))
    }

    #[test]
    fn browsers_and_tools_fall_into_a_few_sets() {
        assert_eq!(accepted_by(""), "identity");
        assert_eq!(
            accepted_by("Accept-Encoding: gzip, deflate, br, zstd\r\n"),
            "br,gzip,zstd"
        );
        assert_eq!(accepted_by("Accept-Encoding: deflate, gzip\r\n"), "gzip");
        assert_eq!(accepted_by("Accept-Encoding: GZIP\r\n"), "gzip");
        assert_eq!(accepted_by("Accept-Encoding: x-gzip\r\n"), "gzip");
        assert_eq!(accepted_by("Accept-Encoding: identity\r\n"), "identity");
        assert_eq!(accepted_by("Accept-Encoding: deflate\r\n"), "identity");
        assert_eq!(
            accepted_by("Accept-Encoding: br\r\nAccept-Encoding: gzip\r\n"),
            "br,gzip"
        );
    }

    #[test]
    fn weights_of_zero_refuse_and_the_wildcard_fills_in() {
        assert_eq!(accepted_by("Accept-Encoding: gzip;q=0, br\r\n"), "br");
        assert_eq!(
            accepted_by("Accept-Encoding: gzip; q=0.000\r\n"),
            "identity"
        );
        assert_eq!(accepted_by("Accept-Encoding: gzip;q=0.5\r\n"), "gzip");
        assert_eq!(accepted_by("Accept-Encoding: gzip;q=0.01\r\n"), "gzip");
        assert_eq!(accepted_by("Accept-Encoding: *\r\n"), "br,gzip,zstd");
        assert_eq!(
            accepted_by("Accept-Encoding: br;q=0, *;q=0.1\r\n"),
            "gzip,zstd"
        );
        assert_eq!(accepted_by("Accept-Encoding: *;q=0\r\n"), "identity");
    }
}
