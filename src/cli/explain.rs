//! `cacheproxy explain /path`: the proxy's decision for a request, made
//! visible. It reads the cache directory as the proxy would (the stored head
//! only, never the network) and prints the file the request selects, its age
//! and lifetime and where that comes from, the validators a check would send,
//! and the [`Decision`] with its RFC: the words of `--trace`'s step 2.
//!
//! It cannot see the running proxy's memory: a URL whose body was abandoned
//! lately (see [`crate::cache::story::Abandoned`]) is judged as if it had not
//! been.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cache::decide::{decide, Decision, Stored, StoredCopy};
use crate::cache::freshness::CachePolicy;
use crate::cache::vary;
use crate::cli::args::ExplainArgs;
use crate::cli::inspect::{key_for, look_into};
use crate::error::StartError;
use crate::wire::headers::for_a_whole_copy;
use crate::wire::http::{Header, RequestHead};

/// `cacheproxy explain`: the decision for `GET path`, on standard output.
pub fn run_explain(args: &ExplainArgs) -> Result<(), StartError> {
    let store = look_into(&args.cache_dir)?;
    let policy = CachePolicy {
        default_ttl: Duration::from_secs(args.ttl.0),
        max_stale: Duration::from_secs(args.max_stale.0),
        targeted_field: args.targeted_field.0.clone(),
    };
    let request = request(&args.path, &args.header)?;
    // Variants are chosen by what the origin would see, as in the proxy.
    let to_origin = for_a_whole_copy(&request, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (key, found) = vary::lookup(&store, &key_for(&args.path)?, &to_origin);
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
    let status = entry.map(|entry| entry.head.status);
    match explain(&mut io::stdout().lock(), &file, status, &decision) {
        // `cacheproxy explain / | head -1`: the reader has all it wanted.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        written => written.map_err(StartError::Output),
    }
}

/// The request `GET path` with `fields` (each `Name: value`).
fn request(path: &str, fields: &[String]) -> Result<RequestHead, StartError> {
    let headers = fields.iter().map(|field| match field.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => Ok(Header {
            name: name.trim().to_string(),
            value: value.trim().as_bytes().to_vec(),
        }),
        _ => Err(StartError::HeaderField(field.clone())),
    });
    Ok(RequestHead {
        method: "GET".into(),
        target: path.to_string(),
        minor_version: 1,
        headers: headers.collect::<Result<_, _>>()?,
    })
}

/// The explanation, a line per fact: the stored `file` and its status, the
/// copy's age, lifetime and freshness, the validators a check would send,
/// and the decision itself.
fn explain(
    out: &mut impl Write,
    file: &Path,
    status: Option<u16>,
    decision: &Decision,
) -> io::Result<()> {
    match status {
        Some(status) => writeln!(out, "stored:    {} (status {status})", file.display())?,
        None => writeln!(out, "stored:    nothing at {}", file.display())?,
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
    if let Decision::Check { validators, .. } = decision {
        for field in validators {
            let value = String::from_utf8_lossy(&field.value);
            writeln!(out, "check by:  {}: {value}", field.name)?;
        }
    }
    writeln!(out, "decision:  {decision}")
}
