//! The caching rules of RFC 9111 for a shared cache, as pure functions of
//! header fields and times: may a reply be stored (step 5), is a copy fresh
//! and does the client insist on a check (step 2), what asks the origin "has
//! it changed?", and may a stale copy stand in for a failing origin (step 5).
//! No clock is read here, so each rule is a table of unit tests and
//! [`crate::cache::story`] reads as the order of events.
//!
//! Not here: files, sockets, the origin; variants ([`crate::cache::vary`])
//! and ranges ([`crate::cache::range`]).

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::cache::targeted;
use crate::wire::dates::parse_http_date;
use crate::wire::http::{field_values, find_header, parse_decimal, Header, RequestHead};

/// The knobs of the caching rules, set on the command line.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    /// How long a response stays fresh when it has no `s-maxage`, `max-age`,
    /// `Expires` or `Last-Modified` to judge by. Zero: check every time.
    pub default_ttl: Duration,
    /// How far past its lifetime a copy may be served when the origin fails (stale-if-error).
    pub max_stale: Duration,
    /// The field obeyed instead of `Cache-Control` when an origin sends it
    /// (RFC 9213), so an origin can tell shared caches from browsers.
    /// Defaults to [`CDN_CACHE_CONTROL`]; `None`: `Cache-Control` only.
    pub targeted_field: Option<String>,
}

/// The targeted field a proxy obeys unless told otherwise (RFC 9213).
pub const CDN_CACHE_CONTROL: &str = "CDN-Cache-Control";

impl CachePolicy {
    /// The directives of a response for this cache: those of its targeted
    /// field if it has one, else those of `Cache-Control` (RFC 9213 2.1).
    pub fn directives(&self, response: &[Header]) -> CacheControl {
        // A malformed targeted field is ignored as a whole (RFC 9213 2.1).
        let well_formed = |name: &&str| {
            let mut lines = field_values(response, name).peekable();
            lines.peek().is_some() && lines.all(targeted::is_well_formed)
        };
        let targeted = self.targeted_field.as_deref().filter(well_formed);
        CacheControl {
            targeted: targeted.is_some(),
            ..CacheControl::of_field(response, targeted.unwrap_or("Cache-Control"))
        }
    }
}

/// The longest directive name [`CacheControl::of_field`] knows.
const LONGEST_DIRECTIVE: &str = "stale-while-revalidate";

/// The largest number of seconds we count: RFC 9111 (section 1.2.2) asks a
/// cache to treat any bigger delta-seconds as 2^31, about 68 years.
pub const MAX_SECONDS: u64 = 1 << 31;

/// Parses delta-seconds (`max-age=N`, `Age: N`): digits only, capped at
/// [`MAX_SECONDS`], so no value can overflow the arithmetic of ages.
pub fn delta_seconds(text: &[u8]) -> Option<u64> {
    let all_digits = !text.is_empty() && text.iter().all(u8::is_ascii_digit);
    // All digits, so parsing can fail only by overflowing: past the cap too.
    all_digits.then(|| parse_decimal(text).unwrap_or(u64::MAX).min(MAX_SECONDS))
}

/// The directives of a `Cache-Control` field that this cache acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store`: never keep a copy.
    pub no_store: bool,
    /// `no-cache`: a stored copy is checked with the origin before every use.
    pub no_cache: bool,
    /// `private`: for one user's cache only, never a shared one like this.
    pub private: bool,
    /// `must-revalidate`: once stale, never serve without a successful check.
    pub must_revalidate: bool,
    /// `proxy-revalidate`: `must-revalidate`, for shared caches only.
    pub proxy_revalidate: bool,
    /// `max-age=N`: fresh for N seconds (in a request: no copy older than N).
    pub max_age: Option<u64>,
    /// `s-maxage=N`: fresh for N seconds in a shared cache; wins over `max-age`.
    pub s_maxage: Option<u64>,
    /// `public`: may be stored despite credentials or a status not kept by default.
    pub public: bool,
    /// In a request, `min-fresh=N`: only a copy fresh for N more seconds.
    pub min_fresh: Option<u64>,
    /// In a request, `max-stale=N`: a copy up to N seconds stale will do (any, without N).
    pub max_stale: Option<u64>,
    /// In a request, `only-if-cached`: a stored copy or 504, never the origin.
    pub only_if_cached: bool,
    /// `must-understand`: store only a status whose meaning this cache knows,
    /// and then despite `no-store`.
    pub must_understand: bool,
    /// `stale-while-revalidate=N` (RFC 5861): up to N seconds stale, a copy
    /// may be served at once while it is checked with the origin afterwards.
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` (RFC 5861): up to N seconds stale, a copy may stand
    /// in for an origin that fails. In a request: the client's own limit.
    pub stale_if_error: Option<u64>,
    /// Read from the targeted field (`CDN-Cache-Control`), not `Cache-Control`.
    pub targeted: bool,
}

impl CacheControl {
    /// The directives of every `Cache-Control` field in `headers`, taken together.
    /// Names are case-insensitive; unknown directives are ignored.
    pub fn of(headers: &[Header]) -> CacheControl {
        CacheControl::of_field(headers, "Cache-Control")
    }

    /// The same, from every field named `field` (a targeted field like
    /// `CDN-Cache-Control` has the same directives).
    pub fn of_field(headers: &[Header], field: &str) -> CacheControl {
        let mut directives = CacheControl::default();
        let lines = field_values(headers, field);
        for directive in lines.flat_map(|value| value.split(|&byte| byte == b',')) {
            let mut parts = directive.splitn(2, |&byte| byte == b'=');
            let (name, value) = (parts.next().unwrap_or_default(), parts.next());
            let seconds = value.and_then(|value| delta_seconds(trim_quotes(value)));
            // Lowercased on the stack, in room for the longest name below: a
            // longer one is none of them.
            let (name, mut room) = (name.trim_ascii(), [0; LONGEST_DIRECTIVE.len()]);
            let Some(lowercase) = room.get_mut(..name.len()) else {
                continue;
            };
            lowercase.copy_from_slice(name);
            lowercase.make_ascii_lowercase();
            match &*lowercase {
                b"no-store" => directives.no_store = true,
                b"no-cache" => directives.no_cache = true,
                b"private" => directives.private = true,
                b"must-revalidate" => directives.must_revalidate = true,
                b"proxy-revalidate" => directives.proxy_revalidate = true,
                b"public" => directives.public = true,
                b"only-if-cached" => directives.only_if_cached = true,
                b"must-understand" => directives.must_understand = true,
                // A directive given twice counts the first time (RFC 9111
                // 4.2.1): `max-age=0` then `max-age=31536000` must not keep a
                // copy for a year.
                b"min-fresh" => first(&mut directives.min_fresh, seconds.or(Some(0))),
                // Without a value: any staleness will do.
                b"max-stale" => first(&mut directives.max_stale, seconds.or(Some(MAX_SECONDS))),
                // A malformed delta-seconds counts as 0: stale at once (RFC 9111 1.2.2).
                b"max-age" => first(&mut directives.max_age, seconds.or(Some(0))),
                b"s-maxage" => first(&mut directives.s_maxage, seconds.or(Some(0))),
                // Without a valid number these grant nothing (RFC 5861 3 and 4).
                b"stale-while-revalidate" => first(&mut directives.stale_while_revalidate, seconds),
                b"stale-if-error" => first(&mut directives.stale_if_error, seconds),
                _ => {}
            }
        }
        directives
    }

    /// Whether these directives of a stored response forbid serving it once
    /// stale: `must-revalidate`, `proxy-revalidate`, `no-cache`, or
    /// `s-maxage` (which implies `proxy-revalidate` in a shared cache).
    fn forbid_stale(&self) -> bool {
        self.must_revalidate || self.proxy_revalidate || self.no_cache || self.s_maxage.is_some()
    }
}

/// Sets a directive's value unless an earlier occurrence already did.
fn first(directive: &mut Option<u64>, value: Option<u64>) {
    *directive = directive.or(value);
}

/// A directive's value without its spaces and quotes: `"60"` reads as `60`.
fn trim_quotes(value: &[u8]) -> &[u8] {
    match value.trim_ascii() {
        [b'"', inner @ .., b'"'] => inner,
        value => value,
    }
}

/// Whether the reply to `request` may be stored. `Err` says why not; its
/// token goes into `Cache-Status` as `detail=` and into the log.
pub fn storable(
    policy: &CachePolicy,
    request: &RequestHead,
    status: u16,
    response: &[Header],
) -> Result<(), NotStored> {
    let directives = policy.directives(response);
    // Someone's credentials produced this; it is not for everyone, unless
    // the origin said it is (RFC 9111 3.5).
    let shared_despite_credentials =
        directives.public || directives.s_maxage.is_some() || directives.must_revalidate;
    if request_no_store(request) {
        Err(NotStored::RequestNoStore)
    } else if request.header("Authorization").is_some() && !shared_despite_credentials {
        Err(NotStored::Authorization)
    } else {
        shareable(policy, status, response)
    }
}

/// Whether the request says `Cache-Control: no-store`: keep nothing of it.
pub fn request_no_store(request: &RequestHead) -> bool {
    CacheControl::of(&request.headers).no_store
}

/// The half of [`storable`] that looks at the response alone. A 304's merged
/// head is judged by this: one client's request must not decide what
/// happens to the copy everyone shares.
pub fn shareable(policy: &CachePolicy, status: u16, response: &[Header]) -> Result<(), NotStored> {
    let directives = policy.directives(response);
    let explicit = directives.public
        || directives.max_age.is_some()
        || directives.s_maxage.is_some()
        || find_header(response, "Expires").is_some();
    // `must-understand`: only a cache that knows what the status means may
    // keep it, and such a cache ignores `no-store` (RFC 9111 5.2.2.3). This
    // one knows those of RFC 9110 15.1, and the other redirects.
    let must_understand = directives.must_understand;
    let understood = heuristically_cacheable(status) || matches!(status, 302 | 303 | 307);
    // 206 and 304 describe another response, never one to replay as it is.
    if matches!(status, 206 | 304)
        || !(explicit || heuristically_cacheable(status))
        || (must_understand && !understood)
    {
        Err(NotStored::Status)
    } else if directives.no_store && !must_understand {
        Err(NotStored::NoStore)
    } else if directives.private {
        Err(NotStored::Private)
    } else if find_header(response, "Set-Cookie").is_some() {
        // A cookie set for one client must never be replayed to another.
        Err(NotStored::SetCookie)
    } else {
        Ok(())
    }
}

/// The statuses a cache may keep without explicit freshness (RFC 9110 15.1),
/// and whose lifetime may then be guessed from `Last-Modified`.
pub fn heuristically_cacheable(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Why a reply from the origin was not stored: `Cache-Status`'s `detail=`
/// and the log's `not stored: ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// The request was not a `GET` (a `HEAD` reply has no body to keep).
    Method,
    /// A status this cache may not keep (see [`shareable`]).
    Status,
    /// The request said `Cache-Control: no-store`.
    RequestNoStore,
    /// The request carried credentials (`Authorization`).
    Authorization,
    /// The reply said `Cache-Control: no-store`.
    NoStore,
    /// The reply said `Cache-Control: private`.
    Private,
    /// The reply sets a cookie, which must not be replayed to others.
    SetCookie,
    /// The reply varies on request fields one file per URL cannot tell apart.
    Vary,
    /// The body ends only when the origin closes, so a cut looks like the end.
    CloseDelimited,
    /// The reply is larger than `--max-size`.
    TooBig,
    /// The request went on with its `Range` or conditions: the reply is that client's alone.
    PassedOn,
}

impl NotStored {
    /// The `detail=` token.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStored::Method => "method",
            NotStored::Status => "status",
            NotStored::RequestNoStore => "request-no-store",
            NotStored::Authorization => "authorization",
            NotStored::NoStore => "no-store",
            NotStored::Private => "private",
            NotStored::SetCookie => "set-cookie",
            NotStored::Vary => "vary",
            NotStored::CloseDelimited => "close-delimited",
            NotStored::TooBig => "too-big",
            NotStored::PassedOn => "passed-on",
        }
    }
}

/// How fresh a stored response is right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Its current age in seconds: the origin's `Age` plus the time since it
    /// was stored. This is the `Age` header on every reply served from disk.
    pub age: u64,
    /// How many seconds it is fresh for, counted from age 0.
    pub lifetime: u64,
    /// Where that lifetime comes from.
    pub from: Lifetime,
}

/// Where a stored response's lifetime comes from (RFC 9111 4.2.1), in the
/// order they are tried, as `--trace` and `cacheproxy explain` tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `no-cache`: a lifetime of 0, every use is a check.
    NoCache,
    /// `s-maxage`, for shared caches; `targeted`: from `CDN-Cache-Control`.
    SMaxAge {
        /// Read from the targeted field.
        targeted: bool,
    },
    /// `max-age`; `targeted`: from `CDN-Cache-Control`.
    MaxAge {
        /// Read from the targeted field.
        targeted: bool,
    },
    /// `Expires` minus `Date` (an unreadable `Expires`: 0).
    Expires,
    /// A tenth of the time since `Last-Modified`, at most a day.
    LastModified,
    /// The operator's `--ttl`, for want of anything else.
    DefaultTtl,
    /// None: a status that is not cacheable without an explicit lifetime.
    Status,
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = |targeted| match targeted {
            true => "the targeted field, RFC 9213",
            false => "Cache-Control",
        };
        match *self {
            Lifetime::NoCache => write!(f, "no-cache, RFC 9111 5.2.2.4"),
            Lifetime::SMaxAge { targeted } => write!(f, "s-maxage in {}", field(targeted)),
            Lifetime::MaxAge { targeted } => write!(f, "max-age in {}", field(targeted)),
            Lifetime::Expires => write!(f, "Expires minus Date, RFC 9111 5.3"),
            Lifetime::LastModified => write!(
                f,
                "a tenth of the time since Last-Modified, at most a day, RFC 9111 4.2.2"
            ),
            Lifetime::DefaultTtl => write!(f, "--ttl, with nothing else to go by"),
            Lifetime::Status => write!(f, "none: this status needs an explicit one"),
        }
    }
}

impl Freshness {
    /// The freshness at `now` of a response of `status` with `headers`,
    /// stored at `stored_at`. Its lifetime is the first of [`Lifetime`]'s
    /// sources that it has.
    pub fn of(
        policy: &CachePolicy,
        status: u16,
        headers: &[Header],
        stored_at: SystemTime,
        now: SystemTime,
    ) -> Freshness {
        // `Age: 7200, 0` is two values where one belongs: the first counts.
        let origin_age = find_header(headers, "Age")
            .and_then(|value| value.split(|&byte| byte == b',').next())
            .and_then(|first| delta_seconds(first.trim_ascii()))
            .unwrap_or(0);
        let (seconds, from) = lifetime(policy, status, headers, stored_at);
        Freshness {
            age: origin_age.saturating_add(seconds_between(stored_at, now)),
            lifetime: seconds.min(MAX_SECONDS),
            from,
        }
    }

    /// Fresh: younger than its lifetime.
    pub fn is_fresh(&self) -> bool {
        self.age < self.lifetime
    }

    /// Seconds of freshness left; negative once stale (RFC 9211's `ttl`).
    pub fn ttl(&self) -> i64 {
        // Both are at most 2^31 (see `MAX_SECONDS`), so they fit in an i64.
        let signed = |seconds: u64| i64::try_from(seconds).unwrap_or(i64::MAX);
        signed(self.lifetime).saturating_sub(signed(self.age))
    }

    /// How many seconds past its lifetime it is (0 while fresh).
    pub fn staleness(&self) -> u64 {
        self.age.saturating_sub(self.lifetime)
    }
}

/// Whole seconds from `earlier` to `later`; 0 if `later` is not later.
fn seconds_between(earlier: SystemTime, later: SystemTime) -> u64 {
    later.duration_since(earlier).map_or(0, |gap| gap.as_secs())
}

/// The longest lifetime guessed from `Last-Modified`: a file unchanged for
/// ten years is not thereby fresh for one.
pub const MAX_HEURISTIC_LIFETIME: u64 = 24 * 60 * 60;

/// How many seconds a response stays fresh, and why (RFC 9111 4.2.1 and 4.2.2).
fn lifetime(
    policy: &CachePolicy,
    status: u16,
    headers: &[Header],
    stored_at: SystemTime,
) -> (u64, Lifetime) {
    let directives = policy.directives(headers);
    let targeted = directives.targeted;
    if directives.no_cache {
        return (0, Lifetime::NoCache);
    }
    if let Some(seconds) = directives.s_maxage {
        return (seconds, Lifetime::SMaxAge { targeted });
    }
    if let Some(seconds) = directives.max_age {
        return (seconds, Lifetime::MaxAge { targeted });
    }
    let date = find_header(headers, "Date").and_then(parse_http_date);
    let date = date.unwrap_or(stored_at);
    let mut expires = field_values(headers, "Expires");
    if let Some(first) = expires.next() {
        // An `Expires` we cannot read, or two of them, means "already
        // expired" (RFC 9111 5.3).
        let valid = parse_http_date(first).filter(|_| expires.next().is_none());
        let seconds = valid.map_or(0, |expires| seconds_between(date, expires));
        return (seconds, Lifetime::Expires);
    }
    if !heuristically_cacheable(status) {
        return (0, Lifetime::Status);
    }
    // No explicit lifetime: guess one. A file unchanged for ten days will
    // likely not change in the next one (a tenth, as RFC 9111 4.2.2 suggests).
    if let Some(modified) = find_header(headers, "Last-Modified").and_then(parse_http_date) {
        let seconds = (seconds_between(modified, date) / 10).min(MAX_HEURISTIC_LIFETIME);
        return (seconds, Lifetime::LastModified);
    }
    // Nothing to guess from: only the operator's --ttl, if given, else stale.
    (policy.default_ttl.as_secs(), Lifetime::DefaultTtl)
}

/// Whether the client will not take a stored copy without a check with the
/// origin: `Cache-Control: no-cache`, `Pragma: no-cache`, a `max-age` that the
/// copy is older than (`max-age=0` always), or a `min-fresh` it cannot meet.
pub fn client_requires_check(request: &RequestHead, freshness: Freshness) -> bool {
    let directives = CacheControl::of(&request.headers);
    let (max_age, min_fresh) = (directives.max_age, directives.min_fresh);
    let pragma = request.header("Pragma").map(<[u8]>::trim_ascii);
    let pragma_no_cache = pragma.is_some_and(|value| value.eq_ignore_ascii_case(b"no-cache"));
    let Freshness { age, lifetime, .. } = freshness;
    directives.no_cache
        || pragma_no_cache
        || max_age.is_some_and(|max_age| age > max_age || max_age == 0)
        || min_fresh.is_some_and(|min_fresh| lifetime < age.saturating_add(min_fresh))
}

/// Whether a stale copy will do as it is, because the client said
/// `max-stale` and the origin did not forbid it (RFC 9111 5.2.1.2).
pub fn client_accepts_stale(
    policy: &CachePolicy,
    request: &RequestHead,
    stored: &[Header],
    freshness: Freshness,
) -> bool {
    let max_stale = CacheControl::of(&request.headers).max_stale;
    max_stale.is_some_and(|max_stale| freshness.staleness() <= max_stale)
        && !policy.directives(stored).forbid_stale()
}

/// Whether the client said `only-if-cached`: never ask the origin.
pub fn only_if_cached(request: &RequestHead) -> bool {
    CacheControl::of(&request.headers).only_if_cached
}

/// Whether a stale copy may stand in for an origin that fails (RFC 5861 4):
/// unless forbidden, up to the origin's `stale-if-error=N`, else the proxy's
/// `max_stale`, and never past the client's own `stale-if-error=N`.
pub fn may_serve_stale(
    policy: &CachePolicy,
    request: &RequestHead,
    stored: &[Header],
    freshness: Freshness,
) -> bool {
    let origin = policy.directives(stored);
    let limit = origin.stale_if_error.unwrap_or(policy.max_stale.as_secs());
    let client_limit = CacheControl::of(&request.headers).stale_if_error;
    let limit = client_limit.map_or(limit, |client_limit| client_limit.min(limit));
    !origin.forbid_stale() && freshness.staleness() <= limit
}

/// Whether a stale copy may be served at once and checked with the origin
/// after the reply (RFC 5861 3): the origin said `stale-while-revalidate=N`,
/// the copy is at most N seconds stale, and nothing forbids serving it stale.
pub fn may_revalidate_later(policy: &CachePolicy, stored: &[Header], freshness: Freshness) -> bool {
    // A fresh copy, the common case, needs no look at the directives.
    if freshness.is_fresh() {
        return false;
    }
    let origin = policy.directives(stored);
    let window = origin.stale_while_revalidate;
    !origin.forbid_stale() && window.is_some_and(|window| freshness.staleness() <= window)
}

/// The fields that ask the origin "has this changed?" of a stored response:
/// `If-None-Match` from its `ETag`, `If-Modified-Since` from its `Last-Modified`.
pub fn validators(stored: &[Header]) -> Vec<Header> {
    let condition = |name: &str, field| Some(Header::new(name, find_header(stored, field)?));
    let if_none_match = condition("If-None-Match", "ETag");
    let if_modified_since = condition("If-Modified-Since", "Last-Modified");
    let conditions = [if_none_match, if_modified_since];
    conditions.into_iter().flatten().collect()
}

/// What a client's conditions make of a response the proxy holds, stored or
/// just fetched whole (RFC 9110 13.2.2). They never go to the origin with a
/// fetch to keep (they would shape the copy everyone shares): the proxy
/// answers them itself. (A request passed on takes its own conditions.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No condition, or every one holds: the response (or the range asked for).
    Holds,
    /// `If-None-Match` or `If-Modified-Since` says the client's copy is current: 304.
    NotModified,
    /// `If-Match` or `If-Unmodified-Since` does not hold: 412, no body.
    Failed,
}

/// `request`'s conditions against a response, in RFC 9110 13.2.2's order:
/// `If-Match` (else `If-Unmodified-Since`), then [`not_modified`]. A response
/// that is not 2xx ignores them all (13.2.1): a browser must never be told
/// that its old 200 of a deleted page is current.
pub fn precondition(request: &RequestHead, status: u16, stored: &[Header]) -> Precondition {
    // Every condition is an `If-` field: most requests have none to judge.
    let is_condition = |field: &Header| field.name_starts_with("If-");
    if !(200..300).contains(&status) || !request.headers.iter().any(is_condition) {
        return Precondition::Holds;
    }
    let failed = if let Some(wanted) = request.header("If-Match") {
        // A strong comparison: a write-like check wants the exact bytes.
        let etag = find_header(stored, "ETag").map(<[u8]>::trim_ascii);
        let strong = etag.filter(|etag| !etag.starts_with(b"W/"));
        !names_ours(wanted, |tag| Some(tag) == strong)
    } else {
        // Without a date on both sides to compare, it is ignored.
        let since = find_header(&request.headers, "If-Unmodified-Since").and_then(parse_http_date);
        // The stored date is parsed only when there is one to compare it with.
        let modified = || find_header(stored, "Last-Modified").and_then(parse_http_date);
        since.is_some_and(|since| modified().is_some_and(|modified| modified > since))
    };
    if failed {
        Precondition::Failed
    } else if not_modified(request, stored) {
        Precondition::NotModified
    } else {
        Precondition::Holds
    }
}

/// The client's conditional request is answered by what we have: 304.
/// `If-None-Match` is compared with the stored `ETag` (weakly; `*` matches
/// anything); only without it, `If-Modified-Since` with the stored
/// `Last-Modified`, else its `Date` (RFC 9110 13.2.2, RFC 9111 4.3.2).
pub fn not_modified(request: &RequestHead, stored: &[Header]) -> bool {
    if let Some(wanted) = request.header("If-None-Match") {
        let Some(etag) = find_header(stored, "ETag") else {
            return wanted.trim_ascii() == b"*";
        };
        return names_ours(wanted, |tag| opaque_tag(tag) == opaque_tag(etag));
    }
    let Some(since) = request
        .header("If-Modified-Since")
        .and_then(parse_http_date)
    else {
        return false;
    };
    let modified = find_header(stored, "Last-Modified").or_else(|| find_header(stored, "Date"));
    modified
        .and_then(parse_http_date)
        .is_some_and(|modified| modified <= since)
}

/// Whether a 304 speaks of the stored response, so its fields may update it
/// (RFC 9111 4.3.4): its entity tag matches the stored one, weakly, or,
/// without a tag, its `Last-Modified` is the stored one; a 304 with no
/// validator at all answers the question we asked.
pub fn validates(stored: &[Header], from_304: &[Header]) -> bool {
    if let Some(new_tag) = find_header(from_304, "ETag") {
        // Weakly, even when the 304's tag is strong and the copy's weak (nginx
        // with `gzip on` answers `W/"x"` with `"x"`): we asked with this copy's
        // tag alone, and `If-None-Match` compares weakly (RFC 9110 8.8.3.2,
        // 13.1.2), so the 304 can only mean this copy. RFC 9111 4.3.4's
        // "same strong validator" picks among copies when several were named.
        // A 304 with two tags names no one version: it validates nothing.
        let one_tag = field_values(from_304, "ETag").nth(1).is_none();
        let old_tag = find_header(stored, "ETag");
        return one_tag && old_tag.is_some_and(|old| opaque_tag(new_tag) == opaque_tag(old));
    }
    let new_date = find_header(from_304, "Last-Modified");
    new_date.is_none() || find_header(stored, "Last-Modified") == new_date
}

/// Whether a list of entity tags (`If-Match`, `If-None-Match`) is `*` or
/// names a tag that `is_ours` accepts.
fn names_ours(tags: &[u8], is_ours: impl Fn(&[u8]) -> bool) -> bool {
    tags.split(|&byte| byte == b',')
        .map(<[u8]>::trim_ascii)
        .any(|tag| tag == b"*" || is_ours(tag))
}

/// An entity tag without its weakness mark: `W/"x"` and `"x"` compare equal.
fn opaque_tag(tag: &[u8]) -> &[u8] {
    let tag = tag.trim_ascii();
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

/// Whether a copy's head after a 304 (`refreshed`) differs from the stored
/// one in more than its `Date`, so that its file must be rewritten. (A new
/// `Date` alone is written in place: see [`crate::store::open::Store::touch`].)
pub fn needs_rewrite(stored: &[Header], refreshed: &[Header]) -> bool {
    sorted_fields(stored) != sorted_fields(refreshed)
}

/// `headers` but `Date`, as sorted (lower-case name, value) pairs: the same
/// fields in another order compare equal.
fn sorted_fields(headers: &[Header]) -> Vec<(String, &[u8])> {
    let mut fields: Vec<(String, &[u8])> = headers
        .iter()
        .filter(|header| !header.is("Date"))
        .map(|header| (header.name().to_ascii_lowercase(), header.value()))
        .collect();
    fields.sort();
    fields
}

/// The stored header fields updated by a 304: each field the 304 carries
/// replaces the stored fields of that name (RFC 9111 section 3.2), except
/// those the stored body depends on: `Content-Length` (the 304's own),
/// `Content-Encoding` and `ETag` (a 304 that [`validates`] may name the
/// copy's tag without its `W/`: nginx's does for a gzip copy).
pub fn refreshed_headers(stored: &[Header], from_304: &[Header]) -> Vec<Header> {
    let body_fields = ["content-length", "content-encoding", "etag"];
    let update = |field: &&Header| !body_fields.contains(&&*field.name().to_ascii_lowercase());
    let replaced = |field: &&Header| update(field) && find_header(from_304, field.name()).is_some();
    let kept = stored.iter().filter(|field| !replaced(field));
    kept.chain(from_304.iter().filter(update))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::dates::http_date;
    use crate::wire::http::parse_request_head;

    #[test]
    fn a_304_with_only_a_new_date_needs_no_rewrite() {
        let stored = headers(&[
            ("etag", "\"v1\""),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        let update = |fields: &[(&str, &str)]| refreshed_headers(&stored, &headers(fields));
        let new_date = update(&[("Date", "Mon, 07 Nov 1994 08:49:37 GMT")]);
        assert!(!needs_rewrite(&stored, &new_date));
        assert!(
            !needs_rewrite(&stored, &update(&[("ETag", "\"v1\"")])),
            "same value"
        );
        assert!(needs_rewrite(
            &stored,
            &update(&[("Cache-Control", "max-age=9")])
        ));
    }

    #[test]
    fn a_304_validates_only_the_version_it_names() {
        let stored = headers(&[
            ("ETag", "\"v1\""),
            ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert!(validates(&stored, &headers(&[("ETag", "\"v1\"")])));
        assert!(validates(&stored, &headers(&[("ETag", "W/\"v1\"")])));
        assert!(!validates(&stored, &headers(&[("ETag", "\"v2\"")])));
        assert!(
            validates(&stored, &headers(&[])),
            "no validator: the answer to our question"
        );
        assert!(!validates(
            &stored,
            &headers(&[("Last-Modified", "Mon, 07 Nov 1994 08:49:37 GMT")])
        ));
        assert!(!validates(&headers(&[]), &headers(&[("ETag", "\"v1\"")])));
    }

    #[test]
    fn a_strong_tag_in_a_304_validates_a_weak_copy_of_the_same_tag() {
        // nginx with `gzip on`: the gzip 200 says W/"v1", the 304 says "v1".
        let weak = headers(&[("ETag", "W/\"v1\"")]);
        assert!(validates(&weak, &headers(&[("ETag", "\"v1\"")])));
        assert!(validates(&weak, &headers(&[("ETag", "W/\"v1\"")])));
        assert!(!validates(&weak, &headers(&[("ETag", "\"v2\"")])));
        assert!(!validates(&weak, &headers(&[("ETag", "W/\"v2\"")])));
        let two = headers(&[("ETag", "\"v1\""), ("ETag", "\"v2\"")]);
        assert!(!validates(&weak, &two), "two tags name no one version");
    }

    const TTL: Duration = Duration::from_secs(60);

    /// The rules as shipped, but for the default lifetime.
    fn policy(default_ttl: Duration) -> CachePolicy {
        CachePolicy {
            default_ttl,
            max_stale: Duration::from_secs(86_400),
            targeted_field: Some(CDN_CACHE_CONTROL.into()),
        }
    }

    fn headers(lines: &[(&str, &str)]) -> Vec<Header> {
        lines
            .iter()
            .map(|(name, value)| Header::new(name, value))
            .collect()
    }

    fn request(extra: &str) -> RequestHead {
        parse_request_head(format!("GET / HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes())
            .expect("valid")
    }

    fn lifetime_of(lines: &[(&str, &str)]) -> u64 {
        let now = SystemTime::now();
        Freshness::of(&policy(TTL), 200, &headers(lines), now, now).lifetime
    }

    #[test]
    fn the_longest_directive_name_is_read_in_any_case_and_a_longer_one_is_none() {
        let field = "Stale-While-Revalidate=5, stale-while-revalidate-x=7, stale-if-error=9";
        let directives = CacheControl::of(&headers(&[("Cache-Control", field)]));
        assert_eq!(directives.stale_while_revalidate, Some(5));
        assert_eq!(directives.stale_if_error, Some(9));
    }

    #[test]
    fn parses_cache_control_directives() {
        let directives = CacheControl::of(&headers(&[
            ("Cache-Control", "No-Store, max-age=\"30\", private"),
            (
                "cache-control",
                "s-maxage=5,must-revalidate , proxy-revalidate, no-cache, x-unknown=1",
            ),
        ]));
        assert_eq!(
            directives,
            CacheControl {
                no_store: true,
                no_cache: true,
                private: true,
                must_revalidate: true,
                proxy_revalidate: true,
                max_age: Some(30),
                s_maxage: Some(5),
                public: false,
                ..CacheControl::default()
            }
        );
        assert_eq!(
            CacheControl::of(&headers(&[("Cache-Control", "max-age=soon")])).max_age,
            Some(0)
        );
    }

    #[test]
    fn the_lifetime_comes_from_s_maxage_then_max_age_then_expires_then_the_ttl() {
        let date = SystemTime::now();
        let later = http_date(date + Duration::from_secs(120));
        let date = http_date(date);
        let expires = [("Date", date.as_str()), ("Expires", later.as_str())];
        assert_eq!(
            lifetime_of(&[("Cache-Control", "max-age=10, s-maxage=20")]),
            20
        );
        assert_eq!(
            lifetime_of(&[("Cache-Control", "max-age=10"), expires[0], expires[1]]),
            10
        );
        assert_eq!(lifetime_of(&expires), 120);
        assert_eq!(
            lifetime_of(&[("Expires", "0")]),
            0,
            "an unreadable Expires has passed"
        );
        assert_eq!(lifetime_of(&[("Content-Type", "text/plain")]), 60);
        assert_eq!(
            lifetime_of(&[("Cache-Control", "no-cache, max-age=100")]),
            0
        );
    }

    #[test]
    fn without_explicit_freshness_the_lifetime_is_a_guess_or_nothing() {
        let now = SystemTime::now();
        let date = http_date(now);
        let ten_days_ago = http_date(now - Duration::from_secs(10 * 86_400));
        let lifetime = |status, lines: &[(&str, &str)], ttl| {
            Freshness::of(&policy(ttl), status, &headers(lines), now, now).lifetime
        };
        let modified = [
            ("Date", date.as_str()),
            ("Last-Modified", ten_days_ago.as_str()),
        ];
        assert_eq!(lifetime(200, &modified, Duration::ZERO), 86_400, "a tenth");
        assert_eq!(lifetime(404, &modified, Duration::ZERO), 86_400);
        assert_eq!(lifetime(500, &modified, TTL), 0, "not cacheable by default");
        let long_ago = http_date(now - Duration::from_secs(1000 * 86_400));
        let old = [
            ("Date", date.as_str()),
            ("Last-Modified", long_ago.as_str()),
        ];
        assert_eq!(lifetime(200, &old, Duration::ZERO), MAX_HEURISTIC_LIFETIME);
        assert_eq!(lifetime(200, &[], Duration::ZERO), 0, "nothing to go by");
        assert_eq!(lifetime(200, &[], TTL), 60, "the operator's --ttl");
        let two_expires = [("Expires", date.as_str()), ("Expires", date.as_str())];
        assert_eq!(lifetime(200, &two_expires, TTL), 0, "two Expires: invalid");
    }

    #[test]
    fn a_targeted_field_wins_over_cache_control() {
        let both = headers(&[
            ("Cache-Control", "no-store"),
            ("CDN-Cache-Control", "max-age=3600"),
        ]);
        let shipped = policy(TTL);
        assert_eq!(shipped.directives(&both).max_age, Some(3600));
        assert_eq!(storable(&shipped, &request(""), 200, &both), Ok(()));
        let plain = CachePolicy {
            targeted_field: None,
            ..policy(TTL)
        };
        assert_eq!(
            storable(&plain, &request(""), 200, &both),
            Err(NotStored::NoStore)
        );
        let own = CachePolicy {
            targeted_field: Some("Cacheproxy-Cache-Control".into()),
            ..policy(TTL)
        };
        let mine = headers(&[
            ("cacheproxy-cache-control", "private"),
            ("CDN-Cache-Control", "max-age=5"),
        ]);
        assert_eq!(
            storable(&own, &request(""), 200, &mine),
            Err(NotStored::Private)
        );
    }

    #[test]
    fn the_first_age_counts() {
        let now = SystemTime::now();
        let age = |value: &str| {
            Freshness::of(&policy(TTL), 200, &headers(&[("Age", value)]), now, now).age
        };
        assert_eq!(age("7200, 0"), 7200);
        assert_eq!(age(" 30 "), 30);
        assert_eq!(age("soon"), 0);
    }

    #[test]
    fn age_counts_the_origins_age_and_the_time_in_cache() {
        let stored_at = SystemTime::now();
        let later = stored_at + Duration::from_secs(7);
        let freshness = Freshness::of(
            &policy(TTL),
            200,
            &headers(&[("Age", "5"), ("Cache-Control", "max-age=10")]),
            stored_at,
            later,
        );
        assert_eq!(
            freshness,
            Freshness {
                age: 12,
                lifetime: 10,
                from: Lifetime::MaxAge { targeted: false }
            }
        );
        assert!(!freshness.is_fresh());
        assert_eq!((freshness.ttl(), freshness.staleness()), (-2, 2));
        let young = Freshness::of(
            &policy(TTL),
            200,
            &headers(&[("Cache-Control", "max-age=10")]),
            stored_at,
            stored_at,
        );
        assert!(young.is_fresh());
        assert_eq!((young.ttl(), young.staleness()), (10, 0));
        let zero_ttl = Freshness::of(&policy(Duration::ZERO), 200, &[], stored_at, stored_at);
        assert!(!zero_ttl.is_fresh(), "--ttl 0 means always check");
    }

    #[test]
    fn huge_numbers_are_capped_not_overflowed() {
        assert_eq!(delta_seconds(b"42"), Some(42));
        assert_eq!(delta_seconds(b"99999999999999999999999"), Some(MAX_SECONDS));
        assert_eq!(delta_seconds(b"-1"), None);
        assert_eq!(
            lifetime_of(&[("Cache-Control", "max-age=99999999999999999999")]),
            MAX_SECONDS
        );
        let now = SystemTime::now();
        let ancient = headers(&[
            ("Age", "18446744073709551615"),
            ("Cache-Control", "max-age=10"),
        ]);
        let freshness = Freshness::of(
            &policy(TTL),
            200,
            &ancient,
            now - Duration::from_secs(5),
            now,
        );
        assert_eq!(freshness.age, MAX_SECONDS + 5);
        assert!(freshness.ttl() < 0);
        let forever = Freshness::of(&policy(Duration::from_secs(u64::MAX)), 200, &[], now, now);
        assert_eq!((forever.lifetime, forever.ttl() > 0), (MAX_SECONDS, true));
    }

    #[test]
    fn what_may_be_stored() {
        let plain = request("");
        let ok = |lines: &[(&str, &str)]| storable(&policy(TTL), &plain, 200, &headers(lines));
        assert_eq!(ok(&[("Content-Type", "text/html")]), Ok(()));
        assert_eq!(ok(&[("Vary", "Accept-Encoding")]), Ok(()));
        assert_eq!(
            ok(&[("Cache-Control", "no-cache")]),
            Ok(()),
            "stored, checked on every use"
        );
        assert_eq!(
            ok(&[("Cache-Control", "public, no-store")]),
            Err(NotStored::NoStore)
        );
        assert_eq!(ok(&[("Cache-Control", "private")]), Err(NotStored::Private));
        // Variants are kept (see `crate::cache::vary`, which also refuses `Vary: *`).
        assert_eq!(ok(&[("Vary", "accept-encoding, Cookie")]), Ok(()));
        assert_eq!(ok(&[("Set-Cookie", "a=1")]), Err(NotStored::SetCookie));
        // Any final status with explicit freshness; without it, only those
        // cacheable by default (RFC 9111 3, RFC 9110 15.1).
        assert_eq!(storable(&policy(TTL), &plain, 404, &[]), Ok(()));
        assert_eq!(
            storable(&policy(TTL), &plain, 500, &[]),
            Err(NotStored::Status)
        );
        let max_age = headers(&[("Cache-Control", "max-age=60")]);
        assert_eq!(storable(&policy(TTL), &plain, 500, &max_age), Ok(()));
        assert_eq!(
            storable(&policy(TTL), &plain, 302, &headers(&[("Expires", "x")])),
            Ok(())
        );
        assert_eq!(
            storable(&policy(TTL), &plain, 206, &max_age),
            Err(NotStored::Status)
        );
        assert_eq!(
            storable(&policy(TTL), &plain, 304, &max_age),
            Err(NotStored::Status)
        );
        assert_eq!(
            storable(
                &policy(TTL),
                &request("Authorization: Basic eA==\r\n"),
                200,
                &[]
            ),
            Err(NotStored::Authorization)
        );
        for allowed in ["public", "s-maxage=5", "must-revalidate"] {
            assert_eq!(
                storable(
                    &policy(TTL),
                    &request("Authorization: Basic eA==\r\n"),
                    200,
                    &headers(&[("Cache-Control", allowed)])
                ),
                Ok(()),
                "{allowed} shares a reply to credentials (RFC 9111 3.5)"
            );
        }
        assert_eq!(
            storable(
                &policy(TTL),
                &request("Cache-Control: no-store\r\n"),
                200,
                &[]
            ),
            Err(NotStored::RequestNoStore)
        );
    }

    #[test]
    fn when_the_client_insists_on_a_check() {
        let aged = |age| Freshness {
            age,
            lifetime: 60,
            from: Lifetime::NoCache,
        };
        let insists = |fields: &str, age| client_requires_check(&request(fields), aged(age));
        assert!(!insists("", 100));
        assert!(insists("Cache-Control: no-cache\r\n", 0));
        assert!(insists("Pragma: no-cache\r\n", 0));
        assert!(insists("Cache-Control: max-age=0\r\n", 0));
        assert!(insists("Cache-Control: max-age=5\r\n", 6));
        assert!(!insists("Cache-Control: max-age=5\r\n", 5));
        // 60 s of life, 50 used: 10 left.
        assert!(insists("Cache-Control: min-fresh=11\r\n", 50));
        assert!(!insists("Cache-Control: min-fresh=10\r\n", 50));
    }

    #[test]
    fn when_the_client_takes_a_stale_copy() {
        let stale_by_10 = Freshness {
            age: 70,
            lifetime: 60,
            from: Lifetime::NoCache,
        };
        let takes = |fields: &str, stored: &[(&str, &str)]| {
            client_accepts_stale(
                &policy(TTL),
                &request(fields),
                &headers(stored),
                stale_by_10,
            )
        };
        assert!(!takes("", &[]));
        assert!(takes("Cache-Control: max-stale\r\n", &[]));
        assert!(takes("Cache-Control: max-stale=10\r\n", &[]));
        assert!(!takes("Cache-Control: max-stale=9\r\n", &[]));
        let must = [("Cache-Control", "max-age=60, must-revalidate")];
        assert!(!takes("Cache-Control: max-stale\r\n", &must));
        assert!(only_if_cached(&request(
            "Cache-Control: only-if-cached\r\n"
        )));
    }

    #[test]
    fn when_a_stale_copy_may_stand_in() {
        let stale = Freshness {
            age: 100,
            lifetime: 10,
            from: Lifetime::NoCache,
        };
        let may = |stored: &[Header], max_stale: u64| {
            let policy = CachePolicy {
                max_stale: Duration::from_secs(max_stale),
                ..policy(TTL)
            };
            may_serve_stale(&policy, &request(""), stored, stale)
        };
        assert!(may(&headers(&[("Cache-Control", "max-age=10")]), 3600));
        for forbidding in [
            "max-age=10, must-revalidate",
            "proxy-revalidate",
            "no-cache",
            "s-maxage=10",
        ] {
            assert!(
                !may(&headers(&[("Cache-Control", forbidding)]), 3600),
                "{forbidding}"
            );
        }
        assert!(!may(&[], 89), "too stale");
        assert!(may(&[], 90));
        // The origin's stale-if-error replaces the proxy's limit, either way.
        let for_89 = headers(&[("Cache-Control", "max-age=10, stale-if-error=89")]);
        assert!(!may(&for_89, 3600));
        let for_90 = headers(&[("Cache-Control", "max-age=10, stale-if-error=90")]);
        assert!(may(&for_90, 0));
        // The client's own stale-if-error only narrows it.
        let client = |fields: &str| {
            let policy = CachePolicy {
                max_stale: Duration::from_secs(3600),
                ..policy(TTL)
            };
            may_serve_stale(&policy, &request(fields), &[], stale)
        };
        assert!(client("Cache-Control: stale-if-error=90\r\n"));
        assert!(!client("Cache-Control: stale-if-error=89\r\n"));
    }

    #[test]
    fn when_a_stale_copy_is_served_and_checked_afterwards() {
        let aged = |age| Freshness {
            age,
            lifetime: 10,
            from: Lifetime::NoCache,
        };
        let later = |value: &str, age| {
            may_revalidate_later(
                &policy(TTL),
                &headers(&[("Cache-Control", value)]),
                aged(age),
            )
        };
        let window = "max-age=10, stale-while-revalidate=30";
        assert!(!later(window, 5), "fresh: a plain hit");
        assert!(later(window, 11));
        assert!(later(window, 40));
        assert!(!later(window, 41), "past the window: check first");
        assert!(!later("max-age=10", 11));
        assert!(!later("max-age=10, stale-while-revalidate=x", 11));
        let forbidden = "max-age=10, must-revalidate, stale-while-revalidate=30";
        assert!(!later(forbidden, 11));
    }

    #[test]
    fn validators_come_from_etag_and_last_modified() {
        let stored = headers(&[
            ("ETag", "\"v1\""),
            ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        let conditions = validators(&stored);
        assert_eq!(
            find_header(&conditions, "If-None-Match"),
            Some(&b"\"v1\""[..])
        );
        assert_eq!(
            find_header(&conditions, "If-Modified-Since"),
            Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..])
        );
        assert!(validators(&headers(&[("Content-Type", "x")])).is_empty());
    }

    #[test]
    fn preconditions_in_rfc_9110_order_and_only_for_a_2xx() {
        use Precondition::{Failed, Holds, NotModified};
        let stored = headers(&[
            ("ETag", "\"v1\""),
            ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        let judge = |fields: &str, status| precondition(&request(fields), status, &stored);
        assert_eq!(judge("", 200), Holds);
        assert_eq!(judge("If-Match: \"v1\"\r\n", 200), Holds);
        assert_eq!(judge("If-Match: \"v0\", \"v1\"\r\n", 200), Holds);
        assert_eq!(judge("If-Match: *\r\n", 200), Holds);
        assert_eq!(judge("If-Match: \"v2\"\r\n", 200), Failed);
        assert_eq!(judge("If-Match: W/\"v1\"\r\n", 200), Failed, "strong only");
        let early = "If-Unmodified-Since: Sat, 05 Nov 1994 00:00:00 GMT\r\n";
        let late = "If-Unmodified-Since: Mon, 07 Nov 1994 00:00:00 GMT\r\n";
        assert_eq!(judge(early, 200), Failed);
        assert_eq!(judge(late, 200), Holds);
        assert_eq!(
            judge(&format!("If-Match: \"v1\"\r\n{early}"), 200),
            Holds,
            "If-Match wins over If-Unmodified-Since"
        );
        assert_eq!(
            judge("If-Match: \"v1\"\r\nIf-None-Match: \"v1\"\r\n", 200),
            NotModified
        );
        assert_eq!(
            judge("If-Match: \"v2\"\r\nIf-None-Match: \"v1\"\r\n", 200),
            Failed,
            "If-Match first"
        );
        // RFC 9110 13.2.1: a reply that would not be 2xx ignores them all.
        for status in [301, 404, 410] {
            assert_eq!(judge("If-None-Match: \"v1\"\r\n", status), Holds);
            assert_eq!(judge("If-Match: \"v2\"\r\n", status), Holds);
        }
        assert_eq!(judge("If-None-Match: \"v1\"\r\n", 204), NotModified);
    }

    #[test]
    fn a_directive_given_twice_counts_the_first_time() {
        let twice = headers(&[
            ("Cache-Control", "max-age=0"),
            ("Cache-Control", "max-age=31536000"),
        ]);
        assert_eq!(CacheControl::of(&twice).max_age, Some(0));
        let same_line = headers(&[("Cache-Control", "s-maxage=5, s-maxage=600")]);
        assert_eq!(CacheControl::of(&same_line).s_maxage, Some(5));
    }

    #[test]
    fn client_conditionals_against_a_stored_response() {
        let stored = headers(&[
            ("ETag", "W/\"v1\""),
            ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert!(not_modified(&request("If-None-Match: \"v1\"\r\n"), &stored));
        assert!(not_modified(
            &request("If-None-Match: \"v0\", W/\"v1\"\r\n"),
            &stored
        ));
        assert!(not_modified(&request("If-None-Match: *\r\n"), &stored));
        assert!(!not_modified(
            &request("If-None-Match: \"v2\"\r\n"),
            &stored
        ));
        // If-None-Match wins over If-Modified-Since.
        assert!(!not_modified(
            &request(
                "If-None-Match: \"v2\"\r\nIf-Modified-Since: Mon, 07 Nov 1994 00:00:00 GMT\r\n"
            ),
            &stored
        ));
        assert!(not_modified(
            &request("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            &stored
        ));
        assert!(!not_modified(
            &request("If-Modified-Since: Sat, 05 Nov 1994 00:00:00 GMT\r\n"),
            &stored
        ));
        assert!(!not_modified(&request(""), &stored));
        // Without Last-Modified, the copy's Date stands in.
        let dated = headers(&[("Date", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        let since = |date: &str| request(&format!("If-Modified-Since: {date}\r\n"));
        assert!(not_modified(
            &since("Sun, 06 Nov 1994 08:49:37 GMT"),
            &dated
        ));
        assert!(!not_modified(
            &since("Sat, 05 Nov 1994 00:00:00 GMT"),
            &dated
        ));
    }

    #[test]
    fn a_304_leaves_the_fields_that_describe_the_stored_body() {
        // nginx's 304 for a gzip copy names the uncompressed file's strong tag.
        let stored = headers(&[("Content-Encoding", "gzip"), ("ETag", "W/\"v1\"")]);
        let from_304 = headers(&[("ETag", "\"v1\""), ("Content-Encoding", "identity")]);
        assert_eq!(refreshed_headers(&stored, &from_304), stored);
    }

    #[test]
    fn a_304_refreshes_the_fields_it_carries() {
        let stored = headers(&[
            ("Content-Type", "text/plain"),
            ("Date", "old"),
            ("ETag", "\"v1\""),
            ("X-A", "1"),
            ("X-A", "2"),
        ]);
        let from_304 = headers(&[("date", "new"), ("X-A", "3"), ("Content-Length", "0")]);
        let refreshed = refreshed_headers(&stored, &from_304);
        assert_eq!(
            refreshed,
            headers(&[
                ("Content-Type", "text/plain"),
                ("ETag", "\"v1\""),
                ("date", "new"),
                ("X-A", "3")
            ])
        );
    }
}
