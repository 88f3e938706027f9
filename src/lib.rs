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
//! 2. **look up** the URL's file in the cache directory and judge it;
//! 3. **hit**: the copy will do, so reply from the file;
//! 4. **ask the origin**: fetch the URL, or ask if the stale copy changed;
//! 5. **store and reply**: stream the body to the client and a temporary file;
//! 6. **done**: log the request and close the connection.
//!
//! It is one thread with blocking I/O: one connection at a time, one request
//! per connection, every wait bounded.
//!
//! ## Read the source in this order
//!
//! The cache first:
//! 1. [`proxy`]: the request path of `GET` and `HEAD`, steps 1 to 5.
//!
//! Then its rules:
//! 2. [`freshness`]: RFC 9111: what may be stored, for how long, when to check
//!    (and [`targeted`]: whether a `CDN-Cache-Control` is well formed).
//! 3. [`vary`] and [`encoding`]: which stored variant a request selects.
//! 4. [`range`]: `Range` and `If-Range`: which bytes of a copy to send.
//! 5. [`revalidation`]: a copy after a 304; `stale-while-revalidate`.
//! 6. [`store`]: URL to file, atomic store, refresh, lookup, purge.
//! 7. [`eviction`]: the size bound, least recently served first.
//! 8. [`labels`] and [`trace`]: what the cache did, in headers and in words.
//!
//! Then the machinery, which a first reading can skip:
//! 9. [`relay`]: sending a reply from the origin or the disk to the client.
//! 10. [`writes`]: writes and `PURGE`.
//! 11. [`origin`]: fetching with `ureq`, configured for a proxy.
//! 12. [`headers`]: which header fields cross the proxy.
//! 13. [`server`]: the socket loop, its deadlines, the log line.
//! 14. [`http`] and [`target`]: parsing a request head; the traversal guard.
//! 15. [`dates`], [`error`], [`demo_origin`], [`inspect`]: dates, the error
//!     table, the demo origin, and `ls` and `purge`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod dates;
pub mod demo_origin;
pub mod encoding;
pub mod error;
pub mod eviction;
pub mod freshness;
pub mod headers;
pub mod http;
pub mod inspect;
pub mod labels;
pub mod origin;
pub mod proxy;
pub mod range;
pub mod relay;
pub mod revalidation;
pub mod server;
pub mod store;
pub mod target;
pub mod targeted;
pub mod trace;
pub mod vary;
pub mod writes;
