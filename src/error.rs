//! What can go wrong with one request, and the HTTP status each failure becomes.
//!
//! Every per-request failure is a [`RequestError`] value. The mapping to a status
//! code lives in one `match` ([`RequestError::status`]), so a reader can see the
//! whole error table at a glance. The split follows the 500 Lines web server:
//! 4xx means the client sent something we will not serve, 5xx means the origin
//! (or we) failed.
//!
//! Steps: any of them can fail; step 6 logs the failure, and the server
//! loop sends the error reply if nothing was written yet.
//!
//! Not here: an origin's own 4xx or 5xx replies. Those are responses, passed on
//! to the client like any other, never errors.

use std::fmt;
use std::path::{Path, PathBuf};

/// A reason the proxy (or the demo origin) answers with an error status instead
/// of a response from the origin or the cache.
#[derive(Debug)]
pub enum RequestError {
    /// The request line or a header line is malformed, or the request target
    /// is not a clean absolute path: [`BadRequest`] says which.
    BadRequest(BadRequest),
    /// The client did not send a whole request head before the deadline.
    ClientTimeout,
    /// The request head is larger than [`crate::wire::http::MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// A request body was sent with `Transfer-Encoding: chunked` instead of a
    /// `Content-Length`; the proxy forwards only bodies of known length.
    LengthRequired,
    /// A method we know and refuse on purpose (`TRACE`), or one the demo
    /// origin does not serve. The text is the value of the `Allow` header.
    MethodNotAllowed(&'static str),
    /// A request for another server than this proxy or its origin: an
    /// absolute-form target (`GET http://example.com/x`, from a client that
    /// took cacheproxy for a forward proxy) naming a foreign host, or any
    /// `CONNECT` (see [`crate::wire::target::check_meant_for_us`]).
    Misdirected(Misdirected),
    /// An HTTP version other than 1.0 or 1.1.
    VersionNotSupported,
    /// A `PURGE` from another machine: only this one may empty the cache.
    PurgeFromElsewhere,
    /// The demo origin has no file for this path.
    NotFound,
    /// The origin could not be reached, or sent something that is not HTTP.
    /// The text says what happened.
    BadGateway(String),
    /// The origin did not answer within the origin timeout.
    GatewayTimeout,
    /// The request said `Cache-Control: only-if-cached` and no stored copy
    /// will do (RFC 9111 5.2.1.7).
    NotCached,
    /// Our own fault: an I/O error while serving (a file we could not read).
    Internal(String),
}

/// What is wrong with a request the proxy refuses with 400: each variant is
/// one rule of RFC 9110/9112 (or of the traversal guard), and `as_str` is the
/// reason the client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// The connection failed while the request was arriving.
    ConnectionFailed,
    /// The client closed the connection before its head was whole.
    ConnectionClosed,
    /// The first bytes cannot start an HTTP/1.x request line.
    NotHttp,
    /// The first bytes are a TLS handshake.
    Tls,
    /// The request line has bytes outside ASCII.
    RequestLineNotAscii,
    /// The request line is not three words.
    RequestLineShape,
    /// The method has characters a token may not.
    MethodNotToken,
    /// The target is empty or has invisible characters.
    TargetMalformed,
    /// An HTTP/1.1 request without `Host`.
    NoHost,
    /// Two `Host` fields (RFC 9112 3.2).
    TwoHosts,
    /// A CR that does not end a line.
    BareCr,
    /// The version is not `HTTP/x.y`.
    VersionMalformed,
    /// A header line that starts with a space (obsolete folding).
    FoldedHeader,
    /// A header line without a colon.
    NoColon,
    /// A header name with characters a token may not have.
    HeaderNameNotToken,
    /// A header value with a control character.
    ControlInValue,
    /// A `Content-Length` that is not a number.
    LengthNotNumber,
    /// Two different `Content-Length` values.
    ConflictingLengths,
    /// A target that is neither origin-form nor absolute-form.
    TargetForm,
    /// A target the origin client cannot put in a request.
    TargetUnsendable,
    /// The client closed before its body was whole.
    BodyEndedEarly,
    /// A decoded path that does not start with `/`.
    PathStart,
    /// A `%` not followed by two hex digits.
    PathEscape,
    /// An empty segment (`//`) inside the path.
    PathEmptySegment,
    /// A NUL or a backslash in the decoded path.
    PathNulOrBackslash,
    /// A `.` or `..` segment, also when escaped.
    PathDotSegment,
}

/// What a misdirected request asked for, and how to ask this proxy instead:
/// the values its 421 reply is written from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misdirected {
    /// The server it named: `http://example.com` for a URL, `example.com:443`
    /// for a tunnel.
    pub asked_for: String,
    /// Whether it asked for a tunnel (`CONNECT`) rather than for a URL.
    pub tunnel: bool,
    /// The origin this proxy fronts, as given to `--origin`.
    pub origin_url: String,
    /// The URL that asks this proxy for the same path, as the client reached
    /// it: `http://127.0.0.1:8888/data.json`.
    pub instead: String,
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
        match self {
            RequestError::BadRequest(why) => write!(f, "bad request: {}", why.as_str()),
            RequestError::ClientTimeout => write!(f, "the request did not arrive in time"),
            RequestError::HeadTooLarge => write!(f, "the request head is larger than 8 KiB"),
            RequestError::LengthRequired => {
                write!(
                    f,
                    "a request body needs a Content-Length (chunked bodies are not forwarded)"
                )
            }
            RequestError::MethodNotAllowed(allow) => {
                write!(f, "method not allowed here; allowed: {allow}")
            }
            RequestError::VersionNotSupported => {
                write!(f, "only HTTP/1.0 and HTTP/1.1 are supported")
            }
            RequestError::Misdirected(Misdirected {
                asked_for,
                tunnel,
                origin_url,
                instead,
            }) => {
                let refused = if *tunnel {
                    "opens no tunnel to"
                } else {
                    "cannot answer for"
                };
                write!(
                    f,
                    "misdirected request: cacheproxy is a reverse proxy for {origin_url}, \
                     not a forward proxy, and {refused} {asked_for}; ask it for the path \
                     itself: curl {instead}"
                )
            }
            RequestError::PurgeFromElsewhere => {
                write!(f, "forbidden: PURGE is accepted from this machine only")
            }
            RequestError::NotFound => write!(f, "no such file"),
            RequestError::BadGateway(why) => write!(f, "bad gateway: {why}"),
            RequestError::GatewayTimeout => write!(f, "the origin did not answer in time"),
            RequestError::NotCached => {
                write!(f, "only-if-cached, and no stored copy will do")
            }
            RequestError::Internal(why) => write!(f, "internal error: {why}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Why a command cannot start, or `ls` and `purge` cannot finish. Each variant
/// carries what it failed on, so the message names it; `main` prints it as
/// `cacheproxy: error: ...` and exits 1.
#[derive(Debug)]
pub enum StartError {
    /// No command was named: `cacheproxy` alone.
    NoCommand,
    /// argh could not read the command line.
    CommandLine {
        /// The command typed, `cacheproxy` or `cacheproxy proxy`, whose
        /// `--help` the message points to.
        command: String,
        /// What is wrong.
        mistake: CommandLineMistake,
    },
    /// `--cache-dir` names no directory the command can use, or using it failed.
    CacheDir {
        /// The `--cache-dir` value.
        path: PathBuf,
        /// What is wrong with it.
        problem: CacheDirProblem,
    },
    /// The origin's `--root` is not a directory.
    Root(PathBuf),
    /// `--origin` is the proxy's own address, so it would ask itself forever.
    OriginIsItself(String),
    /// `purge` was given both URL paths and `--all`, or neither.
    PurgeWhat,
    /// A `purge` path that does not start with `/`: `purge style.css`.
    PurgeRelative(String),
    /// A URL path given to `purge` or `explain` that names no cache key,
    /// and why: `purge /../etc`.
    UrlPath(String, RequestError),
    /// An `explain -H` value that is not `Name: value`.
    HeaderField(String),
    /// Writing a command's output failed.
    Output(std::io::Error),
    /// `--bind HOST` names nothing this machine can resolve.
    BindAddress {
        /// The `--bind` value.
        host: String,
        /// What the resolver said.
        source: std::io::Error,
    },
    /// The address could not be bound: in use, not ours, or privileged.
    Bind {
        /// The `--bind` value.
        host: String,
        /// The `--port` value.
        port: u16,
        /// What the system said.
        source: std::io::Error,
    },
    /// `--origin` is not a URL this proxy can fetch from.
    OriginUrl {
        /// The URL as given, or, when it holds a password, `(not shown)`.
        url: String,
        /// What is wrong with it.
        problem: OriginUrlProblem,
    },
}

/// A command line argh could not read, in its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLineMistake {
    /// A flag the command does not have: `--prot`.
    NoSuchFlag(String),
    /// A word the command does not take: `ls extra`.
    NotTaken(String),
    /// A value its flag cannot hold: `--port 70000`.
    BadValue {
        /// The flag.
        flag: String,
        /// The value as given.
        value: String,
        /// What the value should look like (see `cli::args::FlagProblem`).
        problem: String,
    },
    /// Anything else argh refused, in its words: a flag without a value.
    Other(String),
}

/// What is wrong with a `--cache-dir`.
#[derive(Debug)]
pub enum CacheDirProblem {
    /// It is empty: `--cache-dir ""`.
    Empty,
    /// It is a file, and the proxy needs a directory there.
    IsAFile,
    /// It is not a directory, and `ls` and `purge` create none.
    NotADirectory,
    /// It is missing, and so is the directory it would be made in.
    ParentMissing(PathBuf),
    /// This directory (it, or the one it would be made in) takes no files.
    NotWritable(PathBuf, std::io::Error),
    /// The store could not be opened in it.
    Open(std::io::Error),
    /// Its entries could not be listed (`ls`).
    List(std::io::Error),
    /// Its entries could not be removed (`purge`).
    Remove(std::io::Error),
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

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::BindAddress { host, source } => {
                write!(f, "cannot use --bind {host}: {source}")
            }
            StartError::Bind { host, port, source } => {
                let hint = match source.kind() {
                    std::io::ErrorKind::AddrInUse => "; is another server running on that port?",
                    std::io::ErrorKind::AddrNotAvailable => "; that address is not on this machine",
                    std::io::ErrorKind::PermissionDenied => "; ports below 1024 need privileges",
                    _ => "",
                };
                write!(f, "could not bind {host}:{port}: {source}{hint}")
            }
            StartError::NoCommand => write!(
                f,
                "say what to run: cacheproxy proxy, cacheproxy origin, cacheproxy ls or \
                 cacheproxy purge (see cacheproxy --help)"
            ),
            StartError::CommandLine { command, mistake } => match mistake {
                CommandLineMistake::NoSuchFlag(flag) => {
                    let help = format!("{command} --help lists its flags");
                    write!(f, "{command} has no flag {flag}; {help}")
                }
                CommandLineMistake::NotTaken(word) => {
                    let help = format!("{command} --help says what it takes");
                    write!(f, "{command} does not take {word:?}; {help}")
                }
                CommandLineMistake::BadValue {
                    flag,
                    value,
                    problem,
                } => {
                    write!(f, "{flag} {value:?}: {problem} (see {command} --help)")
                }
                CommandLineMistake::Other(argh_says) => {
                    write!(f, "{argh_says} (see {command} --help)")
                }
            },
            StartError::CacheDir { path, problem } => cache_dir_message(f, path, problem),
            StartError::Root(path) => write!(f, "--root {} is not a directory", path.display()),
            StartError::OriginIsItself(url) => write!(
                f,
                "--origin {url} is this proxy's own address: it would ask itself forever; \
                 start the origin on another port (cacheproxy origin --port 8000)"
            ),
            StartError::PurgeWhat => write!(f, "give either URL paths or --all"),
            StartError::PurgeRelative(path) => write!(
                f,
                "purge takes URL paths that start with /, like /{}, not {path:?}",
                path.trim_start_matches('/')
            ),
            StartError::UrlPath(path, problem) => write!(f, "{path}: {problem}"),
            StartError::HeaderField(text) => write!(f, "-H {text:?} is not 'Name: value'"),
            StartError::Output(error) => write!(f, "could not write the output: {error}"),
            StartError::OriginUrl { url, problem } => origin_url_message(f, url, problem),
        }
    }
}

impl StartError {
    /// The error for `problem` with `--cache-dir` `path`.
    pub fn cache_dir(path: &Path, problem: CacheDirProblem) -> StartError {
        let path = path.to_path_buf();
        StartError::CacheDir { path, problem }
    }
}

/// The message for a `--cache-dir` that cannot be used.
fn cache_dir_message(
    f: &mut fmt::Formatter<'_>,
    path: &Path,
    problem: &CacheDirProblem,
) -> fmt::Result {
    let shown = path.display();
    match problem {
        CacheDirProblem::Empty => {
            f.write_str("--cache-dir is empty; name a directory, like --cache-dir cache")
        }
        CacheDirProblem::IsAFile => write!(
            f,
            "--cache-dir {shown} is a file, not a directory; name a directory"
        ),
        CacheDirProblem::NotADirectory => write!(
            f,
            "--cache-dir {shown} is not a directory (is the proxy's --cache-dir another one?)"
        ),
        CacheDirProblem::ParentMissing(parent) => write!(
            f,
            "--cache-dir {shown}: {} does not exist; create it first",
            parent.display()
        ),
        CacheDirProblem::NotWritable(dir, error) => write!(
            f,
            "cannot write in {}: {error}; choose another --cache-dir or fix its permissions",
            dir.display()
        ),
        CacheDirProblem::Open(error) => {
            write!(f, "could not open the cache directory {shown}: {error}")
        }
        CacheDirProblem::List(error) => write!(f, "could not list {shown}: {error}"),
        CacheDirProblem::Remove(error) => write!(f, "could not purge {shown}: {error}"),
    }
}

/// The message for an `--origin` URL this proxy cannot fetch from.
fn origin_url_message(
    f: &mut fmt::Formatter<'_>,
    url: &str,
    problem: &OriginUrlProblem,
) -> fmt::Result {
    let form = "--origin takes a URL like http://127.0.0.1:8000 or https://example.com/prefix";
    match problem {
        OriginUrlProblem::NotAUrl => write!(f, "{form}, not {url:?}"),
        OriginUrlProblem::Scheme => {
            write!(f, "{form}: only http:// and https:// origins are fetched")
        }
        OriginUrlProblem::NeedsTls => write!(
            f,
            "--origin https:// needs TLS, and this cacheproxy was built without it \
             (--no-default-features); build it with `cargo build` to fetch from https:// \
             origins"
        ),
        OriginUrlProblem::Credentials => write!(
            f,
            "{form}: remove the user name and password, cacheproxy does not send \
             credentials"
        ),
        OriginUrlProblem::QueryOrFragment => {
            write!(f, "{form}: without a ?query or #fragment, not {url:?}")
        }
        OriginUrlProblem::NoHost => write!(f, "{form}: it has no host, in {url:?}"),
        OriginUrlProblem::Port(port) => {
            write!(
                f,
                "{form}: its port {port:?} is not a number from 1 to 65535"
            )
        }
    }
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
             not a forward proxy, and cannot answer for http://example.com; ask it for the \
             path itself: curl http://127.0.0.1:8888/data.json"
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
