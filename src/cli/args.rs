//! The command line: one struct per command, read by argh, and a type per kind
//! of flag value whose `FromStr` says in words what the value should look like.
//! The field docs are the `--help` text, so they are written for a user. Not
//! here: what the commands do ([`super::run`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use argh::{ArgsInfo, FromArgs};

use super::suggest::closest;
use crate::cache::freshness::CDN_CACHE_CONTROL;
use crate::error::StartError;
use crate::store::eviction::parse_size;

/// A teaching-grade HTTP cache proxy: one thread, blocking I/O, a cache on disk.
#[derive(FromArgs, ArgsInfo)]
#[argh(help_triggers("-h", "--help", "help"))]
pub struct Cli {
    /// print the version, and whether https:// origins are built in, and exit
    #[argh(switch, short = 'V')]
    pub version: bool,

    /// the command to run
    #[argh(subcommand)]
    pub command: Option<Command>,
}

/// The four commands.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand)]
pub enum Command {
    /// `cacheproxy proxy`.
    Proxy(ProxyArgs),
    /// `cacheproxy origin`.
    Origin(OriginArgs),
    /// `cacheproxy ls`.
    Ls(LsArgs),
    /// `cacheproxy purge`.
    Purge(PurgeArgs),
    /// `cacheproxy explain`.
    Explain(ExplainArgs),
}

/// Run the cache proxy in front of an origin.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "proxy")]
pub struct ProxyArgs {
    /// address to listen on (default: 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    pub bind: String,

    /// port to listen on; 0 lets the system pick one (default: 8888)
    #[argh(option, default = "Port(8888)")]
    pub port: Port,

    /// the origin's URL: http:// or https://, with an optional path prefix
    /// (default: http://127.0.0.1:8000)
    #[argh(option, default = "String::from(\"http://127.0.0.1:8000\")")]
    pub origin: String,

    /// directory that holds the cached copies (default: cache)
    #[argh(option, default = "PathBuf::from(\"cache\")")]
    pub cache_dir: PathBuf,

    /// milliseconds a new connection has to send the first byte of its
    /// request (default: 1000)
    #[argh(option, default = "Timeout(Duration::from_millis(1000))")]
    pub idle_timeout: Timeout,

    /// milliseconds a client has to send its whole request (default: 5000)
    #[argh(option, default = "Timeout(Duration::from_millis(5000))")]
    pub client_timeout: Timeout,

    /// milliseconds a client may go without taking any of its reply
    /// (default: 10000)
    #[argh(option, default = "Timeout(Duration::from_millis(10000))")]
    pub write_timeout: Timeout,

    /// bytes per second a reply must average after its first write timeout,
    /// like 64K or 1M; slower readers, or origins, are cut off (default: 256K)
    #[argh(option, default = "Rate(256 * 1024)")]
    pub min_rate: Rate,

    /// milliseconds any one reply may take in all, however fast it flows
    /// (default: 300000, five minutes)
    #[argh(option, default = "Timeout(Duration::from_millis(300_000))")]
    pub max_reply_time: Timeout,

    /// milliseconds to wait for a connection to the origin (default: 3000)
    #[argh(option, default = "Timeout(Duration::from_millis(3000))")]
    pub origin_connect_timeout: Timeout,

    /// milliseconds to wait for the origin's whole reply head, and for each
    /// read of its body (default: 10000)
    #[argh(option, default = "Timeout(Duration::from_millis(10000))")]
    pub origin_timeout: Timeout,

    /// seconds a response stays fresh when the origin gives no max-age,
    /// s-maxage, Expires or Last-Modified to judge by; 0 means check with
    /// the origin every time (default: 0)
    #[argh(option, default = "Seconds(0)")]
    pub ttl: Seconds,

    /// the response field whose directives the proxy obeys instead of
    /// Cache-Control when the origin sends it (RFC 9213), or "none" for
    /// Cache-Control alone (default: CDN-Cache-Control)
    #[argh(option, default = "FieldName(Some(CDN_CACHE_CONTROL.into()))")]
    pub targeted_field: FieldName,

    /// seconds past its lifetime a stored copy may still be served when the
    /// origin fails (default: 86400, one day)
    #[argh(option, default = "Seconds(86400)")]
    pub max_stale: Seconds,

    /// bound on the cache's size, like 500K, 100M or 2G; the least recently
    /// served entries are evicted to stay under it (default: unlimited)
    #[argh(option)]
    pub max_size: Option<Size>,

    /// narrate each request step by step, numbered like the README's
    /// pseudocode, instead of one log line per request
    #[argh(switch)]
    pub trace: bool,
}

/// List the entries of a cache directory: URL, status, bytes, age, fresh or
/// stale, content type. Changes nothing in it.
#[derive(FromArgs, ArgsInfo)]
#[argh(
    subcommand,
    name = "ls",
    note = "ls only reads, so it is safe beside a running proxy. A file that \
            cannot be read as an entry is named in a warning on stderr and the \
            others are listed; the exit status is still 0, as the proxy treats \
            such a file as a miss."
)]
pub struct LsArgs {
    /// the cache directory (default: cache)
    #[argh(option, default = "PathBuf::from(\"cache\")")]
    pub cache_dir: PathBuf,

    /// the proxy's --ttl, to tell fresh from stale (default: 0)
    #[argh(option, default = "Seconds(0)")]
    pub ttl: Seconds,
}

/// Say what the proxy would do now for a GET of a URL path, and why, from
/// the cache directory alone: the stored file, its age and lifetime, the
/// decision and its RFC section. Asks no origin and changes nothing.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "explain")]
pub struct ExplainArgs {
    /// the URL path, like /index.html or /data.json?page=2
    #[argh(positional)]
    pub path: String,

    /// a request header field, like -H 'Accept-Language: fr'; repeatable
    #[argh(option, short = 'H')]
    pub header: Vec<String>,

    /// the cache directory (default: cache)
    #[argh(option, default = "PathBuf::from(\"cache\")")]
    pub cache_dir: PathBuf,

    /// the proxy's --ttl (default: 0)
    #[argh(option, default = "Seconds(0)")]
    pub ttl: Seconds,

    /// the proxy's --max-stale (default: 86400)
    #[argh(option, default = "Seconds(86400)")]
    pub max_stale: Seconds,

    /// the proxy's --targeted-field (default: CDN-Cache-Control)
    #[argh(option, default = "FieldName(Some(CDN_CACHE_CONTROL.into()))")]
    pub targeted_field: FieldName,
}

/// Remove entries from a cache directory, by URL path or all of them.
#[derive(FromArgs, ArgsInfo)]
#[argh(
    subcommand,
    name = "purge",
    note = "A URL path with nothing stored for it is named on stderr (\"nothing \
            was stored for /path\") and makes the exit status 1, as rm does for a \
            missing file; the other paths are purged all the same. PURGE through \
            the running proxy answers 404 with the same words. A whole URL's host \
            must be this machine's, but its port is not looked at: the entries \
            removed are --cache-dir's, whichever server the URL names."
)]
pub struct PurgeArgs {
    /// the cache directory (default: cache)
    #[argh(option, default = "PathBuf::from(\"cache\")")]
    pub cache_dir: PathBuf,

    /// remove every entry
    #[argh(switch)]
    pub all: bool,

    /// URL paths to remove, like /index.html or /data.json?page=2, or
    /// URLs of this machine, like http://127.0.0.1:8888/index.html
    #[argh(positional)]
    pub paths: Vec<String>,
}

/// Run the demo origin: a static file server for a directory, with byte
/// ranges and precompressed .gz files.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "origin")]
pub struct OriginArgs {
    /// address to listen on (default: 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    pub bind: String,

    /// port to listen on; 0 lets the system pick one (default: 8000)
    #[argh(option, default = "Port(8000)")]
    pub port: Port,

    /// directory whose files are served; a FILE.gz beside FILE is sent as
    /// it is to clients that accept gzip (default: www)
    #[argh(option, default = "PathBuf::from(\"www\")")]
    pub root: PathBuf,

    /// milliseconds to sleep before each reply, to play a slow origin
    /// (default: 0)
    #[argh(option, default = "Milliseconds(0)")]
    pub delay: Milliseconds,

    /// send Cache-Control: max-age=N with every file; "none" sends no
    /// Cache-Control, leaving the proxy to judge by Last-Modified or its
    /// --ttl (default: 60)
    #[argh(option, default = "MaxAge(Some(60))")]
    pub max_age: MaxAge,

    /// narrate each request step by step instead of one log line per request
    #[argh(switch)]
    pub trace: bool,

    // The same client bounds as the proxy's: argh cannot share fields
    // between subcommands, so they are written out twice.
    /// milliseconds a new connection has to send the first byte of its
    /// request (default: 1000)
    #[argh(option, default = "Timeout(Duration::from_millis(1000))")]
    pub idle_timeout: Timeout,

    /// milliseconds a client has to send its whole request (default: 5000)
    #[argh(option, default = "Timeout(Duration::from_millis(5000))")]
    pub client_timeout: Timeout,

    /// milliseconds a client may go without taking any of its reply
    /// (default: 10000)
    #[argh(option, default = "Timeout(Duration::from_millis(10000))")]
    pub write_timeout: Timeout,

    /// bytes per second a reply must average after its first write timeout,
    /// like 64K or 1M; slower readers, or origins, are cut off (default: 256K)
    #[argh(option, default = "Rate(256 * 1024)")]
    pub min_rate: Rate,

    /// milliseconds any one reply may take in all, however fast it flows
    /// (default: 300000, five minutes)
    #[argh(option, default = "Timeout(Duration::from_millis(300_000))")]
    pub max_reply_time: Timeout,
}

// Each kind of flag value is a type whose `FromStr` says, when it refuses a
// value, what the value should look like: argh prints those words after the
// flag and the value, where `str::parse` would say "invalid digit found in
// string".

/// `--port`: 0 to 65535.
pub struct Port(pub u16);

impl FromStr for Port {
    type Err = FlagProblem;
    fn from_str(text: &str) -> Result<Port, FlagProblem> {
        number(text, PORT).map(Port)
    }
}

/// A timeout: milliseconds, at least 1 (0 means "wait forever" to the system).
pub struct Timeout(pub Duration);

impl FromStr for Timeout {
    type Err = FlagProblem;
    fn from_str(text: &str) -> Result<Timeout, FlagProblem> {
        let milliseconds = positive(number(text, TIMEOUT)?, TIMEOUT)?;
        Ok(Timeout(Duration::from_millis(milliseconds)))
    }
}

/// `--ttl`, `--max-stale`: whole seconds, 0 allowed.
pub struct Seconds(pub u64);

impl FromStr for Seconds {
    type Err = FlagProblem;
    fn from_str(text: &str) -> Result<Seconds, FlagProblem> {
        number(text, SECONDS).map(Seconds)
    }
}

/// The origin's `--max-age`: whole seconds, or `none`.
pub struct MaxAge(pub Option<u64>);

impl FromStr for MaxAge {
    type Err = FlagProblem;
    fn from_str(text: &str) -> Result<MaxAge, FlagProblem> {
        match text {
            "none" => Ok(MaxAge(None)),
            _ => number(text, SECONDS).map(|seconds| MaxAge(Some(seconds))),
        }
    }
}

/// `--delay`: whole milliseconds, 0 allowed.
pub struct Milliseconds(pub u64);

impl FromStr for Milliseconds {
    type Err = FlagProblem;
    fn from_str(text: &str) -> Result<Milliseconds, FlagProblem> {
        number(text, MILLISECONDS).map(Milliseconds)
    }
}

/// `--max-size`: a size like 500, 64K, 10M or 2G.
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = FlagProblem;
    fn from_str(text: &str) -> Result<Size, FlagProblem> {
        parse_size(text).ok_or(FlagProblem(SIZE)).map(Size)
    }
}

/// `--min-rate`: bytes per second, at least 1 (at 0 no reply would be too slow).
pub struct Rate(pub u64);

impl FromStr for Rate {
    type Err = FlagProblem;
    fn from_str(text: &str) -> Result<Rate, FlagProblem> {
        let bytes = parse_size(text).ok_or(FlagProblem(SIZE))?;
        positive(bytes, RATE).map(Rate)
    }
}

/// `--targeted-field`: a header field name, or `none`.
pub struct FieldName(pub Option<String>);

impl FromStr for FieldName {
    type Err = FlagProblem;
    fn from_str(text: &str) -> Result<FieldName, FlagProblem> {
        match text {
            "none" => Ok(FieldName(None)),
            _ => field_name(text).map(|name| FieldName(Some(name))),
        }
    }
}

const PORT: &str = "a port is a number from 0 to 65535, like 8888 (0: any free port)";
const TIMEOUT: &str = "a timeout is a whole number of milliseconds, at least 1, like 5000";
const SECONDS: &str = "this is a whole number of seconds, like 60 (0 allowed)";
const MILLISECONDS: &str = "this is a whole number of milliseconds, like 1000 (0 allowed)";
const SIZE: &str = "a size is a number with an optional K, M or G, like 500, 64K, 10M or 2G";
const RATE: &str = "a rate is at least 1 byte per second, like 64K";

/// Why a flag's value was refused: what the value should look like.
#[derive(Debug)]
pub struct FlagProblem(&'static str);

impl fmt::Display for FlagProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// `text` as a number, or `problem`.
fn number<T: FromStr>(text: &str, problem: &'static str) -> Result<T, FlagProblem> {
    text.parse().map_err(|_| FlagProblem(problem))
}

/// `value` if it is at least 1, or `problem`.
fn positive(value: u64, problem: &'static str) -> Result<u64, FlagProblem> {
    (value >= 1).then_some(value).ok_or(FlagProblem(problem))
}

/// A header field name: a token (RFC 9110 5.1).
fn field_name(text: &str) -> Result<String, FlagProblem> {
    let is_token_byte =
        |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
    let problem = FlagProblem("a header field name, like CDN-Cache-Control, or none");
    let is_token = !text.is_empty() && text.bytes().all(is_token_byte);
    is_token.then(|| text.to_string()).ok_or(problem)
}

/// argh's report of a mistake in `arguments`, as an error that names the
/// command typed, so that its message can point to that command's `--help`,
/// and, for a word it does not know, the known word that was likely meant.
pub fn mistake(argh_output: &str, arguments: &[&str]) -> StartError {
    let info = Cli::get_args_info();
    let commands: Vec<&str> = info.commands.iter().map(|command| command.name).collect();
    let named = arguments.first().filter(|name| commands.contains(name));
    let command = named.map_or("cacheproxy".into(), |name| format!("cacheproxy {name}"));
    let argh_says = argh_output.lines().next().unwrap_or_default();
    if let Some(argument) = argh_says.strip_prefix("Unrecognized argument: ") {
        let subcommand = info.commands.iter().find(|sub| Some(&sub.name) == named);
        let flags = subcommand.map_or(info.flags, |sub| sub.command.flags);
        let meant = match (argument.starts_with('-'), subcommand) {
            (true, _) => closest(argument, flags.iter().map(|flag| flag.long)),
            // A word: at the top, a mistyped command; after one, nothing to guess.
            (false, None) => closest(argument, commands.iter().copied()),
            (false, Some(_)) => None,
        };
        let meant = meant.map(str::to_string);
        return StartError::Unrecognized(command, argument.to_string(), meant);
    }
    // `Error parsing option '--port' with value '70000': why`, read back.
    let bad_value = argh_says
        .strip_prefix("Error parsing option '")
        .and_then(|rest| rest.split_once("' with value '"))
        .and_then(|(flag, rest)| Some((flag, rest.split_once("': ")?)));
    match bad_value {
        Some((flag, (value, problem))) => {
            let [flag, value, problem] = [flag, value, problem].map(str::to_string);
            StartError::BadValue(command, flag, value, problem)
        }
        None => StartError::CommandLine(command, argh_says.trim_end_matches(':').into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `cacheproxy ARGUMENTS` makes of them, or its error.
    fn parse(arguments: &[&str]) -> Result<Cli, StartError> {
        Cli::from_args(&["cacheproxy"], arguments)
            .map_err(|early_exit| mistake(&early_exit.output, arguments))
    }

    #[test]
    fn flag_values_are_read_into_their_types() {
        let Ok(Cli {
            command: Some(Command::Proxy(proxy)),
            ..
        }) = parse(&[
            "proxy",
            "--port",
            "0",
            "--max-size",
            "2K",
            "--targeted-field",
            "none",
        ])
        else {
            panic!("not a proxy command");
        };
        assert_eq!(proxy.port.0, 0);
        assert_eq!(proxy.max_size.map(|size| size.0), Some(2048));
        assert_eq!(proxy.targeted_field.0, None);
        assert_eq!(proxy.idle_timeout.0, Duration::from_millis(1000));
    }

    #[test]
    fn mistakes_name_the_flag_and_the_help_to_read() {
        let cases = [
            (
                &["proxy", "--port", "x"][..],
                "--port \"x\": a port is a number from 0 to 65535, like 8888 (0: any free port) \
                 (see cacheproxy proxy --help)",
            ),
            (
                &["origin", "--min-rate", "0"],
                "--min-rate \"0\": a rate is at least 1 byte per second, like 64K \
                 (see cacheproxy origin --help)",
            ),
            (
                &["ls", "--prot"],
                "cacheproxy ls has no flag --prot; cacheproxy ls --help lists its flags",
            ),
            (
                &["nope"],
                "cacheproxy does not take \"nope\"; cacheproxy --help says what it takes",
            ),
            (
                &["prxy"],
                "cacheproxy does not take \"prxy\" (did you mean proxy?); \
                 cacheproxy --help says what it takes",
            ),
            (
                &["proxy", "--origni"],
                "cacheproxy proxy has no flag --origni (did you mean --origin?); \
                 cacheproxy proxy --help lists its flags",
            ),
        ];
        for (arguments, message) in cases {
            let error = parse(arguments).err().map(|error| error.to_string());
            assert_eq!(error.as_deref(), Some(message));
        }
    }
}
