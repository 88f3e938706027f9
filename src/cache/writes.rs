//! Everything but `GET` and `HEAD`: writes go to the origin, and `PURGE`
//! drops a copy on request.
//!
//! A write (`POST`, `PUT`, `PATCH`, `DELETE`, or any other method but
//! `OPTIONS`, which is safe) is never answered from the cache and never
//! stored. When it succeeds, the copies it made stale are dropped (RFC 9111
//! section 4.4): the request's own URL and its `Location` and
//! `Content-Location`, when those are on the same origin.
//!
//! Steps: 4 and 5 for writes (ask the origin; reply, and drop the copies made
//! stale), and 2 for `PURGE` (look up the URL's file and remove it).
//!
//! Not here: the cache's own request path (see [`crate::cache::story`]).

use std::io::{Read, Write};
use std::net::IpAddr;
use std::time::Duration;

use crate::cache::labels::{self, Forwarded, NotStored};
use crate::cache::story::Proxy;
use crate::cache::trace::Step;
use crate::error::RequestError;
use crate::net::relay::{plain_reply, relay, Unattended};
use crate::net::server::{Request, Served};
use crate::store::key::CacheKey;
use crate::wire::headers;
use crate::wire::http::{self, find_header, Header};
use crate::wire::target::{key_path, parse_target, split_absolute, Target};

impl Proxy {
    /// A write: its body goes to the origin, the origin's reply to the client.
    pub(crate) fn forward_write(
        &mut self,
        request: &Request,
        target: &Target,
        key: &CacheKey,
    ) -> Result<Served, RequestError> {
        let body_length = http::request_body_length(&request.head)?;
        let declared = request.head.header("Content-Length").is_some() || body_length > 0;
        let to_origin = headers::to_origin(
            &request.head,
            request.client_addr.ip(),
            declared.then_some(body_length),
        );
        if wants_continue(request) {
            // The client waits for this before sending a large body.
            let _ = (&request.client).write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let mut body = request.body(body_length);
        // No body, no body reader: ureq would send an empty chunked body.
        let body_reader = (body_length > 0).then_some(&mut body as &mut dyn Read);
        let sent = self.ask_origin(request, target, &to_origin, body_reader);
        // If the client failed us mid-body, that is the error to report, not
        // whatever the origin made of a request cut short.
        if let Some(client_failure) = body.failure.take() {
            return Err(client_failure);
        }
        let response = sent?;
        // RFC 9111 4.4: an unsafe method that succeeded may have changed the
        // resource. A safe one (OPTIONS, a CORS preflight) changed nothing.
        let mut dropped = None;
        if (200..400).contains(&response.status) && !is_safe(&request.head.method) {
            dropped = self.invalidate(request, key, &response.headers);
        }
        let decision = Err(NotStored::Method);
        let (outcome, cache_status) =
            labels::from_origin(Forwarded::Method, response.status, decision, false);
        // With no copy, nothing is read once the client is served, so the
        // budget for that (nothing at all) is never consulted.
        let budget = Unattended::new(Duration::ZERO, request.client.limits());
        let labels = (outcome, cache_status.as_str());
        let (served, _) = relay(request, response, None, labels, (None, budget));
        let bytes = served.body_bytes;
        let also = dropped
            .as_deref()
            .map(|note| format!("; {note}"))
            .unwrap_or_default();
        // Step 5: store and reply: stream the body to the client and a temporary file.
        request.trace.step(
            Step::StoreAndReply,
            format_args!("{bytes} bytes to the client; a write is never stored{also}"),
        );
        Ok(served.with_note(dropped))
    }

    /// Drops the copies a successful write made stale; returns a note naming them.
    fn invalidate(
        &mut self,
        request: &Request,
        key: &CacheKey,
        response: &[Header],
    ) -> Option<String> {
        let mut stale_keys = vec![key.clone()];
        for name in ["Location", "Content-Location"] {
            let Some(value) = find_header(response, name) else {
                continue;
            };
            stale_keys.extend(self.same_origin_key(request, value));
        }
        let mut dropped = Vec::new();
        for stale_key in stale_keys {
            if self.store.remove(&stale_key).unwrap_or(false) {
                dropped.push(stale_key.to_string());
            }
        }
        (!dropped.is_empty()).then(|| format!("invalidated {}", dropped.join(" ")))
    }

    /// The cache key for a `Location`-style URL, if it names this origin: a
    /// path (`/items/5`), or an absolute URL whose host is the origin's or the
    /// one the client asked for. Anything else is not ours to drop.
    fn same_origin_key(&self, request: &Request, url: &[u8]) -> Option<CacheKey> {
        let url = std::str::from_utf8(url).ok()?;
        let path = if url.starts_with('/') {
            url
        } else {
            let (authority, path) = split_absolute(url)?;
            let client_host = request.head.header("Host").unwrap_or_default();
            if authority != self.origin.authority() && authority.as_bytes() != client_host {
                return None;
            }
            path
        };
        let target = parse_target(self.origin.client_path(path)?).ok()?;
        Some(CacheKey::new(key_path(&target.path).ok()?, target.query))
    }

    /// `PURGE /path`: drop the stored copy of a URL. Only from this machine:
    /// anyone else could empty the cache and send every request to the origin.
    pub(crate) fn purge(
        &mut self,
        request: &Request,
        key: &CacheKey,
    ) -> Result<Served, RequestError> {
        if !may_purge(request.client_addr.ip()) {
            return Err(RequestError::PurgeFromElsewhere);
        }
        let path = self.store.path_for(key).display().to_string();
        let removed = self
            .store
            .remove(key)
            .map_err(|error| RequestError::Internal(format!("could not purge {key}: {error}")))?;
        let verdict = if removed {
            "removed"
        } else {
            "missing: nothing to purge"
        };
        // Step 2: look up the URL's file in the cache directory and judge it.
        request
            .trace
            .step(Step::LookUp, format_args!("{path} is {verdict}"));
        Ok(if removed {
            let text = format!("purged {key}\n");
            plain_reply(request, 200, &text, "cacheproxy; detail=purged")
        } else {
            let text = format!("not cached: {key}\n");
            plain_reply(request, 404, &text, "cacheproxy; detail=not-cached")
        })
    }
}

/// Only clients on this machine may purge: loopback addresses, including
/// IPv4 loopback seen through an IPv6 socket (`::ffff:127.0.0.1`).
fn may_purge(client: IpAddr) -> bool {
    client.to_canonical().is_loopback()
}

/// Safe methods (RFC 9110 9.2.1): asking with them changes nothing.
fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// True when an HTTP/1.1 client sent `Expect: 100-continue`.
fn wants_continue(request: &Request) -> bool {
    request.head.minor_version == 1
        && request
            .head
            .header("Expect")
            .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"))
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
