//! The `ls` and `purge` subcommands: look into a cache directory, or clean it,
//! without a server, in the files the proxy's steps 2 and 5 read and write.
//!
//! `ls` prints one row per entry, columns separated by spaces, with the
//! content type last because it may contain spaces itself; so `awk '{print
//! $1}'` gives the URLs and `grep stale` the stale entries. It changes
//! nothing, so it is safe beside a running proxy. `purge` removes entries by
//! URL, or all of them.
//!
//! Not here: a running proxy's in-memory size index (see
//! [`crate::store::eviction`]), which learns of removals made here when it next
//! tries to evict them.

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::args::{LsArgs, PurgeArgs};
use crate::cache::freshness::{CachePolicy, Freshness, CDN_CACHE_CONTROL};
use crate::cache::trace::count;
use crate::error::StartError;
use crate::store::entry::Listing;
use crate::store::key::CacheKey;
use crate::store::open::Store;
use crate::wire::http::find_header;
use crate::wire::target::{key_path, parse_target};

/// `cacheproxy ls`: the table for `--cache-dir` on stdout, warnings on stderr.
pub fn run_ls(args: &LsArgs) -> Result<(), StartError> {
    let store = look_into(&args.cache_dir)?;
    let policy = CachePolicy {
        default_ttl: Duration::from_secs(args.ttl.0),
        max_stale: Duration::ZERO,
        targeted_field: Some(CDN_CACHE_CONTROL.into()),
    };
    match list(
        &store,
        &policy,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    ) {
        // `cacheproxy ls | head -1`: the reader has all it wanted.
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(StartError::CacheDirFailed(
            "list",
            args.cache_dir.clone(),
            error,
        )),
        _ => Ok(()),
    }
}

/// Writes the `ls` table for `store` to `out`: a header, one row per entry
/// (URL, status, body bytes, age in seconds, fresh or stale, content type),
/// and a total line. Each file shaped like an entry that cannot be read
/// gets a line in `warnings` first, so a reader that closes `out` early
/// (`ls | head`) still sees them.
fn list(
    store: &Store,
    policy: &CachePolicy,
    out: &mut impl Write,
    warnings: &mut impl Write,
) -> io::Result<()> {
    let Listing {
        entries,
        unreadable,
    } = store.list()?;
    for (path, error) in &unreadable {
        let path = path.display();
        writeln!(
            warnings,
            "cacheproxy: warning: {path} is not a readable entry: {error}; the proxy treats \
             it as a miss"
        )?;
    }
    let now = SystemTime::now();
    let urls: Vec<String> = entries.iter().map(|(key, _)| key.to_string()).collect();
    let url_width = urls.iter().map(String::len).max().unwrap_or(0).max(3);
    writeln!(
        out,
        "{:<url_width$} STATUS      BYTES      AGE STATE TYPE",
        "URL"
    )?;
    let (mut body_bytes, mut file_bytes) = (0, 0);
    for (url, (_, entry)) in urls.iter().zip(&entries) {
        let (status, headers) = (entry.head.status, &entry.head.headers);
        let freshness = Freshness::of(policy, status, headers, entry.stored_at, now);
        let state = match freshness.is_fresh() {
            true => "fresh",
            false => "stale",
        };
        let content_type =
            find_header(headers, "Content-Type").map_or("-".into(), String::from_utf8_lossy);
        let (bytes, age) = (entry.body_length, freshness.age);
        writeln!(
            out,
            "{url:<url_width$} {status:>6} {bytes:>10} {age:>8} {state} {content_type}"
        )?;
        body_bytes += entry.body_length;
        file_bytes += entry.file_bytes;
    }
    // The same count as the proxy's start-up line: whole files on disk.
    let (listed, file_bytes) = (
        count(entries.len() as u64, "entry"),
        count(file_bytes, "byte"),
    );
    write!(
        out,
        "total: {listed}, {file_bytes} on disk ({body_bytes} of them bodies)"
    )?;
    if !unreadable.is_empty() {
        let files = count(unreadable.len() as u64, "unreadable file");
        write!(out, "; {files}, named on stderr")?;
    }
    writeln!(out)
}

/// `cacheproxy purge`: removes the entries named, or all of them, printing a
/// line for each. Every path is checked before anything is removed.
pub fn run_purge(args: &PurgeArgs) -> Result<(), StartError> {
    if args.all != args.paths.is_empty() {
        return Err(StartError::PurgeWhat);
    }
    let mut keys = Vec::new();
    for path in &args.paths {
        if !path.starts_with('/') {
            return Err(StartError::PurgeRelative(path.clone()));
        }
        keys.push(key_for(path)?);
    }
    check_existing(&args.cache_dir)?;
    let failed = |doing, error| StartError::CacheDirFailed(doing, args.cache_dir.clone(), error);
    let opened = Store::open(&args.cache_dir, None);
    let (mut store, _) = opened.map_err(|error| failed("open the cache directory", error))?;
    let purged = match args.all {
        true => store
            .remove_all()
            .map(|removed| println!("purged {}", count(removed as u64, "entry"))),
        false => purge(&mut store, &keys, &mut io::stdout().lock()),
    };
    purged.map_err(|error| failed("purge", error))
}

/// Removes the entries for `keys`, printing one line each to `out`.
fn purge(store: &mut Store, keys: &[CacheKey], out: &mut impl Write) -> io::Result<()> {
    for key in keys {
        match store.remove(key)? {
            true => writeln!(out, "purged {key}")?,
            false => writeln!(out, "not cached: {key}")?,
        }
    }
    Ok(())
}

/// The cache key for a URL path given on the command line (`/path?query`, or
/// a whole `http://host/path` URL), or why it names none.
pub fn key_for(url: &str) -> Result<CacheKey, StartError> {
    let refused = |error| StartError::UrlPath(url.to_string(), error);
    let target = parse_target(url).map_err(refused)?;
    Ok(CacheKey::new(
        key_path(&target.path).map_err(refused)?,
        target.query,
    ))
}

/// The store in `cache_dir`, opened only to look: opening it as the proxy
/// does would sweep what looks stray, and a proxy running on it may be
/// writing those very files.
pub fn look_into(cache_dir: &Path) -> Result<Store, StartError> {
    check_existing(cache_dir)?;
    Store::open_to_look(cache_dir).map_err(|error| {
        StartError::CacheDirFailed("open the cache directory", cache_dir.into(), error)
    })
}

/// Checks that `--cache-dir` names an existing directory, for `ls`, `purge`
/// and `explain`, which must not create one where a path was mistyped.
fn check_existing(cache_dir: &Path) -> Result<(), StartError> {
    let why = "is not a directory (is the proxy's --cache-dir another one?)";
    match cache_dir.as_os_str().is_empty() {
        true => Err(StartError::CacheDirEmpty),
        false if !cache_dir.is_dir() => Err(StartError::CacheDir(cache_dir.into(), why)),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_urls_become_keys() {
        assert_eq!(key_for("/a?x=1").expect("path").to_string(), "/a?x=1");
        assert_eq!(key_for("http://host:1/b/").expect("url").to_string(), "/b/");
        assert!(key_for("/../etc").is_err());
        assert!(key_for("etc").is_err());
    }
}
