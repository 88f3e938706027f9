//! The origin client, the only file that touches `ureq`: sends one request to
//! the origin (step 4) and hands back its reply as a stream. ureq is built for
//! API clients, and [`Origin::new`] turns off each default that would break a
//! proxy, saying why. The body is never read into memory here: the caller
//! copies it along in pieces, so a 1 GiB file costs no more than a 1 KiB one.
//!
//! Not here: which headers to send (see [`crate::wire::headers`]) or what to do with
//! the reply (see [`crate::cache::story`]).

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use ureq::http::{self, HeaderName, HeaderValue};
use ureq::{Agent, SendBody};

use crate::cache::trace::{Asked, Step, Trace};
use crate::error::{BadRequest, OriginUrlProblem, RequestError, StartError};
use crate::wire::http::{field_values, is_timeout, parse_decimal, Header};
use crate::wire::target;

/// The timeouts for talking to the origin: one hung origin would otherwise
/// freeze the proxy's only thread.
#[derive(Debug, Clone, Copy)]
pub struct OriginTimeouts {
    /// The longest wait to open a connection.
    pub connect: Duration,
    /// The longest wait for the whole reply head, for each read of the body,
    /// and for the origin to take a request body (each write, and in all).
    pub read: Duration,
    /// The longest a whole reply body may take: just over `--max-reply-time`,
    /// so a slow origin is cut on time even between two reads.
    pub whole_body: Duration,
}

/// The origin server the proxy fronts.
pub struct Origin {
    agent: Agent,
    /// The origin's URL without a trailing slash (see [`Origin::url`]).
    base_url: String,
    /// Its host and port, e.g. `127.0.0.1:8000`.
    authority: String,
    /// Its path prefix without a trailing slash, e.g. `/prefix`, or empty.
    base_path: String,
    /// `--origin-timeout`: also the whole budget of work no client waits for
    /// (see [`crate::net::relay::Unattended`]).
    read_timeout: Duration,
}

/// A reply from the origin whose body has not been read yet.
pub struct OriginResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The reply's header fields, as the origin sent them (names in lower case).
    pub headers: Vec<Header>,
    /// How the origin marked the end of the body.
    pub framing: Framing,
    /// The body: the exact bytes the origin sent, unchunked, never decompressed.
    pub body: Box<dyn Read>,
}

/// How the end of a reply body is known (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: N`: the body is N bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`: the body ends with an empty chunk. A
    /// `Content-Length` beside it is ignored, as RFC 9112 6.3 says.
    Chunked,
    /// Neither: the body ends at the close. A cut looks exactly like that end
    /// (ureq reports a reset as a close), so such a body is never stored.
    UntilClose,
}

/// Reads the framing of a reply's head, or says why it cannot be trusted: a
/// 502 for a transfer coding other than `chunked` (the only one ureq decodes;
/// any other would reach the client undecoded), for `Transfer-Encoding` in an
/// HTTP/1.0 reply (faulty framing, RFC 9112 6.1), and for a `Content-Length`
/// that is not one number.
pub fn framing_of(
    status: u16,
    headers: &[Header],
    http_1_0: bool,
) -> Result<Framing, RequestError> {
    // No body at all, whatever the fields say (RFC 9112 6.3, rule 1).
    if matches!(status, 100..=199 | 204 | 304) {
        return Ok(Framing::Length(0));
    }
    let codings: Vec<&[u8]> = field_values(headers, "Transfer-Encoding")
        .map(<[u8]>::trim_ascii)
        .collect();
    if !codings.is_empty() {
        if http_1_0 || codings.len() > 1 || !codings[0].eq_ignore_ascii_case(b"chunked") {
            let shown = String::from_utf8_lossy(&codings.join(&b", "[..])).into_owned();
            let version = http_1_0.then_some(" in an HTTP/1.0 reply");
            return Err(RequestError::BadGateway(format!(
                "the origin used a transfer coding the proxy cannot decode: {shown:?}{}",
                version.unwrap_or_default()
            )));
        }
        return Ok(Framing::Chunked);
    }
    let mut lengths =
        field_values(headers, "Content-Length").map(|value| parse_decimal(value.trim_ascii()));
    match lengths.next() {
        None => Ok(Framing::UntilClose),
        Some(Some(length)) if lengths.all(|other| other == Some(length)) => {
            Ok(Framing::Length(length))
        }
        Some(_) => Err(RequestError::BadGateway(
            "the origin sent an invalid or conflicting Content-Length".into(),
        )),
    }
}

impl Origin {
    /// A client for the origin at `base_url` (`http://` or `https://`, with an
    /// optional path prefix). The error says what is wrong with the URL, never
    /// repeating a password.
    pub fn new(base_url: &str, timeouts: OriginTimeouts) -> Result<Origin, StartError> {
        let base_url = check_origin_url(base_url)?;
        let uri: http::Uri = base_url.parse().map_err(|_| StartError::OriginUrl {
            url: base_url.clone(),
            problem: OriginUrlProblem::NotAUrl,
        })?;
        let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
        let agent: Agent = Agent::config_builder()
            // A 404 or 500 from the origin is a reply to pass on, not an error.
            .http_status_as_error(false)
            // Any method the client used: WebDAV's, M-SEARCH, ...
            .allow_non_standard_methods(true)
            // A redirect goes back to the client, which decides whether to follow it.
            .max_redirects(0)
            // Read no HTTP_PROXY from the environment: we talk to the origin directly.
            .proxy(None)
            // Send no User-Agent or Accept of ureq's own: the client's go through.
            .user_agent("")
            .accept("")
            // A fresh connection for every request: the origin may have closed
            // a pooled one meanwhile, and a write down it would be a spurious 502.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // Buffers are zeroed for each request, so no bigger than needed.
            // In: a reply head of up to 64 KiB (ureq's own limit), and 4 KiB
            // more, so a longer one is refused as too big, not taken for a
            // peer that went quiet. Out: a request head of up to 8 KiB whose
            // target may triple as it is escaped (`{` is `%7B`), and ours.
            .input_buffer_size(68 * 1024)
            .output_buffer_size(32 * 1024)
            .timeout_connect(Some(timeouts.connect))
            .timeout_per_read(Some(timeouts.read))
            // And the whole reply head within one read timeout, so an origin
            // that trickles its head a byte at a time cannot hold us longer.
            .timeout_recv_response(Some(timeouts.read))
            // Nor may an origin that stops reading a request body.
            .timeout_per_write(Some(timeouts.read))
            .timeout_send_request(Some(timeouts.read))
            .timeout_send_body(Some(timeouts.read))
            .timeout_recv_body(Some(timeouts.whole_body))
            .build()
            .into();
        // (Built without ureq's `gzip` feature: bodies pass through as sent.)
        Ok(Origin {
            agent,
            base_url: base_url.trim_end_matches('/').to_string(),
            authority,
            base_path: uri.path().trim_end_matches('/').to_string(),
            read_timeout: timeouts.read,
        })
    }

    /// `--origin-timeout`: the longest wait for a reply head or a read.
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// Whether the origin is the listening address `ours`: a proxy pointed at
    /// itself would ask itself for every miss until its timeouts ran out.
    pub fn is_at(&self, ours: SocketAddr) -> bool {
        let default_port = target::default_port(&self.base_url);
        let Ok(origin_addrs) = self
            .authority
            .to_socket_addrs()
            .or_else(|_| (self.authority.as_str(), default_port).to_socket_addrs())
        else {
            return false;
        };
        origin_addrs.into_iter().any(|origin| {
            origin.port() == ours.port()
                && (origin.ip() == ours.ip()
                    || (ours.ip().is_unspecified()
                        && (origin.ip().is_loopback() || origin.ip().is_unspecified())))
        })
    }

    /// The origin's host and port, as in its URL.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The origin's URL as given to `--origin`, its scheme in lower case and
    /// without a trailing slash: `https://example.com/prefix`.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// A path in the origin's own space (as in its `Location` headers) as the
    /// client sees it, without the origin's path prefix; `None` outside it.
    pub fn client_path<'a>(&self, origin_path: &'a str) -> Option<&'a str> {
        match origin_path.strip_prefix(self.base_path.as_str())? {
            "" => Some("/"),
            rest => rest.starts_with('/').then_some(rest),
        }
    }

    /// The origin URL for a request target in origin-form (`/path?query`).
    pub fn url_for(&self, origin_form: &str) -> String {
        format!("{}{}", self.base_url, origin_form)
    }

    /// Sends `method` for `origin_form` (`/path?query`) with `headers` and,
    /// if given, a request body, and tells `trace` what came back (step 4).
    /// With `deadline` (work no client waits for), see [`Origin::send`].
    pub fn ask(
        &self,
        method: &str,
        origin_form: &str,
        headers: &[Header],
        body: Option<&mut dyn Read>,
        trace: &Trace,
        deadline: Option<Instant>,
    ) -> Result<OriginResponse, RequestError> {
        let url = self.url_for(origin_form);
        // Step 4: ask the origin: fetch the URL, or ask if the stored copy changed.
        let sent = self.send(method, &url, headers, body, deadline);
        let answer = sent.as_ref().map(|reply| reply.status);
        let asked = Asked {
            method,
            url: &url,
            to_origin: headers,
            answer,
        };
        trace.step(Step::AskTheOrigin, asked);
        sent
    }

    /// Sends `method url` with `headers` and, if given, a request body; returns
    /// once the reply head has arrived. Fails with 502 when the origin cannot be
    /// reached or does not speak HTTP, and 504 when it is too slow. With
    /// `deadline` (work no client waits for), the whole exchange ends by then.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[Header],
        body: Option<&mut dyn Read>,
        deadline: Option<Instant>,
    ) -> Result<OriginResponse, RequestError> {
        let mut request = http::Request::builder().method(method).uri(url);
        // Every field here passed our own parser (token names, no control
        // bytes), which is at least as strict as the `http` crate's; the
        // `if let` is for the type, and drops nothing a client can send.
        for header in headers {
            let name = HeaderName::from_bytes(header.name().as_bytes());
            let value = HeaderValue::from_bytes(header.value());
            if let (Ok(name), Ok(value)) = (name, value) {
                request = request.header(name, value);
            }
        }
        let unbuildable = |_| RequestError::BadRequest(BadRequest::TargetUnsendable);
        let sent = match (body, deadline) {
            (Some(reader), _) => {
                let body = SendBody::from_reader(reader);
                self.agent.run(request.body(body).map_err(unbuildable)?)
            }
            (None, None) => self.agent.run(request.body(()).map_err(unbuildable)?),
            (None, Some(deadline)) => {
                let request = request.body(()).map_err(unbuildable)?;
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(RequestError::GatewayTimeout);
                }
                let request = self.agent.configure_request(request);
                self.agent.run(request.timeout_global(Some(left)).build())
            }
        };
        let response = sent.map_err(|error| origin_error(error, &self.base_url))?;
        let status = response.status().as_u16();
        let headers: Vec<Header> = response
            .headers()
            .iter()
            .map(|(name, value)| Header::new(name.as_str(), value.as_bytes()))
            .collect();
        let http_1_0 = response.version() == http::Version::HTTP_10;
        let framing = framing_of(status, &headers, http_1_0)?;
        Ok(OriginResponse {
            status,
            headers,
            framing,
            body: Box::new(response.into_body().into_reader()),
        })
    }
}

/// Checks an `--origin` URL and returns it with its scheme in lower case:
/// `http://` or `https://` (in any case, RFC 3986), a host, an optional port
/// from 1 to 65535 and path prefix. Not a query or fragment, which would be
/// glued to every path, nor a user name or password, which we would not send.
fn check_origin_url(url: &str) -> Result<String, StartError> {
    let refuse = |problem| {
        // Never repeat a URL that may hold a password.
        let hidden = problem == OriginUrlProblem::Credentials;
        let url = if hidden { "(not shown)" } else { url }.to_string();
        Err(StartError::OriginUrl { url, problem })
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return refuse(OriginUrlProblem::NotAUrl);
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return refuse(OriginUrlProblem::Scheme);
    }
    if scheme == "https" && !cfg!(feature = "tls") {
        return refuse(OriginUrlProblem::NeedsTls);
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return refuse(OriginUrlProblem::Credentials);
    }
    if rest.contains('?') || rest.contains('#') {
        return refuse(OriginUrlProblem::QueryOrFragment);
    }
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |end| end + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if host.is_empty() || host == "[]" {
        return refuse(OriginUrlProblem::NoHost);
    }
    match port.strip_prefix(':') {
        Some(port) if !matches!(port.parse::<u16>(), Ok(1..)) => {
            refuse(OriginUrlProblem::Port(port.to_string()))
        }
        None if !port.is_empty() => refuse(OriginUrlProblem::NotAUrl),
        _ => Ok(format!("{scheme}://{rest}")),
    }
}

/// Sorts ureq's errors into "too slow" (504) and "unreachable or broken"
/// (502), saying in words the one a newcomer meets first: an `https://`
/// `origin_url` whose server speaks plain HTTP.
fn origin_error(error: ureq::Error, origin_url: &str) -> RequestError {
    match error {
        ureq::Error::Timeout(_) => RequestError::GatewayTimeout,
        ureq::Error::Io(io_error) if is_timeout(&io_error) => RequestError::GatewayTimeout,
        ureq::Error::Io(io_error) if io_error.get_ref().is_some_and(is_plain_http) => {
            let plain_url = origin_url.replacen("https://", "http://", 1);
            RequestError::BadGateway(format!(
                "the origin did not answer with TLS; it seems to speak plain HTTP: \
                 try --origin {plain_url}"
            ))
        }
        ureq::Error::Io(io_error) => {
            RequestError::BadGateway(format!("could not talk to the origin: {io_error}"))
        }
        ureq::Error::HostNotFound => RequestError::BadGateway("origin host not found".into()),
        ureq::Error::Protocol(protocol_error) => {
            RequestError::BadGateway(format!("the origin's reply is not HTTP: {protocol_error}"))
        }
        other => RequestError::BadGateway(other.to_string()),
    }
}

/// Whether a TLS error says the server's first bytes were no TLS record:
/// rustls's `InvalidMessage(InvalidContentType)`, as when `HTTP/1.1 400`
/// comes back where a handshake should. rustls is ureq's dependency, not
/// ours, so its error is known here only by its name; should a release rename
/// it, the message falls back to rustls's words (and a test fails).
fn is_plain_http(tls_error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    format!("{tls_error:?}").contains("InvalidContentType")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Result<Origin, StartError> {
        let timeouts = OriginTimeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
            whole_body: Duration::from_secs(60),
        };
        Origin::new(url, timeouts)
    }

    #[test]
    fn only_http_and_https_urls_are_origins() {
        for good in [
            "http://127.0.0.1:8000",
            "HTTP://h:80/x",
            "http://h",
            "http://[::1]:8000",
        ] {
            assert!(origin(good).is_ok(), "{good}");
        }
        // A TLS-less build (--no-default-features) refuses https:// at start-up.
        assert_eq!(
            origin("https://example.com/api/").is_ok(),
            cfg!(feature = "tls")
        );
        for bad in [
            "ftp://example.com",
            "127.0.0.1:8000",
            "http://",
            "http://h/?q=1",
            "http://h#frag",
            "http://h:0",
            "http://h:99999",
            "http://user:pw@h",
            "http://h:x",
            "",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_path_prefix_is_added_towards_the_origin_and_removed_coming_back() {
        let prefixed = origin("http://h:81/api/").expect("valid");
        assert_eq!(prefixed.authority(), "h:81");
        assert_eq!(prefixed.url_for("/items?x=1"), "http://h:81/api/items?x=1");
        assert_eq!(prefixed.client_path("/api/items/5"), Some("/items/5"));
        assert_eq!(prefixed.client_path("/api"), Some("/"));
        assert_eq!(prefixed.client_path("/apiary"), None);
        assert_eq!(prefixed.client_path("/other"), None);
        let plain = origin("http://h").expect("valid");
        assert_eq!(plain.url_for("/"), "http://h/");
        assert_eq!(plain.client_path("/items"), Some("/items"));
    }
}
