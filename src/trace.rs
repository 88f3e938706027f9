//! `--trace`: a running commentary of each request, step by step, numbered
//! like the README's pseudocode and the `// Step N:` comments in the source.
//!
//! ```text
//! #1 1. receive: GET / from 127.0.0.1:50312 (0.1 ms)
//! #1 2. look up: cache/@ is missing (0.0 ms)
//! #1 4. ask the origin: GET http://127.0.0.1:8000/ -> 200 OK (1002.3 ms)
//! #1 5. store and reply: 1601 bytes to the client and to cache/@#4711.0.tmp, renamed to cache/@ (0.4 ms)
//! #1 6. done: 200 MISS, 1601 bytes, 1003 ms in all
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
use std::fmt::Display;
use std::time::Instant;

use crate::server::log;

/// The names of the steps, as in the README's pseudocode.
pub const STEPS: [&str; 6] = [
    "receive",
    "look up",
    "hit",
    "ask the origin",
    "store and reply",
    "done",
];

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

    /// Prints step `number` (1 to 6) with what happened and how long it took.
    pub fn step(&self, number: usize, what: impl Display) {
        let Some(sequence) = self.sequence else {
            return;
        };
        let now = Instant::now();
        let took = now.duration_since(self.last_step.replace(now));
        let name = STEPS[number - 1];
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
