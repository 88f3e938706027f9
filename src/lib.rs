//! # cacheproxy: a cache server you can read in one sitting
//!
//! A cache proxy sits between clients and an origin server. A client asks it
//! for a URL; if the proxy has a copy it replies at once, and if not it fetches
//! the URL from the origin, saves a copy and replies:
//!
//! ```text
//!  client ──GET /page──▶ cacheproxy ──(miss only)──▶ origin
//!         ◀──reply────── │  cache/  │ ◀──reply──────
//!                        └─ page@ ──┘   (saved for next time)
//! ```
//!
//! The steps, numbered as in the README, in `// Step N:` comments and in
//! `cacheproxy proxy --trace`:
//!
//! 1. **receive** the request and work out which URL it asks for;
//! 2. **look up** the URL's file and **decide**: hit, check, fetch or pass;
//! 3. **hit**: reply from the file;
//! 4. **ask the origin**: fetch the URL, or ask if the stored copy changed;
//! 5. **store and reply** (or **refresh** after a 304, **stand in** when the
//!    origin fails, **forward** a write): the origin's reply goes on;
//! 6. **done**: log the request and close the connection.
//!
//! It is one thread with blocking I/O: one connection at a time, one request
//! per connection, every wait bounded.
//!
//! ## Read the source in this order
//!
//! The folders are the layers, read top down. The lower ones do the work the
//! story asks of them and take a few of its words back: the trace
//! ([`cache::trace`]), the names of outcomes ([`cache::labels`]), why a reply
//! was not stored ([`cache::freshness`]), the rules a relayed body follows (a
//! range, a variant's name) and the codings a request accepts
//! ([`cache::encoding`]). No import goes round in a cycle.
//! 1. [`cache`]: the story of a `GET` ([`cache::story`]), the one decision
//!    it turns on ([`cache::decide`]), then the rules: [`cache::freshness`]
//!    (RFC 9111), [`cache::vary`], [`cache::encoding`], [`cache::range`],
//!    [`cache::targeted`], [`cache::writes`], and what the cache did in words
//!    ([`cache::labels`], [`cache::trace`]).
//! 2. [`store`]: URL to file, atomic store, lookup, purge, eviction.
//! 3. [`net`]: the socket loop, the origin client, relaying bodies.
//! 4. [`wire`]: HTTP on the wire: parsing heads, dates, targets.
//! 5. [`cli`] and [`error`]: the commands (`explain` too), and the error table.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod cache;
pub mod cli;
pub mod error;
pub mod net;
pub mod store;
pub mod wire;
