//! `--trace`: a running commentary of each request, step by step, numbered
//! like the README's pseudocode and the `// Step N:` comments in the source.
//!
//! ```text
//! #1 1. receive: GET / from 127.0.0.1:50312 (0.1 ms)
//! #1 2. look up: cache/@ is missing (0.0 ms)
//! #1 4. ask the origin: GET http://127.0.0.1:8000/ -> 200 OK (1002.3 ms)
//! #1 5. store and reply: 1601 bytes to the client and to cache/@#4711.0.tmp, renamed to cache/@ (0.4 ms)
//! #1 6. done: 200 MISS, 1941 bytes sent, 1003 ms in all
//! ```
//!
//! `#1` is the request's sequence number, so lines of different requests can
//! be told apart; the time in parentheses is how long that step took (since
//! the previous line). Without `--trace` nothing here prints, and the server
//! logs one line per request instead.
//!
//! Steps: all six, as told by the code that does them.
//!
//! Not here: any decision. A trace only reports what the code around it did.

use std::cell::Cell;
use std::fmt::{self, Display};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cache::freshness::Freshness;
use crate::error::RequestError;
use crate::net::server::{log, Served};
use crate::wire::headers::is_conditional;
use crate::wire::http::{reason_phrase, Header};

/// The steps of the README's pseudocode. Each printed number means one kind
/// of action, wherever it is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 1. Read the request and work out which URL it asks for.
    Receive,
    /// 2. Find the URL's file and judge it (missing, fresh, stale).
    LookUp,
    /// 3. Reply from the file, without asking the origin.
    Hit,
    /// 4. Send a request to the origin (a fetch, or "has it changed?").
    AskTheOrigin,
    /// 5. Pass the origin's reply on, keeping a copy if the rules allow.
    StoreAndReply,
    /// 6. Log the request and close the connection.
    Done,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 6] = [
        Step::Receive,
        Step::LookUp,
        Step::Hit,
        Step::AskTheOrigin,
        Step::StoreAndReply,
        Step::Done,
    ];

    /// The step's number, 1 to 6.
    pub fn number(self) -> usize {
        match self {
            Step::Receive => 1,
            Step::LookUp => 2,
            Step::Hit => 3,
            Step::AskTheOrigin => 4,
            Step::StoreAndReply => 5,
            Step::Done => 6,
        }
    }

    /// The step's name, as in the README's pseudocode.
    pub fn name(self) -> &'static str {
        match self {
            Step::Receive => "receive",
            Step::LookUp => "look up",
            Step::Hit => "hit",
            Step::AskTheOrigin => "ask the origin",
            Step::StoreAndReply => "store and reply",
            Step::Done => "done",
        }
    }
}

/// The narration of one request, or silence when tracing is off.
#[derive(Debug)]
pub struct Trace {
    /// The request's sequence number; `None` when tracing is off.
    sequence: Option<u64>,
    /// When the previous step ended.
    last_step: Cell<Instant>,
}

impl Trace {
    /// A trace that prints nothing.
    pub fn off() -> Trace {
        Trace {
            sequence: None,
            last_step: Cell::new(Instant::now()),
        }
    }

    /// A trace for request number `sequence`, starting its clock now.
    pub fn on(sequence: u64) -> Trace {
        Trace {
            sequence: Some(sequence),
            last_step: Cell::new(Instant::now()),
        }
    }

    /// Whether this trace prints.
    pub fn is_on(&self) -> bool {
        self.sequence.is_some()
    }

    /// Prints `step` with what happened and how long it took.
    pub fn step(&self, step: Step, what: impl Display) {
        let Some(sequence) = self.sequence else {
            return;
        };
        let now = Instant::now();
        let took = now.duration_since(self.last_step.replace(now));
        let (number, name) = (step.number(), step.name());
        let milliseconds = took.as_secs_f64() * 1000.0;
        log(&format!(
            "#{sequence} {number}. {name}: {what} ({milliseconds:.1} ms)"
        ));
    }

    /// Prints the last step: what was sent, and the time for the whole request.
    pub fn done(&self, what: impl Display) {
        if let Some(sequence) = self.sequence {
            log(&format!("#{sequence} 6. done: {what}"));
        }
    }
}

/// Step 2's verdict, as the trace tells it.
pub enum Verdict<'a> {
    /// A stored copy at this path, with its freshness, and whether the client
    /// insists on a check with the origin.
    Stored(&'a Path, Freshness, bool),
    /// Nothing usable at this path: missing, or unreadable (and why).
    Missing(&'a Path, Option<&'a str>),
}

impl Display for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::Missing(path, why) => {
                write!(f, "{} is {}", path.display(), why.unwrap_or("missing"))
            }
            Verdict::Stored(path, freshness, client_insists) => {
                let (path, age, lifetime) = (path.display(), freshness.age, freshness.lifetime);
                if !freshness.is_fresh() {
                    let past = freshness.staleness();
                    write!(
                        f,
                        "{path} is stale: age {age} s, {past} s past its {lifetime} s lifetime"
                    )
                } else if client_insists {
                    write!(f, "{path} is fresh (age {age} s of {lifetime} s), but the client insists on a check")
                } else {
                    write!(
                        f,
                        "{path} is fresh: age {age} s of its {lifetime} s lifetime"
                    )
                }
            }
        }
    }
}

/// Step 4, as the trace tells it: the request sent to the origin (with its
/// conditions, if any) and what came back.
pub struct Asked<'a> {
    method: &'a str,
    url: &'a str,
    to_origin: &'a [Header],
    answer: Result<u16, &'a RequestError>,
}

impl<'a> Asked<'a> {
    /// `method url` sent with `to_origin`, answered with a status or an error.
    pub fn new(
        method: &'a str,
        url: &'a str,
        to_origin: &'a [Header],
        answer: Result<u16, &'a RequestError>,
    ) -> Asked<'a> {
        Asked {
            method,
            url,
            to_origin,
            answer,
        }
    }
}

impl Display for Asked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        for header in self
            .to_origin
            .iter()
            .filter(|header| is_conditional(&header.name))
        {
            write!(
                f,
                " {}: {}",
                header.name,
                String::from_utf8_lossy(&header.value)
            )?;
        }
        match self.answer {
            Ok(status) => write!(f, " -> {status} {}", reason_phrase(status)),
            Err(error) => write!(f, " -> failed: {error}"),
        }
    }
}

/// Steps 3 and 5, as the trace tells them: where the reply came from and
/// what became of the copy.
pub enum Kept<'a> {
    /// A hit (step 3): the reply came from the file at this path.
    FromFile(&'a Path, &'a Served),
    /// The origin failed and the stale copy at this path stood in (step 3).
    StandingIn(&'a Path, &'a Served),
    /// After a 304 (step 5): the copy at this path got the 304's fields, or
    /// could not (and why).
    Refreshed(&'a Path, &'a Served, Option<&'a str>),
    /// Relayed from the origin and stored (step 5): the temporary file, the
    /// entry it became, and how many older entries were evicted for it.
    Stored(&'a Served, PathBuf, PathBuf, usize),
    /// Relayed from the origin with no copy kept (step 5), and why.
    NotStored(&'a Served, Option<String>),
}

impl Display for Kept<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kept::FromFile(path, served) => write_reply(f, path, served),
            Kept::StandingIn(path, served) => {
                let path = path.display();
                write!(f, "the origin failed; the stale copy {path} stands in")?;
                write_current(f, served)
            }
            Kept::Refreshed(path, served, why) => {
                let path_shown = path.display();
                match why {
                    Some(why) => write!(f, "{path_shown}: {why}; ")?,
                    None => write!(
                        f,
                        "refreshed {path_shown}: the 304's fields, the same body, renamed into place; "
                    )?,
                }
                write_reply(f, path, served)
            }
            Kept::Stored(served, temp, path, evicted) => {
                let bytes = served.body_bytes;
                let (temp, path) = (temp.display(), path.display());
                write!(
                    f,
                    "{bytes} bytes to the client and to {temp}, renamed to {path}"
                )?;
                if *evicted > 0 {
                    write!(f, "; evicted {}", count(*evicted as u64, "older entry"))?;
                }
                Ok(())
            }
            Kept::NotStored(served, why) => {
                let why = why.as_deref().or(served.note.as_deref());
                let why = why.unwrap_or("a reply to HEAD is never stored");
                write!(f, "{} bytes to the client; {why}", served.body_bytes)
            }
        }
    }
}

/// "reply from PATH", and the 304 a client's own condition earned, if it did.
fn write_reply(f: &mut fmt::Formatter<'_>, path: &Path, served: &Served) -> fmt::Result {
    write!(f, "reply from {}", path.display())?;
    write_current(f, served)
}

/// ": the client's copy is current ..." when the reply was a 304.
fn write_current(f: &mut fmt::Formatter<'_>, served: &Served) -> fmt::Result {
    if served.status == 304 {
        write!(f, ": the client's copy is current, 304 without a body")?;
    }
    Ok(())
}

/// A count with its noun, singular or plural: `1 entry`, `2 entries`,
/// `1 byte`, `0 bytes`. For every count the proxy prints.
pub fn count(number: u64, noun: &str) -> String {
    match noun.strip_suffix('y') {
        _ if number == 1 => format!("1 {noun}"),
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{number} {stem}ies"),
        _ => format!("{number} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(0, "entry"), "0 entries");
        assert_eq!(count(1, "entry"), "1 entry");
        assert_eq!(count(2, "older entry"), "2 older entries");
        assert_eq!(count(1, "byte"), "1 byte");
        assert_eq!(count(269, "byte"), "269 bytes");
        assert_eq!(count(3, "key"), "3 keys");
    }
}
