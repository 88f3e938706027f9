//! The request path of the cache proxy, top to bottom, in the order of the
//! README's pseudocode (the `// Step N:` comments below use the same words):
//!
//! 1. **receive** the request and work out which URL it asks for (the
//!    [`crate::server`] loop reads it; [`Proxy::handle`] makes the cache key);
//! 2. **look up** the URL's file in the cache directory and judge it;
//! 3. **hit**: the copy is fresh, so reply from the file;
//! 4. **ask the origin**: fetch the URL, or ask if the stale copy changed
//!    (a conditional request: 304 means "unchanged", so the copy is refreshed
//!    and served; if the origin is down, a stale copy may stand in);
//! 5. **store and reply**: stream the body to the client and a temporary
//!    file, renamed into place only once the whole body has arrived (and only
//!    if the response may be stored at all);
//! 6. **done**: the server loop logs the request and closes the connection.
//!
//! Steps: 1 (the cache key), 2, 3, 4 and 5. Other methods (`POST`, `PUT`,
//! `PATCH`, `DELETE`, `OPTIONS`) go straight to the origin; the unsafe ones,
//! when they succeed, drop the stored copies they make stale (`OPTIONS` is
//! safe and drops nothing). `PURGE` drops a copy on request.
//!
//! This module makes the caching decisions and nothing else: it reads the
//! request from [`crate::server`], asks [`crate::freshness`] for the rules,
//! [`crate::store`] for files and [`crate::origin`] for replies, and chooses
//! header fields with [`crate::headers`]. It never opens a socket or names a
//! file path itself.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::error::RequestError;
use crate::freshness::{self, Freshness};
use crate::headers;
use crate::http::{self, find_header, BodyWriter, Header, ResponseHead};
use crate::origin::{Framing, Origin, OriginResponse};
use crate::server::{self, client_gone, Handler, Request, Served};
use crate::store::{CacheKey, Entry, PendingEntry, Store};
use crate::target::{key_path, parse_target, split_absolute};
use crate::trace::count;

/// The knobs of the caching rules.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// How long a response without `Cache-Control: max-age`, `s-maxage` or
    /// `Expires` stays fresh. Zero means: check with the origin every time.
    pub default_ttl: Duration,
    /// How far past its lifetime a stored copy may still be served when the
    /// origin fails (stale-if-error).
    pub max_stale: Duration,
}

/// The cache proxy: a cache directory in front of one origin.
pub struct Proxy {
    store: Store,
    origin: Origin,
    policy: CachePolicy,
}

/// How a reply served from a stored copy came about; it decides the
/// `X-Cache` and `Cache-Status` fields.
#[derive(Debug, Clone, Copy)]
enum FromDisk {
    /// The copy was fresh; the origin was not asked.
    Hit,
    /// The origin answered 304 to a conditional request: the copy is current.
    /// `forced` when the copy was fresh but the client asked for a check.
    Revalidated { forced: bool },
    /// The origin failed (status 5xx, or `None`: unreachable or too slow) and
    /// the stale copy stands in.
    Stale { origin_status: Option<u16> },
}

impl Proxy {
    /// A proxy that keeps its copies in `store` and fetches from `origin`.
    pub fn new(store: Store, origin: Origin, policy: CachePolicy) -> Proxy {
        Proxy {
            store,
            origin,
            policy,
        }
    }
}

impl Handler for Proxy {
    fn handle(&mut self, request: &Request) -> Result<Served, RequestError> {
        // Step 1: receive the request and work out which URL it asks for.
        // (The server has read the head; a path that is not clean is refused.)
        let target = parse_target(&request.head.target)?;
        let key = CacheKey::new(key_path(&target.path)?, target.query.clone());
        let origin_url = self.origin.url_for(&target.origin_form());
        match request.head.method.as_str() {
            "GET" | "HEAD" => {
                request.discard_body()?;
                self.serve_read(request, &key, &origin_url)
            }
            "PURGE" => {
                request.discard_body()?;
                self.purge(request, &key)
            }
            _ => self.forward_write(request, &key, &origin_url),
        }
    }

    fn decorate_error(&self, head: &mut ResponseHead, error: &RequestError) {
        let (x_cache, cache_status) = error_labels(error);
        add_cache_fields(head, x_cache, cache_status);
    }

    fn error_cache_label(&self, error: &RequestError) -> &'static str {
        error_labels(error).0
    }
}

impl Proxy {
    /// `GET` and `HEAD`: from the cache if we can, from the origin if we must.
    fn serve_read(
        &mut self,
        request: &Request,
        key: &CacheKey,
        origin_url: &str,
    ) -> Result<Served, RequestError> {
        // Step 2: look up the URL's file in the cache directory and judge it.
        // (Missing, fresh, or stale: see `freshness`.)
        let (entry, unreadable) = match self.store.lookup(key) {
            Ok(entry) => (entry, None),
            Err(error) => (None, Some(format!("unreadable, so a miss: {error}"))),
        };
        let Some(entry) = entry else {
            let path = self.store.path_for(key);
            let verdict = unreadable.as_deref().unwrap_or("missing");
            let path = path.display();
            request.trace.step(2, format_args!("{path} is {verdict}"));
            // Step 4: ask the origin: fetch the URL, or ask if the stale copy changed.
            // (A miss: fetch it. HEAD stays HEAD, so no body comes.)
            let to_origin = headers::to_origin(&request.head, request.client_addr.ip(), None);
            let response = self.ask_origin(request, origin_url, &to_origin, None)?;
            let served = self.store_and_relay(request, key, response, "uri-miss");
            return Ok(with_note(served, unreadable));
        };
        let freshness = self.freshness_of(&entry);
        if judge(request, &entry, freshness) {
            // Step 3: hit: the copy is fresh, so reply from the file.
            return Ok(self.reply_from_disk(request, entry, freshness, FromDisk::Hit));
        }
        // Step 4: ask the origin: fetch the URL, or ask if the stale copy changed.
        // (The copy is stale, or the client insists on a check.)
        self.revalidate(request, key, origin_url, entry, freshness)
    }

    fn freshness_of(&self, entry: &Entry) -> Freshness {
        let now = SystemTime::now();
        Freshness::of(
            &entry.head.headers,
            entry.stored_at,
            now,
            self.policy.default_ttl,
        )
    }

    /// Sends the request on to the origin, and narrates it as step 4.
    fn ask_origin(
        &self,
        request: &Request,
        url: &str,
        to_origin: &[Header],
        body: Option<&mut dyn Read>,
    ) -> Result<OriginResponse, RequestError> {
        let method = &request.head.method;
        let sent = self.origin.send(method, url, to_origin, body);
        if request.trace.is_on() {
            let mut conditions = String::new();
            for header in to_origin
                .iter()
                .filter(|header| is_conditional(&header.name))
            {
                let value = String::from_utf8_lossy(&header.value);
                conditions.push_str(&[" ", &header.name, ": ", &value].concat());
            }
            let outcome = match &sent {
                Ok(response) => format!(
                    "{} {}",
                    response.status,
                    http::reason_phrase(response.status)
                ),
                Err(error) => format!("failed: {error}"),
            };
            request
                .trace
                .step(4, format_args!("{method} {url}{conditions} -> {outcome}"));
        }
        sent
    }

    /// Step 4 for a stored copy: a conditional request to the origin, then
    /// 304 (refresh and reply from disk), a new 200 (store it instead), or a
    /// failure (the stale copy stands in, if the rules allow).
    fn revalidate(
        &mut self,
        request: &Request,
        key: &CacheKey,
        origin_url: &str,
        entry: Entry,
        freshness: Freshness,
    ) -> Result<Served, RequestError> {
        // Our validators replace the client's own: the question is about our copy.
        let mut to_origin: Vec<Header> =
            headers::to_origin(&request.head, request.client_addr.ip(), None)
                .into_iter()
                .filter(|header| !is_conditional(&header.name))
                .collect();
        to_origin.extend(freshness::validators(&entry.head.headers));
        let sent = self.ask_origin(request, origin_url, &to_origin, None);
        let may_stand_in =
            freshness::may_serve_stale(&entry.head.headers, freshness, self.policy.max_stale);
        let forced = freshness.is_fresh();
        let origin_status = match &sent {
            Ok(response) if response.status == 304 => {
                if !freshness::validates(&entry.head.headers, &response.headers) {
                    // The 304 speaks of another version than our copy (RFC
                    // 9111 4.3.4): our body is not the one it vouches for.
                    // Ask again, without conditions, as for a miss.
                    let unconditional =
                        headers::to_origin(&request.head, request.client_addr.ip(), None)
                            .into_iter()
                            .filter(|header| !is_conditional(&header.name))
                            .collect::<Vec<_>>();
                    let sent = self.ask_origin(request, origin_url, &unconditional, None);
                    return self.fetched_instead(request, key, sent, forced);
                }
                return Ok(self.refresh(request, key, entry, &response.headers, forced));
            }
            Ok(response) if response.status >= 500 => Some(response.status),
            Err(RequestError::BadGateway(_) | RequestError::GatewayTimeout) => None,
            Ok(_) | Err(_) => return self.fetched_instead(request, key, sent, forced),
        };
        if !may_stand_in {
            return self.fetched_instead(request, key, sent, forced);
        }
        let how = FromDisk::Stale { origin_status };
        Ok(self.reply_from_disk(request, entry, freshness, how))
    }

    /// The origin sent a new reply (or an error) instead of a 304: pass it on.
    fn fetched_instead(
        &mut self,
        request: &Request,
        key: &CacheKey,
        sent: Result<OriginResponse, RequestError>,
        forced: bool,
    ) -> Result<Served, RequestError> {
        let fwd = if forced { "request" } else { "stale" };
        Ok(self.store_and_relay(request, key, sent?, fwd))
    }

    /// After a 304: the stored head takes the fields the 304 carries, the
    /// copy's age starts again, and the reply comes from disk.
    ///
    /// The merged head is judged again as a new response would be: a 304 can
    /// say `private` or `no-store` now, and then the copy is dropped instead.
    /// A `Set-Cookie` in the 304 goes to this client's reply only, never into
    /// the copy that everyone shares.
    fn refresh(
        &mut self,
        request: &Request,
        key: &CacheKey,
        mut entry: Entry,
        from_304: &[Header],
        forced: bool,
    ) -> Served {
        let updates = headers::from_origin(from_304);
        let for_client = freshness::refreshed_headers(&entry.head.headers, &updates);
        let shared_updates: Vec<Header> = updates
            .into_iter()
            .filter(|header| !header.name.eq_ignore_ascii_case("Set-Cookie"))
            .collect();
        let head = ResponseHead {
            status: entry.head.status,
            headers: freshness::refreshed_headers(&entry.head.headers, &shared_updates),
        };
        let path = entry.path.display().to_string();
        let (entry, note) = match freshness::storable(&request.head, head.status, &head.headers) {
            Err(reason) => {
                // The copy may not be shared any more: drop it, and serve this
                // one reply from the body we still hold open.
                let _ = self.store.remove(key);
                entry.stored_at = SystemTime::now();
                (Some(entry), Some(format!("copy dropped: {reason}")))
            }
            Ok(()) => match self.store.refresh(key, entry, &head) {
                Ok(entry) => (Some(entry), None),
                // The old copy is still in place; serve it as it was.
                Err(error) => (
                    self.store.lookup(key).ok().flatten(),
                    Some(format!("not refreshed: {error}")),
                ),
            },
        };
        let outcome = note
            .as_deref()
            .unwrap_or("the 304's fields, the same body, renamed into place");
        request
            .trace
            .step(5, format_args!("refreshed {path}: {outcome}"));
        let Some(mut entry) = entry else {
            let reply = answer(
                request,
                500,
                "the cached copy vanished\n",
                "cacheproxy; detail=vanished",
            );
            return with_note(reply, note);
        };
        entry.head.headers = for_client;
        let freshness = self.freshness_of(&entry);
        let served =
            self.reply_from_disk(request, entry, freshness, FromDisk::Revalidated { forced });
        with_note(served, note)
    }

    /// The reply from a stored copy (a hit, a revalidated or a stale copy):
    /// the stored status and fields with the current `Age`, and the body from
    /// the file. A client whose own conditional request matches the copy gets
    /// 304 and no body.
    fn reply_from_disk(
        &mut self,
        request: &Request,
        entry: Entry,
        freshness: Freshness,
        how: FromDisk,
    ) -> Served {
        self.store.record_use(&entry);
        let not_modified = freshness::not_modified(&request.head, &entry.head.headers);
        let (x_cache, cache_status) = describe_from_disk(how, freshness);
        let head = head_from_disk(&entry, freshness, not_modified, x_cache, &cache_status);
        narrate_from_disk(request, &entry, how, not_modified);
        let mut served = Served {
            status: head.status,
            cache: x_cache,
            body_bytes: 0,
            note: matches!(how, FromDisk::Stale { .. })
                .then(|| format!("stale by {} s, origin failed", freshness.staleness())),
        };
        if let Err(error) = (&request.client).write_all(&head.to_bytes()) {
            return with_note(served, Some(client_gone(&error)));
        }
        if not_modified || request.head.method == "HEAD" {
            return served;
        }
        match server::send_file(entry.body, entry.body_length, &request.client) {
            Ok(count) => served.body_bytes = count,
            Err(error) => served.note = Some(client_gone(&error)),
        }
        served
    }

    /// Step 5: pass a reply from the origin on to the client, storing a copy
    /// on the way if the rules allow. `fwd` says why we asked the origin
    /// (`uri-miss`, `stale`, `request`), for `Cache-Status`.
    fn store_and_relay(
        &mut self,
        request: &Request,
        key: &CacheKey,
        response: OriginResponse,
        fwd: &str,
    ) -> Served {
        // Step 5: store and reply: stream the body to the client and a temporary file.
        // (Only if the rules allow a copy: see `may_store`.)
        let stored_head = end_to_end_head(&response);
        let decision = self.may_store(request, &stored_head, response.framing);
        let (copy, note) = self.begin_copy(key, &stored_head, decision);
        let (x_cache, cache_status) =
            describe_from_origin(fwd, response.status, decision, copy.is_some());
        let (served, complete_copy) =
            relay(request, stored_head, response, copy, x_cache, &cache_status);
        self.keep_copy(request, with_note(served, note), complete_copy)
    }

    /// Starts a copy if the rules allow one. A failed cache write costs us the
    /// copy, never the reply: the note says why there is none.
    fn begin_copy(
        &self,
        key: &CacheKey,
        head: &ResponseHead,
        decision: Result<(), &'static str>,
    ) -> (Option<PendingEntry>, Option<String>) {
        match decision.map(|()| self.store.begin(key, head)) {
            Ok(Ok(pending)) => (Some(pending), None),
            Ok(Err(error)) => (None, Some(format!("not stored: {error}"))),
            Err("method") => (None, None),
            Err(reason) => (None, Some(format!("not stored: {reason}"))),
        }
    }

    /// Commits a copy whose body arrived whole (renaming it into place), and
    /// narrates step 5 either way.
    fn keep_copy(
        &mut self,
        request: &Request,
        served: Served,
        copy: Option<PendingEntry>,
    ) -> Served {
        let bytes = served.body_bytes;
        let Some(pending) = copy else {
            let why = served
                .note
                .as_deref()
                .unwrap_or("a reply to HEAD is never stored");
            request
                .trace
                .step(5, format_args!("{bytes} bytes to the client; {why}"));
            return served;
        };
        let temp = pending.temp_path().display().to_string();
        let path = pending.entry_path().display().to_string();
        match self.store.commit(pending) {
            Ok(evicted) => {
                let evicted = (evicted > 0)
                    .then(|| format!("evicted {}", count(evicted as u64, "older entry")));
                let also = and_note(evicted.as_deref());
                let what = format!("{bytes} bytes to the client and to {temp}, renamed to {path}");
                request.trace.step(5, format_args!("{what}{also}"));
                with_note(served, evicted)
            }
            Err(error) => {
                let note = format!("not stored: {error}");
                request
                    .trace
                    .step(5, format_args!("{bytes} bytes to the client; {note}"));
                with_note(served, Some(note))
            }
        }
    }

    /// Whether this reply may be stored, or the reason (for `detail=`) why not.
    fn may_store(
        &self,
        request: &Request,
        head: &ResponseHead,
        framing: Framing,
    ) -> Result<(), &'static str> {
        if request.head.method != "GET" {
            return Err("method");
        }
        freshness::storable(&request.head, head.status, &head.headers)?;
        let body_length = match framing {
            // Its end cannot be told from a cut connection: never a copy.
            Framing::UntilClose => return Err("close-delimited"),
            Framing::Length(length) => length,
            Framing::Chunked => 0,
        };
        // Saturating: a Content-Length near 2^64 must not overflow the sum.
        let size = body_length.saturating_add(head.to_bytes().len() as u64);
        if self.store.fits(size) {
            Ok(())
        } else {
            Err("too-big")
        }
    }

    /// Writes go to the origin with their body. A write that succeeds makes
    /// our copies of the URLs it touched stale, so they are dropped (RFC 9111
    /// section 4.4): the request's own URL and its `Location` and
    /// `Content-Location`, when those are on the same origin.
    fn forward_write(
        &mut self,
        request: &Request,
        key: &CacheKey,
        origin_url: &str,
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
        // Step 4: ask the origin: fetch the URL, or ask if the stale copy changed.
        // (A write sends its body along and is answered by the origin alone.)
        let mut body = request.body(body_length);
        // No body, no body reader: ureq would send an empty chunked body.
        let body_reader = (body_length > 0).then_some(&mut body as &mut dyn Read);
        let sent = self.ask_origin(request, origin_url, &to_origin, body_reader);
        // If the client failed us mid-body, that is the error to report, not
        // whatever the origin made of a request cut short.
        if let Some(client_failure) = body.failure.take() {
            return Err(client_failure);
        }
        let response = sent?;
        let mut note = None;
        // RFC 9111 4.4: an unsafe method that succeeded may have changed the
        // resource. A safe one (OPTIONS, a CORS preflight) changed nothing.
        if (200..400).contains(&response.status) && !is_safe(&request.head.method) {
            note = self.invalidate(request, key, &response.headers);
        }
        // Step 5: store and reply: stream the body to the client and a temporary file.
        // (A write is never stored; instead it drops the copies it made stale.)
        let cache_status = format!("cacheproxy; fwd=method; fwd-status={}", response.status);
        let head = end_to_end_head(&response);
        let (served, _) = relay(request, head, response, None, "BYPASS", &cache_status);
        let dropped = and_note(note.as_deref());
        let bytes = served.body_bytes;
        request.trace.step(
            5,
            format!("{bytes} bytes to the client; never stored{dropped}"),
        );
        Ok(with_note(served, note))
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
    fn purge(&mut self, request: &Request, key: &CacheKey) -> Result<Served, RequestError> {
        if !may_purge(request.client_addr.ip()) {
            return Err(RequestError::Forbidden(
                "PURGE is accepted from this machine only",
            ));
        }
        let path = self.store.path_for(key).display().to_string();
        match self.store.remove(key) {
            Ok(true) => {
                request.trace.step(2, format_args!("{path} removed"));
                Ok(answer(
                    request,
                    200,
                    &format!("purged {key}\n"),
                    "cacheproxy; detail=purged",
                ))
            }
            Ok(false) => {
                request
                    .trace
                    .step(2, format_args!("{path} is missing: nothing to purge"));
                let text = format!("not cached: {key}\n");
                Ok(answer(request, 404, &text, "cacheproxy; detail=not-cached"))
            }
            Err(error) => Err(RequestError::Internal(format!(
                "could not purge {key}: {error}"
            ))),
        }
    }
}

/// The `X-Cache` and `Cache-Status` of the proxy's own error replies: a trip
/// to the origin that failed is a miss; a request the proxy refused bypassed
/// the cache.
fn error_labels(error: &RequestError) -> (&'static str, &'static str) {
    match error {
        RequestError::BadGateway(_) | RequestError::GatewayTimeout => {
            ("MISS", "cacheproxy; fwd=uri-miss")
        }
        _ => ("BYPASS", "cacheproxy; detail=refused"),
    }
}

/// Narrates a reply from a stored copy: step 3 for a hit, 5 after a 304,
/// 4 when the origin failed and the stale copy stands in.
fn narrate_from_disk(request: &Request, entry: &Entry, how: FromDisk, not_modified: bool) {
    let path = entry.path.display();
    let (step, what) = match how {
        FromDisk::Hit => (3, format!("reply from {path}")),
        FromDisk::Revalidated { .. } => (5, format!("reply from {path}")),
        FromDisk::Stale { .. } => (
            4,
            format!("the origin failed; the stale copy {path} stands in"),
        ),
    };
    let conditional = if not_modified {
        ": the client's copy is current, 304 without a body"
    } else {
        ""
    };
    request
        .trace
        .step(step, format_args!("{what}{conditional}"));
}

/// Step 2's verdict on a stored copy, narrated: `true` when it may be served
/// as it is (a hit), `false` when the origin must be asked first.
fn judge(request: &Request, entry: &Entry, freshness: Freshness) -> bool {
    let (age, lifetime) = (freshness.age, freshness.lifetime);
    let client_insists = freshness::client_requires_check(&request.head, age);
    let hit = freshness.is_fresh() && !client_insists;
    if request.trace.is_on() {
        let path = entry.path.display();
        let verdict = if !freshness.is_fresh() {
            let past = freshness.staleness();
            format!("{path} is stale: age {age} s, {past} s past its {lifetime} s lifetime")
        } else if client_insists {
            format!(
                "{path} is fresh (age {age} s of {lifetime} s), but the client insists on a check"
            )
        } else {
            format!("{path} is fresh: age {age} s of its {lifetime} s lifetime")
        };
        request.trace.step(2, verdict);
    }
    hit
}

/// The head of a reply from a stored copy: its status and fields, the current
/// `Age`, and the length of the body (none when the answer is 304).
fn head_from_disk(
    entry: &Entry,
    freshness: Freshness,
    not_modified: bool,
    x_cache: &str,
    cache_status: &str,
) -> ResponseHead {
    let mut head = ResponseHead::new(if not_modified { 304 } else { entry.head.status });
    head.headers = entry
        .head
        .headers
        .iter()
        .filter(|header| !header.name.eq_ignore_ascii_case("Age"))
        .cloned()
        .collect();
    head.add("Age", freshness.age.to_string());
    if !not_modified {
        head.add("Content-Length", entry.body_length.to_string());
    }
    head.add("Connection", "close");
    add_cache_fields(&mut head, x_cache, cache_status);
    head
}

/// The `X-Cache` value and `Cache-Status` field for a reply from the origin.
fn describe_from_origin(
    fwd: &str,
    status: u16,
    decision: Result<(), &'static str>,
    storing: bool,
) -> (&'static str, String) {
    let cache_status = format!("cacheproxy; fwd={fwd}; fwd-status={status}");
    match decision {
        Ok(()) if storing => ("MISS", format!("{cache_status}; stored")),
        // HEAD is never stored, but nothing about the reply forbade it.
        Ok(()) | Err("method") => ("MISS", cache_status),
        Err(reason) => ("BYPASS", format!("{cache_status}; detail={reason}")),
    }
}

/// The `X-Cache` value and `Cache-Status` field for a reply from disk.
fn describe_from_disk(how: FromDisk, freshness: Freshness) -> (&'static str, String) {
    let ttl = freshness.ttl();
    match how {
        FromDisk::Hit => ("HIT", format!("cacheproxy; hit; ttl={ttl}")),
        FromDisk::Revalidated { forced } => {
            let fwd = if forced { "request" } else { "stale" };
            (
                "REVALIDATED",
                format!("cacheproxy; fwd={fwd}; fwd-status=304; ttl={ttl}"),
            )
        }
        FromDisk::Stale { origin_status } => {
            let status = origin_status
                .map(|status| format!("; fwd-status={status}"))
                .unwrap_or_default();
            (
                "STALE",
                format!("cacheproxy; fwd=stale{status}; ttl={ttl}; detail=stale-if-error"),
            )
        }
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

/// Request fields that make a request conditional.
fn is_conditional(name: &str) -> bool {
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

/// True when an HTTP/1.1 client sent `Expect: 100-continue`.
fn wants_continue(request: &Request) -> bool {
    request.head.minor_version == 1
        && request
            .head
            .header("Expect")
            .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"))
}

/// Step 5's reply: pass the origin's reply on to the client, writing the body
/// into `copy` as it goes. Returns the copy only if the whole body arrived and
/// reached the client, ready for [`Store::commit`]; otherwise it is dropped,
/// which deletes its temporary file.
///
/// The client gets the body framed as the origin framed it: with its length,
/// chunked (to an HTTP/1.0 client, which cannot read chunks: until the close),
/// or until the close. An origin that fails mid-body leaves the client a
/// short body or one without its last chunk: a cut, never a clean end.
fn relay(
    request: &Request,
    head: ResponseHead,
    response: OriginResponse,
    copy: Option<PendingEntry>,
    x_cache: &'static str,
    cache_status: &str,
) -> (Served, Option<PendingEntry>) {
    // RFC 9110 6.4.1: no body after HEAD, 1xx, 204 or 304, whatever the origin sends.
    let may_have_body = !matches!(response.status, 100..=199 | 204 | 304);
    let has_body = may_have_body && request.head.method != "HEAD";
    let framing = response.framing;
    let chunked = has_body && framing == Framing::Chunked && request.head.minor_version == 1;
    let length = match framing {
        Framing::Length(length) if may_have_body => Some(length),
        _ => None,
    };
    let head = with_framing(head, length, chunked, x_cache, cache_status);

    let mut served = Served {
        status: response.status,
        cache: x_cache,
        body_bytes: 0,
        note: None,
    };
    if let Err(error) = (&request.client).write_all(&head.to_bytes()) {
        return (with_note(served, Some(client_gone(&error))), None);
    }
    if !has_body {
        return (served, None);
    }
    let mut client = if chunked {
        BodyWriter::Chunked(&request.client)
    } else {
        BodyWriter::Plain(&request.client)
    };
    let mut copy = copy;
    let mut origin_body = response.body;
    match stream_body(&mut origin_body, &mut client, &mut copy, &mut served) {
        Err(why) => (with_note(served, Some(why)), None),
        Ok(()) if length.is_some_and(|length| length != served.body_bytes) => {
            let why = "origin body shorter than its Content-Length, nothing stored";
            (with_note(served, Some(why.into())), None)
        }
        Ok(()) => match client.finish() {
            Ok(()) => (served, copy),
            Err(error) => (with_note(served, Some(client_gone(&error))), None),
        },
    }
}

/// The end-to-end head of an origin's reply: its status and the fields that
/// cross the proxy. It is what a stored copy keeps, and what a relay starts from.
fn end_to_end_head(response: &OriginResponse) -> ResponseHead {
    ResponseHead {
        status: response.status,
        headers: headers::from_origin(&response.headers),
    }
}

/// A relayed reply's head: the end-to-end `head`, plus our own framing (its
/// length, or chunked) and the cache's fields.
fn with_framing(
    mut head: ResponseHead,
    content_length: Option<u64>,
    chunked: bool,
    x_cache: &str,
    cache_status: &str,
) -> ResponseHead {
    if let Some(length) = content_length {
        head.add("Content-Length", length.to_string());
    } else if chunked {
        head.add("Transfer-Encoding", "chunked");
    }
    head.add("Connection", "close");
    add_cache_fields(&mut head, x_cache, cache_status);
    head
}

/// Copies the origin's body to the client, and into `copy` while it lasts, in
/// 64 KiB pieces: memory use does not grow with the body. `Err` says why the
/// body stopped early; the copy is then worthless and dropped by the caller.
fn stream_body(
    origin_body: &mut dyn Read,
    client: &mut impl Write,
    copy: &mut Option<PendingEntry>,
    served: &mut Served,
) -> Result<(), String> {
    let mut piece = vec![0u8; 64 * 1024];
    loop {
        let count = match origin_body.read(&mut piece) {
            Ok(0) => return Ok(()),
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(format!("origin failed mid-body, nothing stored: {error}")),
        };
        if let Err(error) = client.write_all(&piece[..count]) {
            return Err(format!("{}, nothing stored", client_gone(&error)));
        }
        served.body_bytes += count as u64;
        if let Some(pending) = copy {
            if let Err(error) = pending.write_all(&piece[..count]) {
                served.note = Some(format!("not stored: {error}"));
                *copy = None;
            }
        }
    }
}

/// A short plain-text reply from the proxy itself, such as `PURGE`'s.
fn answer(request: &Request, status: u16, text: &str, cache_status: &str) -> Served {
    let x_cache = "BYPASS";
    let mut head = ResponseHead::new(status);
    head.add("Content-Type", "text/plain; charset=utf-8")
        .add("Content-Length", text.len().to_string())
        .add("Connection", "close");
    add_cache_fields(&mut head, x_cache, cache_status);
    let mut reply = head.to_bytes();
    reply.extend_from_slice(text.as_bytes());
    let written = (&request.client).write_all(&reply);
    Served {
        status,
        cache: x_cache,
        body_bytes: text.len() as u64,
        note: written.err().map(|error| client_gone(&error)),
    }
}

/// The fields every reply from the proxy carries, so a client (and a
/// learner with `curl -i`) can see what the cache did.
fn add_cache_fields(head: &mut ResponseHead, x_cache: &str, cache_status: &str) {
    head.add("X-Cache", x_cache)
        .add("Cache-Status", cache_status)
        .add("Via", headers::VIA);
}

/// `served` with `note` added, if there is one and it has none yet.
fn with_note(served: Served, note: Option<String>) -> Served {
    Served {
        note: served.note.or(note),
        ..served
    }
}

/// `"; note"` to append to a trace line, or nothing.
fn and_note(note: Option<&str>) -> String {
    note.map(|note| format!("; {note}")).unwrap_or_default()
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
    fn replies_from_disk_say_how_they_came_about() {
        let fresh = Freshness {
            age: 5,
            lifetime: 60,
        };
        let stale = Freshness {
            age: 70,
            lifetime: 60,
        };
        assert_eq!(
            describe_from_disk(FromDisk::Hit, fresh),
            ("HIT", "cacheproxy; hit; ttl=55".into())
        );
        assert_eq!(
            describe_from_disk(FromDisk::Revalidated { forced: true }, fresh),
            (
                "REVALIDATED",
                "cacheproxy; fwd=request; fwd-status=304; ttl=55".into()
            )
        );
        assert_eq!(
            describe_from_disk(
                FromDisk::Stale {
                    origin_status: Some(503)
                },
                stale
            ),
            (
                "STALE",
                "cacheproxy; fwd=stale; fwd-status=503; ttl=-10; detail=stale-if-error".into()
            )
        );
        assert_eq!(
            describe_from_disk(
                FromDisk::Stale {
                    origin_status: None
                },
                stale
            )
            .1,
            "cacheproxy; fwd=stale; ttl=-10; detail=stale-if-error"
        );
    }
}
