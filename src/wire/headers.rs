//! Which header fields cross the proxy, in each direction: the request fields
//! of step 4, the reply fields of steps 3 and 5. A proxy forwards end-to-end
//! fields and drops hop-by-hop ones (RFC 9110 7.6.1), then adds its own `Via`
//! and, towards the origin, `X-Forwarded-For`. Framing (`Content-Length`,
//! `Transfer-Encoding`) never crosses: each side is its own connection, and
//! the proxy frames each message itself.
//!
//! The origin sees every field of the client's, byte for byte, except:
//! hop-by-hop fields and those the client's `Connection` names; `Proxy-*`; the
//! forwarding and override fields a client could steer the origin with; names
//! with `_`; and, when the proxy means to keep the reply, every condition and
//! `Range` (it answers them itself, from the whole reply). `Accept-Encoding`
//! goes as the set of codings the client accepts. That list ([`to_origin`],
//! [`for_a_whole_copy`]), not the client's request, selects a stored variant
//! ([`crate::cache::vary`]), so a field that never reached the origin cannot
//! choose the copy.
//!
//! Not here: the cache's own fields (`X-Cache`, `Cache-Status`, `Age`), added
//! by the cache ([`crate::cache::labels`]), as only it knows what it did.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::wire::dates;
use crate::wire::http::{field_values, find_header, Header, RequestHead};

/// Fields that describe one connection, not the message, which a proxy must
/// not forward (RFC 9110 7.6.1). `Proxy-*` is matched by prefix.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// True when header `name` must not be forwarded: a hop-by-hop field, a
/// `Proxy-*` field, or one that the message's own `Connection` header names.
pub fn is_hop_by_hop(name: &str, connection_value: Option<&[u8]>) -> bool {
    let lower = name.to_ascii_lowercase();
    if HOP_BY_HOP.contains(&lower.as_str()) || lower.starts_with("proxy-") {
        return true;
    }
    connection_value.is_some_and(|value| {
        value
            .split(|&byte| byte == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(lower.as_bytes()))
    })
}

/// How the proxy names itself in `Via`, on requests and replies.
pub const VIA: &str = "1.1 cacheproxy";

/// The fields to send the origin when the proxy means to keep the reply:
/// [`to_origin`]'s without the client's conditions or `Range`, so the origin
/// sends the whole, current response, the same for every client. The proxy
/// answers those itself (a 304, a 412, a part); its own revalidation asks
/// about its own copy.
pub fn for_a_whole_copy(request: &RequestHead, client_ip: IpAddr) -> Vec<Header> {
    let mut fields = to_origin(request, client_ip, None);
    fields.retain(|header| !asks_for_part_with(header.name()));
    fields
}

/// The header fields sent to the origin for `request`, from `client_ip`;
/// `body_length`, if any, becomes the forwarded `Content-Length`.
pub fn to_origin(
    request: &RequestHead,
    client_ip: IpAddr,
    body_length: Option<u64>,
) -> Vec<Header> {
    let connection = request.header("Connection");
    let mut headers: Vec<Header> = request
        .headers
        .iter()
        .filter(|header| !is_hop_by_hop(header.name(), connection))
        .filter(|header| !is_replaced_towards_origin(header.name()))
        .cloned()
        .collect();
    let codings = crate::cache::encoding::accepted(request);
    headers.push(header("Accept-Encoding", codings.as_bytes()));
    headers.push(header("Via", appended(&request.headers, "Via", VIA)));
    headers.push(header(
        "X-Forwarded-For",
        appended(&request.headers, "X-Forwarded-For", &client_ip.to_string()),
    ));
    if let Some(length) = body_length {
        headers.push(header("Content-Length", length.to_string().into_bytes()));
    }
    headers
}

/// Request fields the proxy drops or writes itself. `Host` comes from the
/// origin URL; `Accept-Encoding` is normalised ([`crate::cache::encoding`]), so
/// a reply suits, and is stored for, every client accepting the same codings;
/// `Expect` the proxy answers itself.
///
/// Many origins build links, redirects or even the path from the forwarding
/// and override fields, which are not in the cache key: any client could send
/// `X-Forwarded-Host: evil.example` with `no-cache` and have the proxy store a
/// page of evil links for everyone (cache poisoning). So they are dropped, and
/// the proxy adds the ones it vouches for: `Via` and `X-Forwarded-For`.
fn is_replaced_towards_origin(name: &str) -> bool {
    [
        "Host",
        "Content-Length",
        "Accept-Encoding",
        "Expect",
        "Via",
        "X-Forwarded-For",
        "Forwarded",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "X-Forwarded-Port",
        "X-Forwarded-Prefix",
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-Forwarded-Server",
        "X-Host",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ]
    .iter()
    .any(|replaced| name.eq_ignore_ascii_case(replaced))
        // CGI and WSGI servers turn `X_Forwarded_Host` into the same variable
        // as `X-Forwarded-Host`: names with `_` are dropped, as nginx does.
        || name.contains('_')
}

/// The origin's end-to-end response fields, stored and passed on byte for
/// byte; not `Content-Length`, which the proxy writes from what it sends.
pub fn from_origin(origin_headers: &[Header]) -> Vec<Header> {
    let connection = find_header(origin_headers, "Connection");
    origin_headers
        .iter()
        .filter(|header| !is_hop_by_hop(header.name(), connection))
        .filter(|header| !header.is("Content-Length"))
        .cloned()
        .collect()
}

/// The fields of a 304 that update a stored response: its end-to-end
/// fields, with a `Date` of now if it had none (RFC 9110 6.6.1), since the
/// copy is current as of now and must not keep its old one.
pub fn from_304(from_304: &[Header]) -> Vec<Header> {
    let mut updates = from_origin(from_304);
    if find_header(&updates, "Date").is_none() {
        let now = dates::http_date(SystemTime::now());
        updates.push(header("Date", now));
    }
    updates
}

/// Whether a stored field goes with a 412 the proxy answers from a copy: only
/// `Date` and the validators, never `Cache-Control` or `Expires`, or a cache
/// after this one could keep the 412 as the page itself.
pub fn goes_with_a_412(name: &str) -> bool {
    ["Date", "ETag", "Last-Modified"]
        .iter()
        .any(|kept| name.eq_ignore_ascii_case(kept))
}

/// Whether `request` asks for less than the whole body: a `Range`, or a
/// condition that can end in a 304 or a 412.
pub fn asks_for_part(request: &RequestHead) -> bool {
    (request.headers.iter()).any(|header| asks_for_part_with(header.name()))
}

/// Whether request field `name` is a condition or `Range`: one that the
/// proxy answers itself, from a whole reply, when it keeps a copy.
pub fn asks_for_part_with(name: &str) -> bool {
    is_conditional(name) || name.eq_ignore_ascii_case("Range")
}

/// Whether request field `name` makes a request conditional.
pub fn is_conditional(name: &str) -> bool {
    [
        "If-None-Match",
        "If-Modified-Since",
        "If-Match",
        "If-Unmodified-Since",
        "If-Range",
    ]
    .iter()
    .any(|conditional| name.eq_ignore_ascii_case(conditional))
}

/// All values of list field `name` in `headers`, with `ours` appended.
fn appended(headers: &[Header], name: &str, ours: &str) -> Vec<u8> {
    let mut values: Vec<&[u8]> = field_values(headers, name).collect();
    values.push(ours.as_bytes());
    values.join(&b", "[..])
}

fn header(name: &str, value: impl AsRef<[u8]>) -> Header {
    Header::new(name, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::parse_request_head;

    fn names(headers: &[Header]) -> Vec<String> {
        headers
            .iter()
            .map(|header| header.name().to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn hop_by_hop_headers_are_recognised() {
        assert!(is_hop_by_hop("Connection", None));
        assert!(is_hop_by_hop("Keep-Alive", None));
        assert!(is_hop_by_hop("TE", None));
        assert!(is_hop_by_hop("Transfer-Encoding", None));
        assert!(is_hop_by_hop("Upgrade", None));
        assert!(is_hop_by_hop("Proxy-Authorization", None));
        assert!(is_hop_by_hop("X-Secret", Some(b"close, x-secret")));
        assert!(!is_hop_by_hop("X-Secret", Some(b"close")));
        assert!(!is_hop_by_hop("Content-Type", None));
    }

    #[test]
    fn requests_lose_hop_by_hop_fields_and_gain_via_and_forwarded_for() {
        let request = parse_request_head(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n\
              TE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: x\r\nAccept-Encoding: gzip\r\n\
              Via: 1.0 other\r\nX-Forwarded-For: 10.0.0.1\r\nCookie: a=b\r\nAccept: */*\r\n\
              X-Forwarded-Host: evil\r\nx-forwarded-proto: ftp\r\nForwarded: host=evil\r\n\
              X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nX_Forwarded_Host: evil\r\n\
              X-HTTP-Method-Override: DELETE\r\nX-Host: evil\r\nX-Forwarded-Server: evil\r\n\r\n",
        )
        .expect("valid head");
        let forwarded = to_origin(&request, "127.0.0.1".parse().expect("ip"), None);
        assert_eq!(
            names(&forwarded),
            [
                "cookie",
                "accept",
                "accept-encoding",
                "via",
                "x-forwarded-for"
            ]
        );
        assert_eq!(
            find_header(&forwarded, "Accept-Encoding"),
            Some(&b"gzip"[..])
        );
        assert_eq!(
            find_header(&forwarded, "Via"),
            Some(&b"1.0 other, 1.1 cacheproxy"[..])
        );
        assert_eq!(
            find_header(&forwarded, "X-Forwarded-For"),
            Some(&b"10.0.0.1, 127.0.0.1"[..])
        );
    }

    #[test]
    fn a_request_body_gets_our_own_content_length() {
        let request =
            parse_request_head(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n")
                .expect("valid head");
        let forwarded = to_origin(&request, "::1".parse().expect("ip"), Some(7));
        assert_eq!(find_header(&forwarded, "Content-Length"), Some(&b"7"[..]));
        assert_eq!(
            names(&forwarded)
                .iter()
                .filter(|name| *name == "content-length")
                .count(),
            1
        );
    }

    #[test]
    fn responses_keep_end_to_end_fields_byte_for_byte() {
        let origin = vec![
            header("content-type", "image/png"),
            header("content-length", "10"),
            header("transfer-encoding", "chunked"),
            header("connection", "x-private"),
            header("x-private", "1"),
            header("x-odd", vec![0xE9, b' ', 0xFF]),
            header("set-cookie", "a=1"),
        ];
        let passed = from_origin(&origin);
        assert_eq!(names(&passed), ["content-type", "x-odd", "set-cookie"]);
        assert_eq!(find_header(&passed, "x-odd"), Some(&[0xE9, b' ', 0xFF][..]));
    }
}
