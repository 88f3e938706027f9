//! The `cacheproxy` command: parses the command line and starts a server.
//! Everything else lives in the library: start reading at `src/proxy.rs`, the
//! request path; `lib.rs` gives the order of the rest.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;

use cacheproxy::cache::freshness::{CachePolicy, CDN_CACHE_CONTROL};
use cacheproxy::cache::story::Proxy;
use cacheproxy::cache::trace::count;
use cacheproxy::cli::demo_origin::DemoOrigin;
use cacheproxy::cli::inspect;
use cacheproxy::net::origin::{Origin, OriginTimeouts};
use cacheproxy::net::server::{self, ClientLimits};
use cacheproxy::store::eviction::parse_size;
use cacheproxy::store::open::Store;

/// A teaching-grade HTTP cache proxy: one thread, blocking I/O, a cache on disk.
#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help", "help"))]
struct Cli {
    /// print the version and exit
    #[argh(switch)]
    version: bool,

    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Proxy(ProxyArgs),
    Origin(OriginArgs),
    Ls(LsArgs),
    Purge(PurgeArgs),
}

/// Run the cache proxy in front of an origin.
#[derive(FromArgs)]
#[argh(subcommand, name = "proxy")]
struct ProxyArgs {
    /// address to listen on (default: 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    bind: String,

    /// port to listen on; 0 lets the system pick one (default: 8888)
    #[argh(option, default = "8888", from_str_fn(port))]
    port: u16,

    /// the origin's URL: http:// or https://, with an optional path prefix
    /// (default: http://127.0.0.1:8000)
    #[argh(option, default = "String::from(\"http://127.0.0.1:8000\")")]
    origin: String,

    /// directory that holds the cached copies (default: cache)
    #[argh(option, default = "PathBuf::from(\"cache\")")]
    cache_dir: PathBuf,

    /// milliseconds a new connection has to send the first byte of its
    /// request (default: 1000)
    #[argh(option, default = "Duration::from_millis(1000)", from_str_fn(timeout))]
    idle_timeout: Duration,

    /// milliseconds a client has to send its whole request (default: 5000)
    #[argh(option, default = "Duration::from_millis(5000)", from_str_fn(timeout))]
    client_timeout: Duration,

    /// milliseconds a client may go without taking any of its reply
    /// (default: 10000)
    #[argh(option, default = "Duration::from_millis(10000)", from_str_fn(timeout))]
    write_timeout: Duration,

    /// bytes per second a reply must average after its first write timeout,
    /// like 64K or 1M; slower readers, or origins, are cut off (default: 256K)
    #[argh(option, default = "256 * 1024", from_str_fn(size))]
    min_rate: u64,

    /// milliseconds any one reply may take in all, however fast it flows
    /// (default: 300000, five minutes)
    #[argh(
        option,
        default = "Duration::from_millis(300_000)",
        from_str_fn(timeout)
    )]
    max_reply_time: Duration,

    /// milliseconds to wait for a connection to the origin (default: 3000)
    #[argh(option, default = "Duration::from_millis(3000)", from_str_fn(timeout))]
    origin_connect_timeout: Duration,

    /// milliseconds to wait for the origin's whole reply head, and for each
    /// read of its body (default: 10000)
    #[argh(option, default = "Duration::from_millis(10000)", from_str_fn(timeout))]
    origin_timeout: Duration,

    /// seconds a response stays fresh when the origin gives no max-age,
    /// s-maxage, Expires or Last-Modified to judge by; 0 means check with
    /// the origin every time (default: 0)
    #[argh(option, default = "0", from_str_fn(seconds))]
    ttl: u64,

    /// the response field whose directives the proxy obeys instead of
    /// Cache-Control when the origin sends it (RFC 9213), or "none" for
    /// Cache-Control alone (default: CDN-Cache-Control)
    #[argh(
        option,
        default = "Some(CDN_CACHE_CONTROL.into())",
        from_str_fn(targeted_field)
    )]
    targeted_field: Option<String>,

    /// seconds past its lifetime a stored copy may still be served when the
    /// origin fails (default: 86400, one day)
    #[argh(option, default = "86400", from_str_fn(seconds))]
    max_stale: u64,

    /// bound on the cache's size, like 500K, 100M or 2G; the least recently
    /// served entries are evicted to stay under it (default: unlimited)
    #[argh(option, from_str_fn(size))]
    max_size: Option<u64>,

    /// narrate each request step by step, numbered like the README's
    /// pseudocode, instead of one log line per request
    #[argh(switch)]
    trace: bool,
}

/// List the entries of a cache directory: URL, status, bytes, age, fresh or
/// stale, content type. Changes nothing in it.
#[derive(FromArgs)]
#[argh(
    subcommand,
    name = "ls",
    note = "ls only reads, so it is safe beside a running proxy. A file that \
            cannot be read as an entry is named in a warning on stderr and the \
            others are listed; the exit status is still 0, as the proxy treats \
            such a file as a miss."
)]
struct LsArgs {
    /// the cache directory (default: cache)
    #[argh(option, default = "PathBuf::from(\"cache\")")]
    cache_dir: PathBuf,

    /// the proxy's --ttl, to tell fresh from stale (default: 0)
    #[argh(option, default = "0", from_str_fn(seconds))]
    ttl: u64,
}

/// Remove entries from a cache directory, by URL path or all of them.
#[derive(FromArgs)]
#[argh(subcommand, name = "purge")]
struct PurgeArgs {
    /// the cache directory (default: cache)
    #[argh(option, default = "PathBuf::from(\"cache\")")]
    cache_dir: PathBuf,

    /// remove every entry
    #[argh(switch)]
    all: bool,

    /// URL paths to remove, like /index.html or /data.json?page=2
    #[argh(positional)]
    paths: Vec<String>,
}

/// Run the demo origin: a static file server for a directory, with byte
/// ranges and precompressed .gz files.
#[derive(FromArgs)]
#[argh(subcommand, name = "origin")]
struct OriginArgs {
    /// address to listen on (default: 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    bind: String,

    /// port to listen on; 0 lets the system pick one (default: 8000)
    #[argh(option, default = "8000", from_str_fn(port))]
    port: u16,

    /// directory whose files are served; a FILE.gz beside FILE is sent as
    /// it is to clients that accept gzip (default: www)
    #[argh(option, default = "PathBuf::from(\"www\")")]
    root: PathBuf,

    /// milliseconds to sleep before each reply, to play a slow origin
    /// (default: 0)
    #[argh(option, default = "0", from_str_fn(whole_number))]
    delay: u64,

    /// send Cache-Control: max-age=N with every file; "none" sends no
    /// Cache-Control, leaving the proxy to judge by Last-Modified or its
    /// --ttl (default: 60)
    #[argh(option, default = "Some(60)", from_str_fn(max_age))]
    max_age: Option<u64>,

    /// narrate each request step by step instead of one log line per request
    #[argh(switch)]
    trace: bool,

    // The same client bounds as the proxy's: argh cannot share fields
    // between subcommands, so they are written out twice.
    /// milliseconds a new connection has to send the first byte of its
    /// request (default: 1000)
    #[argh(option, default = "Duration::from_millis(1000)", from_str_fn(timeout))]
    idle_timeout: Duration,

    /// milliseconds a client has to send its whole request (default: 5000)
    #[argh(option, default = "Duration::from_millis(5000)", from_str_fn(timeout))]
    client_timeout: Duration,

    /// milliseconds a client may go without taking any of its reply
    /// (default: 10000)
    #[argh(option, default = "Duration::from_millis(10000)", from_str_fn(timeout))]
    write_timeout: Duration,

    /// bytes per second a reply must average after its first write timeout,
    /// like 64K or 1M; slower readers, or origins, are cut off (default: 256K)
    #[argh(option, default = "256 * 1024", from_str_fn(size))]
    min_rate: u64,

    /// milliseconds any one reply may take in all, however fast it flows
    /// (default: 300000, five minutes)
    #[argh(
        option,
        default = "Duration::from_millis(300_000)",
        from_str_fn(timeout)
    )]
    max_reply_time: Duration,
}

fn main() -> ExitCode {
    let cli = match parse_command_line() {
        Ok(cli) => cli,
        Err(exit_code) => return exit_code,
    };
    let result = match cli.command {
        _ if cli.version => {
            println!("cacheproxy {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Proxy(args)) => run_proxy(&args),
        Some(Command::Origin(args)) => run_origin(&args),
        Some(Command::Ls(args)) => run_ls(&args),
        Some(Command::Purge(args)) => run_purge(&args),
        None => Err(format!(
            "say what to run: {SUBCOMMANDS} (see cacheproxy --help)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cacheproxy: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The subcommands, as a learner would type them.
const SUBCOMMANDS: &str = "cacheproxy proxy, cacheproxy origin, cacheproxy ls or cacheproxy purge";

/// Parses the arguments. `--help` prints the help and exits 0; a mistake
/// prints one line on stderr, naming the `--help` that lists the right flags,
/// and exits 1.
fn parse_command_line() -> Result<Cli, ExitCode> {
    let arguments: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|argument| argument.to_string_lossy().into_owned())
        .collect();
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    Cli::from_args(&["cacheproxy"], &arguments).map_err(|early_exit| match early_exit.status {
        Ok(()) => {
            print!("{}", early_exit.output);
            ExitCode::SUCCESS
        }
        Err(()) => {
            let reason = explain(&early_exit.output, &arguments);
            eprintln!("cacheproxy: error: {reason}");
            ExitCode::FAILURE
        }
    })
}

/// argh's report of a mistake, in plain English, pointing to the help of
/// the subcommand that was typed.
fn explain(argh_output: &str, arguments: &[&str]) -> String {
    let subcommand = arguments
        .first()
        .filter(|word| ["proxy", "origin", "ls", "purge"].contains(*word));
    let (what, help) = match subcommand {
        Some(name) => (
            format!("cacheproxy {name}"),
            format!("cacheproxy {name} --help"),
        ),
        None => ("cacheproxy".to_string(), "cacheproxy --help".to_string()),
    };
    let first_line = argh_output.lines().next().unwrap_or_default();
    if let Some(argument) = first_line.strip_prefix("Unrecognized argument: ") {
        if argument.starts_with('-') {
            return format!("{what} has no flag {argument}; {help} lists its flags");
        }
        return format!("{what} does not take {argument:?}; {help} says what it takes");
    }
    if let Some(rest) = first_line.strip_prefix("Error parsing option '") {
        if let Some((flag, rest)) = rest.split_once("' with value '") {
            if let Some((value, reason)) = rest.split_once("': ") {
                return format!("{flag} {value:?}: {reason} (see {help})");
            }
        }
    }
    if first_line.starts_with("Required options not provided") {
        let missing = argh_output.lines().nth(1).unwrap_or_default().trim();
        return format!("{what} needs {missing} (see {help})");
    }
    format!("{} (see {help})", first_line.trim_end_matches(':'))
}

fn run_proxy(args: &ProxyArgs) -> Result<(), String> {
    let limits = client_limits(
        args.idle_timeout,
        args.client_timeout,
        args.write_timeout,
        args.min_rate,
        args.max_reply_time,
    )?;
    let timeouts = OriginTimeouts {
        connect: args.origin_connect_timeout,
        read: args.origin_timeout,
        // One tick later than our own deadline, which names the flag in the
        // log: ureq's is the backstop for an origin that stalls between reads.
        whole_body: args.max_reply_time + server::WRITE_TICK,
    };
    let origin = Origin::new(&args.origin, timeouts).map_err(|error| error.to_string())?;
    let policy = CachePolicy {
        default_ttl: Duration::from_secs(args.ttl),
        max_stale: Duration::from_secs(args.max_stale),
        targeted_field: args.targeted_field.clone(),
    };
    // Everything that can be checked is checked before the port is taken,
    // and nothing is created on disk until the port is ours.
    let created = check_cache_dir(&args.cache_dir)?;
    let listener = server::bind(&args.bind, args.port).map_err(|error| error.to_string())?;
    let local_addr = listener.local_addr().map_err(|error| error.to_string())?;
    if origin.is_at(local_addr) {
        return Err(format!(
            "--origin {} is this proxy's own address: it would ask itself forever; \
             start the origin on another port (cacheproxy origin --port 8000)",
            args.origin
        ));
    }
    let (store, inventory) = open_store(&args.cache_dir, args.max_size)?;
    let url = server::listening_url(&listener).map_err(|error| error.to_string())?;
    // The first line names only our own address: tests and scripts read it.
    server::log(&format!(
        "cacheproxy proxy listening on {url} (Ctrl-C stops it)"
    ));
    let bound = args.max_size.map_or("no size bound".to_string(), |bytes| {
        format!("at most {}", count(bytes, "byte"))
    });
    let new = if created { ", new" } else { "" };
    server::log(&format!(
        "origin {}, cache dir {}{new} ({}, {} on disk; {bound}), ttl {} s",
        args.origin,
        args.cache_dir.display(),
        count(inventory.entries as u64, "entry"),
        count(inventory.bytes, "byte"),
        args.ttl
    ));
    // A process killed while storing leaves its temporary file behind; opening
    // the store swept those away.
    if inventory.stray_temp_files_removed > 0 {
        let files = count(
            inventory.stray_temp_files_removed as u64,
            "stray temporary file",
        );
        server::log(&format!("removed {files}"));
    }
    if inventory.evicted > 0 {
        let entries = count(inventory.evicted as u64, "entry");
        server::log(&format!("evicted {entries} to fit --max-size"));
    }
    let mut proxy = Proxy::new(store, origin, policy);
    server::serve(&listener, limits, args.trace, &mut proxy);
    Ok(())
}

/// Checks `--cache-dir` before the proxy takes its port: an existing
/// directory we can write to, or a missing one whose parent we can create it
/// in. Returns whether it is missing (it is made once the port is ours).
fn check_cache_dir(cache_dir: &Path) -> Result<bool, String> {
    let shown = cache_dir.display();
    if cache_dir.as_os_str().is_empty() {
        return Err("--cache-dir is empty; name a directory, like --cache-dir cache".into());
    }
    match std::fs::metadata(cache_dir) {
        Ok(metadata) if metadata.is_dir() => {
            check_writable(cache_dir)?;
            Ok(false)
        }
        Ok(_) => Err(format!(
            "--cache-dir {shown} is a file, not a directory; name a directory"
        )),
        Err(_) => {
            let parent = match cache_dir.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            if !parent.is_dir() {
                return Err(format!(
                    "--cache-dir {shown}: {} does not exist; create it first",
                    parent.display()
                ));
            }
            check_writable(parent)?;
            Ok(true)
        }
    }
}

/// Whether we may create files in `dir`: the only sure test is to try.
fn check_writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".cacheproxy-write-test-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(error) => Err(format!(
            "cannot write in {}: {error}; choose another --cache-dir or fix its permissions",
            dir.display()
        )),
    }
}

fn open_store(
    cache_dir: &std::path::Path,
    max_size: Option<u64>,
) -> Result<(Store, cacheproxy::store::open::Inventory), String> {
    Store::open(cache_dir, max_size).map_err(|error| {
        let dir = cache_dir.display();
        format!("could not open the cache directory {dir}: {error}")
    })
}

/// Checks that `--cache-dir` names an existing directory, for `ls` and
/// `purge`, which must not create one where a path was mistyped.
fn check_existing(cache_dir: &Path) -> Result<(), String> {
    if cache_dir.as_os_str().is_empty() {
        return Err("--cache-dir is empty; name a directory, like --cache-dir cache".into());
    }
    if !cache_dir.is_dir() {
        return Err(format!(
            "--cache-dir {} is not a directory (is the proxy's --cache-dir another one?)",
            cache_dir.display()
        ));
    }
    Ok(())
}

/// The store of an existing cache directory, for `purge`.
fn existing_store(cache_dir: &Path) -> Result<Store, String> {
    check_existing(cache_dir)?;
    open_store(cache_dir, None).map(|(store, _)| store)
}

fn run_ls(args: &LsArgs) -> Result<(), String> {
    check_existing(&args.cache_dir)?;
    // Only to look: opening it as the proxy does would sweep what looks
    // stray, and a proxy running on it may be writing those very files.
    let store = Store::open_to_look(&args.cache_dir).map_err(|error| {
        let dir = args.cache_dir.display();
        format!("could not open the cache directory {dir}: {error}")
    })?;
    let policy = CachePolicy {
        default_ttl: Duration::from_secs(args.ttl),
        max_stale: Duration::ZERO,
        targeted_field: Some(CDN_CACHE_CONTROL.into()),
    };
    let (mut out, mut warnings) = (std::io::stdout().lock(), std::io::stderr().lock());
    match inspect::list(&store, &policy, &mut out, &mut warnings) {
        // `cacheproxy ls | head -1`: the reader has all it wanted.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(format!(
            "could not list {}: {error}",
            args.cache_dir.display()
        )),
        Ok(()) => Ok(()),
    }
}

fn run_purge(args: &PurgeArgs) -> Result<(), String> {
    if args.all != args.paths.is_empty() {
        return Err("give either URL paths or --all".into());
    }
    if let Some(path) = args.paths.iter().find(|path| !path.starts_with('/')) {
        return Err(format!(
            "purge takes URL paths that start with /, like /{}, not {path:?}",
            path.trim_start_matches('/')
        ));
    }
    let mut store = existing_store(&args.cache_dir)?;
    if args.all {
        let removed = store.remove_all().map_err(|error| error.to_string())?;
        println!("purged {}", count(removed as u64, "entry"));
        return Ok(());
    }
    inspect::purge(&mut store, &args.paths, &mut std::io::stdout().lock())
        .map_err(|error| error.to_string())
}

fn run_origin(args: &OriginArgs) -> Result<(), String> {
    let limits = client_limits(
        args.idle_timeout,
        args.client_timeout,
        args.write_timeout,
        args.min_rate,
        args.max_reply_time,
    )?;
    if !args.root.is_dir() {
        return Err(format!("--root {} is not a directory", args.root.display()));
    }
    let listener = server::bind(&args.bind, args.port).map_err(|error| error.to_string())?;
    let url = server::listening_url(&listener).map_err(|error| error.to_string())?;
    server::log(&format!(
        "cacheproxy origin listening on {url} (Ctrl-C stops it)"
    ));
    server::log(&format!(
        "serving {}, delay {} ms",
        args.root.display(),
        args.delay
    ));
    let delay = Duration::from_millis(args.delay);
    let mut origin = DemoOrigin::new(&args.root, delay, args.max_age);
    server::serve(&listener, limits, args.trace, &mut origin);
    Ok(())
}

fn client_limits(
    idle_timeout: Duration,
    client_timeout: Duration,
    write_timeout: Duration,
    min_rate: u64,
    max_reply_time: Duration,
) -> Result<ClientLimits, String> {
    if min_rate == 0 {
        return Err("--min-rate must be at least 1 byte per second, like 64K".into());
    }
    Ok(ClientLimits {
        idle_timeout,
        request_deadline: client_timeout,
        write_timeout,
        min_rate,
        max_reply_time,
    })
}

/// `--max-size`, `--min-rate`: a size like 500, 64K, 10M or 2G.
fn size(text: &str) -> Result<u64, String> {
    parse_size(text).ok_or_else(|| {
        "a size is a number with an optional K, M or G, like 500, 64K, 10M or 2G".into()
    })
}

/// `--port`: 0 to 65535.
fn port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| "a port is a number from 0 to 65535, like 8888 (0: any free port)".into())
}

/// A timeout flag: milliseconds, at least 1 (zero would mean "wait forever"
/// to the operating system).
fn timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(0) | Err(_) => {
            Err("a timeout is a whole number of milliseconds, at least 1, like 5000".into())
        }
        Ok(milliseconds) => Ok(Duration::from_millis(milliseconds)),
    }
}

/// `--ttl`, `--max-stale`, `--max-age`: whole seconds, 0 allowed.
fn seconds(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| "this is a whole number of seconds, like 60 (0 allowed)".into())
}

/// The origin's `--max-age`: whole seconds, or `none`.
fn max_age(text: &str) -> Result<Option<u64>, String> {
    if text == "none" {
        return Ok(None);
    }
    seconds(text).map(Some)
}

/// `--targeted-field`: a header field name, or `none`.
fn targeted_field(text: &str) -> Result<Option<String>, String> {
    let is_name = !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
    match text {
        "none" => Ok(None),
        _ if is_name => Ok(Some(text.to_string())),
        _ => Err("a header field name, like CDN-Cache-Control, or none".into()),
    }
}

/// `--delay`: whole milliseconds, 0 allowed.
fn whole_number(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| "this is a whole number of milliseconds, like 1000 (0 allowed)".into())
}
