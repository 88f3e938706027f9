//! What can go wrong, as values: [`RequestError`] for one request, with the
//! HTTP status each becomes in one `match` ([`RequestError::status`]), and
//! [`StartError`] for a command that cannot start. As in the 500 Lines web
//! server, 4xx means the client sent something we will not serve, 5xx that
//! the origin (or we) failed. Step 6 logs a request's failure, and the server
//! loop sends the error reply if nothing was written yet.
//!
//! Not here: an origin's own 4xx or 5xx replies. Those are responses, passed on
//! to the client like any other, never errors.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A reason the proxy (or the demo origin) answers with an error status instead
/// of a response from the origin or the cache.
#[derive(Debug)]
pub enum RequestError {
    /// The request head or its target breaks a rule: [`BadRequest`] says which.
    BadRequest(BadRequest),
    /// The client did not send a whole request head before the deadline.
    ClientTimeout,
    /// The request head is larger than [`crate::wire::http::MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// A chunked request body: the proxy forwards only bodies of known length.
    LengthRequired,
    /// A method refused on purpose (`TRACE`) or not served; with the `Allow` value.
    MethodNotAllowed(&'static str),
    /// A `CONNECT`, or a `GET http://example.com/x` for another host: from a
    /// client that took cacheproxy for a forward proxy.
    Misdirected(Misdirected),
    /// An HTTP version other than 1.0 or 1.1.
    VersionNotSupported,
    /// A `PURGE` from another machine: only this one (over loopback, or from
    /// the address the client reached it on) may empty the cache.
    PurgeFromElsewhere,
    /// The demo origin has no file for this path.
    NotFound,
    /// The origin could not be reached, or sent something that is not HTTP.
    BadGateway(String),
    /// The origin did not answer within the origin timeout.
    GatewayTimeout,
    /// `Cache-Control: only-if-cached`, and no stored copy will do (RFC 9111 5.2.1.7).
    NotCached,
    /// Our own fault: an I/O error while serving (a file we could not read).
    Internal(String),
}

/// Why a request gets 400: each variant one rule of RFC 9110/9112, or of
/// the traversal guard, documented with the words the client reads (`as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// The connection failed mid-request.
    ConnectionFailed,
    /// The connection closed mid-request.
    ConnectionClosed,
    /// This is not an HTTP/1.x request.
    NotHttp,
    /// This is a plain HTTP server: use http://, not https://.
    Tls,
    /// The request line is not ASCII.
    RequestLineNotAscii,
    /// The request line must be METHOD TARGET HTTP/1.x.
    RequestLineShape,
    /// The method is not a token.
    MethodNotToken,
    /// The request target is malformed.
    TargetMalformed,
    /// HTTP/1.1 requires a Host header.
    NoHost,
    /// More than one Host header.
    TwoHosts,
    /// A bare CR inside a line.
    BareCr,
    /// The HTTP version is malformed.
    VersionMalformed,
    /// Folded header lines are not allowed.
    FoldedHeader,
    /// A header line has no colon.
    NoColon,
    /// A header name is not a token.
    HeaderNameNotToken,
    /// A header value has a control character.
    ControlInValue,
    /// Content-Length is not a number.
    LengthNotNumber,
    /// Conflicting Content-Length headers.
    ConflictingLengths,
    /// The target must be /path or http://host/path.
    TargetForm,
    /// The target cannot be sent to the origin.
    TargetUnsendable,
    /// The request body ended early.
    BodyEndedEarly,
    /// The path must start with /.
    PathStart,
    /// The path has a malformed %-escape.
    PathEscape,
    /// The path contains an empty segment.
    PathEmptySegment,
    /// The path contains NUL or a backslash.
    PathNulOrBackslash,
    /// The path contains . or .. segments.
    PathDotSegment,
}

impl BadRequest {
    /// The reason, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            BadRequest::ConnectionFailed => "the connection failed mid-request",
            BadRequest::ConnectionClosed => "the connection closed mid-request",
            BadRequest::NotHttp => "this is not an HTTP/1.x request",
            BadRequest::Tls => "this is a plain HTTP server: use http://, not https://",
            BadRequest::RequestLineNotAscii => "the request line is not ASCII",
            BadRequest::RequestLineShape => "the request line must be METHOD TARGET HTTP/1.x",
            BadRequest::MethodNotToken => "the method is not a token",
            BadRequest::TargetMalformed => "the request target is malformed",
            BadRequest::NoHost => "HTTP/1.1 requires a Host header",
            BadRequest::TwoHosts => "more than one Host header",
            BadRequest::BareCr => "a bare CR inside a line",
            BadRequest::VersionMalformed => "the HTTP version is malformed",
            BadRequest::FoldedHeader => "folded header lines are not allowed",
            BadRequest::NoColon => "a header line has no colon",
            BadRequest::HeaderNameNotToken => "a header name is not a token",
            BadRequest::ControlInValue => "a header value has a control character",
            BadRequest::LengthNotNumber => "Content-Length is not a number",
            BadRequest::ConflictingLengths => "conflicting Content-Length headers",
            BadRequest::TargetForm => "the target must be /path or http://host/path",
            BadRequest::TargetUnsendable => "the target cannot be sent to the origin",
            BadRequest::BodyEndedEarly => "the request body ended early",
            BadRequest::PathStart => "the path must start with /",
            BadRequest::PathEscape => "the path has a malformed %-escape",
            BadRequest::PathEmptySegment => "the path contains an empty segment",
            BadRequest::PathNulOrBackslash => "the path contains NUL or a backslash",
            BadRequest::PathDotSegment => "the path contains . or .. segments",
        }
    }
}

/// What a misdirected request asked for, and how to ask this proxy instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misdirected {
    /// The server it named: `http://example.com`, or `example.com:443` for a tunnel.
    pub asked_for: String,
    /// Whether it asked for a tunnel (`CONNECT`).
    pub tunnel: bool,
    /// The origin this proxy fronts, as given to `--origin`.
    pub origin_url: String,
    /// The URL that asks this proxy for the same path: `http://127.0.0.1:8888/data.json`.
    pub instead: String,
}

impl RequestError {
    /// The status code sent to the client for this error.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::BadRequest(_) => 400,
            RequestError::PurgeFromElsewhere => 403,
            RequestError::NotFound => 404,
            RequestError::MethodNotAllowed(_) => 405,
            RequestError::ClientTimeout => 408,
            RequestError::LengthRequired => 411,
            RequestError::Misdirected(_) => 421,
            RequestError::HeadTooLarge => 431,
            RequestError::Internal(_) => 500,
            RequestError::BadGateway(_) => 502,
            RequestError::GatewayTimeout | RequestError::NotCached => 504,
            RequestError::VersionNotSupported => 505,
        }
    }

    /// The extra header a status requires: `Allow` on 405 (RFC 9110, 15.5.6).
    pub fn extra_header(&self) -> Option<(&'static str, &'static str)> {
        match self {
            RequestError::MethodNotAllowed(allow) => Some(("Allow", allow)),
            _ => None,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Words with a value in them are written at once; the rest are fixed.
        let words = match self {
            Self::BadRequest(why) => return write!(f, "bad request: {}", why.as_str()),
            Self::MethodNotAllowed(allow) => {
                return write!(f, "method not allowed here; allowed: {allow}")
            }
            Self::Misdirected(to) => {
                let refused = match to.tunnel {
                    true => "opens no tunnel to",
                    false => "cannot answer for",
                };
                let (origin_url, asked_for, instead) = (&to.origin_url, &to.asked_for, &to.instead);
                // Both ways a client is set up for a forward proxy are named,
                // so the user knows which setting to undo.
                return write!(
                    f,
                    "misdirected request: cacheproxy is a reverse proxy for {origin_url}, not a \
                     forward proxy, and {refused} {asked_for}; ask it for paths, as in curl \
                     {instead}, not through it with curl -x or http_proxy/https_proxy"
                );
            }
            Self::BadGateway(why) => return write!(f, "bad gateway: {why}"),
            Self::Internal(why) => return write!(f, "internal error: {why}"),
            Self::ClientTimeout => "the request did not arrive in time",
            Self::HeadTooLarge => "the request head is larger than 8 KiB",
            Self::LengthRequired => {
                "a request body needs a Content-Length (chunked bodies are not forwarded)"
            }
            Self::VersionNotSupported => "only HTTP/1.0 and HTTP/1.1 are supported",
            Self::PurgeFromElsewhere => {
                "forbidden: PURGE is accepted only from this machine (loopback or its own address)"
            }
            Self::NotFound => "no such file",
            Self::GatewayTimeout => "the origin did not answer in time",
            Self::NotCached => "only-if-cached, and no stored copy will do",
        };
        f.write_str(words)
    }
}

impl std::error::Error for RequestError {}

/// Why a command cannot start or finish: `main` prints it as `cacheproxy:
/// error: ...` and exits with its [`StartError::exit_code`]. Each variant
/// carries what its message names; a `String` first is the command typed,
/// whose `--help` it points to.
#[derive(Debug)]
pub enum StartError {
    /// No command was named: `cacheproxy` alone.
    NoCommand,
    /// An argument the command does not have: a flag (`--prot`) or a word
    /// (`ls extra`), with the known one it is likely a slip for (`--port`).
    Unrecognized(String, String, Option<String>),
    /// `--port 70000`: a value its flag refuses (command, flag, value, what it should be).
    BadValue(String, String, String, String),
    /// Anything else argh refused, in its words: a flag without a value.
    CommandLine(String, String),
    /// `--cache-dir ""`.
    CacheDirEmpty,
    /// `--cache-dir` names a file, or (for `ls` and `purge`) no directory.
    CacheDir(PathBuf, &'static str),
    /// The origin's `--root` is not a directory.
    Root(PathBuf),
    /// `--cache-dir` is missing, and so is the directory it would be made in.
    NoParent(PathBuf, PathBuf),
    /// This directory (the cache, or the one it would be made in) takes no files.
    NotWritable(PathBuf, io::Error),
    /// Opening, listing or purging the cache directory failed: what, where, why.
    CacheDirFailed(&'static str, PathBuf, io::Error),
    /// `--origin` is the proxy's own address, so it would ask itself forever.
    OriginIsItself(String),
    /// What `cacheproxy purge` could not do.
    Purge(PurgeError),
    /// A URL path for `purge` or `explain` that names no cache key: `/../etc`.
    UrlPath(String, RequestError),
    /// An `explain` URL of another server than this machine, which the
    /// proxy would refuse with 421: the URL, its path.
    ExplainElsewhere(String, String),
    /// An `explain -H` value that is not `Name: value`.
    HeaderField(String),
    /// Writing a command's output failed.
    Output(io::Error),
    /// `--bind HOST` names nothing this machine can resolve.
    BindAddress {
        /// The `--bind` value.
        host: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// The address could not be bound: in use, not ours, or privileged.
    Bind {
        /// The `--bind` value.
        host: String,
        /// The `--port` value.
        port: u16,
        /// What the system said.
        source: io::Error,
    },
    /// `--origin` is not a URL this proxy can fetch from.
    OriginUrl {
        /// The URL as given, or, when it holds a password, `(not shown)`.
        url: String,
        /// What is wrong with it.
        problem: OriginUrlProblem,
    },
}

/// What is wrong with an `--origin` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginUrlProblem {
    /// It is not `scheme://host...` at all.
    NotAUrl,
    /// Its scheme is not `http` or `https`.
    Scheme,
    /// It is `https://` and this build has no TLS (`--no-default-features`).
    NeedsTls,
    /// It carries a user name or password, which this proxy would not send.
    Credentials,
    /// It has a `?query` or `#fragment`, which would be glued to every path.
    QueryOrFragment,
    /// It names no host.
    NoHost,
    /// Its port is not a number from 1 to 65535.
    Port(String),
}

/// What `cacheproxy purge` could not do.
#[derive(Debug)]
pub enum PurgeError {
    /// It was given both URL paths and `--all`, or neither.
    What,
    /// A path that does not start with `/`: `purge style.css`.
    Relative(String),
    /// A URL of another server than this machine: the URL, its path.
    Elsewhere(String, String),
    /// URL paths with nothing stored for them (the others were purged), and
    /// the cache directory: the same outcome as `PURGE`'s 404.
    NothingStored(Vec<String>, String),
}

impl fmt::Display for PurgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::What => f.write_str("give either URL paths or --all"),
            Self::Relative(path) => {
                let like = path.trim_start_matches('/');
                write!(
                    f,
                    "purge takes URL paths that start with /, like /{like}, not {path:?}"
                )
            }
            // The words of `PURGE`'s 404, see `cache::story`.
            Self::NothingStored(keys, dir) => {
                write!(f, "nothing was stored for {} in {dir}", keys.join(", "))
            }
            Self::Elsewhere(url, path) => write!(
                f,
                "{url} names another server: purge takes a URL path, like {path}, or a URL \
                 of this machine, like http://127.0.0.1:8888{path}"
            ),
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCommand => f.write_str(
                "say what to run: cacheproxy proxy, cacheproxy origin, cacheproxy ls, \
                 cacheproxy purge or cacheproxy explain (see cacheproxy --help)",
            ),
            Self::Unrecognized(command, argument, meant) => {
                unrecognized_message(f, command, argument, meant.as_deref())
            }
            Self::BadValue(command, flag, value, problem) => {
                write!(f, "{flag} {value:?}: {problem} (see {command} --help)")
            }
            Self::CommandLine(command, argh_says) => {
                write!(f, "{argh_says} (see {command} --help)")
            }
            Self::CacheDirEmpty => {
                f.write_str("--cache-dir is empty; name a directory, like --cache-dir cache")
            }
            Self::CacheDir(path, why) => write!(f, "--cache-dir {} {why}", in_full(path)),
            Self::Root(path) => write!(f, "--root {} is not a directory", in_full(path)),
            Self::NoParent(path, parent) => {
                let (path, parent) = (path.display(), in_full(parent));
                write!(
                    f,
                    "--cache-dir {path}: {parent} does not exist; create it first"
                )
            }
            Self::NotWritable(dir, error) => {
                let dir = in_full(dir);
                let fix = "choose another --cache-dir or fix its permissions";
                write!(f, "cannot write in {dir}: {error}; {fix}")
            }
            Self::CacheDirFailed(doing, path, error) => {
                write!(f, "could not {doing} {}: {error}", in_full(path))
            }
            Self::OriginIsItself(url) => write!(
                f,
                "--origin {url} is this proxy's own address: it would ask itself forever; \
                 start the origin on another port (cacheproxy origin --port 8000)"
            ),
            Self::Purge(error) => error.fmt(f),
            Self::UrlPath(path, problem) => write!(f, "{path}: {problem}"),
            Self::ExplainElsewhere(url, path) => write!(
                f,
                "{url} names another server, which the proxy would refuse (421): \
                 explain takes a URL path, like {path}"
            ),
            Self::HeaderField(text) => write!(f, "-H {text:?} is not 'Name: value'"),
            Self::Output(error) => write!(f, "could not write the output: {error}"),
            Self::BindAddress { host, source } => write!(f, "cannot use --bind {host}: {source}"),
            Self::Bind { host, port, source } => {
                let hint = bind_hint(source);
                write!(f, "could not bind {host}:{port}: {source}{hint}")
            }
            Self::OriginUrl { url, problem } => origin_url_message(f, url, problem),
        }
    }
}

impl StartError {
    /// The exit status: 2 for a usage error, a command line that is wrong
    /// as written on any machine (an unknown flag, a value its flag refuses,
    /// `purge` without paths); 1 for a failure of a sound command line here
    /// (a port taken, a directory missing). Scripts can tell a typo from a
    /// failure, as with most GNU and clap-based tools.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NoCommand
            | Self::Unrecognized(..)
            | Self::BadValue(..)
            | Self::CommandLine(..)
            | Self::CacheDirEmpty
            | Self::Purge(PurgeError::What | PurgeError::Relative(_) | PurgeError::Elsewhere(..))
            | Self::UrlPath(..)
            | Self::ExplainElsewhere(..)
            | Self::HeaderField(_)
            | Self::OriginUrl { .. } => 2,
            Self::CacheDir(..)
            | Self::Root(_)
            | Self::NoParent(..)
            | Self::NotWritable(..)
            | Self::CacheDirFailed(..)
            | Self::OriginIsItself(_)
            | Self::Purge(PurgeError::NothingStored(..))
            | Self::Output(_)
            | Self::BindAddress { .. }
            | Self::Bind { .. } => 1,
        }
    }
}

/// The message for an `argument` that `command` does not take, with the
/// word it is likely a slip for, if any: `(did you mean --port?)`.
fn unrecognized_message(
    f: &mut fmt::Formatter,
    command: &str,
    argument: &str,
    meant: Option<&str>,
) -> fmt::Result {
    let help = match argument.starts_with('-') {
        true => {
            write!(f, "{command} has no flag {argument}")?;
            "lists its flags"
        }
        false => {
            write!(f, "{command} does not take {argument:?}")?;
            "says what it takes"
        }
    };
    if let Some(meant) = meant {
        write!(f, " (did you mean {meant}?)")?;
    }
    write!(f, "; {command} --help {help}")
}

/// `path` as given and, when it is relative, in full: `www (/home/ann/www)`.
/// A relative path is found from the working directory, which a user who
/// ran the command from elsewhere (`cd scripts`) may not have in mind.
pub fn in_full(path: &Path) -> String {
    match std::path::absolute(path) {
        Ok(full) if path.is_relative() => format!("{} ({})", path.display(), full.display()),
        _ => path.display().to_string(),
    }
}

/// The error for `doing` something to the cache directory that failed.
pub fn failed<'a>(doing: &'static str, dir: &'a Path) -> impl Fn(io::Error) -> StartError + 'a {
    move |error| StartError::CacheDirFailed(doing, dir.into(), error)
}

/// What to check when binding failed with `error`.
fn bind_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::AddrInUse => "; is another server running on that port?",
        io::ErrorKind::AddrNotAvailable => "; that address is not on this machine",
        io::ErrorKind::PermissionDenied => "; ports below 1024 need privileges",
        _ => "",
    }
}

/// The message for an `--origin` URL this proxy cannot fetch from.
fn origin_url_message(
    f: &mut fmt::Formatter,
    url: &str,
    problem: &OriginUrlProblem,
) -> fmt::Result {
    let form = "--origin takes a URL like http://127.0.0.1:8000 or https://example.com/prefix";
    let problem = match problem {
        OriginUrlProblem::NotAUrl => return write!(f, "{form}, not {url:?}"),
        OriginUrlProblem::NeedsTls => {
            return f.write_str(
                "--origin https:// needs TLS, and this cacheproxy was built without it \
                 (--no-default-features); build it with `cargo build` to fetch from https:// \
                 origins",
            )
        }
        OriginUrlProblem::Scheme => "only http:// and https:// origins are fetched".to_string(),
        OriginUrlProblem::Credentials => {
            "remove the user name and password, cacheproxy does not send credentials".to_string()
        }
        OriginUrlProblem::QueryOrFragment => format!("without a ?query or #fragment, not {url:?}"),
        OriginUrlProblem::NoHost => format!("it has no host, in {url:?}"),
        OriginUrlProblem::Port(port) => {
            format!("its port {port:?} is not a number from 1 to 65535")
        }
    };
    write!(f, "{form}: {problem}")
}

impl std::error::Error for StartError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_status() {
        let table = [
            (RequestError::BadRequest(BadRequest::NotHttp), 400),
            (RequestError::PurgeFromElsewhere, 403),
            (RequestError::NotFound, 404),
            (RequestError::MethodNotAllowed("GET"), 405),
            (RequestError::ClientTimeout, 408),
            (RequestError::LengthRequired, 411),
            (RequestError::Misdirected(misdirected()), 421),
            (RequestError::HeadTooLarge, 431),
            (RequestError::Internal("x".into()), 500),
            (RequestError::BadGateway("x".into()), 502),
            (RequestError::GatewayTimeout, 504),
            (RequestError::NotCached, 504),
            (RequestError::VersionNotSupported, 505),
        ];
        for (error, status) in table {
            assert_eq!(error.status(), status, "{error}");
        }
    }

    #[test]
    fn a_403_says_where_purge_is_accepted_from() {
        let text = RequestError::PurgeFromElsewhere.to_string();
        assert!(
            text.ends_with("accepted only from this machine (loopback or its own address)"),
            "{text}"
        );
    }

    fn misdirected() -> Misdirected {
        Misdirected {
            asked_for: "http://example.com".into(),
            tunnel: false,
            origin_url: "http://127.0.0.1:8000".into(),
            instead: "http://127.0.0.1:8888/data.json".into(),
        }
    }

    #[test]
    fn a_421_says_what_the_proxy_is_and_how_to_use_it() {
        let text = RequestError::Misdirected(misdirected()).to_string();
        assert_eq!(
            text,
            "misdirected request: cacheproxy is a reverse proxy for http://127.0.0.1:8000, \
             not a forward proxy, and cannot answer for http://example.com; ask it for \
             paths, as in curl http://127.0.0.1:8888/data.json, not through it with curl -x \
             or http_proxy/https_proxy"
        );
        let tunnel = Misdirected {
            asked_for: "example.com:443".into(),
            tunnel: true,
            instead: "http://127.0.0.1:8888/".into(),
            ..misdirected()
        };
        let text = RequestError::Misdirected(tunnel).to_string();
        assert!(
            text.contains("opens no tunnel to example.com:443;"),
            "{text}"
        );
    }

    #[test]
    fn only_405_carries_allow() {
        assert_eq!(
            RequestError::MethodNotAllowed("GET, HEAD").extra_header(),
            Some(("Allow", "GET, HEAD"))
        );
        assert_eq!(RequestError::NotFound.extra_header(), None);
    }
}
