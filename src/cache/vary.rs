//! Variants (RFC 9111 4.1): one URL, several stored responses, chosen by the
//! request header fields that the response's `Vary` names: the second look
//! of step 2, and the name a copy gets in step 5.
//!
//! For `Vary: Accept-Language` the cache keeps one entry file per language,
//! named after the URL's entry with the values added: `page@@accept-language=fr`.
//! Beside them the marker `page@@` holds the `Vary` value, so a lookup knows
//! which fields to read: two file opens, whatever the number of variants.
//! Values are normalised first (lines combined, spaces around commas dropped;
//! `Accept-Encoding` by [`crate::cache::encoding`]), so `fr, en` and `fr,en`
//! find the same copy. `Vary: *` never matches, so such a reply is not stored.
//!
//! Not here: the files themselves ([`crate::store`]).

use std::borrow::Cow;
use std::io;

use crate::store::entry::Entry;
use crate::store::key::{push_escape, CacheKey};
use crate::store::open::Store;
use crate::wire::http::{field_values, Header, ResponseHead};

/// The longest variant name kept: file names have a limit (255 bytes on
/// most file systems), and the URL's own name comes first.
const MAX_VARIANT_NAME: usize = 120;

/// The stored response for a request, and the key looked up: the URL's own
/// entry, or else the variant that `to_origin` selects, the fields the proxy
/// would send the origin ([`crate::wire::headers::for_a_whole_copy`]), asked
/// for only when the URL has variants. The key is borrowed back unless a
/// variant's was made.
pub fn lookup<'a, 'k>(
    store: &Store,
    key: &'k CacheKey,
    to_origin: impl FnOnce() -> &'a [Header],
) -> (Cow<'k, CacheKey>, io::Result<Option<Entry>>) {
    match store.lookup(key) {
        Ok(None) => {}
        found => return (Cow::Borrowed(key), found),
    }
    let vary = store.vary_of(key);
    let Some(variant) = vary.and_then(|vary| variant_name(&vary, to_origin())) else {
        return (Cow::Borrowed(key), Ok(None));
    };
    let variant_key = key.with_variant(variant);
    let found = store.lookup(&variant_key);
    (Cow::Owned(variant_key), found)
}

/// The key a response is stored under: the URL's own, or the variant selected
/// by `to_origin`, the request as the origin received it, never the client's
/// (RFC 9111 4.1). `None` for `Vary: *` or values too long for a file name.
pub fn key_for(key: &CacheKey, to_origin: &[Header], response: &ResponseHead) -> Option<CacheKey> {
    let base = key.with_variant(None);
    match vary_value(&response.headers) {
        None => Some(base),
        Some(vary) => variant_name(&vary, to_origin).map(|variant| base.with_variant(variant)),
    }
}

/// A response's `Vary` value, all lines combined and normalised, if it names
/// any field.
pub fn vary_value(headers: &[Header]) -> Option<Vec<u8>> {
    let names = field_names(field_values(headers, "Vary"));
    (!names.is_empty()).then(|| names.join(&b", "[..]))
}

/// Adds `Vary: Accept-Encoding` to a compressed response that lacks it, so
/// this cache, and any after it, keys it by the codings a client accepts: a
/// client that cannot read gzip must never get the gzip copy.
pub fn add_implied_vary(head: &mut ResponseHead) {
    let said = field_names(field_values(&head.headers, "Vary"))
        .iter()
        .any(|name| name == b"accept-encoding" || name == b"*");
    let compressed = field_values(&head.headers, "Content-Encoding")
        .flat_map(|value| value.split(|&byte| byte == b','))
        .map(<[u8]>::trim_ascii)
        .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"));
    if !said && compressed {
        head.add("Vary", "Accept-Encoding");
    }
}

/// The field names a `Vary` value lists, lower-cased, without repeats.
fn field_names<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    for name in values.flat_map(|value| value.split(|&byte| byte == b',')) {
        let name = name.trim_ascii().to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The variant name for a request sent with fields `to_origin` under a
/// `Vary` value: `name=value` per field (`name` alone if absent), joined by
/// `&`. `None` for `Vary: *` or a name longer than [`MAX_VARIANT_NAME`].
fn variant_name(vary: &[u8], to_origin: &[Header]) -> Option<Option<String>> {
    let names = field_names(std::iter::once(vary));
    if names.iter().any(|name| name == b"*") {
        return None;
    }
    if names.is_empty() {
        return Some(None);
    }
    let field = |name: &Vec<u8>| match normalised_value(to_origin, name) {
        Some(value) => format!("{}={}", escaped(name), escaped(&value)),
        None => escaped(name),
    };
    let variant = names.iter().map(field).collect::<Vec<_>>().join("&");
    (variant.len() <= MAX_VARIANT_NAME).then_some(Some(variant))
}

/// A request field's value as the key compares it: all its lines combined,
/// without spaces around commas. `None` if absent (never `Accept-Encoding`:
/// the proxy always sends one, see [`crate::cache::encoding`]).
fn normalised_value(to_origin: &[Header], name: &[u8]) -> Option<Vec<u8>> {
    // A name that is not UTF-8 names no field: header names are strings.
    let mut lines = field_values(to_origin, std::str::from_utf8(name).ok()?).peekable();
    lines.peek()?;
    let items: Vec<&[u8]> = lines
        .flat_map(|value| value.split(|&byte| byte == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    Some(items.join(&b","[..]))
}

/// `bytes` with all but letters, digits and `-._~,` escaped as `%XX`, so `=`
/// and `&` stay free to separate fields.
fn escaped(bytes: &[u8]) -> String {
    let mut text = String::new();
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~,".contains(&byte) {
            text.push(char::from(byte));
        } else {
            push_escape(&mut text, byte);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::{parse_request_head, RequestHead};

    fn request(fields: &str) -> RequestHead {
        parse_request_head(format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes())
            .expect("valid")
    }

    /// The fields the proxy would send the origin for a request with `fields`.
    fn to_origin(fields: &str) -> Vec<Header> {
        let client_ip = "127.0.0.1".parse().expect("an IP address");
        crate::wire::headers::for_a_whole_copy(&request(fields), client_ip)
    }

    fn name(vary: &str, fields: &str) -> Option<Option<String>> {
        variant_name(vary.as_bytes(), &to_origin(fields))
    }

    #[test]
    fn the_variant_name_holds_the_normalised_values() {
        let named = |vary, fields| name(vary, fields).flatten();
        assert_eq!(
            named("Accept-Language", "Accept-Language: fr, en\r\n").as_deref(),
            Some("accept-language=fr,en")
        );
        assert_eq!(
            named(
                "accept-language",
                "Accept-Language: fr\r\naccept-language:  en \r\n"
            ),
            named("Accept-Language", "Accept-Language: fr,en\r\n"),
            "lines combined, spaces dropped"
        );
        assert_eq!(
            named("X-A, X-B", "X-B: 1\r\n").as_deref(),
            Some("x-a&x-b=1")
        );
        assert_ne!(
            named("X-A", "X-A: \r\n"),
            named("X-A", ""),
            "empty is not absent"
        );
        assert_eq!(
            named("X-A", "X-A: a=b&c/d\r\n").as_deref(),
            Some("x-a=a%3Db%26c%2Fd"),
            "separators and slashes escaped"
        );
    }

    #[test]
    fn a_field_that_does_not_reach_the_origin_selects_no_variant() {
        // Named in `Connection`, it is dropped on the way (RFC 9110 7.6.1): the
        // origin answered a request without it, so the reply is filed as such.
        let named = |fields| name("Accept-Language", fields).flatten();
        assert_eq!(
            named("Accept-Language: fr\r\nConnection: close, Accept-Language\r\n").as_deref(),
            Some("accept-language")
        );
        assert_eq!(named("").as_deref(), Some("accept-language"));
        // Conditions and ranges never reach the origin on a fetch to keep.
        assert_eq!(
            name(
                "If-None-Match, Range",
                "If-None-Match: \"a\"\r\nRange: bytes=0-1\r\n"
            ),
            name("If-None-Match, Range", "")
        );
    }

    #[test]
    fn star_long_values_and_accept_encoding() {
        assert_eq!(name("*", ""), None, "Vary: * never matches");
        assert_eq!(name("X-A, *", ""), None);
        let long = format!("X-A: {}\r\n", "a".repeat(200));
        assert_eq!(name("X-A", &long), None, "too long for a file name");
        // Accept-Encoding is keyed by the set of codings accepted.
        let by_coding = |fields| name("Accept-Encoding", fields).flatten();
        assert_eq!(
            by_coding("Accept-Encoding: deflate, gzip;q=0.8, br\r\n").as_deref(),
            Some("accept-encoding=br,gzip")
        );
        assert_eq!(by_coding("").as_deref(), Some("accept-encoding=identity"));
    }

    #[test]
    fn a_compressed_reply_varies_by_accept_encoding_even_unsaid() {
        let gzip = |codings: &[&str], vary: Option<&str>| {
            let mut head = ResponseHead::new(200);
            for coding in codings {
                head.add("Content-Encoding", *coding);
            }
            if let Some(vary) = vary {
                head.add("Vary", vary);
            }
            add_implied_vary(&mut head);
            vary_value(&head.headers)
        };
        assert_eq!(
            gzip(&["gzip"], None).as_deref(),
            Some(&b"accept-encoding"[..])
        );
        let second_line = gzip(&["identity", "gzip"], None);
        assert_eq!(second_line.as_deref(), Some(&b"accept-encoding"[..]));
        let both = gzip(&["gzip"], Some("Accept-Language, Accept-Encoding"));
        assert_eq!(
            both.as_deref(),
            Some(&b"accept-language, accept-encoding"[..])
        );
        assert_eq!(gzip(&["identity"], None), None);
        assert_eq!(gzip(&[], None), None);
    }

    #[test]
    fn a_response_without_vary_keeps_the_urls_own_key() {
        let key = CacheKey::new(b"/page".to_vec(), None);
        let plain = ResponseHead::new(200);
        assert_eq!(key_for(&key, &to_origin(""), &plain), Some(key.clone()));
        let mut varies = ResponseHead::new(200);
        varies.add("Vary", "Accept-Language");
        let variant = key_for(&key, &to_origin("Accept-Language: fr\r\n"), &varies);
        assert_eq!(
            variant,
            Some(key.with_variant(Some("accept-language=fr".into())))
        );
    }
}
