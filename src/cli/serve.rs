//! Starting a server: `cacheproxy proxy` and `cacheproxy origin`. Everything
//! the flags say is checked before the port is taken, and nothing is created
//! on disk until the port is ours, so a failed start leaves nothing behind.
//!
//! Not here: serving ([`crate::net::server::serve`]).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use super::args::{OriginArgs, ProxyArgs};
use super::demo_origin::DemoOrigin;
use crate::cache::freshness::CachePolicy;
use crate::cache::story::Proxy;
use crate::cache::trace::{count, log};
use crate::error::{failed, in_full, StartError};
use crate::net::origin::{Origin, OriginTimeouts};
use crate::net::server::{self, ClientLimits};
use crate::store::open::{Inventory, Store};

/// Runs the cache proxy until the process is stopped.
pub fn run_proxy(args: &ProxyArgs) -> Result<(), StartError> {
    let timeouts = OriginTimeouts {
        connect: args.origin_connect_timeout.0,
        read: args.origin_timeout.0,
        // One tick later than our own deadline, which names the flag in the
        // log: ureq's is the backstop for an origin that stalls between reads.
        whole_body: args.max_reply_time.0 + server::WRITE_TICK,
    };
    let origin = Origin::new(&args.origin, timeouts)?;
    let policy = CachePolicy {
        default_ttl: Duration::from_secs(args.ttl.0),
        max_stale: Duration::from_secs(args.max_stale.0),
        targeted_field: args.targeted_field.0.clone(),
    };
    let created = check_cache_dir(&args.cache_dir)?;
    let (listener, local_addr) = listen(&args.bind, args.port.0)?;
    if origin.is_at(local_addr) {
        return Err(StartError::OriginIsItself(args.origin.clone()));
    }
    let max_size = args.max_size.as_ref().map(|size| size.0);
    let opened = Store::open(&args.cache_dir, max_size);
    let (store, inventory) = opened.map_err(failed("open the cache directory", &args.cache_dir))?;
    announce("proxy", local_addr);
    describe_cache(args, created, &inventory);
    let limits = ClientLimits {
        idle_timeout: args.idle_timeout.0,
        request_deadline: args.client_timeout.0,
        write_timeout: args.write_timeout.0,
        min_rate: args.min_rate.0,
        max_reply_time: args.max_reply_time.0,
    };
    let mut proxy = Proxy::new(store, origin, policy);
    server::serve(&listener, limits, args.trace, &mut proxy);
    Ok(())
}

/// Runs the demo origin until the process is stopped.
pub fn run_origin(args: &OriginArgs) -> Result<(), StartError> {
    if !args.root.is_dir() {
        return Err(StartError::Root(args.root.clone()));
    }
    let (listener, local_addr) = listen(&args.bind, args.port.0)?;
    announce("origin", local_addr);
    let (root, delay) = (in_full(&args.root), args.delay.0);
    log(format_args!("serving {root}, delay {delay} ms"));
    let delay = Duration::from_millis(delay);
    let mut origin = DemoOrigin::new(&args.root, delay, args.max_age.0);
    let limits = ClientLimits {
        idle_timeout: args.idle_timeout.0,
        request_deadline: args.client_timeout.0,
        write_timeout: args.write_timeout.0,
        min_rate: args.min_rate.0,
        max_reply_time: args.max_reply_time.0,
    };
    server::serve(&listener, limits, args.trace, &mut origin);
    Ok(())
}

/// Takes `host`:`port`, and says which address it got: the port the system
/// chose, for `--port 0`.
fn listen(host: &str, port: u16) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = server::bind(host, port)?;
    match listener.local_addr() {
        Ok(local_addr) => Ok((listener, local_addr)),
        Err(source) => Err(StartError::Bind {
            host: host.to_string(),
            port,
            source,
        }),
    }
}

/// The first line a server prints, its address alone, which tests and
/// scripts read.
fn announce(command: &str, local_addr: SocketAddr) {
    log(format_args!(
        "cacheproxy {command} listening on http://{local_addr} (Ctrl-C stops it)"
    ));
}

/// The proxy's second line, about its origin and cache, and what opening the
/// store cleaned up.
fn describe_cache(args: &ProxyArgs, created: bool, inventory: &Inventory) {
    let bound = match &args.max_size {
        Some(size) => format!("at most {}", count(size.0, "byte")),
        None => "no size bound".to_string(),
    };
    let new = if created { ", new" } else { "" };
    let (cache_dir, ttl) = (in_full(&args.cache_dir), args.ttl.0);
    let entries = count(inventory.entries as u64, "entry");
    let bytes = count(inventory.bytes, "byte");
    log(format_args!(
        "origin {}, cache dir {cache_dir}{new} ({entries}, {bytes} on disk; {bound}), ttl {ttl} s",
        args.origin
    ));
    // A process killed while storing leaves its temporary file behind.
    let stray = inventory.stray_temp_files_removed as u64;
    if stray > 0 {
        log(format_args!(
            "removed {}",
            count(stray, "stray temporary file")
        ));
    }
    if inventory.evicted > 0 {
        let entries = count(inventory.evicted as u64, "entry");
        log(format_args!("evicted {entries} to fit --max-size"));
    }
}

/// Checks `--cache-dir` before the proxy takes its port: an existing
/// directory we can write to, or a missing one whose parent we can create it
/// in. Returns whether it is missing (it is made once the port is ours).
fn check_cache_dir(cache_dir: &Path) -> Result<bool, StartError> {
    if cache_dir.as_os_str().is_empty() {
        return Err(StartError::CacheDirEmpty);
    }
    match std::fs::metadata(cache_dir) {
        Ok(metadata) if metadata.is_dir() => check_writable(cache_dir).map(|()| false),
        Ok(_) => Err(StartError::CacheDir(
            cache_dir.into(),
            "is a file, not a directory; name a directory",
        )),
        Err(_) => {
            let parent = cache_dir
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty());
            let parent = parent.unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(StartError::NoParent(cache_dir.into(), parent.into()));
            }
            check_writable(parent).map(|()| true)
        }
    }
}

/// Whether we may create files in `dir`: the only sure test is to try.
fn check_writable(dir: &Path) -> Result<(), StartError> {
    let probe = dir.join(format!(".cacheproxy-write-test-{}", std::process::id()));
    std::fs::File::create(&probe).map_err(|error| StartError::NotWritable(dir.into(), error))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
