//! The story of a request, as states that each lead to the next, in the
//! order of the README's pseudocode, the way Varnish's `builtin.vcl` tells
//! its own. The `// Step N:` comments and `--trace` use the same words.
//!
//! ```text
//! 1 receive ─▶ 2 look up and decide ─┬─ Hit ─────────▶ 3 hit ───────────────────┐
//!                                    ├─ HitThenCheck ▶ 3 hit (check after 6) ───┤
//!                                    ├─ Check ─▶ 4 ask ─┬─ 304 ─▶ 5 refresh ────┤
//!                                    │                  ├─ fails ▶ 5 stand in ──┤
//!                                    │                  └─ reply ▶ 5 store ─────┤
//!                                    └─ Fetch, Pass ─▶ 4 ask ─▶ 5 store and reply ┴─▶ 6 done
//! ```
//!
//! `Proxy::serve_read` looks up the copy, asks [`decide`] what to do, and
//! is one `match` on the answer; each arm is a state below, which calls the
//! next. The server loop reads the head and prints step 1, and logs step 6.
//! Writes and `PURGE`, which never reply from a copy, come after the GET
//! story; the check after a `stale-while-revalidate` reply comes last.
//!
//! Not here: the rules ([`crate::cache::decide`], [`crate::cache::freshness`]),
//! files ([`crate::store`]), the streaming of a body ([`crate::net::relay`])
//! and the words of `X-Cache` and `--trace` ([`crate::cache::labels`],
//! [`crate::cache::trace`]).

use std::borrow::Cow;
use std::cell::LazyCell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use crate::cache::decide::{decide, Check, Decision, Stored, StoredCopy};
use crate::cache::freshness::{self, CachePolicy, Freshness, NotStored, Precondition};
use crate::cache::labels::{self, add_cache_fields, Forwarded, FromDisk, Outcome, Refreshed};
use crate::cache::range::{self, Span};
use crate::cache::trace::{count, log, Filed, Kept, Step, Trace, Verdict};
use crate::cache::vary;
use crate::cache::writes::{is_safe, may_purge, same_origin_url, wants_continue};
use crate::error::RequestError;
use crate::net::origin::{Framing, Origin, OriginResponse};
use crate::net::relay::{self, plain_reply, relay, Unattended};
use crate::net::served::{ClientGone, Cut, Note, Served};
use crate::net::server::{ClientLimits, Handler, Request};
use crate::store::entry::Entry;
use crate::store::key::CacheKey;
use crate::store::open::Store;
use crate::store::write::PendingEntry;
use crate::wire::headers;
use crate::wire::http::{self, find_header, HeadBytes, Header, RequestHead, ResponseHead};
use crate::wire::target::{check_meant_for_us, key_path, parse_target};

/// The cache proxy: a cache directory in front of one origin.
pub struct Proxy {
    pub(crate) store: Store,
    pub(crate) origin: Origin,
    pub(crate) policy: CachePolicy,
    /// A copy served stale under `stale-while-revalidate`, to be checked
    /// with the origin once its client has the reply.
    later: Option<LaterCheck>,
    /// URLs whose copy was abandoned lately, when no client waited for it.
    abandoned: Abandoned,
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

/// A request on its way to the origin: the client's request, the key its
/// reply is stored under (which names the URL on the origin too, see
/// [`origin_form`]), and the fields the origin sees.
#[derive(Clone, Copy)]
struct Asking<'a> {
    request: &'a Request,
    key: &'a CacheKey,
    to_origin: &'a [Header],
}

impl Handler for Proxy {
    fn handle(&mut self, request: &Request) -> Result<Served, RequestError> {
        // Step 1: receive the request and work out which URL it asks for.
        // (The server has read the head; a path that is not clean is refused.)
        // A target that names a server (`http://host/path`, a CONNECT's
        // `host:port`) must name this proxy or its origin; a `/path` names none.
        let head = &request.head;
        if !head.target().starts_with('/') || head.method() == "CONNECT" {
            check_meant_for_us(head, request.server_addr()?, self.origin.url())?;
        }
        let key = {
            let target = parse_target(request.head.target())?;
            CacheKey::new(key_path(target.path)?, target.query.map(str::to_string))
        };
        match request.head.method() {
            "GET" | "HEAD" => {
                request.discard_body()?;
                self.serve_read(request, &key)
            }
            "PURGE" => {
                request.discard_body()?;
                self.purge(request, &key)
            }
            _ => self.forward_write(request, &key),
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
            self.check_after_reply(later, &trace.after_reply(), limits);
        }
    }
}

impl Proxy {
    /// `GET` and `HEAD`: look up the copy, decide, and go where the decision says.
    fn serve_read(&mut self, request: &Request, key: &CacheKey) -> Result<Served, RequestError> {
        // The request the origin would see for a copy to keep. It also
        // selects a stored variant: a copy is found by the request that
        // produced it (RFC 9111 4.1), never by fields the origin did not see.
        // Built when first needed: a plain hit needs it not at all.
        let to_origin =
            LazyCell::new(|| headers::for_a_whole_copy(&request.head, request.client_addr.ip()));
        // Step 2: look up the URL's file in the cache directory and decide.
        let (key, found) = vary::lookup(&self.store, key, || &to_origin);
        let (entry, unreadable) = match found {
            Ok(entry) => (entry, None),
            Err(error) => (None, Some(error)),
        };
        let decision = self.decision_for(request, &key, entry.as_ref(), unreadable.is_some());
        let path = match &entry {
            Some(entry) => Cow::Borrowed(entry.path.as_path()),
            None => Cow::Owned(self.store.path_for(&key)),
        };
        let verdict = Verdict {
            path: &path,
            decision: &decision,
            unreadable: unreadable.as_ref(),
        };
        request.trace.step(Step::LookUp, verdict);
        let asking = || Asking {
            request,
            key: &key,
            to_origin: &to_origin,
        };
        let served = match (decision, entry) {
            (Decision::Hit { freshness, .. }, Some(entry)) => {
                self.hit(request, &entry, freshness, FromDisk::Hit)
            }
            (Decision::HitThenCheck { freshness }, Some(entry)) => {
                self.hit_then_check(asking(), entry, freshness)
            }
            (Decision::Check(check), Some(entry)) => self.check(asking(), entry, &check)?,
            (Decision::Pass { .. }, _) => self.pass(asking())?,
            // A hit or a check always has a copy; without one, it is a fetch.
            (Decision::Fetch { .. } | Decision::Hit { .. }, _)
            | (Decision::HitThenCheck { .. } | Decision::Check(_), None) => self.fetch(asking())?,
        };
        Ok(served.with_note(unreadable.map(Note::Unreadable)))
    }

    /// What the store holds for `request`, as [`decide`] takes it, and its answer.
    fn decision_for(
        &self,
        request: &Request,
        key: &CacheKey,
        entry: Option<&Entry>,
        unreadable: bool,
    ) -> Decision {
        let stored = Stored {
            copy: entry.map(|entry| StoredCopy {
                status: entry.head.status,
                headers: &entry.head.headers,
                stored_at: entry.stored_at,
            }),
            unreadable,
            abandoned_lately: self.abandoned.lately(key),
        };
        decide(&stored, &request.head, &self.policy, SystemTime::now())
    }

    /// A copy that will do: the reply comes from the file.
    fn hit(
        &mut self,
        request: &Request,
        entry: &Entry,
        freshness: Freshness,
        how: FromDisk,
    ) -> Served {
        // Step 3: hit: reply from the file.
        let served = self.reply_from_disk(request, entry, freshness, how);
        request
            .trace
            .step(Step::Hit, Kept::FromFile(&entry.path, served.status));
        served
    }

    /// A stale copy that the origin lets us serve while it is checked
    /// (RFC 5861 3): the reply comes from it now, and the check once the
    /// client has it, before the next connection (see [`LaterCheck`]).
    fn hit_then_check(&mut self, asking: Asking, entry: Entry, freshness: Freshness) -> Served {
        let served = self.hit(asking.request, &entry, freshness, FromDisk::CheckedLater);
        self.later = Some(LaterCheck::new(asking, entry));
        served
    }

    /// A copy that may not be served as it is: ask the origin whether it
    /// changed. A 304 refreshes it; a new reply replaces it; a failed origin
    /// lets it stand in, if the decision allowed (stale-if-error).
    fn check(
        &mut self,
        asking: Asking,
        entry: Entry,
        check: &Check,
    ) -> Result<Served, RequestError> {
        let (request, key) = (asking.request, asking.key);
        let stored = &entry.head.headers;
        let sent = ask_about_copy(asking.to_origin, &check.validators, stored, |fields| {
            self.ask_origin(request, asking.key, fields, None)
        });
        // A fresh copy is checked only because the client insisted.
        let forced = check.freshness.is_fresh();
        let fwd = if forced {
            Forwarded::Request
        } else {
            Forwarded::Stale
        };
        let origin_status = match sent {
            Ok(response) if response.status == 304 => {
                return Ok(self.refresh(request, key, entry, &response.headers, forced));
            }
            Ok(response) if response.status >= 500 && check.stale_on_error => Some(response.status),
            Err(RequestError::BadGateway(_) | RequestError::GatewayTimeout)
                if check.stale_on_error =>
            {
                None
            }
            sent => return Ok(self.store_and_reply(asking, sent?, fwd)),
        };
        let how = FromDisk::Stale { origin_status };
        // Step 5: stand in: the origin failed, so the stale copy replies.
        let served = self.reply_from_disk(request, &entry, check.freshness, how);
        request
            .trace
            .step(Step::StandIn, Kept::StandingIn(&entry.path, served.status));
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
        // Step 5: refresh: the 304 says the copy is current: reply from it with the new fields.
        let (mut entry, refreshed) = self.refresh_copy(&request.head, key, entry, from_304);
        entry.head = Rc::new(ResponseHead {
            status: entry.head.status,
            headers: for_client,
        });
        let freshness = self.freshness_of(&entry);
        let how = FromDisk::Revalidated { forced };
        let served = self.reply_from_disk(request, &entry, freshness, how);
        let kept = Kept::Refreshed(&entry.path, served.status, &refreshed);
        request.trace.step(Step::Refresh, kept);
        served.with_note(
            refreshed
                .is_noteworthy()
                .then_some(Note::Refreshed(refreshed)),
        )
    }

    /// The stored copy after a 304: its head takes the 304's fields and its
    /// age starts again. Returns the entry and what became of the copy.
    ///
    /// The merged head is judged again as a new response would be: a 304 can
    /// say `private` or `no-store` now, and then the copy is dropped instead.
    /// A `Set-Cookie` in the 304 goes to this client's reply only, never into
    /// the copy that everyone shares.
    fn refresh_copy(
        &mut self,
        request: &RequestHead,
        key: &CacheKey,
        mut entry: Entry,
        from_304: &[Header],
    ) -> (Entry, Refreshed) {
        let shared: Vec<Header> = headers::from_304(from_304)
            .into_iter()
            .filter(|header| !header.is("Set-Cookie"))
            .collect();
        let head = ResponseHead {
            status: entry.head.status,
            headers: freshness::refreshed_headers(&entry.head.headers, &shared),
        };
        // A 304 that changes what the copy varies on speaks for this request
        // only: the copy was filed under a key that no longer says which
        // requests it answers (RFC 9111 4.1). This client gets it; the next
        // one fetches its own. A copy that may not be shared any more is
        // dropped too, and this one reply comes from the body still open.
        let varies_on = vary::vary_value(&head.headers);
        let vary_changed = vary::vary_value(&entry.head.headers) != varies_on;
        let dropped = match freshness::shareable(&self.policy, head.status, &head.headers) {
            _ if vary_changed => Some(Refreshed::VaryChanged),
            Err(reason) => Some(Refreshed::Dropped(reason)),
            Ok(()) => None,
        };
        if let Some(dropped) = dropped {
            let _ = self.store.remove(key);
            entry.stored_at = SystemTime::now();
            return (entry, dropped);
        }
        // The copy is judged by the response alone: a client's `no-store` or
        // credentials mean "keep nothing of mine", not "drop the shared copy".
        if let Err(reason) = freshness::storable(&self.policy, request, head.status, &head.headers)
        {
            return (entry, Refreshed::NotRefreshed(reason));
        }
        // Only the age starts again: a new `Date` alone is written in place,
        // no new file and no copy of an unchanged body (RFC 9111 4.3.4
        // asks for no more).
        let new_date = find_header(&head.headers, "Date").unwrap_or_default();
        let touched = match freshness::needs_rewrite(&entry.head.headers, &head.headers) {
            true => Ok(false),
            false => self.store.touch(&mut entry, new_date),
        };
        match touched {
            Ok(true) => {
                entry.head = Rc::new(head);
                (entry, Refreshed::InPlace)
            }
            // If the update fails, the old copy is still open: serve it.
            Ok(false) => match self.store.refresh(key, entry, &head, varies_on) {
                (entry, None) => (entry, Refreshed::Rewritten),
                (entry, Some(error)) => (entry, Refreshed::Failed(error)),
            },
            Err(error) => (entry, Refreshed::Failed(error)),
        }
    }

    /// A request whose reply will not be kept (see [`Decision::Pass`]): it
    /// goes to the origin with its own conditions and range, and its reply
    /// to this client alone.
    fn pass(&mut self, asking: Asking) -> Result<Served, RequestError> {
        let to_origin =
            headers::to_origin(&asking.request.head, asking.request.client_addr.ip(), None);
        self.fetch(Asking {
            to_origin: &to_origin,
            ..asking
        })
    }

    /// Nothing to reply from: ask the origin, and keep its reply if it may be.
    fn fetch(&mut self, asking: Asking) -> Result<Served, RequestError> {
        let response = self.ask_origin(asking.request, asking.key, asking.to_origin, None)?;
        Ok(self.store_and_reply(asking, response, Forwarded::UriMiss))
    }

    /// Sends the request on to the origin. `Err` is the origin unreachable
    /// (502) or too slow (504); its own 4xx and 5xx are replies.
    fn ask_origin(
        &self,
        request: &Request,
        key: &CacheKey,
        to_origin: &[Header],
        body: Option<&mut dyn Read>,
    ) -> Result<OriginResponse, RequestError> {
        let (head, trace) = (&request.head, &request.trace);
        if matches!(head.method(), "GET" | "HEAD") && freshness::only_if_cached(head) {
            return Err(RequestError::NotCached);
        }
        let origin_form = origin_form(key);
        // Step 4: ask the origin: fetch the URL, or ask if the stored copy changed.
        let method = head.method();
        self.origin
            .ask(method, &origin_form, to_origin, body, trace, None)
    }

    /// Passes a reply from the origin on to the client, storing a copy on the
    /// way if the rules allow. `fwd` says why the origin was asked.
    fn store_and_reply(
        &mut self,
        asking: Asking,
        response: OriginResponse,
        fwd: Forwarded,
    ) -> Served {
        let (request, key) = (asking.request, asking.key);
        let stored_head = relay::end_to_end_head(&response);
        let framing = response.framing;
        let stored_as = self.may_store(&request.head, asking.to_origin, key, &stored_head, framing);
        let storable = match &stored_as {
            Ok(_) => Ok(()),
            Err(reason) => Err(*reason),
        };
        // A failed cache write costs the copy, never the reply.
        let varies_on = vary::vary_value(&stored_head.headers);
        let begun = stored_as.map(|key| self.store.begin(&key, &stored_head, varies_on));
        let (copy, not_begun) = match begun {
            Ok(Ok(pending)) => (Some(pending), None),
            Ok(Err(error)) => (None, Some(Note::StoreFailed(error))),
            Err(NotStored::Method) => (None, None),
            Err(reason) => (None, Some(Note::NotStored(reason))),
        };
        let storing = copy.is_some();
        let (outcome, cache_status) = labels::from_origin(fwd, response.status, storable, storing);
        let span = part_for_client(request, &stored_head, response.framing);
        let labels = (outcome, cache_status.as_str());
        let budget = Unattended::new(self.origin.read_timeout(), request.client.limits());
        let client_takes_part = span.is_some();
        // Step 5: store and reply: stream the body to the client and a temporary file.
        let (served, whole_copy) = relay(request, response, copy, labels, span, budget);
        if storing && client_takes_part && whole_copy.is_none() {
            // The rest of the body was the cache's own, and it did not come
            // whole (past its budget, or the origin failed on the way):
            // the next such cheap request for this URL must not buy it again.
            self.abandoned.remember(key);
        }
        let served = served.with_note(not_begun);
        self.keep(request, served, whole_copy, client_takes_part)
    }

    /// The end of a relay: the copy, if it came whole, is renamed into place.
    /// `part`: the client took part of the body, the copy all of it.
    fn keep(
        &mut self,
        request: &Request,
        served: Served,
        whole_copy: Option<PendingEntry>,
        part: bool,
    ) -> Served {
        let bytes = served.body_bytes;
        let (temp, path) = match &whole_copy {
            Some(pending) => (
                pending.temp_path().to_owned(),
                pending.entry_path().to_owned(),
            ),
            None => (PathBuf::new(), PathBuf::new()),
        };
        // Step 5: store and reply: stream the body to the client and a temporary file.
        // (Its end: the temporary file, if the body came whole, is renamed into place.)
        let (evicted, note) = match whole_copy.map(|pending| self.store.commit(pending)) {
            Some(Ok(evicted)) => (
                Some(evicted),
                (evicted > 0).then_some(Note::Evicted(evicted)),
            ),
            Some(Err(error)) => (None, Some(Note::StoreFailed(error))),
            None => (None, None),
        };
        let why: &dyn fmt::Display = match (&note, &served.note) {
            (Some(note), _) | (None, Some(note)) => note,
            (None, None) => &"a reply to HEAD is never stored",
        };
        let kept = match evicted {
            Some(evicted) => Kept::Stored(Filed {
                bytes,
                part,
                temp: &temp,
                path: &path,
                evicted,
            }),
            None => Kept::NotStored(bytes, why),
        };
        request.trace.step(Step::StoreAndReply, kept);
        served.with_note(note)
    }

    /// Whether this reply to the client's `request`, sent on as `to_origin`,
    /// may be stored, and under which key (a response that varies is stored
    /// under the variant `to_origin` selects), or why not.
    fn may_store(
        &self,
        request: &RequestHead,
        to_origin: &[Header],
        key: &CacheKey,
        head: &ResponseHead,
        framing: Framing,
    ) -> Result<CacheKey, NotStored> {
        if request.method() != "GET" {
            return Err(NotStored::Method);
        }
        freshness::storable(&self.policy, request, head.status, &head.headers)?;
        // A reply to a client's own range or conditions (a 206, a 412, a
        // 416, or a 200 the origin sent instead) is that client's alone.
        if to_origin
            .iter()
            .any(|field| headers::asks_for_part_with(field.name()))
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

    /// The reply from a stored copy (a hit, a refreshed or a stale copy):
    /// the stored status and fields with the current `Age`, and the body from
    /// the file. A client whose own conditions match the copy gets 304 and
    /// no body; one that asks for a range gets that part (RFC 9110 14).
    fn reply_from_disk(
        &mut self,
        request: &Request,
        entry: &Entry,
        freshness: Freshness,
        how: FromDisk,
    ) -> Served {
        self.store.record_use(entry);
        let stored = &entry.head;
        let precondition = freshness::precondition(&request.head, stored.status, &stored.headers);
        let (outcome, cache_status) = labels::from_disk(how, freshness);
        // (A 204 or 304 has no body, whatever a damaged file holds after its head.)
        let with_body = precondition == Precondition::Holds
            && request.head.method() != "HEAD"
            && !matches!(stored.status, 204 | 304);
        let span = range::span(
            &request.head,
            stored.status,
            &stored.headers,
            entry.body_length,
            precondition,
        );
        let status = span.status;
        // The stored fields but `Age`, straight from the entry's bytes, then ours.
        let ours_has_range = span.content_range.is_some();
        let kept_fields = stored.headers.iter().filter(|header| {
            // Ours replace these (a stored 200's `Content-Range` means nothing).
            let ours = |name| header.is(name);
            !(ours("Age") || ours_has_range && ours("Content-Range"))
                && (status != 412 || headers::goes_with_a_412(header.name()))
        });
        // Room for the stored fields and ours.
        let mut head = HeadBytes::new(status, entry.head_length as usize + 256);
        for field in kept_fields {
            head.copy(field);
        }
        head.number("Age", freshness.age);
        if let Some(content_range) = &span.content_range {
            head.field("Content-Range", content_range);
        }
        if !matches!(status, 204 | 304) {
            head.number("Content-Length", span.count);
        }
        head.field("Connection", "close");
        for (name, value) in labels::cache_fields(outcome, &cache_status) {
            head.field(name, value);
        }
        let head = head.end();
        let note = match how {
            FromDisk::Stale { .. } => Some(Note::StaleOriginFailed(freshness.staleness())),
            FromDisk::CheckedLater => Some(Note::StaleCheckedLater(freshness.staleness())),
            _ => None,
        };
        let part = with_body.then_some((span.first, span.count));
        let (body_bytes, note) = match relay::send_stored(&request.client, &head, entry, part) {
            Ok(sent) => (sent, note),
            Err(error) => (0, Some(Note::ClientGone(ClientGone::from(error)))),
        };
        Served {
            status,
            cache: Some(outcome),
            body_bytes,
            note,
        }
    }

    fn freshness_of(&self, entry: &Entry) -> Freshness {
        let (status, headers) = (entry.head.status, &entry.head.headers);
        Freshness::of(
            &self.policy,
            status,
            headers,
            entry.stored_at,
            SystemTime::now(),
        )
    }
}

/// The URL the origin is asked for, `/path?query`: in the one spelling its
/// copy is kept under (`/%70age` is `/page`). Were it sent as the client
/// spelled it, an origin that tells the two apart could file one answer as
/// the other. Made only when the origin is asked: a hit needs none.
fn origin_form(key: &CacheKey) -> String {
    let path = key.encoded_path();
    match &key.query {
        Some(query) => [path.as_str(), "?", query].concat(),
        None => path,
    }
}

/// What the client gets of a reply to a `GET`, fetched whole: its own
/// conditions and range, which the proxy did not pass on, are answered
/// here. `None`: the whole reply, as it comes.
fn part_for_client(request: &Request, reply: &ResponseHead, framing: Framing) -> Option<Span> {
    let (status, headers) = (reply.status, &reply.headers);
    let get = request.head.method() == "GET";
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

/// Asks the origin whether the copy whose fields are `stored` changed:
/// `fields` with the copy's `validators`, sent by `ask`. A 304 that speaks
/// of another version than the copy (RFC 9111 4.3.4) answers nothing about
/// it, so the origin is asked again without them, as for a miss. A 304 that
/// comes back is always about the copy.
fn ask_about_copy(
    fields: &[Header],
    validators: &[Header],
    stored: &[Header],
    ask: impl Fn(&[Header]) -> Result<OriginResponse, RequestError>,
) -> Result<OriginResponse, RequestError> {
    let conditional = [fields, validators].concat();
    let answer = ask(&conditional)?;
    if answer.status != 304 || freshness::validates(stored, &answer.headers) {
        return Ok(answer);
    }
    match ask(fields)? {
        answer if answer.status == 304 => Err(RequestError::BadGateway(
            "the origin answered 304 to a request without conditions".into(),
        )),
        answer => Ok(answer),
    }
}

/// Writes and `PURGE`: never answered from a copy.
impl Proxy {
    /// A write (`POST`, `PUT`, ...): its body goes to the origin, the
    /// origin's reply to the client, and nothing is stored. When it succeeds,
    /// the copies it made stale are dropped (RFC 9111 4.4).
    fn forward_write(&mut self, request: &Request, key: &CacheKey) -> Result<Served, RequestError> {
        let body_length = http::request_body_length(&request.head)?;
        let declared = request.head.header("Content-Length").is_some() || body_length > 0;
        let ip = request.client_addr.ip();
        let to_origin = headers::to_origin(&request.head, ip, declared.then_some(body_length));
        if wants_continue(&request.head) {
            // The client waits for this before sending a large body.
            let _ = (&request.client).write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let mut body = request.body(body_length);
        // No body, no body reader: ureq would send an empty chunked body.
        let body_reader = (body_length > 0).then_some(&mut body as &mut dyn Read);
        let sent = self.ask_origin(request, key, &to_origin, body_reader);
        // If the client failed us mid-body, that is the error to report, not
        // whatever the origin made of a request cut short.
        if let Some(client_failure) = body.failure.take() {
            return Err(client_failure);
        }
        let response = sent?;
        // A safe method (OPTIONS, a CORS preflight) changed nothing.
        let mut dropped = None;
        if (200..400).contains(&response.status) && !is_safe(request.head.method()) {
            dropped = self.invalidate(request, key, &response.headers);
        }
        let decision = Err(NotStored::Method);
        let (outcome, cache_status) =
            labels::from_origin(Forwarded::Method, response.status, decision, false);
        // With no copy, nothing is read once the client is served: no budget.
        let labels = (outcome, cache_status.as_str());
        // Step 5: forward: stream the reply to the client and keep no copy.
        let (served, _) = relay(request, response, None, labels, None, Unattended::default());
        let bytes = served.body_bytes;
        let also = dropped
            .as_ref()
            .map(|note| format!("; {note}"))
            .unwrap_or_default();
        let bytes = count(bytes, "byte");
        let what = format_args!("{bytes} to the client; a write is never stored{also}");
        request.trace.step(Step::Forward, what);
        Ok(served.with_note(dropped))
    }

    /// Drops the copies a successful write made stale: the request's own URL
    /// and its `Location` and `Content-Location` on the same origin. Returns
    /// a note naming them.
    fn invalidate(
        &mut self,
        request: &Request,
        key: &CacheKey,
        response: &[Header],
    ) -> Option<Note> {
        let client_host = request.head.header("Host").unwrap_or_default();
        let mut stale_keys = vec![key.clone()];
        for name in ["Location", "Content-Location"] {
            let url = find_header(response, name)
                .and_then(|url| same_origin_url(&self.origin, client_host, url));
            let target = url.and_then(|url| parse_target(url).ok());
            let key = target.and_then(|target| {
                let path = key_path(target.path).ok()?;
                Some(CacheKey::new(path, target.query.map(str::to_string)))
            });
            stale_keys.extend(key);
        }
        let mut dropped = Vec::new();
        for stale_key in stale_keys {
            if self.store.remove(&stale_key).unwrap_or(false) {
                dropped.push(stale_key.to_string());
            }
        }
        (!dropped.is_empty()).then_some(Note::Invalidated(dropped))
    }

    /// `PURGE /path`: drop the stored copy of a URL; 404 when nothing was
    /// stored, as `cacheproxy purge` exits 1. Only from this machine (see
    /// [`may_purge`]): anyone else could empty the cache and send every
    /// request to the origin.
    fn purge(&mut self, request: &Request, key: &CacheKey) -> Result<Served, RequestError> {
        if !may_purge(request.client_addr.ip(), request.server_addr()?.ip()) {
            return Err(RequestError::PurgeFromElsewhere);
        }
        // Step 2: look up the URL's file in the cache directory and decide.
        // (For PURGE, the decision is made: remove it.)
        let path = self.store.path_for(key).display().to_string();
        let removed = self.store.remove(key);
        let removed = removed
            .map_err(|error| RequestError::Internal(format!("could not purge {key}: {error}")))?;
        let verdict = if removed {
            "removed"
        } else {
            "missing: nothing to purge"
        };
        request
            .trace
            .step(Step::LookUp, format_args!("{path} is {verdict}"));
        Ok(if removed {
            let text = format!("purged {key}\n");
            plain_reply(request, 200, &text, "cacheproxy; detail=purged")
        } else {
            // The words `cacheproxy purge` says for the same outcome.
            let text = format!("nothing was stored for {key}\n");
            plain_reply(request, 404, &text, "cacheproxy; detail=not-cached")
        })
    }
}

/// A stale copy that was served under `stale-while-revalidate`, to be
/// checked once its client is gone (RFC 5861 3).
///
/// With one thread, "in the background" means "later, in the same thread":
/// the server calls [`Handler::after_reply`] when the connection is closed,
/// and the check happens then, before the next connection is accepted. The
/// client that got the stale copy never waits for the origin; the next one
/// waits for the check, as it would for any request before it. `--trace`
/// prints it as `after the reply`, once the request's step 6 is done.
struct LaterCheck {
    /// The client's request, as a `GET`: the variant it selects and whether
    /// its reply may be stored are judged from it, as for the reply itself.
    request: RequestHead,
    /// Where the copy is stored, and the URL on the origin.
    key: CacheKey,
    /// The request for the origin that selected the copy.
    to_origin: Vec<Header>,
    /// The copy that was served, still open.
    entry: Entry,
}

impl LaterCheck {
    fn new(asking: Asking, entry: Entry) -> LaterCheck {
        LaterCheck {
            request: asking.request.head.with_method("GET"),
            key: asking.key.clone(),
            to_origin: asking.to_origin.to_vec(),
            entry,
        }
    }
}

/// What the check after a `stale-while-revalidate` reply did to the copy.
enum Checked {
    /// The origin answered 304.
    Refreshed(Refreshed),
    /// The origin sent a new reply; the copy became it (the temporary file
    /// and the entry).
    Replaced(PathBuf, PathBuf),
    /// The new reply may not be stored: the old copy is kept if only the
    /// client's request forbade it (`true`), else dropped.
    NotStored(NotStored, bool),
    /// Storing the new reply failed.
    StoreFailed(io::Error),
    /// The new reply's body did not come whole (see [`Unattended`]).
    Unfilled(Cut),
    /// The origin answered with an error status; the copy stays.
    OriginStatus(u16),
    /// The origin could not be asked; the copy stays.
    OriginFailed(RequestError),
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checked::Refreshed(refreshed) => write!(f, "{refreshed}"),
            Checked::Replaced(temp, path) => {
                write!(f, "{} renamed to {}", temp.display(), path.display())
            }
            Checked::NotStored(reason, kept) => {
                let old = if *kept { "kept" } else { "dropped" };
                write!(f, "not stored: {}; old copy {old}", reason.as_str())
            }
            Checked::StoreFailed(error) => write!(f, "not stored: {error}"),
            Checked::Unfilled(why) => write!(f, "{why}"),
            Checked::OriginStatus(status) => write!(f, "the origin answered {status}; copy kept"),
            Checked::OriginFailed(error) => write!(f, "the origin failed ({error}); copy kept"),
        }
    }
}

/// After the reply: the check of a copy served under `stale-while-revalidate`.
impl Proxy {
    /// Checks the copy a client was just served stale: steps 4 and 5 again,
    /// with no client waiting, within `limits` as a reply would be.
    fn check_after_reply(&mut self, later: LaterCheck, trace: &Trace, limits: ClientLimits) {
        let origin_form = origin_form(&later.key);
        // No client waits for this: one budget for all of it (two asks at
        // most, and the body), see [`Unattended`].
        let budget = Unattended::new(self.origin.read_timeout(), limits);
        let deadline = Some(Instant::now() + budget.time);
        let stored = &later.entry.head.headers;
        let validators = freshness::validators(stored);
        let sent = ask_about_copy(&later.to_origin, &validators, stored, |fields| {
            self.origin
                .ask("GET", &origin_form, fields, None, trace, deadline)
        });
        let path = later.entry.path.clone();
        let checked = match sent {
            Ok(response) if response.status == 304 => {
                let (request, key) = (&later.request, &later.key);
                let (_, refreshed) =
                    self.refresh_copy(request, key, later.entry, &response.headers);
                Checked::Refreshed(refreshed)
            }
            Ok(response) if response.status < 500 => {
                self.replace_copy(&later, response, limits, budget)
            }
            Ok(response) => Checked::OriginStatus(response.status),
            Err(error) => Checked::OriginFailed(error),
        };
        // An origin that failed, or dripped, is not asked again after a reply for a while.
        if matches!(
            checked,
            Checked::Unfilled(_) | Checked::OriginStatus(_) | Checked::OriginFailed(_)
        ) {
            self.abandoned.remember(&later.key);
        }
        let what = format_args!("{checked}; no client waiting");
        match checked {
            // Step 5: refresh: the 304 says the copy is current.
            Checked::Refreshed(_) => trace.step(Step::Refresh, what),
            // Step 5: store and reply.
            // (No client waits: only the temporary file is written.)
            _ => trace.step(Step::StoreAndReply, what),
        }
        if !trace.is_on() {
            let path = path.display();
            log(format_args!("checked {path} after the reply: {checked}"));
        }
    }

    /// A new reply from the origin: stored in place of the old copy if it
    /// may be, else the old copy is dropped (it is out of date), unless only
    /// the client's request forbade storing: that is not the client's to drop.
    fn replace_copy(
        &mut self,
        later: &LaterCheck,
        response: OriginResponse,
        limits: ClientLimits,
        budget: Unattended,
    ) -> Checked {
        let head = relay::end_to_end_head(&response);
        let (request, to_origin) = (&later.request, later.to_origin.as_slice());
        let key = match self.may_store(request, to_origin, &later.key, &head, response.framing) {
            Ok(key) => key,
            Err(reason @ (NotStored::RequestNoStore | NotStored::Authorization)) => {
                return Checked::NotStored(reason, true);
            }
            Err(reason) => {
                let _ = self.store.remove(&later.key);
                return Checked::NotStored(reason, false);
            }
        };
        let varies_on = vary::vary_value(&head.headers);
        let pending = match self.store.begin(&key, &head, varies_on) {
            Ok(pending) => pending,
            Err(error) => return Checked::StoreFailed(error),
        };
        let temp = pending.temp_path().to_owned();
        let path = pending.entry_path().to_owned();
        match relay::fill(response, pending, limits, budget)
            .map(|pending| self.store.commit(pending))
        {
            Ok(Ok(_)) => Checked::Replaced(temp, path),
            Ok(Err(error)) => Checked::StoreFailed(error),
            Err(why) => Checked::Unfilled(why),
        }
    }
}

/// URLs whose work with no client waiting was abandoned lately: the rest of
/// a body after a ranged (or conditional) client had its part, past its
/// [`Unattended`] budget, or the check after a `stale-while-revalidate`
/// reply, past its budget or failed at the origin. For a while, such a
/// request for the URL is passed on as it is (the origin answers the part
/// or the condition itself), and a stale copy is checked while its client
/// waits: a cheap request must not buy the same stall again and again.
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
        if self.when.is_empty() {
            return false;
        }
        let url = key.with_variant(None).to_string();
        self.when
            .get(&url)
            .is_some_and(|when| when.elapsed() < Self::FOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn reply(status: u16, etag: &str) -> OriginResponse {
        OriginResponse {
            status,
            headers: vec![Header::new("etag", etag)],
            framing: Framing::Length(0),
            body: Box::new(std::io::empty()),
        }
    }

    /// Asks with `answers` in turn; returns the outcome and how many were asked.
    fn ask_with(answers: Vec<OriginResponse>) -> (Result<u16, RequestError>, usize) {
        let stored = [Header::new("etag", "\"v1\"")];
        let answers = RefCell::new(answers.into_iter());
        let asked = RefCell::new(0);
        let validators = freshness::validators(&stored);
        let outcome = ask_about_copy(&[], &validators, &stored, |_| {
            *asked.borrow_mut() += 1;
            Ok(answers.borrow_mut().next().expect("an answer"))
        });
        (outcome.map(|reply| reply.status), asked.into_inner())
    }

    #[test]
    fn a_304_about_another_version_means_asking_again() {
        let (outcome, asked) = ask_with(vec![reply(304, "\"v1\"")]);
        assert_eq!((outcome.ok(), asked), (Some(304), 1), "about our copy");
        let (outcome, asked) = ask_with(vec![reply(304, "\"v2\""), reply(200, "\"v2\"")]);
        assert_eq!((outcome.ok(), asked), (Some(200), 2), "asked again");
        let (outcome, _) = ask_with(vec![reply(304, "\"v2\""), reply(304, "\"v2\"")]);
        assert!(outcome.is_err(), "a 304 to no condition is no answer");
    }
}
