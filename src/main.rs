//! The `cacheproxy` command: parses the command line and starts a server.
//! Everything else lives in the library; start reading at `lib.rs`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;

use cacheproxy::demo_origin::DemoOrigin;
use cacheproxy::eviction::parse_size;
use cacheproxy::inspect;
use cacheproxy::origin::{Origin, OriginTimeouts};
use cacheproxy::proxy::{CachePolicy, Proxy};
use cacheproxy::server::{self, ClientLimits};
use cacheproxy::store::Store;

/// A teaching-grade HTTP cache proxy: one thread, blocking I/O, a cache on disk.
#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help", "help"))]
struct Cli {
    #[argh(subcommand)]
    command: Command,
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
    #[argh(option, default = "8888")]
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
    #[argh(option, default = "1000")]
    idle_timeout: u64,

    /// milliseconds a client has to send its whole request (default: 5000)
    #[argh(option, default = "5000")]
    client_timeout: u64,

    /// milliseconds a client may take to accept each piece of a reply, at
    /// most 256 KiB (default: 10000)
    #[argh(option, default = "10000")]
    write_timeout: u64,

    /// bytes per second a reply must average after its first write timeout,
    /// like 64K or 1M; slower readers, or origins, are cut off (default: 256K)
    #[argh(option, default = "256 * 1024", from_str_fn(parse_size))]
    min_rate: u64,

    /// milliseconds any one reply may take in all, however fast it flows
    /// (default: 300000, five minutes)
    #[argh(option, default = "300_000")]
    max_reply_time: u64,

    /// milliseconds to wait for a connection to the origin (default: 3000)
    #[argh(option, default = "3000")]
    origin_connect_timeout: u64,

    /// milliseconds to wait for each read from the origin, the reply head
    /// included (default: 10000)
    #[argh(option, default = "10000")]
    origin_timeout: u64,

    /// seconds a response stays fresh when the origin gives no max-age,
    /// s-maxage or Expires; 0 means check with the origin every time
    /// (default: 60)
    #[argh(option, default = "60")]
    ttl: u64,

    /// seconds past its lifetime a stored copy may still be served when the
    /// origin fails (default: 86400, one day)
    #[argh(option, default = "86400")]
    max_stale: u64,

    /// bound on the cache's size, like 500K, 100M or 2G; the least recently
    /// served entries are evicted to stay under it (default: unlimited)
    #[argh(option, from_str_fn(parse_size))]
    max_size: Option<u64>,

    /// narrate each request step by step, numbered like the README's
    /// pseudocode, instead of one log line per request
    #[argh(switch)]
    trace: bool,
}

/// List the entries of a cache directory: URL, status, bytes, age, fresh or
/// stale, content type.
#[derive(FromArgs)]
#[argh(subcommand, name = "ls")]
struct LsArgs {
    /// the cache directory (default: cache)
    #[argh(option, default = "PathBuf::from(\"cache\")")]
    cache_dir: PathBuf,

    /// the proxy's --ttl, to tell fresh from stale (default: 60)
    #[argh(option, default = "60")]
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

/// Run the demo origin: a static file server for a directory.
#[derive(FromArgs)]
#[argh(subcommand, name = "origin")]
struct OriginArgs {
    /// address to listen on (default: 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    bind: String,

    /// port to listen on; 0 lets the system pick one (default: 8000)
    #[argh(option, default = "8000")]
    port: u16,

    /// directory whose files are served (default: www)
    #[argh(option, default = "PathBuf::from(\"www\")")]
    root: PathBuf,

    /// milliseconds to sleep before each reply, to play a slow origin
    /// (default: 0)
    #[argh(option, default = "0")]
    delay: u64,

    /// send Cache-Control: max-age=N with every file (default: no
    /// Cache-Control, so the proxy's --ttl applies)
    #[argh(option)]
    max_age: Option<u64>,

    /// narrate each request step by step instead of one log line per request
    #[argh(switch)]
    trace: bool,

    /// milliseconds a new connection has to send the first byte of its
    /// request (default: 1000)
    #[argh(option, default = "1000")]
    idle_timeout: u64,

    /// milliseconds a client has to send its whole request (default: 5000)
    #[argh(option, default = "5000")]
    client_timeout: u64,

    /// milliseconds a client may take to accept each piece of a reply, at
    /// most 256 KiB (default: 10000)
    #[argh(option, default = "10000")]
    write_timeout: u64,

    /// bytes per second a reply must average after its first write timeout,
    /// like 64K or 1M; slower readers, or origins, are cut off (default: 256K)
    #[argh(option, default = "256 * 1024", from_str_fn(parse_size))]
    min_rate: u64,

    /// milliseconds any one reply may take in all, however fast it flows
    /// (default: 300000, five minutes)
    #[argh(option, default = "300_000")]
    max_reply_time: u64,
}

fn main() -> ExitCode {
    let cli = match parse_command_line() {
        Ok(cli) => cli,
        Err(exit_code) => return exit_code,
    };
    let result = match cli.command {
        Command::Proxy(args) => run_proxy(args),
        Command::Origin(args) => run_origin(args),
        Command::Ls(args) => run_ls(args),
        Command::Purge(args) => run_purge(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cacheproxy: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the arguments. `--help` prints the help and exits 0; a mistake
/// prints one line on stderr and exits 1.
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
            let reason = early_exit.output.lines().next().unwrap_or("bad arguments");
            eprintln!("cacheproxy: error: {reason} (see cacheproxy --help)");
            ExitCode::FAILURE
        }
    })
}

fn run_proxy(args: ProxyArgs) -> Result<(), String> {
    let limits = client_limits(
        args.idle_timeout,
        args.client_timeout,
        args.write_timeout,
        args.min_rate,
        args.max_reply_time,
    )?;
    let timeouts = OriginTimeouts {
        connect: milliseconds("--origin-connect-timeout", args.origin_connect_timeout)?,
        read: milliseconds("--origin-timeout", args.origin_timeout)?,
    };
    let origin = Origin::new(&args.origin, timeouts)?;
    let policy = CachePolicy {
        default_ttl: Duration::from_secs(args.ttl),
        max_stale: Duration::from_secs(args.max_stale),
    };
    let (store, inventory) = open_store(&args.cache_dir, args.max_size)?;
    let listener = server::bind(&args.bind, args.port)?;
    let url = server::listening_url(&listener).map_err(|error| error.to_string())?;
    // The first line names only our own address: tests and scripts read it.
    server::log(&format!(
        "cacheproxy proxy listening on {url} (Ctrl-C stops it)"
    ));
    let bound = args.max_size.map_or("no size bound".to_string(), |bytes| {
        format!("at most {bytes} bytes")
    });
    server::log(&format!(
        "origin {}, cache dir {} ({} entries, {} bytes; {bound}), ttl {} s",
        args.origin,
        args.cache_dir.display(),
        inventory.entries,
        inventory.bytes,
        args.ttl
    ));
    // A process killed while storing leaves its temporary file behind; opening
    // the store swept those away.
    if inventory.stray_temp_files_removed > 0 {
        let count = inventory.stray_temp_files_removed;
        server::log(&format!("removed {count} stray temporary file(s)"));
    }
    if inventory.evicted > 0 {
        server::log(&format!(
            "evicted {} entries to fit --max-size",
            inventory.evicted
        ));
    }
    let mut proxy = Proxy::new(store, origin, policy);
    server::serve(listener, limits, args.trace, &mut proxy);
    Ok(())
}

fn open_store(
    cache_dir: &std::path::Path,
    max_size: Option<u64>,
) -> Result<(Store, cacheproxy::store::Inventory), String> {
    Store::open(cache_dir, max_size).map_err(|error| {
        let dir = cache_dir.display();
        format!("could not open the cache directory {dir}: {error}")
    })
}

/// The store of an existing cache directory, for `ls` and `purge`, which
/// must not create one where a path was mistyped.
fn existing_store(cache_dir: &std::path::Path) -> Result<Store, String> {
    if !cache_dir.is_dir() {
        return Err(format!("{} is not a directory", cache_dir.display()));
    }
    open_store(cache_dir, None).map(|(store, _)| store)
}

fn run_ls(args: LsArgs) -> Result<(), String> {
    let store = existing_store(&args.cache_dir)?;
    let ttl = Duration::from_secs(args.ttl);
    inspect::list(&store, ttl, &mut std::io::stdout().lock()).map_err(|error| error.to_string())
}

fn run_purge(args: PurgeArgs) -> Result<(), String> {
    if args.all != args.paths.is_empty() {
        return Err("give either URL paths or --all".into());
    }
    let mut store = existing_store(&args.cache_dir)?;
    if args.all {
        let count = store.remove_all().map_err(|error| error.to_string())?;
        println!("purged {count} entries");
        return Ok(());
    }
    inspect::purge(&mut store, &args.paths, &mut std::io::stdout().lock())
}

fn run_origin(args: OriginArgs) -> Result<(), String> {
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
    let listener = server::bind(&args.bind, args.port)?;
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
    server::serve(listener, limits, args.trace, &mut origin);
    Ok(())
}

fn client_limits(
    idle_timeout: u64,
    client_timeout: u64,
    write_timeout: u64,
    min_rate: u64,
    max_reply_time: u64,
) -> Result<ClientLimits, String> {
    if min_rate == 0 {
        return Err("--min-rate must be at least 1 byte per second".into());
    }
    Ok(ClientLimits {
        idle_timeout: milliseconds("--idle-timeout", idle_timeout)?,
        request_deadline: milliseconds("--client-timeout", client_timeout)?,
        write_timeout: milliseconds("--write-timeout", write_timeout)?,
        min_rate,
        max_reply_time: milliseconds("--max-reply-time", max_reply_time)?,
    })
}

/// A timeout flag's value; zero would mean "wait forever" to the OS, so it is refused.
fn milliseconds(flag: &str, value: u64) -> Result<Duration, String> {
    if value == 0 {
        return Err(format!("{flag} must be at least 1 millisecond"));
    }
    Ok(Duration::from_millis(value))
}
