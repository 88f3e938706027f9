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
//! The steps, numbered as in the README and in `// Step N:` comments in
//! [`proxy`]:
//!
//! 1. **receive** the request and work out which URL it asks for;
//! 2. **look up** the URL's file in the cache directory and judge it
//!    (missing, fresh, or stale);
//! 3. **hit**: the copy is fresh, so reply from the file;
//! 4. **ask the origin**: fetch the URL, or ask if the stale copy changed
//!    (304 means no: refresh the copy and reply from it; if the origin is
//!    down, the stale copy may stand in);
//! 5. **store and reply**: stream the body to the client and a temporary
//!    file, renamed into place only once it is whole;
//! 6. **done**: log the request and close the connection.
//!
//! `cacheproxy proxy --trace` prints these steps, with these numbers, for
//! every request (see [`trace`]).
//!
//! It is one thread with blocking I/O: one connection at a time, one request
//! per connection. That keeps every line easy to follow, and the README says
//! what it costs and what to use when you outgrow it.
//!
//! ## Read the source in this order
//!
//! 1. [`server`]: the socket loop, deadlines, the log line.
//! 2. [`http`]: parsing a request head with limits; writing a response head.
//! 3. [`target`]: from the request target to a clean path: the traversal guard.
//! 4. [`proxy`]: the request path, steps 1 to 5.
//! 5. [`freshness`]: RFC 9111's rules: what may be stored, for how long, when to check.
//! 6. [`store`]: URL to file, atomic store, refresh, lookup, purge.
//! 7. [`eviction`]: the size bound, least recently served first.
//! 8. [`origin`]: fetching from the origin with `ureq`, configured for a proxy.
//! 9. [`headers`]: which header fields cross the proxy.
//! 10. [`error`]: every failure and its status code, in one table.
//! 11. [`demo_origin`]: the little file server that plays the origin.
//! 12. [`trace`]: the `--trace` narration.
//! 13. [`inspect`]: the `ls` and `purge` subcommands.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod demo_origin;
pub mod error;
pub mod eviction;
pub mod freshness;
pub mod headers;
pub mod http;
pub mod inspect;
pub mod origin;
pub mod proxy;
pub mod server;
pub mod store;
pub mod target;
pub mod trace;
