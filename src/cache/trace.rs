//! `--trace`: a running commentary of each request, step by step, numbered
//! like the README's pseudocode and the `// Step N:` comments in the source.
//!
//! ```text
//! #1 1. receive: GET / from 127.0.0.1:50312 (0.1 ms)
//! #1 2. look up: cache/@ is missing (nothing stored, RFC 9111 4): fetch (0.0 ms)
//! #1 4. ask the origin: GET http://127.0.0.1:8000/ -> 200 OK (1002.3 ms)
//! #1 5. store and reply: 1601 bytes to the client and to cache/@#4711.0.tmp, renamed to cache/@ (0.4 ms)
//! #1 6. done: 200 MISS, 1941 bytes sent, 1003 ms in all
//! ```
//!
//! `#1` is the request's sequence number, so lines of different requests can
//! be told apart; the time in parentheses is how long that step took (since
//! the previous line). Without `--trace` no step prints, and the server logs
//! one line per request instead (its own `LogLine`, in [`crate::net::server`]).
//!
//! Not here: any decision. A trace only reports what the code around it did.

use std::cell::Cell;
use std::fmt::{self, Display};
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use crate::cache::decide::Decision;
use crate::cache::labels::Refreshed;
use crate::error::RequestError;
use crate::wire::headers::is_conditional;
use crate::wire::http::{reason_phrase, Header};

/// The steps of the README's pseudocode. Each printed number means one
/// moment of a request, so a request's numbers always increase; step 5 has
/// four names, for the four ways a reply from the origin can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 1. Read the request and work out which URL it asks for.
    Receive,
    /// 2. Find the URL's file and decide what to do with it.
    LookUp,
    /// 3. Reply from the file, without asking the origin.
    Hit,
    /// 4. Send a request to the origin (a fetch, or "has it changed?").
    AskTheOrigin,
    /// 5. Pass the origin's reply on, keeping a copy if the rules allow.
    StoreAndReply,
    /// 5. After a 304: the copy takes the 304's fields and replies.
    Refresh,
    /// 5. The origin failed, and the stale copy replies.
    StandIn,
    /// 5. A write's reply goes to the client; nothing is kept.
    Forward,
    /// 6. Log the request and close the connection.
    Done,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 9] = [
        Step::Receive,
        Step::LookUp,
        Step::Hit,
        Step::AskTheOrigin,
        Step::StoreAndReply,
        Step::Refresh,
        Step::StandIn,
        Step::Forward,
        Step::Done,
    ];

    /// The step's number, 1 to 6, and its name, as in the README's pseudocode.
    fn number_and_name(self) -> (usize, &'static str) {
        match self {
            Step::Receive => (1, "receive"),
            Step::LookUp => (2, "look up"),
            Step::Hit => (3, "hit"),
            Step::AskTheOrigin => (4, "ask the origin"),
            Step::StoreAndReply => (5, "store and reply"),
            Step::Refresh => (5, "refresh"),
            Step::StandIn => (5, "stand in"),
            Step::Forward => (5, "forward"),
            Step::Done => (6, "done"),
        }
    }

    /// The step's number, 1 to 6.
    pub fn number(self) -> usize {
        self.number_and_name().0
    }

    /// The step's name, as in the README's pseudocode.
    pub fn name(self) -> &'static str {
        self.number_and_name().1
    }
}

/// The narration of one request, or silence when tracing is off.
#[derive(Debug)]
pub struct Trace {
    /// The request's sequence number; `None` when tracing is off.
    sequence: Option<u64>,
    /// When the previous step ended.
    last_step: Cell<Instant>,
    /// Work done after the request's reply, printed under its own label.
    after_reply: bool,
}

impl Trace {
    fn new(sequence: Option<u64>, after_reply: bool) -> Trace {
        let last_step = Cell::new(Instant::now());
        Trace {
            sequence,
            last_step,
            after_reply,
        }
    }

    /// A trace that prints nothing.
    pub fn off() -> Trace {
        Trace::new(None, false)
    }

    /// A trace for request number `sequence`, starting its clock now.
    pub fn on(sequence: u64) -> Trace {
        Trace::new(Some(sequence), false)
    }

    /// This request's trace for work done once its reply is out (the check
    /// after a `stale-while-revalidate` reply): its steps ended with step 6,
    /// so these print as `after the reply, NAME`, not as numbered steps.
    pub fn after_reply(&self) -> Trace {
        Trace::new(self.sequence, true)
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
        let step = match self.after_reply {
            true => format!("after the reply, {name}"),
            false => format!("{number}. {name}"),
        };
        log(format_args!(
            "#{sequence} {step}: {what} ({milliseconds:.1} ms)"
        ));
    }

    /// Prints the last step: what was sent, and the time for the whole request.
    pub fn done(&self, what: impl Display) {
        if let Some(sequence) = self.sequence {
            log(format_args!("#{sequence} 6. done: {what}"));
        }
    }
}

/// Step 2, as the trace tells it: what the file holds, and the decision.
pub struct Verdict<'a> {
    /// The file looked up.
    pub path: &'a Path,
    /// What to do, and why.
    pub decision: &'a Decision,
    /// Why the file could not be read, if it could not.
    pub unreadable: Option<&'a io::Error>,
}

impl Display for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        let Some(freshness) = self.decision.freshness() else {
            match self.unreadable {
                Some(error) => write!(f, "{path} is unreadable ({error})")?,
                None => write!(f, "{path} is missing")?,
            }
            return write!(f, " ({}): {}", self.decision.why(), self.decision.name());
        };
        let (age, lifetime, from) = (freshness.age, freshness.lifetime, freshness.from);
        if freshness.is_fresh() {
            write!(
                f,
                "{path} is fresh: age {age} s of its {lifetime} s lifetime"
            )?;
        } else {
            let past = freshness.staleness();
            write!(
                f,
                "{path} is stale: age {age} s, {past} s past its {lifetime} s lifetime"
            )?;
        }
        write!(f, " ({from}): {}", self.decision)
    }
}

/// Step 4, as the trace tells it: the request sent to the origin (with its
/// conditions, if any) and what came back.
pub struct Asked<'a> {
    /// The method sent.
    pub method: &'a str,
    /// The URL asked for.
    pub url: &'a str,
    /// The header fields sent (the trace shows the conditional ones).
    pub to_origin: &'a [Header],
    /// The origin's status, or why there was none.
    pub answer: Result<u16, &'a RequestError>,
}

impl Display for Asked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        for header in self
            .to_origin
            .iter()
            .filter(|header| is_conditional(header.name()))
        {
            write!(
                f,
                " {}: {}",
                header.name(),
                String::from_utf8_lossy(header.value())
            )?;
        }
        match self.answer {
            Ok(status) => write!(f, " -> {status} {}", reason_phrase(status)),
            Err(error) => write!(f, " -> failed: {error}"),
        }
    }
}

/// Steps 3 and 5, as the trace tells them: where the reply came from and
/// what became of the copy. `status` is the one sent: 304 when the client's
/// own copy was current.
pub enum Kept<'a> {
    /// A hit (step 3): the reply came from the file at this path.
    FromFile(&'a Path, u16),
    /// The origin failed and the stale copy at this path stood in (step 5).
    StandingIn(&'a Path, u16),
    /// After a 304 (step 5): what became of the copy at this path.
    Refreshed(&'a Path, u16, &'a Refreshed),
    /// Relayed from the origin and stored (step 5).
    Stored(Filed<'a>),
    /// Relayed from the origin with no copy kept (step 5): bytes, and why.
    NotStored(u64, &'a dyn Display),
}

/// A reply relayed and filed in the cache: the body bytes the client got,
/// the temporary file, the entry it became, and how many older entries
/// were evicted for it.
pub struct Filed<'a> {
    /// The body bytes the client got.
    pub bytes: u64,
    /// The client asked for part of the body; the copy has all of it.
    pub part: bool,
    /// The temporary file the body was written to.
    pub temp: &'a Path,
    /// The entry it was renamed to.
    pub path: &'a Path,
    /// How many older entries were evicted to make room.
    pub evicted: usize,
}

impl Display for Kept<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, status) = match *self {
            Kept::FromFile(path, status) => (path, status),
            Kept::StandingIn(path, status) => {
                let path_shown = path.display();
                write!(
                    f,
                    "the origin failed; the stale copy {path_shown} stands in"
                )?;
                return write_current(f, status);
            }
            Kept::Refreshed(path, status, refreshed) => {
                write!(f, "{}: {refreshed}; ", path.display())?;
                (path, status)
            }
            Kept::Stored(ref filed) => {
                let (temp, path) = (filed.temp.display(), filed.path.display());
                let bytes = count(filed.bytes, "byte");
                match filed.part {
                    true => write!(f, "{bytes} to the client, the whole body to {temp}")?,
                    false => write!(f, "{bytes} to the client and to {temp}")?,
                }
                write!(f, ", renamed to {path}")?;
                if filed.evicted > 0 {
                    let evicted = count(filed.evicted as u64, "older entry");
                    write!(f, "; evicted {evicted}")?;
                }
                return Ok(());
            }
            Kept::NotStored(bytes, why) => {
                let bytes = count(bytes, "byte");
                return write!(f, "{bytes} to the client; {why}");
            }
        };
        write!(f, "reply from {}", path.display())?;
        write_current(f, status)
    }
}

/// ": the client's copy is current ..." when the reply was a 304.
fn write_current(f: &mut fmt::Formatter<'_>, status: u16) -> fmt::Result {
    if status == 304 {
        write!(f, ": the client's copy is current, 304 without a body")?;
    }
    Ok(())
}

/// Prints one line on stdout: a trace line, or a message of the server's.
/// A closed stdout is not a reason to stop serving.
pub fn log(line: fmt::Arguments<'_>) {
    // Made whole, then written at once: stdout would take each piece of a
    // formatted line apart, looking through each for a line end.
    let mut text = line.to_string();
    text.push('\n');
    let _ = io::stdout().lock().write_all(text.as_bytes());
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
