//! The commands that look into a cache directory, or clean it, without a
//! server: `ls`, `explain` and `purge`, on the files the proxy's steps 2 and 5
//! read and write.
//!
//! `ls` prints one row per entry, columns separated by spaces, with the
//! content type last because it may contain spaces itself; so `awk '{print
//! $1}'` gives the URLs and `grep stale` the stale entries. `explain /path`
//! makes the proxy's decision for a request visible: the file the request
//! selects, its age and lifetime and where that comes from, the validators a
//! check would send, and the [`Decision`] with its RFC, in the words of
//! `--trace`'s step 2. Both change nothing, so they are safe beside a running
//! proxy. `purge` removes entries by URL, or all of them.
//!
//! Not here: the running proxy's memory. Its size index (see
//! [`crate::store::eviction`]) learns of removals made here when it next tries
//! to evict them; a URL whose body it abandoned lately (see
//! [`crate::cache::story::Abandoned`]) is explained as if it had not been.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::args::{ExplainArgs, LsArgs, PurgeArgs};
use crate::cache::decide::{decide, Decision, Stored, StoredCopy};
use crate::cache::freshness::{CachePolicy, Freshness, CDN_CACHE_CONTROL};
use crate::cache::trace::count;
use crate::cache::vary;
use crate::error::{failed, in_full, PurgeError, StartError};
use crate::store::key::CacheKey;
use crate::store::open::Store;
use crate::wire::headers::for_a_whole_copy;
use crate::wire::http::{find_header, Header, RequestHead};
use crate::wire::target::{key_path, names_loopback, parse_target, split_absolute};

/// `cacheproxy ls`: the table for `--cache-dir` on stdout, warnings on stderr.
pub fn run_ls(args: &LsArgs) -> Result<(), StartError> {
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
        listed => listed.map_err(failed("list", &args.cache_dir)),
    }
}

/// Writes the `ls` table for `store` to `out`: a header, one row per entry
/// and a total line. Each file shaped like an entry that cannot be read gets
/// a line in `warnings` first, so a reader that stops early (`ls | head`)
/// still sees them.
fn list(
    store: &Store,
    policy: &CachePolicy,
    out: &mut impl Write,
    warnings: &mut impl Write,
) -> io::Result<()> {
    let listing = store.list()?;
    let (entries, unreadable) = (listing.entries, listing.unreadable);
    for (path, error) in &unreadable {
        let warning = format!("{} is not a readable entry: {error}", path.display());
        let treated = "the proxy treats it as a miss";
        writeln!(warnings, "cacheproxy: warning: {warning}; {treated}")?;
    }
    let now = SystemTime::now();
    let urls: Vec<String> = entries.iter().map(|(key, _)| key.to_string()).collect();
    let width = urls.iter().map(String::len).max().unwrap_or(0).max(3);
    let columns = "STATUS      BYTES      AGE STATE TYPE";
    writeln!(out, "{:<width$} {columns}", "URL")?;
    let (mut body_bytes, mut file_bytes) = (0, 0);
    for (url, (_, entry)) in urls.iter().zip(&entries) {
        let (status, headers) = (entry.head.status, &entry.head.headers);
        let freshness = Freshness::of(policy, status, headers, entry.stored_at, now);
        let fresh = freshness.is_fresh();
        let state = if fresh { "fresh" } else { "stale" };
        let content_type = find_header(headers, "Content-Type");
        let content_type = content_type.map_or("-".into(), String::from_utf8_lossy);
        let (bytes, age) = (entry.body_length, freshness.age);
        let row = format!("{url:<width$} {status:>6} {bytes:>10} {age:>8}");
        writeln!(out, "{row} {state} {content_type}")?;
        body_bytes += entry.body_length;
        file_bytes += entry.file_bytes;
    }
    // The same count as the proxy's start-up line: whole files on disk.
    let listed = count(entries.len() as u64, "entry");
    let file_bytes = count(file_bytes, "byte");
    write!(out, "total: {listed}, {file_bytes} on disk")?;
    write!(out, " ({body_bytes} of them bodies)")?;
    if !unreadable.is_empty() {
        let files = count(unreadable.len() as u64, "unreadable file");
        write!(out, "; {files}, named on stderr")?;
    }
    writeln!(out)
}

/// `cacheproxy purge`: removes the entries named, or all of them, printing a
/// line for each. Every path is checked before anything is removed. A path
/// with nothing stored for it is an error (exit 1) once the others are
/// purged, as `rm` treats a missing file, and as `PURGE` answers 404.
pub fn run_purge(args: &PurgeArgs) -> Result<(), StartError> {
    if args.all != args.paths.is_empty() {
        return Err(StartError::Purge(PurgeError::What));
    }
    let mut keys = Vec::new();
    for argument in &args.paths {
        check_purge_argument(argument)?;
        keys.push(key_for(argument)?);
    }
    check_existing(&args.cache_dir)?;
    let opened = Store::open(&args.cache_dir, None);
    let (mut store, _) = opened.map_err(failed("open the cache directory", &args.cache_dir))?;
    let purging = failed("purge", &args.cache_dir);
    if args.all {
        let removed = store.remove_all().map_err(&purging)?;
        let (removed, dir) = (count(removed as u64, "entry"), in_full(&args.cache_dir));
        println!("purged {removed} from {dir}");
        return Ok(());
    }
    // The directory is named in full: a URL's host and port name no server
    // here, so the words must say which cache was changed.
    let dir = in_full(&args.cache_dir);
    let not_stored = purge(&mut store, &keys, &dir, &mut io::stdout().lock()).map_err(purging)?;
    match not_stored.is_empty() {
        true => Ok(()),
        false => Err(StartError::Purge(PurgeError::NothingStored(
            not_stored, dir,
        ))),
    }
}

/// Checks a `purge` argument: a URL path, `/path?query`, or a whole URL of
/// this machine (`http://127.0.0.1:8888/x`: the proxy, or its origin, on
/// loopback), which [`key_for`] cuts to its path. A cache directory holds one
/// origin's copies under their paths, so the host only tells such a URL from
/// one of another server (`http://example.com/x`), never stored here.
fn check_purge_argument(argument: &str) -> Result<(), StartError> {
    if let Some(path) = path_elsewhere(argument) {
        let error = PurgeError::Elsewhere(argument.into(), path.into());
        return Err(StartError::Purge(error));
    }
    match argument.starts_with('/') || split_absolute(argument).is_some() {
        true => Ok(()),
        false => Err(StartError::Purge(PurgeError::Relative(argument.into()))),
    }
}

/// The path of `argument` if it is a whole URL of another server than this
/// machine (`http://example.com/x`): the proxy answers such a URL with 421,
/// so it names none of this cache's copies.
fn path_elsewhere(argument: &str) -> Option<&str> {
    let (authority, path) = split_absolute(argument)?;
    (!names_loopback(authority)).then_some(path)
}

/// Removes the entries for `keys` from the cache `dir`, printing a line to
/// `out` for each one removed, and returns the keys that had nothing stored.
fn purge(
    store: &mut Store,
    keys: &[CacheKey],
    dir: &str,
    out: &mut impl Write,
) -> io::Result<Vec<String>> {
    let mut not_stored = Vec::new();
    for key in keys {
        match store.remove(key)? {
            true => writeln!(out, "purged {key} from {dir}")?,
            false => not_stored.push(key.to_string()),
        }
    }
    Ok(not_stored)
}

/// `cacheproxy explain`: the decision for `GET path`, on standard output.
pub fn run_explain(args: &ExplainArgs) -> Result<(), StartError> {
    // As the proxy would: a URL of another server is not one of its copies.
    if let Some(path) = path_elsewhere(&args.path) {
        return Err(StartError::ExplainElsewhere(args.path.clone(), path.into()));
    }
    let store = look_into(&args.cache_dir)?;
    let policy = CachePolicy {
        default_ttl: Duration::from_secs(args.ttl.0),
        max_stale: Duration::from_secs(args.max_stale.0),
        targeted_field: args.targeted_field.0.clone(),
    };
    let request = request(&args.path, &args.header)?;
    // Variants are chosen by what the origin would see, as in the proxy.
    let to_origin = for_a_whole_copy(&request, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let url_key = key_for(&args.path)?;
    let (key, found) = vary::lookup(&store, &url_key, || &to_origin);
    let entry = found.as_ref().ok().and_then(Option::as_ref);
    let stored = Stored {
        copy: entry.map(|entry| StoredCopy {
            status: entry.head.status,
            headers: &entry.head.headers,
            stored_at: entry.stored_at,
        }),
        unreadable: found.is_err(),
        abandoned_lately: false,
    };
    let decision = decide(&stored, &request, &policy, SystemTime::now());
    let file = store.path_for(&key);
    let status = found
        .as_ref()
        .map(|entry| entry.as_ref().map(|entry| entry.head.status));
    match explain(&mut io::stdout().lock(), &file, status, &decision) {
        // `cacheproxy explain / | head -1`: the reader has all it wanted.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        written => written.map_err(StartError::Output),
    }
}

/// The request `GET path` with `fields` (each `Name: value`).
fn request(path: &str, fields: &[String]) -> Result<RequestHead, StartError> {
    let headers = fields.iter().map(|field| match field.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok(Header::new(name.trim(), value.trim()))
        }
        _ => Err(StartError::HeaderField(field.clone())),
    });
    let headers = headers.collect::<Result<_, _>>()?;
    Ok(RequestHead::new("GET", path, 1, headers))
}

/// The explanation, a line per fact: the stored `file` and its status, the
/// copy's age, lifetime and freshness, the validators a check would send,
/// and the decision itself.
fn explain(
    out: &mut impl Write,
    file: &Path,
    status: Result<Option<u16>, &io::Error>,
    decision: &Decision,
) -> io::Result<()> {
    match status {
        Ok(Some(status)) => writeln!(out, "stored:    {} (status {status})", file.display())?,
        Ok(None) => writeln!(out, "stored:    nothing at {}", file.display())?,
        Err(error) => writeln!(out, "stored:    {}, unreadable ({error})", file.display())?,
    }
    if let Some(freshness) = decision.freshness() {
        let (age, lifetime, from) = (freshness.age, freshness.lifetime, freshness.from);
        writeln!(out, "age:       {age} s")?;
        writeln!(out, "lifetime:  {lifetime} s, from {from}")?;
        match freshness.is_fresh() {
            true => writeln!(out, "fresh:     for {} s more", freshness.ttl())?,
            false => writeln!(out, "stale:     by {} s", freshness.staleness())?,
        }
    }
    if let Decision::Check(check) = decision {
        for field in &check.validators {
            let value = String::from_utf8_lossy(field.value());
            writeln!(out, "check by:  {}: {value}", field.name())?;
        }
    }
    writeln!(out, "decision:  {decision}")
}

/// The cache key for a URL path given on the command line (`/path?query`, or
/// a whole `http://host/path` URL), or why it names none.
fn key_for(url: &str) -> Result<CacheKey, StartError> {
    let refused = |error| StartError::UrlPath(url.to_string(), error);
    let target = parse_target(url).map_err(refused)?;
    let path = key_path(target.path).map_err(refused)?;
    Ok(CacheKey::new(path, target.query.map(str::to_string)))
}

/// The store in `cache_dir`, opened only to look: opening it as the proxy
/// does would sweep what looks stray, and a proxy running on it may be
/// writing those very files.
fn look_into(cache_dir: &Path) -> Result<Store, StartError> {
    check_existing(cache_dir)?;
    Store::open_to_look(cache_dir).map_err(failed("open the cache directory", cache_dir))
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
    fn purge_takes_paths_and_urls_of_this_machine() {
        for argument in [
            "/a?x=1",
            "http://127.0.0.1:8888/nope.html",
            "HTTP://localhost/b/",
            "http://[::1]:8000?q",
            "http://0.0.0.0:8888/x",
        ] {
            assert!(check_purge_argument(argument).is_ok(), "{argument}");
        }
        let elsewhere = check_purge_argument("http://example.com/x/y?z");
        let message = elsewhere.map_err(|error| error.to_string()).err();
        assert!(message.is_some_and(|message| message.contains("like /x/y?z,")));
        assert!(matches!(
            check_purge_argument("style.css"),
            Err(StartError::Purge(PurgeError::Relative(_)))
        ));
    }

    #[test]
    fn command_line_urls_become_keys() {
        assert_eq!(key_for("/a?x=1").expect("path").to_string(), "/a?x=1");
        assert_eq!(key_for("http://host:1/b/").expect("url").to_string(), "/b/");
        assert!(key_for("/../etc").is_err());
        assert!(key_for("etc").is_err());
    }
}
