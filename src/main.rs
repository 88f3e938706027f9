//! The `cacheproxy` command: parses the command line and starts a server.
//! Everything else lives in the library; start reading at `lib.rs`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;

use cacheproxy::demo_origin::DemoOrigin;
use cacheproxy::origin::{Origin, OriginTimeouts};
use cacheproxy::proxy::Proxy;
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

    /// milliseconds a client has to send its whole request (default: 5000)
    #[argh(option, default = "5000")]
    client_timeout: u64,

    /// milliseconds one write to a client may block (default: 10000)
    #[argh(option, default = "10000")]
    write_timeout: u64,

    /// milliseconds to wait for a connection to the origin (default: 3000)
    #[argh(option, default = "3000")]
    origin_connect_timeout: u64,

    /// milliseconds to wait for each read from the origin, the reply head
    /// included (default: 10000)
    #[argh(option, default = "10000")]
    origin_timeout: u64,
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

    /// milliseconds a client has to send its whole request (default: 5000)
    #[argh(option, default = "5000")]
    client_timeout: u64,

    /// milliseconds one write to a client may block (default: 10000)
    #[argh(option, default = "10000")]
    write_timeout: u64,
}

fn main() -> ExitCode {
    let cli = match parse_command_line() {
        Ok(cli) => cli,
        Err(exit_code) => return exit_code,
    };
    let result = match cli.command {
        Command::Proxy(args) => run_proxy(args),
        Command::Origin(args) => run_origin(args),
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
    let limits = client_limits(args.client_timeout, args.write_timeout)?;
    let timeouts = OriginTimeouts {
        connect: milliseconds("--origin-connect-timeout", args.origin_connect_timeout)?,
        read: milliseconds("--origin-timeout", args.origin_timeout)?,
    };
    let origin = Origin::new(&args.origin, timeouts)?;
    let store = Store::open(&args.cache_dir).map_err(|error| {
        let dir = args.cache_dir.display();
        format!("could not create the cache directory {dir}: {error}")
    })?;
    let listener = server::bind(&args.bind, args.port)?;
    let url = server::listening_url(&listener).map_err(|error| error.to_string())?;
    // The first line names only our own address: tests and scripts read it.
    server::log(&format!(
        "cacheproxy proxy listening on {url} (Ctrl-C stops it)"
    ));
    server::log(&format!(
        "origin {}, cache dir {}",
        args.origin,
        args.cache_dir.display()
    ));
    // A process killed while storing leaves its temporary file behind; sweep
    // those now, so they never pile up.
    match store.remove_stray_temp_files() {
        Ok(0) => {}
        Ok(count) => server::log(&format!("removed {count} stray temporary file(s)")),
        Err(error) => server::log(&format!("could not sweep temporary files: {error}")),
    }
    server::serve(listener, limits, &mut Proxy::new(store, origin));
    Ok(())
}

fn run_origin(args: OriginArgs) -> Result<(), String> {
    let limits = client_limits(args.client_timeout, args.write_timeout)?;
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
    let mut origin = DemoOrigin::new(&args.root, Duration::from_millis(args.delay));
    server::serve(listener, limits, &mut origin);
    Ok(())
}

fn client_limits(client_timeout: u64, write_timeout: u64) -> Result<ClientLimits, String> {
    Ok(ClientLimits {
        request_deadline: milliseconds("--client-timeout", client_timeout)?,
        write_timeout: milliseconds("--write-timeout", write_timeout)?,
    })
}

/// A timeout flag's value; zero would mean "wait forever" to the OS, so it is refused.
fn milliseconds(flag: &str, value: u64) -> Result<Duration, String> {
    if value == 0 {
        return Err(format!("{flag} must be at least 1 millisecond"));
    }
    Ok(Duration::from_millis(value))
}
