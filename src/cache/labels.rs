//! What the cache did, as types: the outcome of a request, and the
//! `X-Cache` and `Cache-Status` fields that report it.
//!
//! Each outcome is an enum, so a typo is a compile error, not a header that
//! lies; `as_str` gives the token that goes on the wire. `Cache-Status` is
//! RFC 9211's standard field (`hit`, `fwd=`, `fwd-status=`, `ttl=`,
//! `stored`, `detail=`); `X-Cache` is the one-word summary older tools read.
//!
//! Steps: none; this module only names what steps 2 to 5 did.
//!
//! Not here: the decision itself ([`crate::cache::decide`]), or the
//! `--trace` narration ([`crate::cache::trace`]).

use std::{fmt, io};

use crate::cache::freshness::{Freshness, NotStored};
use crate::error::RequestError;
use crate::wire::decimal::Decimal;
use crate::wire::headers;
use crate::wire::http::ResponseHead;

/// What the cache did for a reply: the `X-Cache` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served from a copy as it is (fresh, or stale and the client's
    /// `max-stale` accepts it); the origin was not asked.
    Hit,
    /// Fetched from the origin (and stored, if the rules allowed).
    Miss,
    /// Served from a copy the origin just confirmed with a 304.
    Revalidated,
    /// Served from a stale copy: the origin failed (stale-if-error), or it
    /// is checked after the reply (stale-while-revalidate).
    Stale,
    /// The cache stood aside: a write, a reply that may not be stored, or a
    /// request the proxy refused.
    Bypass,
}

impl Outcome {
    /// The `X-Cache` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "HIT",
            Outcome::Miss => "MISS",
            Outcome::Revalidated => "REVALIDATED",
            Outcome::Stale => "STALE",
            Outcome::Bypass => "BYPASS",
        }
    }
}

/// Why the origin was asked: `Cache-Status`'s `fwd=` (RFC 9211 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarded {
    /// Nothing was stored for the URL.
    UriMiss,
    /// The stored copy was stale.
    Stale,
    /// The copy was fresh, but the client asked for a check (`no-cache`).
    Request,
    /// The method is never answered from the cache (a write).
    Method,
}

impl Forwarded {
    /// The `fwd=` token.
    pub fn as_str(self) -> &'static str {
        match self {
            Forwarded::UriMiss => "uri-miss",
            Forwarded::Stale => "stale",
            Forwarded::Request => "request",
            Forwarded::Method => "method",
        }
    }
}

/// How a reply served from a stored copy came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromDisk {
    /// The copy was fresh; the origin was not asked.
    Hit,
    /// The origin answered 304 to a conditional request: the copy is current.
    /// `forced` when the copy was fresh but the client asked for a check.
    Revalidated {
        /// The client insisted on the check.
        forced: bool,
    },
    /// The copy was stale, but the origin allows serving it while it is
    /// checked (`stale-while-revalidate`): the check comes after the reply.
    CheckedLater,
    /// The origin failed (status 5xx, or `None`: unreachable or too slow) and
    /// the stale copy stands in.
    Stale {
        /// The origin's status, if it answered at all.
        origin_status: Option<u16>,
    },
}

/// What a 304 did to the stored copy (RFC 9111 4.3.4).
#[derive(Debug)]
pub enum Refreshed {
    /// The copy's head took the 304's fields: a new file, renamed into place.
    Rewritten,
    /// Only its `Date` changed: written in place, no new file.
    InPlace,
    /// Not refreshed: this request may not store it (`no-store`, credentials).
    NotRefreshed(NotStored),
    /// Dropped: the 304 says it may not be shared any more.
    Dropped(NotStored),
    /// Dropped: the 304 changed what it varies on.
    VaryChanged,
    /// Writing the new head failed; the old copy stays as it was.
    Failed(io::Error),
}

impl Refreshed {
    /// The note for the log line: all but a plain refresh are worth one.
    pub fn is_noteworthy(&self) -> bool {
        !matches!(self, Refreshed::Rewritten)
    }
}

impl fmt::Display for Refreshed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = "the 304's fields, the same body";
        match self {
            Refreshed::Rewritten => write!(f, "refreshed with {fields}, renamed into place"),
            Refreshed::InPlace => write!(
                f,
                "the 304 changed only Date: written in place, no new file"
            ),
            Refreshed::NotRefreshed(reason) => write!(f, "copy not refreshed: {}", reason.as_str()),
            Refreshed::Dropped(reason) => write!(f, "copy dropped: {}", reason.as_str()),
            Refreshed::VaryChanged => write!(f, "copy dropped: the 304 changed its Vary"),
            Refreshed::Failed(error) => write!(f, "not refreshed: {error}"),
        }
    }
}

/// The `X-Cache` value and `Cache-Status` field for a reply from disk.
pub fn from_disk(how: FromDisk, freshness: Freshness) -> (Outcome, String) {
    let ttl = freshness.ttl();
    match how {
        // The one a plain hit takes, without the formatting machinery.
        FromDisk::Hit => (Outcome::Hit, hit_with_ttl(ttl)),
        FromDisk::CheckedLater => {
            let detail = "detail=stale-while-revalidate";
            (
                Outcome::Stale,
                format!("cacheproxy; hit; ttl={ttl}; {detail}"),
            )
        }
        FromDisk::Revalidated { forced } => {
            let fwd = if forced { "request" } else { "stale" };
            let status = format!("cacheproxy; fwd={fwd}; fwd-status=304; ttl={ttl}");
            (Outcome::Revalidated, status)
        }
        FromDisk::Stale { origin_status } => {
            let status = origin_status
                .map(|status| format!("; fwd-status={status}"))
                .unwrap_or_default();
            let detail = "detail=stale-if-error";
            let status = format!("cacheproxy; fwd=stale{status}; ttl={ttl}; {detail}");
            (Outcome::Stale, status)
        }
    }
}

/// `cacheproxy; hit; ttl=` and `ttl`, a number of seconds (below 0 once stale).
fn hit_with_ttl(ttl: i64) -> String {
    let digits = Decimal::of(ttl.unsigned_abs());
    let sign = if ttl < 0 { "-" } else { "" };
    ["cacheproxy; hit; ttl=", sign, digits.as_str()].concat()
}

/// The `X-Cache` value and `Cache-Status` field for a reply from the origin:
/// `stored` when a copy is being written, `detail=` when none may be.
pub fn from_origin(
    fwd: Forwarded,
    status: u16,
    storable: Result<(), NotStored>,
    storing: bool,
) -> (Outcome, String) {
    let cache_status = format!("cacheproxy; fwd={}; fwd-status={status}", fwd.as_str());
    match storable {
        Ok(()) if storing => (Outcome::Miss, format!("{cache_status}; stored")),
        // A reply to HEAD is never stored, but nothing about it forbade it.
        Ok(()) | Err(NotStored::Method) if fwd != Forwarded::Method => {
            (Outcome::Miss, cache_status)
        }
        Ok(()) | Err(NotStored::Method) => (Outcome::Bypass, cache_status),
        Err(reason) => {
            let detail = reason.as_str();
            (Outcome::Bypass, format!("{cache_status}; detail={detail}"))
        }
    }
}

/// The `X-Cache` and `Cache-Status` of the proxy's own error replies: a trip
/// to the origin that failed is a miss; a request the proxy refused bypassed
/// the cache.
pub fn for_error(error: &RequestError) -> (Outcome, &'static str) {
    match error {
        RequestError::BadGateway(_) | RequestError::GatewayTimeout => {
            (Outcome::Miss, "cacheproxy; fwd=uri-miss")
        }
        RequestError::NotCached => (Outcome::Miss, "cacheproxy; detail=only-if-cached"),
        _ => (Outcome::Bypass, "cacheproxy; detail=refused"),
    }
}

/// Adds the fields every reply from the proxy carries, so a client (and a
/// learner with `curl -i`) can see what the cache did.
pub fn add_cache_fields(head: &mut ResponseHead, outcome: Outcome, cache_status: &str) {
    for (name, value) in cache_fields(outcome, cache_status) {
        head.add(name, value);
    }
}

/// The fields [`add_cache_fields`] adds, as names and values.
pub fn cache_fields(outcome: Outcome, cache_status: &str) -> [(&'static str, &str); 3] {
    [
        ("X-Cache", outcome.as_str()),
        ("Cache-Status", cache_status),
        ("Via", headers::VIA),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::freshness::Lifetime;

    #[test]
    fn replies_from_disk_say_how_they_came_about() {
        let fresh = Freshness {
            age: 5,
            lifetime: 60,
            from: Lifetime::NoCache,
        };
        let stale = Freshness {
            age: 70,
            lifetime: 60,
            from: Lifetime::NoCache,
        };
        assert_eq!(
            from_disk(FromDisk::Hit, fresh),
            (Outcome::Hit, "cacheproxy; hit; ttl=55".into())
        );
        assert_eq!(
            from_disk(FromDisk::Revalidated { forced: true }, fresh),
            (
                Outcome::Revalidated,
                "cacheproxy; fwd=request; fwd-status=304; ttl=55".into()
            )
        );
        let origin_status = Some(503);
        assert_eq!(
            from_disk(FromDisk::Stale { origin_status }, stale),
            (
                Outcome::Stale,
                "cacheproxy; fwd=stale; fwd-status=503; ttl=-10; detail=stale-if-error".into()
            )
        );
        let origin_status = None;
        assert_eq!(
            from_disk(FromDisk::Stale { origin_status }, stale).1,
            "cacheproxy; fwd=stale; ttl=-10; detail=stale-if-error"
        );
        assert_eq!(
            from_disk(FromDisk::CheckedLater, stale),
            (
                Outcome::Stale,
                "cacheproxy; hit; ttl=-10; detail=stale-while-revalidate".into()
            )
        );
    }

    #[test]
    fn replies_from_the_origin_say_whether_they_were_stored() {
        let miss = Forwarded::UriMiss;
        assert_eq!(
            from_origin(miss, 200, Ok(()), true),
            (
                Outcome::Miss,
                "cacheproxy; fwd=uri-miss; fwd-status=200; stored".into()
            )
        );
        assert_eq!(
            from_origin(miss, 200, Err(NotStored::Method), false).0,
            Outcome::Miss
        );
        assert_eq!(
            from_origin(miss, 200, Err(NotStored::Private), false),
            (
                Outcome::Bypass,
                "cacheproxy; fwd=uri-miss; fwd-status=200; detail=private".into()
            )
        );
        assert_eq!(
            from_origin(Forwarded::Method, 201, Err(NotStored::Method), false),
            (
                Outcome::Bypass,
                "cacheproxy; fwd=method; fwd-status=201".into()
            )
        );
    }
}
