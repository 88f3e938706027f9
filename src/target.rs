//! Request targets: from what the client sent to a clean path, the one rule
//! that keeps every cache file inside the cache directory.
//!
//! A target arrives as `/path?query` or `http://host/path?query`. The path is
//! percent-decoded and then checked, refusing (never repairing) anything that
//! could step outside: `.` and `..` segments (also as `%2e%2e`), empty
//! segments, a raw backslash (a separator to some servers) and NUL. An
//! escaped backslash, `%5C`, is an ordinary byte of a name: it stays inside
//! its segment, and its file name writes it escaped. cacheproxy.py built its file names with
//! `'cache' + filename`; this is the fifteen lines it lacked.
//!
//! Steps: the second half of step 1 (receive): working out which URL the
//! request asks for.
//!
//! Not here: turning a clean path into a file name (see [`crate::store`]).

use crate::error::{BadRequest, RequestError};

/// The parts of a request target the proxy uses: the path and the query, both
/// still percent-encoded as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The path, starting with `/`.
    pub path: String,
    /// The query after `?`, if any (without the `?`).
    pub query: Option<String>,
}

impl Target {
    /// The target in origin-form, `/path?query`, as it is sent on to the origin.
    pub fn origin_form(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{}", self.path, query),
            None => self.path.clone(),
        }
    }
}

/// Splits a request target into path and query.
///
/// Accepts origin-form (`/path?q`) and absolute-form (`http://host/path?q`, what
/// a client sends when configured to use us as its proxy). The host of an
/// absolute-form target is ignored: this proxy fronts one origin only.
pub fn parse_target(target: &str) -> Result<Target, RequestError> {
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
        Some((path, query)) => (path, Some(query.to_string())),
        None => (path_and_query, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok(Target {
        path: path.to_string(),
        query,
    })
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

/// Percent-decodes `path` and checks that it is a clean absolute path.
///
/// Clean means: no `.` or `..` segment, no empty segment (`//`) and no NUL,
/// all judged *after* decoding, so `%2e%2e` is caught like `..`; and no raw
/// backslash, which is not a URI character and which some servers take for
/// `/`. (`%5C` is a byte of a name like any other.)
/// This is the rule that keeps every cache file inside the cache directory, so
/// it refuses rather than repairs. Returns the decoded path as bytes.
pub fn clean_path(path: &str) -> Result<Vec<u8>, RequestError> {
    let decoded =
        percent_decode(path.as_bytes()).ok_or(RequestError::BadRequest(BadRequest::PathEscape))?;
    if decoded.first() != Some(&b'/') {
        return Err(RequestError::BadRequest(BadRequest::PathStart));
    }
    if decoded.contains(&0) || path.contains('\\') {
        return Err(RequestError::BadRequest(BadRequest::PathNulOrBackslash));
    }
    let segments: Vec<&[u8]> = decoded[1..].split(|&byte| byte == b'/').collect();
    let last = segments.len() - 1;
    for (index, segment) in segments.iter().enumerate() {
        if *segment == b"." || *segment == b".." {
            return Err(RequestError::BadRequest(BadRequest::PathDotSegment));
        }
        // Only the last segment may be empty: that is a trailing slash.
        if segment.is_empty() && index != last {
            return Err(RequestError::BadRequest(BadRequest::PathEmptySegment));
        }
    }
    Ok(decoded)
}

/// The path as a cache key: the clean path of [`clean_path`], but with the
/// escapes that change a URL's meaning left as they were sent.
///
/// `/files/a%2Fb` and `/files/a/b` are different resources to the origin
/// (RFC 3986 6.2.2.2: an escaped reserved character is not the character),
/// so they must be different entries; the same goes for `%40` and `@`. So
/// escapes of reserved characters (`:/?#[]@!$&'()*+,;=`) and of `%` itself
/// stay escaped, with upper-case hex; every other escape is decoded, since
/// `%61` and `a` are the same URL, and so are `%C3%A9` and `é`. The traversal
/// guard still judges the fully decoded path: `/a%2F..%2Fb` is refused.
pub fn key_path(path: &str) -> Result<Vec<u8>, RequestError> {
    clean_path(path)?;
    let mut key = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        // `clean_path` accepted the path, so every `%` starts two hex digits.
        let escaped = match (byte, tail) {
            (b'%', [high, low, ..]) => hex_value(*high).zip(hex_value(*low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                let decoded = high * 16 + low;
                if b":/?#[]@!$&'()*+,;=%".contains(&decoded) {
                    key.extend_from_slice(format!("%{decoded:02X}").as_bytes());
                } else {
                    key.push(decoded);
                }
                rest = &tail[2..];
            }
            None => {
                key.push(byte);
                rest = tail;
            }
        }
    }
    Ok(key)
}

/// Decodes `%XX` escapes. `None` when an escape is not two hex digits.
pub fn percent_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let high = hex_value(*tail.first()?)?;
            let low = hex_value(*tail.get(1)?)?;
            decoded.push(high * 16 + low);
            rest = &tail[2..];
        } else {
            decoded.push(byte);
            rest = tail;
        }
    }
    Some(decoded)
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|value| value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_origin_form_and_absolute_form_targets() {
        let target = parse_target("/a/b?x=1&y=2").expect("origin-form");
        assert_eq!(target.path, "/a/b");
        assert_eq!(target.query.as_deref(), Some("x=1&y=2"));
        let target = parse_target("http://example.com:8080/c?z").expect("absolute-form");
        assert_eq!(target.origin_form(), "/c?z");
        assert_eq!(
            parse_target("http://example.com").expect("no path").path,
            "/"
        );
        assert_eq!(
            parse_target("/p#frag").expect("fragment").origin_form(),
            "/p"
        );
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
        assert_eq!(target.origin_form(), "/?x=1");
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
        assert_eq!(clean_path("/").expect("root"), b"/");
        assert_eq!(clean_path("/a/b/").expect("dir"), b"/a/b/");
        assert_eq!(
            clean_path("/.well-known/x.txt").expect("dotfile"),
            b"/.well-known/x.txt"
        );
        assert_eq!(clean_path("/caf%C3%A9").expect("utf-8"), "/café".as_bytes());
        assert_eq!(
            clean_path("/a%5Cb").expect("an escaped backslash"),
            b"/a\\b"
        );
        assert_eq!(
            clean_path("/a..b/...").expect("dots inside names"),
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
