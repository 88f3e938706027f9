//! The rules for everything but `GET` and `HEAD` (the story is in
//! [`crate::cache::story`]): which methods change things, who may `PURGE`,
//! which `Location` a successful write makes stale (RFC 9111 4.4), and when
//! a client waits for `100 Continue`.

use std::net::IpAddr;

use crate::net::origin::Origin;
use crate::wire::http::RequestHead;
use crate::wire::target::split_absolute;

/// Only clients on this machine may purge: loopback addresses, including
/// IPv4 loopback seen through an IPv6 socket (`::ffff:127.0.0.1`), and the
/// machine's own address when the client reached the proxy on it (`server`,
/// the connection's local address). A connection whose two ends have the same
/// address starts and ends on this machine, and so does one to a loopback
/// address, whatever its source (the kernel routes loopback only inside the
/// machine); asking the system for all its addresses instead would need libc,
/// and could change while we run.
pub fn may_purge(client: IpAddr, server: IpAddr) -> bool {
    let (client, server) = (client.to_canonical(), server.to_canonical());
    client.is_loopback() || server.is_loopback() || client == server
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
        let ip = |text: &str| -> IpAddr { text.parse().expect("ip") };
        let lan = ip("192.168.7.7");
        for allowed in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(may_purge(ip(allowed), lan), "{allowed}");
        }
        // From the machine's own address, to itself.
        assert!(may_purge(lan, lan));
        assert!(may_purge(ip("::ffff:192.168.7.7"), lan));
        assert!(may_purge(ip("fe80::1"), ip("fe80::1")));
        // From the machine's own address, to loopback.
        assert!(may_purge(lan, ip("127.0.0.1")));
        assert!(may_purge(lan, ip("::ffff:127.0.0.1")));
        for refused in [
            "10.0.0.1",
            "192.168.1.2",
            "8.8.8.8",
            "::ffff:10.0.0.1",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(!may_purge(ip(refused), lan), "{refused}");
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
