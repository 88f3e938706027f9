//! What a check with the origin does to a stored copy: after a 304 the copy
//! takes the 304's fields and its age starts again (`Proxy::refresh_copy`);
//! and `stale-while-revalidate` (RFC 5861), where a stale copy is served at
//! once and checked with the origin once its client has the whole reply.
//!
//! With one thread, "in the background" means "later, in the same thread":
//! the server calls [`crate::net::server::Handler::after_reply`] when the
//! connection is closed, and the check happens then, before the next
//! connection is accepted. The client that got the stale copy never waits
//! for the origin; the next client waits for the check, as it would wait
//! for any request before it. With `--trace` the check shows as steps 4 and
//! 5 printed after step 6:
//!
//! ```text
//! #3 6. done: 200 STALE, 312 bytes sent, 0 ms in all (stale by 2 s, checked after the reply)
//! #3 4. ask the origin: GET http://127.0.0.1:8000/news If-None-Match: "v1" -> 200 OK (1.2 ms)
//! #3 5. store and reply: cache/news@#4711.3.tmp renamed to cache/news@; no client waiting (0.3 ms)
//! ```
//!
//! What the origin answers decides what becomes of the copy: a 304 for our
//! copy refreshes it; a new reply that may be stored replaces it; one that
//! may not (`no-store`, `private`) drops it, since it is out of date; an
//! error (5xx, or no answer) leaves it as it was, for the next request to
//! judge.
//!
//! Not here: when a copy must be checked, or may be served stale while it
//! is ([`crate::cache::freshness`]), and the replies ([`crate::cache::story`]).

use std::time::{Instant, SystemTime};

use crate::cache::freshness;
use crate::cache::labels::NotStored;
use crate::cache::story::Proxy;
use crate::cache::trace::{Step, Trace};
use crate::cache::vary;
use crate::error::RequestError;
use crate::net::origin::OriginResponse;
use crate::net::relay::{self, Unattended};
use crate::net::server::{log, ClientLimits, Request};
use crate::store::entry::Entry;
use crate::store::key::CacheKey;
use crate::wire::headers;
use crate::wire::http::{find_header, Header, RequestHead, ResponseHead};
use crate::wire::target::Target;

/// A stale copy that was served and is to be checked once its client is gone.
pub struct LaterCheck {
    /// The client's request, as a `GET`: the variant it selects and whether
    /// its reply may be stored are judged from it, as for the reply itself.
    request: RequestHead,
    /// The URL on the origin.
    target: Target,
    /// Where the copy is stored.
    key: CacheKey,
    /// The request for the origin: the client's fields without its
    /// conditions and `Range` (our copy's validators are added to ask).
    to_origin: Vec<Header>,
    /// The copy that was served, still open.
    entry: Entry,
}

impl LaterCheck {
    /// The check of `entry`, served stale to `request`, for after the reply;
    /// `to_origin` is the request for the origin that selected it.
    pub fn new(
        request: &Request,
        target: &Target,
        key: &CacheKey,
        to_origin: Vec<Header>,
        entry: Entry,
    ) -> LaterCheck {
        LaterCheck {
            request: RequestHead {
                method: "GET".into(),
                ..request.head.clone()
            },
            target: target.clone(),
            key: key.clone(),
            to_origin,
            entry,
        }
    }
}

/// Asks the origin whether the copy whose fields are `stored` changed:
/// `fields` with the copy's validators, sent by `ask`. A 304 that speaks of
/// another version than the copy (RFC 9111 4.3.4) answers nothing about it,
/// so the origin is asked again without them, as for a miss. A 304 that
/// comes back is always about the copy.
pub(crate) fn ask_about_copy(
    fields: &[Header],
    stored: &[Header],
    ask: impl Fn(&[Header]) -> Result<OriginResponse, RequestError>,
) -> Result<OriginResponse, RequestError> {
    let mut conditional = fields.to_vec();
    conditional.extend(freshness::validators(stored));
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

impl Proxy {
    /// The stored copy after a 304: its head takes the 304's fields and its
    /// age starts again. Returns the entry and, if the copy was not
    /// refreshed, why.
    ///
    /// The merged head is judged again as a new response would be: a 304 can
    /// say `private` or `no-store` now, and then the copy is dropped instead.
    /// A `Set-Cookie` in the 304 goes to this client's reply only, never into
    /// the copy that everyone shares.
    pub(crate) fn refresh_copy(
        &mut self,
        request: &RequestHead,
        key: &CacheKey,
        mut entry: Entry,
        from_304: &[Header],
    ) -> (Entry, Option<String>) {
        let shared: Vec<Header> = headers::from_304(from_304)
            .into_iter()
            .filter(|header| !header.name.eq_ignore_ascii_case("Set-Cookie"))
            .collect();
        let head = ResponseHead {
            status: entry.head.status,
            headers: freshness::refreshed_headers(&entry.head.headers, &shared),
        };
        // A 304 that changes what the copy varies on speaks for this request
        // only: the copy was filed under a key that no longer says which
        // requests it answers (RFC 9111 4.1). This client gets it; the next
        // one fetches its own.
        let varies_on = vary::vary_value(&head.headers);
        if vary::vary_value(&entry.head.headers) != varies_on {
            let _ = self.store.remove(key);
            entry.stored_at = SystemTime::now();
            return (entry, Some("copy dropped: the 304 changed its Vary".into()));
        }
        // The copy is judged by the response alone: a client's `no-store` or
        // credentials mean "keep nothing of mine", not "drop the shared copy".
        let keep_shared = freshness::storable(&self.policy, request, head.status, &head.headers);
        match freshness::shareable(&self.policy, head.status, &head.headers) {
            Ok(()) => match keep_shared {
                Err(reason) => {
                    let why = format!("copy not refreshed: {}", reason.as_str());
                    (entry, Some(why))
                }
                // Only the age starts again: no new file, no fsync of an
                // unchanged body (RFC 9111 4.3.4 asks for no more).
                Ok(()) => {
                    let new_date = find_header(&head.headers, "Date").unwrap_or_default();
                    let touched = if freshness::needs_rewrite(&entry.head.headers, &head.headers) {
                        Ok(false)
                    } else {
                        self.store.touch(&mut entry, new_date)
                    };
                    match touched {
                        Ok(true) => {
                            entry.head = head;
                            let why = "the 304 changed only Date: written in place, no new file";
                            (entry, Some(why.into()))
                        }
                        Ok(false) => {
                            // If the update fails, the old copy is still open: serve it.
                            let (entry, failed) = self.store.refresh(key, entry, &head, varies_on);
                            (entry, failed.map(|error| format!("not refreshed: {error}")))
                        }
                        Err(error) => (entry, Some(format!("not refreshed: {error}"))),
                    }
                }
            },
            Err(reason) => {
                // The copy may not be shared any more: drop it, and serve this
                // one reply from the body we still hold open.
                let _ = self.store.remove(key);
                entry.stored_at = SystemTime::now();
                (entry, Some(format!("copy dropped: {}", reason.as_str())))
            }
        }
    }

    /// Checks the copy a client was just served stale: steps 4 and 5 again,
    /// with no client waiting, within `limits` as a reply would be.
    pub(crate) fn check_after_reply(
        &mut self,
        later: LaterCheck,
        trace: &Trace,
        limits: ClientLimits,
    ) {
        let origin_form = later.target.origin_form();
        // No client waits for this: one budget for all of it (two asks at
        // most, and the body), see [`Unattended`].
        let budget = Unattended::new(self.origin.read_timeout(), limits);
        let deadline = Some(Instant::now() + budget.time);
        let sent = ask_about_copy(&later.to_origin, &later.entry.head.headers, |fields| {
            let asked = ("GET", origin_form.as_str());
            self.origin.ask(asked, fields, None, trace, deadline)
        });
        let path = later.entry.path.clone();
        let outcome = match sent {
            Ok(response) if response.status == 304 => {
                let from_304 = &response.headers;
                let (_, note) =
                    self.refresh_copy(&later.request, &later.key, later.entry, from_304);
                note.unwrap_or_else(|| "refreshed with the 304's fields, the same body".into())
            }
            Ok(response) if response.status < 500 => {
                self.replace_copy(&later, response, (limits, budget))
            }
            Ok(response) => {
                self.abandoned.remember(&later.key);
                format!("the origin answered {}; copy kept", response.status)
            }
            Err(error) => {
                self.abandoned.remember(&later.key);
                format!("the origin failed ({error}); copy kept")
            }
        };
        // Only the store is left: the client has its reply.
        // Step 5: store and reply.
        trace.step(
            Step::StoreAndReply,
            format_args!("{outcome}; no client waiting"),
        );
        if !trace.is_on() {
            let path = path.display();
            log(&format!("checked {path} after the reply: {outcome}"));
        }
    }

    /// A new reply from the origin: stored in place of the old copy if it
    /// may be, else the old copy is dropped (it is out of date), unless only
    /// the client's request forbade storing: that is not the client's to
    /// drop. Returns what happened.
    fn replace_copy(
        &mut self,
        later: &LaterCheck,
        response: OriginResponse,
        budget: (ClientLimits, Unattended),
    ) -> String {
        let head = relay::end_to_end_head(&response);
        let sent = (&later.request, later.to_origin.as_slice());
        let stored_as = self.may_store(sent, &later.key, &head, response.framing);
        let key = match stored_as {
            Ok(key) => key,
            Err(reason @ (NotStored::RequestNoStore | NotStored::Authorization)) => {
                return format!("not stored: {}; old copy kept", reason.as_str());
            }
            Err(reason) => {
                let _ = self.store.remove(&later.key);
                return format!("not stored: {}; old copy dropped", reason.as_str());
            }
        };
        let varies_on = vary::vary_value(&head.headers);
        let pending = match self.store.begin(&key, &head, varies_on) {
            Ok(pending) => pending,
            Err(error) => return format!("not stored: {error}"),
        };
        let (temp, path) = (
            pending.temp_path().to_owned(),
            pending.entry_path().to_owned(),
        );
        let filled = relay::fill(response, pending, budget);
        match filled.map(|pending| self.store.commit(pending)) {
            Ok(Ok(_)) => format!("{} renamed to {}", temp.display(), path.display()),
            Ok(Err(error)) => format!("not stored: {error}"),
            Err(why) => {
                self.abandoned.remember(&later.key);
                why
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::origin::Framing;
    use std::cell::RefCell;

    fn reply(status: u16, etag: &str) -> OriginResponse {
        OriginResponse {
            status,
            headers: vec![Header {
                name: "etag".into(),
                value: etag.as_bytes().to_vec(),
            }],
            framing: Framing::Length(0),
            body: Box::new(std::io::empty()),
        }
    }

    /// Asks with `answers` in turn; returns the outcome and how many were asked.
    fn ask_with(answers: Vec<OriginResponse>) -> (Result<u16, RequestError>, usize) {
        let stored = [Header {
            name: "etag".into(),
            value: b"\"v1\"".to_vec(),
        }];
        let answers = RefCell::new(answers.into_iter());
        let asked = RefCell::new(0);
        let outcome = ask_about_copy(&[], &stored, |_| {
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
