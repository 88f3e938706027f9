//! The rules for everything but `GET` and `HEAD` (the story is in
//! [`crate::cache::story`]): which methods change things, who may `PURGE`,
//! which `Location` a successful write makes stale (RFC 9111 4.4), and when
//! a client waits for `100 Continue`.

use std::net::IpAddr;

use crate::net::origin::Origin;
use crate::wire::http::RequestHead;
use crate::wire::target::split_absolute;

/// Only clients on this machine may purge: loopback addresses, including
/// IPv4 loopback seen through an IPv6 socket (`::ffff:127.0.0.1`).
pub fn may_purge(client: IpAddr) -> bool {
    client.to_canonical().is_loopback()
}

/// Safe methods (RFC 9110 9.2.1): asking with them changes nothing.
pub fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// True when an HTTP/1.1 client sent `Expect: 100-continue`.
pub fn wants_continue(request: &RequestHead) -> bool {
    request.minor_version == 1
        && request
            .header("Expect")
            .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"))
}

/// The client's path for a `Location`-style URL, if it names this origin: a
/// path (`/items/5`), or an absolute URL whose host is the origin's or the
/// one the client asked for (`client_host`). Anything else is not ours to drop.
pub fn same_origin_url<'a>(origin: &Origin, client_host: &[u8], url: &'a [u8]) -> Option<&'a str> {
    let url = std::str::from_utf8(url).ok()?;
    if url.starts_with('/') {
        return origin.client_path(url);
    }
    let (authority, path) = split_absolute(url)?;
    let ours = authority == origin.authority() || authority.as_bytes() == client_host;
    ours.then(|| origin.client_path(path))?
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_may_purge() {
        for allowed in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(may_purge(allowed.parse().expect("ip")), "{allowed}");
        }
        for refused in [
            "10.0.0.1",
            "192.168.1.2",
            "8.8.8.8",
            "::ffff:10.0.0.1",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(!may_purge(refused.parse().expect("ip")), "{refused}");
        }
    }

    #[test]
    fn only_unsafe_methods_change_things() {
        for safe in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            assert!(is_safe(safe), "{safe}");
        }
        for unsafe_method in ["POST", "PUT", "PATCH", "DELETE", "M-SEARCH"] {
            assert!(!is_safe(unsafe_method), "{unsafe_method}");
        }
    }
}
