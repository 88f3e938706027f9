//! `Accept-Encoding`, normalised: which of the codings worth caching a client
//! accepts, as one short name. Keyed by the raw field, a cache would keep one
//! copy per browser version (`gzip, deflate, br, zstd`, `br;q=1.0, gzip;q=0.8,
//! *;q=0.1`, ...). Keyed by the set accepted among gzip, br and zstd, which is
//! also what the origin is asked for, a URL has at most eight variants,
//! usually two or three, each readable by every client with that set.
//!
//! Not here: how variants are named and found ([`crate::cache::vary`]). The
//! proxy never compresses or decompresses a body: bodies pass byte for byte.

use crate::wire::http::{field_values, RequestHead};

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

/// The codings among gzip, br and zstd that `request` accepts, as one name:
/// `gzip`, `br,gzip`, ..., or `identity` for none of them. So is no
/// `Accept-Encoding`: RFC 9110 12.5.3 reads it as "anything", but a cache
/// must not answer with a coding the client might not read.
pub fn accepted(request: &RequestHead) -> &'static str {
    let set = CODINGS
        .iter()
        .enumerate()
        .filter(|(_, coding)| accepts(request, coding))
        .fold(0, |set, (index, _)| set | 1 << index);
    SET_NAMES[set]
}

/// Whether `request`'s `Accept-Encoding` accepts `coding` (RFC 9110 12.5.3)
/// with a weight above 0, named (in any case; `x-gzip` is `gzip`, 8.4.1.3) or
/// else by `*`: so `gzip;q=0, *` refuses it. Named twice, the lower weight
/// counts. Weights above 0 are not weighed against each other: any will do.
pub fn accepts(request: &RequestHead, coding: &str) -> bool {
    // Several `Accept-Encoding` lines are one list split up (RFC 9110 5.3).
    let elements = field_values(&request.headers, "Accept-Encoding")
        .flat_map(|value| value.split(|&byte| byte == b','));
    let is_coding = |name: &[u8]| {
        name.eq_ignore_ascii_case(coding.as_bytes())
            || coding == "gzip" && name.eq_ignore_ascii_case(b"x-gzip")
    };
    let (mut named, mut any) = (None, None);
    for (name, weight) in elements.filter_map(coding_and_weight) {
        let slot = match name {
            _ if is_coding(name) => &mut named,
            b"*" => &mut any,
            _ => continue,
        };
        *slot = Some(slot.map_or(weight, |lower: u16| lower.min(weight)));
    }
    named.or(any).is_some_and(|weight| weight > 0)
}

/// One element of an `Accept-Encoding` list, `coding` or `coding;q=0.5`, as
/// the coding and its weight in thousandths (1000 without `q`); `None` for an
/// empty element (RFC 9110 5.6.1). A weight that breaks the grammar (`q=2`,
/// ` q = 1`, another parameter) counts as 0: the plain file is always safe,
/// and a guess could send gzip to a client that meant to refuse it.
fn coding_and_weight(element: &[u8]) -> Option<(&[u8], u16)> {
    let mut parts = element.split(|&byte| byte == b';');
    let coding = parts.next().unwrap_or_default().trim_ascii();
    if coding.is_empty() {
        return None;
    }
    let weight = match (parts.next(), parts.next()) {
        (None, _) => 1000,
        // `weight = OWS ";" OWS "q=" qvalue`, with `q` in any case.
        (Some(parameter), None) => match parameter.trim_ascii() {
            [b'q' | b'Q', b'=', value @ ..] => qvalue(value).unwrap_or(0),
            _ => 0,
        },
        // The weight is the only parameter `Accept-Encoding` has.
        (Some(_), Some(_)) => 0,
    };
    Some((coding, weight))
}

/// A weight (`qvalue`, RFC 9110 12.4.2): 0 to 1 with at most three decimals,
/// so it is read as whole thousandths and compared without floating point.
fn qvalue(text: &[u8]) -> Option<u16> {
    let (whole, decimals) = match text {
        [whole] => (whole, &[][..]),
        [whole, b'.', decimals @ ..] => (whole, decimals),
        _ => return None,
    };
    if decimals.len() > 3 || !decimals.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // `0.5` is 500 thousandths: the decimals, padded to three digits.
    let thousandths = decimals
        .iter()
        .chain(b"000")
        .take(3)
        .fold(0, |sum, &digit| sum * 10 + u16::from(digit - b'0'));
    match whole {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::parse_request_head;

    fn request(fields: &str) -> RequestHead {
        let head = format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
        parse_request_head(head.as_bytes()).expect("valid")
    }

    fn accepted_by(fields: &str) -> &'static str {
        accepted(&request(fields))
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

    /// Whether a request with `Accept-Encoding: {value}` accepts gzip.
    fn accepts_gzip(value: &str) -> bool {
        accepts(&request(&format!("Accept-Encoding: {value}\r\n")), "gzip")
    }

    #[test]
    fn gzip_x_gzip_and_star_accept_gzip_in_any_case() {
        for value in [
            "gzip",
            "x-gzip",
            "*",
            "GZIP",
            "X-Gzip",
            "deflate, gzip, br",
            "br;q=1.0, gzip;q=0.8",
            "gzip;q=0.001",
            "gzip;Q=1",
            "gzip ; q=0.5 ",
            "gzip;q=1.000",
            "gzip;q=1.",
            "br, *;q=0.1",
            ", ,gzip,",
        ] {
            assert!(accepts_gzip(value), "{value:?}");
        }
    }

    #[test]
    fn a_weight_of_zero_refuses_gzip() {
        for value in [
            "gzip;q=0",
            "gzip;q=0.",
            "gzip;q=0.000",
            "GZIP;Q=0",
            "x-gzip;q=0",
            "*;q=0",
            "br, *;q=0",
        ] {
            assert!(!accepts_gzip(value), "{value:?}");
        }
    }

    #[test]
    fn a_named_coding_wins_over_the_star() {
        assert!(
            !accepts_gzip("gzip;q=0, *"),
            "refused by name, whatever * says"
        );
        assert!(!accepts_gzip("*, x-gzip;q=0"), "x-gzip is gzip");
        assert!(
            accepts_gzip("*;q=0, gzip"),
            "accepted by name, whatever * says"
        );
        assert!(accepts_gzip("*;q=0, x-gzip;q=0.5"));
    }

    #[test]
    fn named_twice_the_lower_weight_counts() {
        assert!(!accepts_gzip("gzip, gzip;q=0"));
        assert!(!accepts_gzip("gzip;q=0, x-gzip"));
        assert!(accepts_gzip("gzip;q=0.5, x-gzip;q=0.1"));
    }

    #[test]
    fn other_codings_and_no_codings_do_not_accept_gzip() {
        for value in [
            "",
            "identity",
            "br",
            "deflate, br;q=0.9",
            "gzipx",
            "x-gzip2",
            ",,",
        ] {
            assert!(!accepts_gzip(value), "{value:?}");
        }
        assert!(
            !accepts(&request(""), "gzip"),
            "no Accept-Encoding: the plain file"
        );
    }

    #[test]
    fn a_weight_that_breaks_the_grammar_counts_as_zero() {
        for value in [
            "gzip;q=2",
            "gzip;q=1.5",
            "gzip;q=1.001",
            "gzip;q=0.5000",
            "gzip;q=.5",
            "gzip;q=",
            "gzip;q = 1",
            "gzip;q=-1",
            "gzip;q=abc",
            "gzip;level=9",
            "gzip;q=1;q=1",
            "gzip;q=2, *",
        ] {
            assert!(!accepts_gzip(value), "{value:?}");
        }
    }

    #[test]
    fn several_accept_encoding_lines_are_one_list() {
        let split = request("Accept-Encoding: br\r\nAccept-Encoding: gzip\r\n");
        assert!(accepts(&split, "gzip"));
        let refused = request("Accept-Encoding: *\r\naccept-encoding: gzip;q=0\r\n");
        assert!(!accepts(&refused, "gzip"));
    }

    #[test]
    fn weights_are_read_as_thousandths() {
        let table = [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.123", Some(123)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("2", None),
            ("0.1234", None),
            (".5", None),
            ("00.5", None),
            ("0.5a", None),
            ("", None),
        ];
        for (text, expected) in table {
            assert_eq!(qvalue(text.as_bytes()), expected, "{text:?}");
        }
    }
}
