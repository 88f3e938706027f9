//! Request targets: from what the client sent to a clean path, the one rule
//! that keeps every cache file inside the cache directory (the second half of
//! step 1: working out which URL the request asks for).
//!
//! A target arrives as `/path?query` or `http://host/path?query`. The path is
//! percent-decoded and then checked, refusing (never repairing) anything that
//! could step outside: `.` and `..` segments (also as `%2e%2e`), empty
//! segments, a raw backslash (a separator to some servers) and NUL. An escaped
//! backslash, `%5C`, is an ordinary byte of a name. cacheproxy.py built its
//! file names with `'cache' + filename`; this is the fifteen lines it lacked.
//!
//! Before the path, the server: a client that takes cacheproxy for a forward
//! proxy (`curl -x`) asks for `http://example.com/data.json`, and would file
//! our origin's `/data.json` as example.com's, so it gets 421 Misdirected
//! Request ([`check_meant_for_us`]).
//!
//! Not here: turning a clean path into a file name (see [`crate::store`]).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use crate::error::{BadRequest, Misdirected, RequestError};
use crate::wire::http::RequestHead;

/// The parts of a request target the proxy uses: the path and the query, both
/// still percent-encoded. (They make the cache key; the origin is asked for
/// the URL in the key's spelling, see [`crate::store::key::CacheKey::encoded_path`].)
/// Both are borrowed from the target as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The path, starting with `/`.
    pub path: &'a str,
    /// The query after `?`, if any (without the `?`).
    pub query: Option<&'a str>,
}

/// Refuses a request meant for another server with 421 Misdirected Request
/// (RFC 9110 7.4, 15.5.20), whose text says what cacheproxy is and which URL
/// to ask instead. A `CONNECT` asks for a tunnel, which only a forward proxy
/// opens, so it is refused whatever it names.
///
/// An absolute-form target is ours when its host and port (by default the
/// scheme's) name this proxy as the client reached it (`server_addr`), or the
/// origin unless it has a path prefix. Over loopback, `localhost` and every
/// loopback address name this machine. Names are compared as written, never
/// looked up: a lookup could hold the one thread.
///
/// `Host` is not checked, on purpose: a reverse proxy is reached by whatever
/// name its users give it (a LAN address, an alias in `/etc/hosts`), and an
/// origin-form target asks for the origin's resource whatever `Host` says.
pub fn check_meant_for_us(
    head: &RequestHead,
    server_addr: SocketAddr,
    origin_url: &str,
) -> Result<(), RequestError> {
    let refuse = |asked_for: &str, path: &str| {
        Err(RequestError::Misdirected(Misdirected {
            asked_for: asked_for.to_string(),
            tunnel: head.method() == "CONNECT",
            origin_url: origin_url.to_string(),
            instead: format!("http://{server_addr}{path}"),
        }))
    };
    if head.method() == "CONNECT" {
        // Its target is authority-form, `example.com:443`: no path to offer.
        return refuse(head.target(), "/");
    }
    // Origin-form (and `*`, or junk, which `parse_target` refuses).
    let Some((authority, path)) = split_absolute(head.target()) else {
        return Ok(());
    };
    // An origin with a path prefix names none of our URLs: our `/x` is
    // `https://example.com/api/x`, not the `https://example.com/x` asked for.
    let origin = split_absolute(origin_url)
        .filter(|(_, prefix)| *prefix == "/")
        .and_then(|(authority, _)| Authority::parse(authority, default_port(origin_url)));
    let known = [Some(Authority::of(server_addr)), origin];
    let over_loopback = server_addr.ip().to_canonical().is_loopback();
    let ours = Authority::parse(authority, default_port(head.target())).is_some_and(|asked| {
        let mut known = known.iter().flatten();
        known.any(|known| asked.same_place(known, over_loopback))
    });
    if ours {
        return Ok(());
    }
    let scheme = head
        .target()
        .split_once("://")
        .map_or("http", |(scheme, _)| scheme);
    refuse(&format!("{scheme}://{authority}"), path)
}

/// A host and port, made comparable: the host in lower case (host names
/// are case-insensitive, RFC 3986 3.2.2), an IP address in one spelling
/// (`[0:0::1]` is `::1`, without brackets), the port always present.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    host: String,
    port: u16,
}

impl Authority {
    /// `host`, `host:port`, `[v6]` or `[v6]:port`, with `default_port` where
    /// none is given. `None` for an empty host, a port not of digits, or user
    /// information (`user@host`, which RFC 9110 4.2.4 keeps out of a target).
    fn parse(authority: &str, default_port: u16) -> Option<Authority> {
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once(']')?,
            None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
        };
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => default_port,
            // `http://h:/` has an empty port: the default (RFC 3986 3.2.3).
            Some("") => default_port,
            Some(digits) if digits.as_bytes().iter().all(u8::is_ascii_digit) => {
                digits.parse().ok()?
            }
            _ => return None,
        };
        if host.is_empty() || host.contains('@') {
            return None;
        }
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => ip.to_canonical().to_string(),
            Err(_) => host.to_ascii_lowercase(),
        };
        Some(Authority { host, port })
    }

    /// The authority of a socket address.
    fn of(address: SocketAddr) -> Authority {
        Authority {
            host: address.ip().to_canonical().to_string(),
            port: address.port(),
        }
    }

    /// Whether the host is this machine by name: `localhost`, or a loopback
    /// address (`127.0.0.0/8`, `::1`).
    fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether `self` and `known` name the same server: a client on this
    /// machine means it by any loopback name, one elsewhere means its own.
    fn same_place(&self, known: &Authority, over_loopback: bool) -> bool {
        let same_host =
            self.host == known.host || (over_loopback && self.is_loopback() && known.is_loopback());
        same_host && self.port == known.port
    }
}

/// Whether an absolute URL's `authority` names this machine by a loopback
/// name, whatever the port: `localhost:8888`, `127.0.0.1`, `[::1]:8000`, or
/// the "any address" a `--bind 0.0.0.0` banner prints (`0.0.0.0`, `[::]`).
/// As above, names are compared as written, never looked up.
pub fn names_loopback(authority: &str) -> bool {
    let any_address = |host: &str| host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    Authority::parse(authority, 80)
        .is_some_and(|authority| authority.is_loopback() || any_address(&authority.host))
}

/// The port a URL means when it names none: 443 for `https://`, else 80.
pub fn default_port(url: &str) -> u16 {
    match url.get(..8) {
        Some(scheme) if scheme.eq_ignore_ascii_case("https://") => 443,
        _ => 80,
    }
}

/// Splits a request target, origin-form (`/path?q`) or absolute-form
/// (`http://host/path?q`), into path and query. The host plays no part:
/// [`check_meant_for_us`] has refused a target that names another server.
pub fn parse_target(target: &str) -> Result<Target<'_>, RequestError> {
    let path_and_query = if target.starts_with('/') {
        target
    } else if let Some((_host, path_and_query)) = split_absolute(target) {
        path_and_query
    } else {
        return Err(RequestError::BadRequest(BadRequest::TargetForm));
    };
    // A fragment never belongs in a request; drop it rather than cache by it.
    let path_and_query = path_and_query.split('#').next().unwrap_or("/");
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok(Target { path, query })
}

/// Splits an absolute URL, `http://host:port/path?query` (or `https://`), into
/// its authority (`host:port`) and the rest (`/path?query`, or `/` if empty).
/// `None` for anything that is not an absolute http(s) URL.
pub fn split_absolute(url: &str) -> Option<(&str, &str)> {
    let (scheme, after_scheme) = url.split_once("://")?;
    // Schemes are case-insensitive (RFC 3986 3.1): `HTTP://h/` is `http://h/`.
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    // The authority ends at the path, or at the query when there is no path
    // (`http://h?x=1` asks for `/?x=1`: the rest is then `?x=1`).
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    Some((authority, if rest.is_empty() { "/" } else { rest }))
}

/// Percent-decodes `path` and checks that it is a clean absolute path, as
/// the module docs say: no `.`, `..` or empty segment and no NUL, judged
/// after decoding, and no raw backslash. Returns the decoded path as bytes.
pub fn clean_path(path: &str) -> Result<Cow<'_, [u8]>, RequestError> {
    let decoded =
        percent_decode(path.as_bytes()).ok_or(RequestError::BadRequest(BadRequest::PathEscape))?;
    if decoded.first() != Some(&b'/') {
        return Err(RequestError::BadRequest(BadRequest::PathStart));
    }
    if decoded.contains(&0) || path.contains('\\') {
        return Err(RequestError::BadRequest(BadRequest::PathNulOrBackslash));
    }
    let mut segments = decoded[1..].split(|&byte| byte == b'/').peekable();
    while let Some(segment) = segments.next() {
        if segment == b"." || segment == b".." {
            return Err(RequestError::BadRequest(BadRequest::PathDotSegment));
        }
        // Only the last segment may be empty: that is a trailing slash.
        if segment.is_empty() && segments.peek().is_some() {
            return Err(RequestError::BadRequest(BadRequest::PathEmptySegment));
        }
    }
    Ok(decoded)
}

/// The path as a cache key: [`clean_path`]'s, but with the escapes that change
/// a URL's meaning kept. `/a%2Fb` and `/a/b` are different resources (RFC 3986
/// 6.2.2.2: an escaped reserved character is not the character), so escapes
/// of reserved characters and of `%` stay, in upper-case hex; every other is
/// decoded, as `%61` is `a`. The traversal guard still judges the fully
/// decoded path: `/a%2F..%2Fb` is refused.
pub fn key_path(path: &str) -> Result<Vec<u8>, RequestError> {
    clean_path(path)?;
    let mut key = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        // `clean_path` accepted the path, so every `%` starts an escape.
        let escaped = escape(rest);
        let (decoded, after) = escaped.unwrap_or((byte, tail));
        if escaped.is_some() && b":/?#[]@!$&'()*+,;=%".contains(&decoded) {
            key.extend_from_slice(format!("%{decoded:02X}").as_bytes());
        } else {
            key.push(decoded);
        }
        rest = after;
    }
    Ok(key)
}

/// Decodes `%XX` escapes. `None` when an escape is not two hex digits. A text
/// with no escape, as most paths are, comes back as it is, not copied.
pub fn percent_decode(text: &[u8]) -> Option<Cow<'_, [u8]>> {
    if !text.contains(&b'%') {
        return Some(Cow::Borrowed(text));
    }
    let mut decoded = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&byte, tail)) = rest.split_first() {
        let (byte, after) = match byte {
            b'%' => escape(rest)?,
            _ => (byte, tail),
        };
        decoded.push(byte);
        rest = after;
    }
    Some(Cow::Owned(decoded))
}

/// The byte a `%XX` escape at the start of `text` stands for, and the rest.
fn escape(text: &[u8]) -> Option<(u8, &[u8])> {
    let [b'%', high, low, rest @ ..] = text else {
        return None;
    };
    let hex = |digit: &u8| (*digit as char).to_digit(16);
    Some(((hex(high)? * 16 + hex(low)?) as u8, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_origin_form_and_absolute_form_targets() {
        let target = parse_target("/a/b?x=1&y=2").expect("origin-form");
        assert_eq!(target.path, "/a/b");
        assert_eq!(target.query, Some("x=1&y=2"));
        let target = parse_target("http://example.com:8080/c?z").expect("absolute-form");
        assert_eq!((target.path, target.query), ("/c", Some("z")));
        assert_eq!(
            parse_target("http://example.com").expect("no path").path,
            "/"
        );
        let target = parse_target("/p#frag").expect("fragment");
        assert_eq!((target.path, target.query), ("/p", None));
        assert_eq!(parse_target("*").unwrap_err().status(), 400);
        assert_eq!(parse_target("ftp://x/y").unwrap_err().status(), 400);
    }

    #[test]
    fn absolute_urls_split_into_authority_and_path() {
        assert_eq!(split_absolute("http://h:1/a?b"), Some(("h:1", "/a?b")));
        assert_eq!(split_absolute("https://h"), Some(("h", "/")));
        assert_eq!(split_absolute("/a"), None);
        assert_eq!(split_absolute("ftp://h/a"), None);
        assert_eq!(split_absolute("HTTP://h/a"), Some(("h", "/a")));
        assert_eq!(split_absolute("http://h?x=1"), Some(("h", "?x=1")));
        let target = parse_target("http://h?x=1").expect("a query without a path");
        assert_eq!((target.path, target.query), ("/", Some("x=1")));
    }

    /// The status `method target` gets from a proxy reached at `server` in
    /// front of `origin`: 200 when it is ours to answer.
    fn meant_for(method: &str, target: &str, server: &str, origin: &str) -> u16 {
        let head = RequestHead::new(method, target, 1, Vec::new());
        let server = server.parse().expect("a socket address");
        check_meant_for_us(&head, server, origin).map_or_else(|error| error.status(), |()| 200)
    }

    #[test]
    fn a_target_naming_another_server_is_misdirected() {
        let (local, lan) = ("127.0.0.1:8888", "192.168.1.5:8888");
        let origin = "http://127.0.0.1:8000";
        let (tls, prefixed) = ("https://example.com", "https://example.com/api");
        let table = [
            // (target, reached at, origin, status)
            ("/data.json", local, origin, 200),
            ("*", local, origin, 200),
            ("http://example.com/data.json", local, origin, 421),
            ("http://example.com:8888/", local, origin, 421),
            // The proxy, as the client reached it, with any loopback name.
            ("http://127.0.0.1:8888/x", local, origin, 200),
            ("http://LocalHost:8888/x", local, origin, 200),
            ("http://[::1]:8888/x", local, origin, 200),
            ("http://127.0.0.1:8889/x", local, origin, 421),
            ("http://127.0.0.1/x", local, origin, 421),
            ("http://localhost/", "127.0.0.1:80", origin, 200),
            ("https://localhost/", "127.0.0.1:80", origin, 421),
            ("http://localhost:/", "127.0.0.1:80", origin, 200),
            // From another machine, only the address it reached names us.
            ("http://192.168.1.5:8888/x", lan, origin, 200),
            ("http://localhost:8888/x", lan, origin, 421),
            ("http://[::ffff:192.168.1.5]:8888/", lan, origin, 200),
            // The origin, by its host and port, defaults filled in.
            ("http://127.0.0.1:8000/x", local, origin, 200),
            ("HTTP://127.0.0.1:8000?q", local, origin, 200),
            ("http://localhost:8000/x", local, origin, 200),
            ("http://localhost:8000/x", lan, origin, 421),
            ("http://Example.COM/x", local, "http://example.com", 200),
            ("http://example.com:80/x", local, "http://example.com", 200),
            ("https://example.com/x", local, tls, 200),
            ("http://example.com/x", local, tls, 421),
            // Under a path prefix, the origin's URLs are not ours.
            ("https://example.com/x", local, prefixed, 421),
            ("https://example.com/api/x", local, prefixed, 421),
            ("http://[0:0::1]:8000/", local, "http://[::1]:8000", 200),
            // Authorities that name no one we know.
            ("http://127.0.0.1:8888@example.com/", local, origin, 421),
            ("http://user@127.0.0.1:8888/", local, origin, 421),
            ("http://:8888/", local, origin, 421),
            ("http://127.0.0.1:+8888/", local, origin, 421),
            ("http://[::1/", local, origin, 421),
        ];
        for (target, server, origin, status) in table {
            let got = meant_for("GET", target, server, origin);
            assert_eq!(got, status, "{target} at {server} for {origin}");
        }
        // A tunnel, whatever it names, and whatever the method of a URL.
        assert_eq!(meant_for("CONNECT", "example.com:443", local, origin), 421);
        assert_eq!(meant_for("CONNECT", "127.0.0.1:8888", local, origin), 421);
        assert_eq!(meant_for("PURGE", "http://h/x", local, origin), 421);
    }

    #[test]
    fn a_421_names_the_server_asked_for_and_the_url_to_ask_instead() {
        let head = |method: &str, target: &str| RequestHead::new(method, target, 1, Vec::new());
        let server = SocketAddr::from(([127, 0, 0, 1], 8888));
        let origin = "http://127.0.0.1:8000";
        let url = head("GET", "http://example.com/data.json?x=1");
        let Err(RequestError::Misdirected(misdirected)) = check_meant_for_us(&url, server, origin)
        else {
            panic!("not misdirected");
        };
        assert_eq!(misdirected.asked_for, "http://example.com");
        assert!(!misdirected.tunnel);
        assert_eq!(misdirected.origin_url, origin);
        assert_eq!(misdirected.instead, "http://127.0.0.1:8888/data.json?x=1");
        let tunnel = head("CONNECT", "example.com:443");
        let Err(RequestError::Misdirected(misdirected)) =
            check_meant_for_us(&tunnel, server, origin)
        else {
            panic!("not misdirected");
        };
        assert_eq!(misdirected.asked_for, "example.com:443");
        assert!(misdirected.tunnel);
        assert_eq!(misdirected.instead, "http://127.0.0.1:8888/");
    }

    #[test]
    fn key_paths_keep_reserved_escapes_and_decode_the_rest() {
        let key =
            |path: &str| String::from_utf8_lossy(&key_path(path).expect("clean")).into_owned();
        assert_eq!(key("/files/a%2Fb"), "/files/a%2Fb");
        assert_eq!(key("/files/a%2fb"), "/files/a%2Fb", "hex is upper-cased");
        assert_ne!(key("/files/a%2Fb"), key("/files/a/b"));
        assert_ne!(key("/a%40b"), key("/a@b"));
        assert_eq!(
            key("/%61%40b"),
            key("/a%40b"),
            "an unreserved escape is decoded"
        );
        assert_eq!(key("/caf%C3%A9"), "/café");
        assert_eq!(key("/100%25"), "/100%25");
        assert_eq!(key("/a%20b"), "/a b");
        assert_eq!(key_path("/a%2F..%2Fb").unwrap_err().status(), 400);
        assert_eq!(key_path("/%2e%2e/x").unwrap_err().status(), 400);
    }

    #[test]
    fn clean_paths_pass_and_traversal_is_refused() {
        assert_eq!(&*clean_path("/").expect("root"), b"/");
        assert_eq!(&*clean_path("/a/b/").expect("dir"), b"/a/b/");
        assert_eq!(
            &*clean_path("/.well-known/x.txt").expect("dotfile"),
            b"/.well-known/x.txt"
        );
        assert_eq!(
            &*clean_path("/caf%C3%A9").expect("utf-8"),
            "/café".as_bytes()
        );
        assert_eq!(
            &*clean_path("/a%5Cb").expect("an escaped backslash"),
            b"/a\\b"
        );
        assert_eq!(
            &*clean_path("/a..b/...").expect("dots inside names"),
            b"/a..b/..."
        );
        for bad in [
            "/..",
            "/a/../b",
            "/%2e%2e/etc/passwd",
            "/%2E%2e",
            "/a/./b",
            "/a%2f..%2fb",
            "/a\\b",
            "/a%00b",
            "//a",
            "/a//b",
            "/%zz",
            "/%4",
            "relative",
        ] {
            assert_eq!(
                clean_path(bad).map(|_| ()).unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }
}
