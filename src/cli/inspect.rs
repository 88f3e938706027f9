//! The `ls` and `purge` subcommands: look into a cache directory, or clean it,
//! without a server.
//!
//! `ls` prints one row per entry, columns separated by spaces, with the
//! content type last because it may contain spaces itself; so `awk '{print
//! $1}'` gives the URLs and `grep stale` the stale entries. It changes
//! nothing in the directory, so it is safe beside a running proxy; a file
//! shaped like an entry that cannot be read is named in a warning, and the
//! rest are listed. `purge` removes entries by URL, or all of them.
//!
//! Steps: none; these work on the files the proxy's steps 2 and 5 read and
//! write, with no server running.
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
use crate::error::{CacheDirProblem, RequestError, StartError};
use crate::store::entry::Listing;
use crate::store::key::CacheKey;
use crate::store::open::Store;
use crate::wire::http::find_header;
use crate::wire::target::{key_path, parse_target};

/// Writes the `ls` table for `store` to `out`: a header, one row per entry
/// (URL, status, body bytes, age in seconds, fresh or stale, content type),
/// and a total line. Each file shaped like an entry that cannot be read
/// gets a line in `warnings` first, so a reader that closes `out` early
/// (`ls | head`) still sees them.
pub fn list(
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
        writeln!(
            warnings,
            "cacheproxy: warning: {} is not a readable entry: {error}; \
             the proxy treats it as a miss",
            path.display()
        )?;
    }
    let now = SystemTime::now();
    let url_width = entries
        .iter()
        .map(|(key, _)| key.to_string().len())
        .max()
        .unwrap_or(0)
        .max(3);
    writeln!(
        out,
        "{:<url_width$} STATUS      BYTES      AGE STATE TYPE",
        "URL"
    )?;
    let (mut body_bytes, mut file_bytes) = (0, 0);
    for (key, entry) in &entries {
        let status = entry.head.status;
        let freshness = Freshness::of(policy, status, &entry.head.headers, entry.stored_at, now);
        let state = if freshness.is_fresh() {
            "fresh"
        } else {
            "stale"
        };
        let content_type = find_header(&entry.head.headers, "Content-Type")
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<url_width$} {:>6} {:>10} {:>8} {state} {content_type}",
            key.to_string(),
            entry.head.status,
            entry.body_length,
            freshness.age,
        )?;
        body_bytes += entry.body_length;
        file_bytes += entry.file_bytes;
    }
    // The same count as the proxy's start-up line: whole files on disk.
    write!(
        out,
        "total: {}, {} on disk ({body_bytes} of them bodies)",
        count(entries.len() as u64, "entry"),
        count(file_bytes, "byte"),
    )?;
    if !unreadable.is_empty() {
        let files = count(unreadable.len() as u64, "unreadable file");
        write!(out, "; {files}, named on stderr")?;
    }
    writeln!(out)
}

/// The cache key for a URL given on the command line: `/path?query`, or a
/// whole `http://host/path` URL.
pub fn key_for(url: &str) -> Result<CacheKey, RequestError> {
    let target = parse_target(url)?;
    Ok(CacheKey::new(key_path(&target.path)?, target.query))
}

/// `cacheproxy ls`: the table for `--cache-dir` on stdout, warnings on stderr.
pub fn run_ls(args: &LsArgs) -> Result<(), StartError> {
    let failed = |problem| StartError::cache_dir(&args.cache_dir, problem);
    let store = look_into(&args.cache_dir)?;
    let policy = CachePolicy {
        default_ttl: Duration::from_secs(args.ttl.0),
        max_stale: Duration::ZERO,
        targeted_field: Some(CDN_CACHE_CONTROL.into()),
    };
    let (mut out, mut warnings) = (io::stdout().lock(), io::stderr().lock());
    match list(&store, &policy, &mut out, &mut warnings) {
        // `cacheproxy ls | head -1`: the reader has all it wanted.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(failed(CacheDirProblem::List(error))),
        Ok(()) => Ok(()),
    }
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
        let key = key_for(path).map_err(|problem| StartError::UrlPath(path.clone(), problem))?;
        keys.push(key);
    }
    check_existing(&args.cache_dir)?;
    let failed = |problem| StartError::cache_dir(&args.cache_dir, problem);
    let (mut store, _) =
        Store::open(&args.cache_dir, None).map_err(|error| failed(CacheDirProblem::Open(error)))?;
    let removing = |error| failed(CacheDirProblem::Remove(error));
    if args.all {
        let removed = store.remove_all().map_err(removing)?;
        println!("purged {}", count(removed as u64, "entry"));
        return Ok(());
    }
    purge(&mut store, &keys, &mut io::stdout().lock()).map_err(removing)
}

/// Removes the entries for `keys`, printing one line each to `out`.
pub fn purge(store: &mut Store, keys: &[CacheKey], out: &mut impl Write) -> io::Result<()> {
    for key in keys {
        if store.remove(key)? {
            writeln!(out, "purged {key}")?;
        } else {
            writeln!(out, "not cached: {key}")?;
        }
    }
    Ok(())
}

/// Checks that `--cache-dir` names an existing directory, for `ls` and
/// `purge`, which must not create one where a path was mistyped.
/// The store in `cache_dir`, opened only to look: opening it as the proxy
/// does would sweep what looks stray, and a proxy running on it may be
/// writing those very files.
pub fn look_into(cache_dir: &Path) -> Result<Store, StartError> {
    check_existing(cache_dir)?;
    let failed = |error| StartError::cache_dir(cache_dir, CacheDirProblem::Open(error));
    Store::open_to_look(cache_dir).map_err(failed)
}

fn check_existing(cache_dir: &Path) -> Result<(), StartError> {
    if cache_dir.as_os_str().is_empty() {
        return Err(StartError::cache_dir(cache_dir, CacheDirProblem::Empty));
    }
    if !cache_dir.is_dir() {
        let problem = CacheDirProblem::NotADirectory;
        return Err(StartError::cache_dir(cache_dir, problem));
    }
    Ok(())
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
