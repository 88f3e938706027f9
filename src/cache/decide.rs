//! The one decision of the cache: what to do with a `GET` or `HEAD`, given
//! what the store holds for it. Like a state of Varnish's `builtin.vcl`, it
//! names the next state; like `http-cache-semantics`' `CachePolicy`, it is a
//! pure function of data: no file, no socket, no clock read inside. Each
//! [`Decision`] carries what the next step needs, and a `why` that
//! `--trace`, `Cache-Status` and `cacheproxy explain` print with its RFC.
//!
//! Not here: the rules it combines ([`crate::cache::freshness`]), and doing
//! what it decides ([`crate::cache::story`]).

use std::fmt;
use std::time::SystemTime;

use crate::cache::freshness::{self as rules, CachePolicy, Freshness};
use crate::wire::headers::asks_for_part;
use crate::wire::http::{Header, RequestHead};

/// What the store holds for a request, as the decision sees it.
pub struct Stored<'a> {
    /// The stored copy the request selects, if one could be read.
    pub copy: Option<StoredCopy<'a>>,
    /// A file was there but could not be read (a miss all the same).
    pub unreadable: bool,
    /// Work on this URL that no client waited for was abandoned lately (see
    /// [`crate::cache::story::Abandoned`]): its cheap requests are passed on,
    /// and a stale copy is checked while its client waits.
    pub abandoned_lately: bool,
}

/// A stored response: its status, its header fields, and when it was stored.
#[derive(Clone, Copy)]
pub struct StoredCopy<'a> {
    /// The stored status.
    pub status: u16,
    /// The stored header fields.
    pub headers: &'a [Header],
    /// When it was stored (or last refreshed by a 304).
    pub stored_at: SystemTime,
}

/// The next state of a request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Reply from the copy; the origin is not asked.
    Hit {
        /// The copy's age and lifetime.
        freshness: Freshness,
        /// Fresh, or stale but the client accepts it.
        why: HitWhy,
    },
    /// Reply from the stale copy at once, and check it with the origin once
    /// the client has it (`stale-while-revalidate`, RFC 5861 3).
    HitThenCheck {
        /// The copy's age and lifetime.
        freshness: Freshness,
    },
    /// Ask the origin whether the copy changed (RFC 9111 4.3.1).
    Check(Check),
    /// Fetch the whole URL, to store a copy if the reply may be kept.
    Fetch {
        /// Nothing stored, or nothing readable.
        why: FetchWhy,
    },
    /// Send the request on with its own conditions and range: the reply is
    /// this client's alone and is never stored.
    Pass {
        /// Why no copy is to be made.
        why: PassWhy,
    },
}

/// What a check with the origin needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The copy's age and lifetime.
    pub freshness: Freshness,
    /// Stale, or the client insists.
    pub why: CheckWhy,
    /// The conditional fields that ask "changed since this copy?".
    pub validators: Vec<Header>,
    /// Whether the copy may stand in if the origin fails
    /// (`stale-if-error`, RFC 5861 4; RFC 9111 4.2.4).
    pub stale_on_error: bool,
}

/// Why a copy will do as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitWhy {
    /// It is younger than its lifetime.
    Fresh,
    /// It is stale, but the client's `max-stale` accepts it.
    ClientAcceptsStale,
}

/// Why a copy is checked with the origin before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckWhy {
    /// It is past its lifetime.
    Stale,
    /// The client insists on a check (`no-cache`, a `max-age` or
    /// `min-fresh` the copy cannot meet).
    ClientInsists,
}

/// Why the whole URL is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchWhy {
    /// Nothing is stored for the URL (or for this variant).
    Missing,
    /// A file is stored, but it cannot be read.
    Unreadable,
}

/// Why a request is passed on as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassWhy {
    /// A `HEAD`: its reply has no body to store.
    Head,
    /// The client said `Cache-Control: no-store`.
    RequestNoStore,
    /// It asks for part of a URL whose whole body was abandoned lately.
    PartOfAbandoned,
}

/// Decides what to do with `request`, given what is `stored` for it, under
/// `policy`, at time `now`.
pub fn decide(
    stored: &Stored,
    request: &RequestHead,
    policy: &CachePolicy,
    now: SystemTime,
) -> Decision {
    let Some(copy) = stored.copy else {
        return fetch_or_pass(stored, request);
    };
    let (status, headers) = (copy.status, copy.headers);
    let freshness = Freshness::of(policy, status, headers, copy.stored_at, now);
    let hit = |why| Decision::Hit { freshness, why };
    let check = |why| {
        let validators = rules::validators(headers);
        let stale_on_error = rules::may_serve_stale(policy, request, headers, freshness);
        Decision::Check(Check {
            freshness,
            why,
            validators,
            stale_on_error,
        })
    };
    if rules::client_requires_check(request, freshness) {
        check(CheckWhy::ClientInsists)
    } else if freshness.is_fresh() {
        hit(HitWhy::Fresh)
    } else if rules::may_revalidate_later(policy, headers, freshness) && !stored.abandoned_lately {
        // Checked after the reply, even when the client would take it stale
        // as it is; unless such a check was abandoned lately.
        Decision::HitThenCheck { freshness }
    } else if rules::client_accepts_stale(policy, request, headers, freshness) {
        hit(HitWhy::ClientAcceptsStale)
    } else {
        check(CheckWhy::Stale)
    }
}

/// Nothing stored: a `GET` is fetched whole and current, to be stored; the
/// client's conditions and range are answered from it. A request whose
/// reply will not be kept passes them on (RFC 9110 13.2.1).
fn fetch_or_pass(stored: &Stored, request: &RequestHead) -> Decision {
    let (pass, fetch) = (|why| Decision::Pass { why }, |why| Decision::Fetch { why });
    if request.method() == "HEAD" {
        pass(PassWhy::Head)
    } else if rules::request_no_store(request) {
        pass(PassWhy::RequestNoStore)
    } else if stored.abandoned_lately && asks_for_part(request) {
        pass(PassWhy::PartOfAbandoned)
    } else if stored.unreadable {
        fetch(FetchWhy::Unreadable)
    } else {
        fetch(FetchWhy::Missing)
    }
}

impl Decision {
    /// The decision in a word or two: `hit`, `check`, `fetch`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Hit { .. } => "hit",
            Decision::HitThenCheck { .. } => "hit, then check",
            Decision::Check(_) => "check",
            Decision::Fetch { .. } => "fetch",
            Decision::Pass { .. } => "pass",
        }
    }

    /// Why, with the section of the RFC that says so.
    pub fn why(&self) -> &'static str {
        match self {
            Decision::Hit { why, .. } => match why {
                HitWhy::Fresh => "fresh, RFC 9111 4.2",
                HitWhy::ClientAcceptsStale => {
                    "stale, but the client's max-stale accepts it, RFC 9111 5.2.1.2"
                }
            },
            Decision::HitThenCheck { .. } => {
                "stale, within stale-while-revalidate: checked after the reply, RFC 5861 3"
            }
            Decision::Check(Check { why, .. }) => match why {
                CheckWhy::Stale => "stale: ask the origin if it changed, RFC 9111 4.3.1",
                CheckWhy::ClientInsists => "the client insists on a check, RFC 9111 5.2.1",
            },
            Decision::Fetch { why } => match why {
                FetchWhy::Missing => "nothing stored, RFC 9111 4",
                FetchWhy::Unreadable => "the file cannot be read, so a miss",
            },
            Decision::Pass { why } => match why {
                PassWhy::Head => "a HEAD has no body to store, RFC 9110 9.3.2",
                PassWhy::RequestNoStore => "the client said no-store, RFC 9111 5.2.1.5",
                PassWhy::PartOfAbandoned => "a part of a body abandoned lately",
            },
        }
    }

    /// The stored copy's age and lifetime, when there is a copy.
    pub fn freshness(&self) -> Option<Freshness> {
        match self {
            Decision::Hit { freshness, .. }
            | Decision::HitThenCheck { freshness }
            | Decision::Check(Check { freshness, .. }) => Some(*freshness),
            Decision::Fetch { .. } | Decision::Pass { .. } => None,
        }
    }
}

/// `hit (fresh, RFC 9111 4.2)`; a check adds what happens if the origin fails.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.why())?;
        if let Decision::Check(Check { stale_on_error, .. }) = self {
            let then = match stale_on_error {
                true => "the stale copy stands in, RFC 5861 4",
                false => "an error reply",
            };
            write!(f, "; if the origin fails: {then}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: Duration = Duration::from_secs(1_700_000_000);

    fn fields(text: &str) -> Vec<Header> {
        text.split(" | ")
            .filter(|field| !field.is_empty())
            .filter_map(|field| field.split_once(": "))
            .map(|(name, value)| Header::new(name, value.replace(';', ",")))
            .collect()
    }

    fn request(method: &str, text: &str) -> RequestHead {
        RequestHead::new(method, "/", 1, fields(text))
    }

    /// The decision for a `GET` with `asks`, of a copy stored `age` seconds
    /// ago with `stored` fields (split by ` | `; `;` stands for `,`).
    fn decision(asks: &str, stored: &str, age: u64) -> Decision {
        decision_for(&request("GET", asks), Some(stored), age, false)
    }

    fn decision_for(
        asks: &RequestHead,
        stored: Option<&str>,
        age: u64,
        abandoned: bool,
    ) -> Decision {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let headers = fields(stored.unwrap_or_default());
        let copy = stored.map(|_| StoredCopy {
            status: 200,
            headers: &headers,
            stored_at: now - Duration::from_secs(age),
        });
        let stored = Stored {
            copy,
            unreadable: false,
            abandoned_lately: abandoned,
        };
        let policy = CachePolicy {
            default_ttl: Duration::ZERO,
            max_stale: Duration::from_secs(86_400),
            targeted_field: Some("CDN-Cache-Control".into()),
        };
        decide(&stored, asks, &policy, now)
    }

    fn name(decision: &Decision) -> String {
        let why = match decision {
            Decision::Check(Check {
                stale_on_error: true,
                ..
            }) => "check, stale on error",
            other => other.name(),
        };
        why.to_string()
    }

    #[test]
    fn the_decision_table() {
        let table = [
            // (request fields, stored fields, age in s, decision)
            ("", "Cache-Control: max-age=60", 10, "hit"),
            ("", "Cache-Control: max-age=60", 60, "check, stale on error"),
            ("", "Cache-Control: max-age=60; must-revalidate", 70, "check"),
            ("", "Cache-Control: s-maxage=60", 70, "check"),
            ("", "Cache-Control: no-cache", 0, "check"),
            ("Cache-Control: no-cache", "Cache-Control: max-age=60", 0, "check, stale on error"),
            ("Pragma: no-cache", "Cache-Control: max-age=60", 0, "check, stale on error"),
            ("Cache-Control: max-age=5", "Cache-Control: max-age=60", 10, "check, stale on error"),
            ("Cache-Control: min-fresh=55", "Cache-Control: max-age=60", 10, "check, stale on error"),
            ("Cache-Control: max-stale=20", "Cache-Control: max-age=60", 70, "hit"),
            ("Cache-Control: max-stale=5", "Cache-Control: max-age=60", 70, "check, stale on error"),
            ("Cache-Control: max-stale", "Cache-Control: max-age=60; must-revalidate", 70, "check"),
            ("", "Cache-Control: max-age=60; stale-while-revalidate=30", 70, "hit, then check"),
            ("", "Cache-Control: max-age=60; stale-while-revalidate=5", 70, "check, stale on error"),
            ("Cache-Control: max-stale", "Cache-Control: max-age=60; stale-while-revalidate=30", 70, "hit, then check"),
            ("Cache-Control: no-cache", "Cache-Control: max-age=60; stale-while-revalidate=30", 70, "check, stale on error"),
            ("Cache-Control: stale-if-error=5", "Cache-Control: max-age=60", 70, "check"),
            ("", "Cache-Control: max-age=60; stale-if-error=5", 70, "check"),
            ("", "Cache-Control: max-age=60 | CDN-Cache-Control: max-age=5", 10, "check, stale on error"),
            ("", "Cache-Control: max-age=5 | CDN-Cache-Control: max-age=60", 10, "hit"),
            ("", "Date: Tue, 14 Nov 2023 22:13:20 GMT | Expires: Tue, 14 Nov 2023 22:14:20 GMT", 10, "hit"),
            ("", "Expires: 0", 0, "check, stale on error"),
            ("", "Date: Tue, 14 Nov 2023 22:13:20 GMT | Last-Modified: Tue, 14 Nov 2023 21:13:20 GMT", 10, "hit"),
            ("", "Date: Tue, 14 Nov 2023 22:13:20 GMT", 10, "check, stale on error"),
        ];
        for (asks, stored, age, expected) in table {
            let decision = decision(asks, stored, age);
            assert_eq!(
                name(&decision),
                expected,
                "{asks:?} of {stored:?} at age {age}: {decision}"
            );
        }
    }

    #[test]
    fn a_check_sends_the_copys_validators() {
        let stored =
            "Cache-Control: no-cache | ETag: \"v1\" | Last-Modified: Tue, 14 Nov 2023 21:13:20 GMT";
        let Decision::Check(Check { validators, .. }) = decision("", stored, 0) else {
            panic!("a no-cache copy is checked");
        };
        let names: Vec<&str> = validators.iter().map(|field| field.name()).collect();
        assert_eq!(names, ["If-None-Match", "If-Modified-Since"]);
        assert_eq!(validators[0].value(), b"\"v1\"");
    }

    #[test]
    fn a_hit_says_whether_it_is_fresh_or_accepted_stale() {
        let fresh = decision("", "Cache-Control: max-age=60", 10);
        assert!(
            matches!(
                fresh,
                Decision::Hit {
                    why: HitWhy::Fresh,
                    ..
                }
            ),
            "{fresh}"
        );
        let stale = decision("Cache-Control: max-stale", "Cache-Control: max-age=60", 70);
        let accepted = HitWhy::ClientAcceptsStale;
        assert!(
            matches!(stale, Decision::Hit { why, .. } if why == accepted),
            "{stale}"
        );
        assert_eq!(stale.freshness().map(|freshness| freshness.age), Some(70));
    }

    #[test]
    fn nothing_stored_is_a_fetch_unless_the_reply_will_not_be_kept() {
        let get = request("GET", "");
        let fetch = Decision::Fetch {
            why: FetchWhy::Missing,
        };
        assert_eq!(decision_for(&get, None, 0, false), fetch);
        let pass = |why| Decision::Pass { why };
        let head = request("HEAD", "");
        assert_eq!(decision_for(&head, None, 0, false), pass(PassWhy::Head));
        let no_store = request("GET", "Cache-Control: no-store");
        assert_eq!(
            decision_for(&no_store, None, 0, false),
            pass(PassWhy::RequestNoStore)
        );
        let part = request("GET", "Range: bytes=0-0");
        assert_eq!(decision_for(&part, None, 0, false), fetch);
        let abandoned = pass(PassWhy::PartOfAbandoned);
        assert_eq!(decision_for(&part, None, 0, true), abandoned);
        assert_eq!(
            decision_for(&get, None, 0, true),
            fetch,
            "a whole GET is fetched"
        );
    }

    #[test]
    fn an_unreadable_file_is_a_fetch() {
        let stored = Stored {
            copy: None,
            unreadable: true,
            abandoned_lately: false,
        };
        let policy = CachePolicy {
            default_ttl: Duration::ZERO,
            max_stale: Duration::ZERO,
            targeted_field: None,
        };
        let decision = decide(&stored, &request("GET", ""), &policy, SystemTime::now());
        assert_eq!(
            decision,
            Decision::Fetch {
                why: FetchWhy::Unreadable
            }
        );
    }

    #[test]
    fn a_check_abandoned_lately_is_made_while_the_client_waits() {
        let swr = "Cache-Control: max-age=60; stale-while-revalidate=30";
        let get = request("GET", "");
        let decision = decision_for(&get, Some(swr), 70, true);
        assert!(
            matches!(
                decision,
                Decision::Check(Check {
                    why: CheckWhy::Stale,
                    ..
                })
            ),
            "{decision}"
        );
    }

    #[test]
    fn every_decision_prints_its_rfc_or_reason() {
        let check = decision("", "Cache-Control: max-age=60", 70);
        assert_eq!(
            check.to_string(),
            "check (stale: ask the origin if it changed, RFC 9111 4.3.1); \
             if the origin fails: the stale copy stands in, RFC 5861 4"
        );
        let hit = decision("", "Cache-Control: max-age=60", 1);
        assert_eq!(hit.to_string(), "hit (fresh, RFC 9111 4.2)");
    }
}
