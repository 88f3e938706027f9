//! The cache: what happens to a `GET` or `HEAD`, top to bottom, in the order
//! of the README's pseudocode (the `// Step N:` comments use the same words):
//!
//! 1. **receive** the request and work out which URL it asks for;
//! 2. **look up** the URL's file in the cache directory and judge it;
//! 3. **hit**: the copy will do, so reply from the file;
//! 4. **ask the origin**: fetch the URL, or ask if the stale copy changed;
//! 5. **store and reply**: stream the body to the client and a temporary
//!    file, renamed into place once the whole body has arrived.
//!
//! `Proxy::serve_read` is the whole story in one `match` on what the store
//! holds: a fresh copy is a hit; a stale one is revalidated (a 304 refreshes
//! it, a failed origin lets it stand in); nothing, or an unreadable file, is
//! a miss: fetch, store, reply. The server loop does step 1's reading and
//! step 6's log line.
//!
//! Not here: the rules ([`crate::cache::freshness`]), files ([`crate::store`]), the
//! streaming of a relay ([`crate::net::relay`]), writes and `PURGE`
//! ([`crate::cache::writes`]), and the words of `X-Cache`, `Cache-Status` and
//! `--trace` ([`crate::cache::labels`], [`crate::cache::trace`]).

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use crate::cache::freshness::{self, CachePolicy, Freshness, Precondition};
use crate::cache::labels::{self, add_cache_fields, Forwarded, FromDisk, NotStored, Outcome};
use crate::cache::range::{self, Span};
use crate::cache::revalidation::{self, LaterCheck};
use crate::cache::trace::{count, Kept, Step, Trace, Verdict};
use crate::cache::vary;
use crate::error::RequestError;
use crate::net::origin::{Framing, Origin, OriginResponse};
use crate::net::relay::{self, relay, Unattended};
use crate::net::server::{client_gone, ClientLimits, Handler, Request, Served};
use crate::store::entry::Entry;
use crate::store::key::CacheKey;
use crate::store::open::Store;
use crate::wire::headers;
use crate::wire::http::{self, Header, RequestHead, ResponseHead};
use crate::wire::target::{check_meant_for_us, key_path, parse_target, Target};

/// The cache proxy: a cache directory in front of one origin.
pub struct Proxy {
    pub(crate) store: Store,
    pub(crate) origin: Origin,
    pub(crate) policy: CachePolicy,
    /// A copy served stale under `stale-while-revalidate`, to be checked
    /// with the origin once its client has the reply (see [`crate::cache::revalidation`]).
    later: Option<LaterCheck>,
    /// URLs whose copy was abandoned lately, when no client waited for it.
    pub(crate) abandoned: Abandoned,
}

/// URLs whose copy was abandoned lately, past its [`Unattended`] budget:
/// the rest of a body after a ranged (or conditional) client had its part,
/// or the check after a `stale-while-revalidate` reply. For a while, such a
/// request for the URL is passed on as it is (the origin answers the part
/// or the condition itself), and a
/// stale copy is checked while its client waits: a cheap request must not
/// buy the same stall again and again.
#[derive(Default)]
pub struct Abandoned {
    /// Each URL (without its variant) and when it was abandoned.
    when: HashMap<String, Instant>,
}

impl Abandoned {
    /// How long a URL is remembered.
    const FOR: Duration = Duration::from_secs(600);
    /// The most URLs remembered: a bound on memory, whatever clients send.
    const MOST: usize = 1024;

    /// Remembers that the copy of `key`'s URL was abandoned now.
    pub fn remember(&mut self, key: &CacheKey) {
        if self.when.len() >= Self::MOST {
            self.when.retain(|_, when| when.elapsed() < Self::FOR);
        }
        if self.when.len() >= Self::MOST {
            self.when.clear();
        }
        let url = key.with_variant(None).to_string();
        self.when.insert(url, Instant::now());
    }

    /// Whether the copy of `key`'s URL was abandoned lately.
    pub fn lately(&self, key: &CacheKey) -> bool {
        let url = key.with_variant(None).to_string();
        self.when
            .get(&url)
            .is_some_and(|when| when.elapsed() < Self::FOR)
    }
}

impl Proxy {
    /// A proxy that keeps its copies in `store` and fetches from `origin`.
    pub fn new(store: Store, origin: Origin, policy: CachePolicy) -> Proxy {
        Proxy {
            store,
            origin,
            policy,
            later: None,
            abandoned: Abandoned::default(),
        }
    }
}

impl Handler for Proxy {
    fn handle(&mut self, request: &Request) -> Result<Served, RequestError> {
        // Step 1: receive the request and work out which URL it asks for.
        // (The server has read the head; a path that is not clean is refused.)
        check_meant_for_us(&request.head, request.server_addr, self.origin.url())?;
        let target = parse_target(&request.head.target)?;
        let key = CacheKey::new(key_path(&target.path)?, target.query.clone());
        match request.head.method.as_str() {
            "GET" | "HEAD" => {
                request.discard_body()?;
                self.serve_read(request, &target, &key)
            }
            "PURGE" => {
                request.discard_body()?;
                self.purge(request, &key)
            }
            _ => self.forward_write(request, &target, &key),
        }
    }

    fn decorate_error(&self, head: &mut ResponseHead, error: &RequestError) {
        let (outcome, cache_status) = labels::for_error(error);
        add_cache_fields(head, outcome, cache_status);
    }

    fn error_outcome(&self, error: &RequestError) -> Option<Outcome> {
        Some(labels::for_error(error).0)
    }

    fn after_reply(&mut self, trace: &Trace, limits: ClientLimits) {
        if let Some(later) = self.later.take() {
            self.check_after_reply(later, trace, limits);
        }
    }
}

impl Proxy {
    /// `GET` and `HEAD`: from the cache if we can, from the origin if we must.
    fn serve_read(
        &mut self,
        request: &Request,
        target: &Target,
        key: &CacheKey,
    ) -> Result<Served, RequestError> {
        // The request the origin sees for a copy to keep; it is also what
        // selects a stored variant, so a copy is found by the request that
        // produced it (RFC 9111 4.1), never by fields the origin did not see.
        let to_origin = headers::for_a_whole_copy(&request.head, request.client_addr.ip());
        let (key, found) = vary::lookup(&self.store, key, &to_origin);
        match found {
            Ok(Some(entry)) => {
                let freshness = self.freshness_of(&entry);
                let client_insists = freshness::client_requires_check(&request.head, freshness);
                let stale_will_do = freshness::client_accepts_stale(
                    &self.policy,
                    &request.head,
                    &entry.head.headers,
                    freshness,
                );
                // Stale, but the origin lets us check it after this reply (RFC
                // 5861), unless such a check was abandoned lately.
                let check_later =
                    freshness::may_revalidate_later(&self.policy, &entry.head.headers, freshness)
                        && !self.abandoned.lately(&key);
                // Step 2: look up the URL's file in the cache directory and judge it.
                let verdict = Verdict::Stored(&entry.path, freshness, client_insists);
                request.trace.step(Step::LookUp, verdict);
                if (freshness.is_fresh() || stale_will_do || check_later) && !client_insists {
                    let how = if check_later {
                        FromDisk::CheckedLater
                    } else {
                        FromDisk::Hit
                    };
                    let served = self.reply_from_disk(request, &entry, freshness, how);
                    // Step 3: hit: the copy will do, so reply from the file.
                    request
                        .trace
                        .step(Step::Hit, Kept::FromFile(&entry.path, &served));
                    if check_later {
                        let later = LaterCheck::new(request, target, &key, to_origin, entry);
                        self.later = Some(later);
                    }
                    return Ok(served);
                }
                self.revalidate(request, target, (&key, &to_origin), entry, freshness)
            }
            missing_or_unreadable => {
                let unreadable = missing_or_unreadable
                    .err()
                    .map(|error| format!("unreadable, so a miss: {error}"));
                let path = self.store.path_for(&key);
                // Step 2: look up the URL's file in the cache directory and judge it.
                let verdict = Verdict::Missing(&path, unreadable.as_deref());
                request.trace.step(Step::LookUp, verdict);
                // A GET is fetched whole and current, to be stored; the
                // client's conditions and range are answered from it. One
                // whose reply will not be kept passes them on (RFC 9110
                // 13.2.1), as does one for part of a URL abandoned lately.
                let passed_on = freshness::request_no_store(&request.head)
                    || (self.abandoned.lately(&key) && headers::asks_for_part(&request.head));
                let to_origin = match request.head.method.as_str() {
                    "GET" if !passed_on => to_origin,
                    _ => headers::to_origin(&request.head, request.client_addr.ip(), None),
                };
                let response = self.ask_origin(request, target, &to_origin, None)?;
                let sent = (&key, to_origin.as_slice());
                let served = self.store_and_reply(request, sent, response, Forwarded::UriMiss);
                Ok(served.with_note(unreadable))
            }
        }
    }

    /// A stored copy that may not be served as it is: ask the origin whether
    /// it changed. A 304 refreshes it; a new reply replaces it; a failed
    /// origin lets it stand in, if the rules allow (stale-if-error).
    fn revalidate(
        &mut self,
        request: &Request,
        target: &Target,
        (key, to_origin): (&CacheKey, &[Header]),
        entry: Entry,
        freshness: Freshness,
    ) -> Result<Served, RequestError> {
        // Our validators go with the request: the question is about our copy.
        let sent = revalidation::ask_about_copy(to_origin, &entry.head.headers, |fields| {
            self.ask_origin(request, target, fields, None)
        });
        let forced = freshness.is_fresh();
        let fwd = if forced {
            Forwarded::Request
        } else {
            Forwarded::Stale
        };
        let origin_status = match &sent {
            Ok(response) if response.status == 304 => {
                return Ok(self.refresh(request, key, entry, &response.headers, forced));
            }
            Ok(response) if response.status >= 500 => Some(response.status),
            Err(RequestError::BadGateway(_) | RequestError::GatewayTimeout) => None,
            Ok(_) | Err(_) => {
                return Ok(self.store_and_reply(request, (key, to_origin), sent?, fwd))
            }
        };
        let stored = &entry.head.headers;
        if !freshness::may_serve_stale(&self.policy, &request.head, stored, freshness) {
            return Ok(self.store_and_reply(request, (key, to_origin), sent?, fwd));
        }
        let how = FromDisk::Stale { origin_status };
        let served = self.reply_from_disk(request, &entry, freshness, how);
        // Step 3: hit: the copy will do, so reply from the file.
        request
            .trace
            .step(Step::Hit, Kept::StandingIn(&entry.path, &served));
        Ok(served)
    }

    /// After a 304: the stored head takes the fields the 304 carries, the
    /// copy's age starts again, and the reply comes from disk.
    fn refresh(
        &mut self,
        request: &Request,
        key: &CacheKey,
        entry: Entry,
        from_304: &[Header],
        forced: bool,
    ) -> Served {
        let updates = headers::from_304(from_304);
        let for_client = freshness::refreshed_headers(&entry.head.headers, &updates);
        let (mut entry, note) = self.refresh_copy(&request.head, key, entry, from_304);
        entry.head.headers = for_client;
        let freshness = self.freshness_of(&entry);
        let how = FromDisk::Revalidated { forced };
        let served = self.reply_from_disk(request, &entry, freshness, how);
        // Step 5: store and reply: stream the body to the client and a temporary file.
        let kept = Kept::Refreshed(&entry.path, &served, note.as_deref());
        request.trace.step(Step::StoreAndReply, kept);
        served.with_note(note)
    }

    /// The reply from a stored copy (a hit, a revalidated or a stale copy):
    /// the stored status and fields with the current `Age`, and the body from
    /// the file. A client whose own conditional request matches the copy gets
    /// 304 and no body.
    fn reply_from_disk(
        &mut self,
        request: &Request,
        entry: &Entry,
        freshness: Freshness,
        how: FromDisk,
    ) -> Served {
        self.store.record_use(entry);
        let (stored_head, length) = (&entry.head, entry.body_length);
        let precondition =
            freshness::precondition(&request.head, stored_head.status, &stored_head.headers);
        let (outcome, cache_status) = labels::from_disk(how, freshness);
        let with_body = precondition == Precondition::Holds && request.head.method != "HEAD";
        // A client resuming a download asks for part of the body (RFC 9110 14).
        let span = range::span(
            &request.head,
            stored_head.status,
            &stored_head.headers,
            length,
            precondition,
        );
        let (status, first, count) = (span.status, span.first, span.count);
        // The stored fields but `Age`, then ours, without copying the stored ones.
        let mut ours = ResponseHead::new(status);
        ours.add("Age", freshness.age.to_string());
        if let Some(content_range) = &span.content_range {
            ours.add("Content-Range", content_range.clone());
        }
        if !matches!(status, 204 | 304) {
            ours.add("Content-Length", count.to_string());
        }
        ours.add("Connection", "close");
        add_cache_fields(&mut ours, outcome, &cache_status);
        let ours_has_range = span.content_range.is_some();
        let stored = entry.head.headers.iter().filter(|header| {
            // Ours replace these (a stored 200's `Content-Range` means nothing).
            let ours = |name| header.name.eq_ignore_ascii_case(name);
            !(ours("Age") || ours("Content-Range") && ours_has_range)
                && (status != 412 || headers::goes_with_a_412(&header.name))
        });
        let head = http::head_bytes(status, stored.chain(&ours.headers));
        let why_stale = match how {
            FromDisk::Stale { .. } => Some("origin failed"),
            FromDisk::CheckedLater => Some("checked after the reply"),
            _ => None,
        };
        let stale_by = freshness.staleness();
        let mut served = Served {
            status,
            cache: Some(outcome),
            body_bytes: 0,
            note: why_stale.map(|why| format!("stale by {stale_by} s, {why}")),
        };
        let part = with_body.then_some((first, count));
        match relay::send_stored(&request.client, head, entry, part) {
            Ok(sent) => served.body_bytes = sent,
            Err(error) => served.note = Some(client_gone(&error)),
        }
        served
    }

    /// Sends the request on to the origin. `Err` is the origin unreachable
    /// (502) or too slow (504); its own 4xx and 5xx are replies.
    pub(crate) fn ask_origin(
        &self,
        request: &Request,
        target: &Target,
        to_origin: &[Header],
        body: Option<&mut dyn Read>,
    ) -> Result<OriginResponse, RequestError> {
        let (head, trace) = (&request.head, &request.trace);
        if matches!(head.method.as_str(), "GET" | "HEAD") && freshness::only_if_cached(head) {
            return Err(RequestError::NotCached);
        }
        let origin_form = target.origin_form();
        // Step 4: ask the origin: fetch the URL, or ask if the stale copy changed.
        let asked = (head.method.as_str(), origin_form.as_str());
        self.origin.ask(asked, to_origin, body, trace, None)
    }

    /// Passes a reply from the origin on to the client, storing a copy on the
    /// way if the rules allow. `fwd` says why the origin was asked.
    fn store_and_reply(
        &mut self,
        request: &Request,
        (key, to_origin): (&CacheKey, &[Header]),
        response: OriginResponse,
        fwd: Forwarded,
    ) -> Served {
        let stored_head = relay::end_to_end_head(&response);
        let sent = (&request.head, to_origin);
        let stored_as = self.may_store(sent, key, &stored_head, response.framing);
        // A failed cache write costs the copy, never the reply.
        let decision = stored_as.clone().map(drop);
        let varies_on = vary::vary_value(&stored_head.headers);
        let (copy, not_begun) =
            match stored_as.map(|key| self.store.begin(&key, &stored_head, varies_on)) {
                Ok(Ok(pending)) => (Some(pending), None),
                Ok(Err(error)) => (None, Some(format!("not stored: {error}"))),
                Err(NotStored::Method) => (None, None),
                Err(reason) => (None, Some(format!("not stored: {}", reason.as_str()))),
            };
        let storing = copy.is_some();
        let (outcome, cache_status) = labels::from_origin(fwd, response.status, decision, storing);
        let span = client_span(request, &stored_head, response.framing);
        let labels = (outcome, cache_status.as_str());
        let budget = Unattended::new(self.origin.read_timeout(), request.client.limits());
        let client_takes_part = span.is_some();
        let (served, whole_copy) = relay(request, response, copy, labels, (span, budget));
        if storing && client_takes_part && whole_copy.is_none() {
            // The rest of the body was the cache's own, and it did not come
            // whole (past its budget, or the origin failed on the way):
            // the next such cheap request for this URL must not buy it again.
            self.abandoned.remember(key);
        }
        let served = served.with_note(not_begun);
        let (kept, note) = match whole_copy {
            None => (Kept::NotStored(&served, None), None),
            Some(pending) => {
                let temp = pending.temp_path().to_owned();
                let path = pending.entry_path().to_owned();
                match self.store.commit(pending) {
                    Ok(evicted) => {
                        let older = count(evicted as u64, "older entry");
                        let note = (evicted > 0).then(|| format!("evicted {older}"));
                        (Kept::Stored(&served, temp, path, evicted), note)
                    }
                    Err(error) => {
                        let note = format!("not stored: {error}");
                        (Kept::NotStored(&served, Some(note.clone())), Some(note))
                    }
                }
            }
        };
        // Step 5: store and reply: stream the body to the client and a temporary file.
        request.trace.step(Step::StoreAndReply, kept);
        served.with_note(note)
    }

    /// Whether this reply to the client's `request`, sent on as `to_origin`,
    /// may be stored, and under which key (a response that varies is stored
    /// under the variant `to_origin` selects), or why not.
    pub(crate) fn may_store(
        &self,
        (request, to_origin): (&RequestHead, &[Header]),
        key: &CacheKey,
        head: &ResponseHead,
        framing: Framing,
    ) -> Result<CacheKey, NotStored> {
        if request.method != "GET" {
            return Err(NotStored::Method);
        }
        freshness::storable(&self.policy, request, head.status, &head.headers)?;
        // A reply to a client's own range or conditions (a 206, a 412, a
        // 416, or a 200 the origin sent instead) is that client's alone.
        if to_origin
            .iter()
            .any(|field| headers::asks_for_part_with(&field.name))
        {
            return Err(NotStored::PassedOn);
        }
        let body_length = match framing {
            // Its end cannot be told from a cut connection: never a copy.
            Framing::UntilClose => return Err(NotStored::CloseDelimited),
            Framing::Length(length) => length,
            Framing::Chunked => 0,
        };
        // Saturating: a Content-Length near 2^64 must not overflow the sum.
        let size = body_length.saturating_add(head.to_bytes().len() as u64);
        if !self.store.fits(size) {
            return Err(NotStored::TooBig);
        }
        vary::key_for(key, to_origin, head).ok_or(NotStored::Vary)
    }

    fn freshness_of(&self, entry: &Entry) -> Freshness {
        let (status, now) = (entry.head.status, SystemTime::now());
        Freshness::of(
            &self.policy,
            status,
            &entry.head.headers,
            entry.stored_at,
            now,
        )
    }
}

/// What the client gets of a reply to a `GET`, fetched whole: its own
/// conditions and range, which the proxy did not pass on, are answered
/// here. `None`: the whole reply, as it comes.
fn client_span(request: &Request, reply: &ResponseHead, framing: Framing) -> Option<Span> {
    let (status, headers) = (reply.status, &reply.headers);
    let get = request.head.method == "GET";
    let precondition = match get {
        true => freshness::precondition(&request.head, status, headers),
        false => Precondition::Holds,
    };
    let span = match framing {
        Framing::Length(length) if get => {
            range::span(&request.head, status, headers, length, precondition)
        }
        // A body of unknown length can still be answered with a 304 or a 412.
        _ if precondition != Precondition::Holds => {
            range::span(&request.head, status, headers, 0, precondition)
        }
        _ => return None,
    };
    // The whole reply, as it comes, is no span.
    (span.status != status).then_some(span)
}
