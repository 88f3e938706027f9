//! The disk store: where a URL's copy lives, how it is written, found and
//! removed. It knows files, not HTTP caching: whether a response may be
//! stored, and what it varies on, are [`crate::cache`]'s to decide.
//!
//! Each cache entry is one file, and that file *is* the stored response: the
//! status line and header fields as text, a blank line, then the body bytes
//! exactly as the origin sent them. `head -n 20 cache/index.html@` shows what
//! will be replayed; nothing is hidden in a database. A file's modification
//! time is when it was stored; under `--max-size`, its access time is when it
//! was last served.
//!
//! Read in this order: [`key`], [`disk`], [`open`], [`entry`] (the lookup of
//! step 2) and [`parsed_heads`] (what a hit need not parse again),
//! [`write`](mod@write) (step 5: an entry appears all at once or not at
//! all), [`remove`] and [`eviction`] (`--max-size`).

pub mod disk;
pub mod entry;
pub mod eviction;
pub mod key;
pub mod open;
pub mod parsed_heads;
pub mod remove;
pub mod write;
