//! What a handler reports of a request it answered ([`Served`]), and the
//! note the log line adds when there is more to say ([`Note`]): outcomes as
//! values, put into words only when the line is printed.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::cache::freshness::NotStored;
use crate::cache::labels::{Outcome, Refreshed};
use crate::cache::trace::count;
use crate::error::RequestError;

/// How a handler reports a request it answered, for the log line.
#[derive(Debug)]
pub struct Served {
    /// The status sent to the client.
    pub status: u16,
    /// What the cache did (`HIT`, `MISS`, ...); `None`, shown `-`, with no cache.
    pub cache: Option<Outcome>,
    /// How many body bytes went to the client.
    pub body_bytes: u64,
    /// Anything worth a note: an entry not stored and why, a client gone.
    pub note: Option<Note>,
}

impl Served {
    /// `self` with `note` added, if there is one and it has none yet.
    #[must_use]
    pub fn with_note(self, note: Option<Note>) -> Served {
        Served {
            note: self.note.or(note),
            ..self
        }
    }
}

/// What the log line adds in parentheses, when there is more to say.
#[derive(Debug)]
pub enum Note {
    /// A stale copy was served, this many seconds past its lifetime: the origin failed.
    StaleOriginFailed(u64),
    /// A stale copy was served under `stale-while-revalidate`.
    StaleCheckedLater(u64),
    /// The stored file could not be read, so the request was a miss.
    Unreadable(io::Error),
    /// The reply may not be stored.
    NotStored(NotStored),
    /// Storing the reply failed.
    StoreFailed(io::Error),
    /// Storing the reply evicted this many older entries.
    Evicted(usize),
    /// What a 304 did to the copy, when it was more than a refresh.
    Refreshed(Refreshed),
    /// A write made these URLs' copies stale, and they were dropped.
    Invalidated(Vec<String>),
    /// The client left, or was cut off, before its reply ended.
    ClientGone(ClientGone),
    /// The body stopped short.
    Cut(Cut),
    /// The client left, and the cache read the rest of the body all the same.
    FilledAnyway(ClientGone),
    /// The request was refused, or failed, with an error reply.
    Refused(RequestError),
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::StaleOriginFailed(by) => write!(f, "stale by {by} s, origin failed"),
            Note::StaleCheckedLater(by) => write!(f, "stale by {by} s, checked after the reply"),
            Note::Unreadable(error) => write!(f, "unreadable, so a miss: {error}"),
            Note::NotStored(reason) => write!(f, "not stored: {}", reason.as_str()),
            Note::StoreFailed(error) => write!(f, "not stored: {error}"),
            Note::Evicted(entries) => {
                write!(f, "evicted {}", count(*entries as u64, "older entry"))
            }
            Note::Refreshed(refreshed) => write!(f, "{refreshed}"),
            Note::Invalidated(urls) => write!(f, "invalidated {}", urls.join(" ")),
            Note::ClientGone(gone) => write!(f, "{gone}"),
            Note::Cut(cut) => write!(f, "{cut}"),
            Note::FilledAnyway(gone) => write!(f, "{gone}; the copy was filled all the same"),
            Note::Refused(error) => write!(f, "{error}"),
        }
    }
}

/// Why a reply did not reach its end on the client's side (`Display`: the note).
#[derive(Debug)]
pub enum ClientGone {
    /// One of the reply's deadlines cut it off.
    CutOff(io::Error),
    /// The client hung up: not a server error, clients hang up all the time.
    WentAway(io::Error),
}

impl From<io::Error> for ClientGone {
    fn from(error: io::Error) -> ClientGone {
        match error.kind() {
            io::ErrorKind::TimedOut => ClientGone::CutOff(error),
            _ => ClientGone::WentAway(error),
        }
    }
}

impl fmt::Display for ClientGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientGone::CutOff(error) => write!(f, "cut off: {error}"),
            ClientGone::WentAway(error) => write!(f, "client went away: {error}"),
        }
    }
}

/// Why a body, or the cache's copy of it, stopped short (`Display`: the note).
#[derive(Debug)]
pub enum Cut {
    /// Reading from the origin failed, or it was too slow.
    Origin(io::Error),
    /// The body ended before its `Content-Length`, or the client's promised part.
    Short,
    /// Writing to the client failed (it left, or a deadline cut it off).
    Client(ClientGone),
    /// The rest of the body, which no client waits for, was over its budget
    /// ([`crate::net::relay::Unattended`]).
    OverBudget {
        /// The most bytes the budget allowed.
        bytes: u64,
        /// The time it allowed.
        time: Duration,
    },
    /// Writing the cache's copy failed: that costs the copy, never the reply.
    CopyFailed(io::Error),
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Origin(error) => write!(f, "origin failed mid-body, nothing stored: {error}"),
            Cut::Short => {
                f.write_str("origin body shorter than its Content-Length, nothing stored")
            }
            Cut::Client(gone) => write!(f, "{gone}, nothing stored"),
            Cut::OverBudget { bytes, time } => write!(
                f,
                "the rest of the body was more than the cache reads with no client \
                 waiting ({} KiB within {} s), nothing stored",
                bytes / 1024,
                time.as_secs_f64()
            ),
            Cut::CopyFailed(error) => write!(f, "not stored: {error}"),
        }
    }
}
