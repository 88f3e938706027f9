//! HTTP/1.x request heads in (read within a limit and parsed strictly: the
//! parsing half of step 1), response heads out (steps 3 and 5). Its only I/O is
//! through the `Read` and `Write` it is handed, so every rule has a unit test.
//!
//! Not here: sockets and deadlines ([`crate::net::server`]), what the target
//! means ([`crate::wire::target`]), which fields cross a proxy
//! ([`crate::wire::headers`]), what a field means for caching
//! ([`crate::cache::freshness`]).

use std::fmt;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::rc::Rc;

use crate::error::{BadRequest, RequestError};
use crate::wire::decimal::Decimal;

/// The largest request head we read: the request line plus all header lines.
/// A longer head gets 431; without a limit one client could fill our memory.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// One header field as it arrived. Its name and value are two ranges of the
/// bytes of the head it came in, which all that head's fields share (an
/// [`Rc`], freed with the last of them): parsing a head of twenty fields
/// copies its bytes once, not forty times. The value stays bytes: HTTP allows
/// bytes above 127 in it (obs-text), and a proxy passes them on untouched.
/// (An `Rc` is not shared between threads, nor need it be: there is one.)
#[derive(Clone)]
pub struct Header {
    bytes: Rc<[u8]>,
    name: Range<usize>,
    value: Range<usize>,
}

impl Header {
    /// A field made here rather than parsed, e.g. `Header::new("Age", "3")`.
    pub fn new(name: &str, value: impl AsRef<[u8]>) -> Header {
        // Written as a parsed one arrived, so that every field's bytes from
        // its name to its value are a field line (see [`HeadBytes::copy`]).
        let bytes: Rc<[u8]> = [name.as_bytes(), b": ", value.as_ref()].concat().into();
        Header {
            name: 0..name.len(),
            value: name.len() + 2..bytes.len(),
            bytes,
        }
    }

    /// The field name as sent, e.g. `Content-Type`; compare it with [`Header::is`].
    pub fn name(&self) -> &str {
        // A parsed name is token bytes, all ASCII; a made one was a `&str`.
        std::str::from_utf8(&self.bytes[self.name.clone()]).unwrap_or_default()
    }

    /// Whether this is the field `name`: names compare without case (RFC 9110 5.1).
    pub fn is(&self, name: &str) -> bool {
        // Most names a lookup passes differ in length: those cost one compare.
        self.name.len() == name.len()
            && self.bytes[self.name.clone()].eq_ignore_ascii_case(name.as_bytes())
    }

    /// Whether the name starts with `prefix`, compared without case: `If-`
    /// finds every condition.
    pub fn name_starts_with(&self, prefix: &str) -> bool {
        let name = &self.bytes[self.name.clone()];
        name.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
    }

    /// The field value, without the surrounding spaces.
    pub fn value(&self) -> &[u8] {
        &self.bytes[self.value.clone()]
    }

    /// The field's line as it came, from its name to its value's end.
    fn line(&self) -> &[u8] {
        &self.bytes[self.name.start..self.value.end]
    }
}

impl PartialEq for Header {
    fn eq(&self, other: &Header) -> bool {
        self.name() == other.name() && self.value() == other.value()
    }
}

impl Eq for Header {}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:?}",
            self.name(),
            String::from_utf8_lossy(self.value())
        )
    }
}

/// A parsed request head: request line and header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The request line, `GET /page HTTP/1.1`: its method and target are
    /// parts of it, and the log names the request by it (shared, not copied).
    line: Rc<str>,
    /// Where the target starts in `line`; the method ends one space before.
    target_start: usize,
    /// Where the target ends in `line`.
    target_end: usize,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// The header fields in the order they arrived.
    pub headers: Vec<Header>,
}

impl RequestHead {
    /// A head made here rather than parsed (`explain`'s, a later check's).
    pub fn new(method: &str, target: &str, minor_version: u8, headers: Vec<Header>) -> RequestHead {
        RequestHead {
            line: format!("{method} {target} HTTP/1.{minor_version}").into(),
            target_start: method.len() + 1,
            target_end: method.len() + 1 + target.len(),
            minor_version,
            headers,
        }
    }

    /// The method token, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.line[..self.target_start - 1]
    }

    /// The request target as sent: `/path?query` or `http://host/path?query`.
    pub fn target(&self) -> &str {
        &self.line[self.target_start..self.target_end]
    }

    /// The request line, `GET /page HTTP/1.1`, for the log.
    pub fn line(&self) -> &Rc<str> {
        &self.line
    }

    /// The same head with another method: a later check is a `GET`.
    pub fn with_method(&self, method: &str) -> RequestHead {
        RequestHead::new(
            method,
            self.target(),
            self.minor_version,
            self.headers.clone(),
        )
    }

    /// The value of the first header called `name` (any case), if there is one.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }
}

/// The first value of header `name` in `headers`, compared without case.
pub fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|header| header.is(name))
        .map(Header::value)
}

/// Every value of header `name` in `headers`, one per line, in order: the
/// lines of a list field, which together are one list (RFC 9110 5.3).
pub fn field_values<'a>(headers: &'a [Header], name: &'a str) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |header| header.is(name))
        .map(Header::value)
}

/// The `Allow` of the proxy's 405: RFC 9110's methods it forwards, and `PURGE`.
/// Other well-formed methods (WebDAV's, ...) go through too (RFC 9110 9.1).
pub const PROXY_ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, PURGE";

/// Reads one request head from `client` into `received` (empty at first):
/// the head and the bytes after it (a body's start), or `Ok(None)` if the
/// client left without a byte. It stops at [`MAX_HEAD_BYTES`], whatever the
/// client sends. Then `received` holds the head, or, on a refusal, what came,
/// for the log to name the request line.
/// (cacheproxy.py called `recv(1024)` once and hoped; the Rust Book's first
/// server read 512 bytes.)
pub fn read_request_head(
    client: &mut impl Read,
    received: &mut Vec<u8>,
) -> Result<Option<(RequestHead, Vec<u8>)>, RequestError> {
    let mut chunk = [0u8; 1024];
    let mut blank_lines_bytes = 0;
    loop {
        let count = match client.read(&mut chunk) {
            Ok(0) if received.is_empty() => return Ok(None),
            Ok(0) => return Err(RequestError::BadRequest(BadRequest::ConnectionClosed)),
            Ok(count) => count,
            Err(error) if is_timeout(&error) => return Err(RequestError::ClientTimeout),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(RequestError::BadRequest(BadRequest::ConnectionFailed)),
        };
        let mut searched_up_to = received.len().saturating_sub(3);
        received.extend_from_slice(&chunk[..count]);
        // RFC 9112 2.2: empty lines before the request line are ignored (some
        // clients send a CRLF after a POST body), but count towards the limit.
        let blank = received
            .iter()
            .take_while(|&&byte| byte == b'\r' || byte == b'\n')
            .count();
        if blank > 0 {
            blank_lines_bytes += blank;
            received.drain(..blank);
            searched_up_to = 0;
            if blank_lines_bytes > MAX_HEAD_BYTES {
                return Err(RequestError::HeadTooLarge);
            }
        }
        match find_head_end(received, searched_up_to) {
            Some(head_end) if head_end > MAX_HEAD_BYTES => return Err(RequestError::HeadTooLarge),
            Some(head_end) => {
                let body_start = received.split_off(head_end);
                // A whole head is judged by parsing it; only a refused one
                // is asked the coarser question, whether it was HTTP at all.
                return match parse_request_head(received) {
                    Ok(head) => Ok(Some((head, body_start))),
                    Err(_) if !could_start_request(received) => Err(not_http(received)),
                    Err(error) => Err(error),
                };
            }
            // A head still coming is refused as soon as it cannot be HTTP.
            None if !could_start_request(received) => return Err(not_http(received)),
            None if received.len() > MAX_HEAD_BYTES => return Err(RequestError::HeadTooLarge),
            None => {}
        }
    }
}

/// Whether the first bytes of a connection could still start an HTTP/1.x
/// request line, checked as they arrive: a TLS handshake, an HTTP/2 preface or
/// binary noise is refused at once, not held until the client timeout.
pub fn could_start_request(received: &[u8]) -> bool {
    // (Empty lines before the request line were skipped already.)
    let line_end = received
        .iter()
        .position(|&byte| byte == b'\r' || byte == b'\n')
        .unwrap_or(received.len());
    let mut parts = received[..line_end].splitn(3, |&byte| byte == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let version = parts.next().unwrap_or_default();
    let seen = version.len().min(5);
    method.iter().all(|&byte| is_token_byte(byte))
        && (target.is_empty() || !method.is_empty())
        && target.iter().all(u8::is_ascii_graphic)
        && version[..seen] == b"HTTP/"[..seen]
}

/// The request line at the start of `received`, if shaped like one: what the
/// log shows for a request refused before it was parsed in full.
pub fn request_line_of(received: &[u8]) -> Option<&str> {
    let line = received
        .split(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .find(|line| !line.is_empty())?;
    let line = std::str::from_utf8(line).ok()?;
    let (method, target, version) = three_words(line)?;
    let shaped = !method.is_empty()
        && method.bytes().all(is_token_byte)
        && target.bytes().all(|byte| byte.is_ascii_graphic())
        && version.starts_with("HTTP/")
        && version.bytes().all(|byte| byte.is_ascii_graphic());
    shaped.then_some(line)
}

/// The error for a connection that is not speaking HTTP/1.x.
fn not_http(received: &[u8]) -> RequestError {
    // A TLS handshake record starts with 0x16, then the version 0x03 0x0N.
    if received.starts_with(&[0x16, 0x03]) {
        RequestError::BadRequest(BadRequest::Tls)
    } else {
        RequestError::BadRequest(BadRequest::NotHttp)
    }
}

/// True for the errors a socket read or write returns when its timeout passes.
pub fn is_timeout(error: &io::Error) -> bool {
    let kind = error.kind();
    matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// The index just past the first empty line from `from`: `\r\n\r\n`, or, as
/// RFC 9112 allows, bare `\n\n`.
pub fn find_head_end(bytes: &[u8], from: usize) -> Option<usize> {
    // Every blank line starts with the line end before it, so only the bytes
    // after each `\n` need a second look.
    let mut at = from;
    loop {
        at += bytes.get(at..)?.iter().position(|&byte| byte == b'\n')? + 1;
        match &bytes[at..] {
            [b'\n', ..] => return Some(at + 1),
            [b'\r', b'\n', ..] => return Some(at + 2),
            _ => {}
        }
    }
}

/// Parses a complete request head (request line, header lines, blank line).
pub fn parse_request_head(head: &[u8]) -> Result<RequestHead, RequestError> {
    let head: Rc<[u8]> = head.into();
    let mut at = 0;
    let request_line = next_line(&head, &mut at).map_or(&[][..], |line| &head[line]);
    if request_line.contains(&b'\r') {
        return Err(RequestError::BadRequest(BadRequest::BareCr));
    }
    let request_line = std::str::from_utf8(request_line)
        .map_err(|_| RequestError::BadRequest(BadRequest::RequestLineNotAscii))?;
    let Some((method, target, version)) = three_words(request_line) else {
        return Err(RequestError::BadRequest(BadRequest::RequestLineShape));
    };
    let minor_version = parse_version(version)?;
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(RequestError::BadRequest(BadRequest::MethodNotToken));
    }
    // `TRACE` echoes the request, cookies included, to whoever can make a
    // browser send it. (`CONNECT` goes on to the handler: the proxy's 421 says
    // what cacheproxy is, see `target::check_meant_for_us`; the demo's is a 405.)
    if method == "TRACE" {
        return Err(RequestError::MethodNotAllowed(PROXY_ALLOW));
    }
    if target.is_empty() || !target.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(RequestError::BadRequest(BadRequest::TargetMalformed));
    }
    let headers = parse_fields(&head, &mut at)?;
    let hosts = field_values(&headers, "Host").count();
    if minor_version == 1 && hosts == 0 {
        return Err(RequestError::BadRequest(BadRequest::NoHost));
    }
    if hosts > 1 {
        // RFC 9112 3.2: which one names the target? Refuse rather than guess.
        return Err(RequestError::BadRequest(BadRequest::TwoHosts));
    }
    // The line is `method SP target SP version`, one space each (see `three_words`).
    let target_start = method.len() + 1;
    Ok(RequestHead {
        line: request_line.into(),
        target_start,
        target_end: target_start + target.len(),
        minor_version,
        headers,
    })
}

/// The next line of `head` from `at`, as a range without its line end, and
/// `at` moved past it (past the end, if the bytes end first); `None` at an
/// empty line. For the first line of a head; [`next_field`] reads the field
/// lines after it. A CR elsewhere in the line is the caller's to judge: a
/// request line's is refused (RFC 9112 2.2); a stored status line's reason
/// phrase is never sent on.
fn next_line(head: &[u8], at: &mut usize) -> Option<Range<usize>> {
    let start = *at;
    let rest = head.get(start..).unwrap_or_default();
    let length = rest
        .iter()
        .position(|&byte| byte == b'\n')
        .unwrap_or(rest.len());
    let line = rest[..length]
        .strip_suffix(b"\r")
        .unwrap_or(&rest[..length]);
    *at = start + length + 1;
    (!line.is_empty()).then_some(start..start + line.len())
}

/// The three words of a request line, `GET /page HTTP/1.1`, one space
/// between each and none in them.
fn three_words(line: &str) -> Option<(&str, &str, &str)> {
    let space_in = |text: &str| text.bytes().position(|byte| byte == b' ');
    let method_end = space_in(line)?;
    let (method, rest) = (&line[..method_end], &line[method_end + 1..]);
    let target_end = space_in(rest)?;
    let (target, version) = (&rest[..target_end], &rest[target_end + 1..]);
    space_in(version)
        .is_none()
        .then_some((method, target, version))
}

/// `HTTP/1.0` and `HTTP/1.1` are served; any other well-formed version gets 505.
fn parse_version(version: &str) -> Result<u8, RequestError> {
    match version {
        "HTTP/1.1" => Ok(1),
        "HTTP/1.0" => Ok(0),
        // `HTTP/x.y`, or `HTTP/x` as HTTP/2 and HTTP/3 write theirs.
        _ => match version.strip_prefix("HTTP/").unwrap_or("").as_bytes() {
            [b'0'..=b'9', b'.', b'0'..=b'9'] | [b'0'..=b'9'] => {
                Err(RequestError::VersionNotSupported)
            }
            _ => Err(RequestError::BadRequest(BadRequest::VersionMalformed)),
        },
    }
}

/// Parses the `Name: value` lines of `head` (a request's or a stored
/// entry's) from `at` to the blank line, and moves `at` past it (or past
/// the end, if the bytes end first); each field shares `head`'s bytes.
pub fn parse_fields(head: &Rc<[u8]>, at: &mut usize) -> Result<Vec<Header>, RequestError> {
    let mut headers = Vec::with_capacity(16);
    while let Some(field) = next_field(head, at)? {
        headers.push(field);
    }
    Ok(headers)
}

/// The field on the line at `at`, with `at` moved past the line; `None` at
/// the blank line that ends the head. The name is read up to its colon, then
/// the value up to the line's end, so each byte is looked at once (a value's
/// once more, for control bytes, many at a time). Only whether the line is
/// good is found out here; [`field_line_error`] says what is wrong with a
/// bad one, which is rare.
fn next_field(head: &Rc<[u8]>, at: &mut usize) -> Result<Option<Header>, RequestError> {
    let start = *at;
    let rest = head.get(start..).unwrap_or_default();
    let name_length = rest.iter().take_while(|&&byte| is_token_byte(byte)).count();
    let after_name = &rest[name_length..];
    let Some(line_end) = after_name.iter().position(|&byte| byte == b'\n') else {
        // The bytes end inside this line: it is no field, and the head is
        // cut short (`at` past the end says so).
        *at = head.len() + 1;
        return Ok(None);
    };
    let line_length = name_length + line_end;
    *at = start + line_length + 1;
    let line = &rest[..line_length];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Ok(None);
    }
    // Every byte after the colon is looked at, with no early way out, so the
    // loop runs many bytes at a time: a value is short and a bad one is rare.
    // (A CR is a line's end only before its LF: one anywhere else is
    // refused, RFC 9112 2.2, as a parser after us might take it for a line
    // end; one beside the value too, so it is checked before the trim.)
    let after_colon = line.get(name_length + 1..).unwrap_or_default();
    let control = |&byte: &u8| (byte < b' ' && byte != b'\t') || byte == 0x7f;
    let has_control = (after_colon.iter()).fold(false, |found, byte| found | control(byte));
    if name_length == 0 || line.get(name_length) != Some(&b':') || has_control {
        return Err(RequestError::BadRequest(field_line_error(
            line,
            name_length,
        )));
    }
    // Only spaces and tabs pad a value (RFC 9110 5.6.3).
    let is_padding = |byte: &&u8| matches!(byte, b' ' | b'\t');
    let padding_before = after_colon.iter().take_while(is_padding).count();
    let after_spaces = &after_colon[padding_before..];
    let padding_after = after_spaces.iter().rev().take_while(is_padding).count();
    let value = &after_spaces[..after_spaces.len() - padding_after];
    let value_start = start + name_length + 1 + padding_before;
    Ok(Some(Header {
        bytes: Rc::clone(head),
        name: start..start + name_length,
        value: value_start..value_start + value.len(),
    }))
}

/// What is wrong with a field line that [`next_field`] refused, whose name
/// (its first token bytes) is `name_length` bytes long.
fn field_line_error(line: &[u8], name_length: usize) -> BadRequest {
    if line.contains(&b'\r') {
        BadRequest::BareCr
    } else if line.starts_with(b" ") || line.starts_with(b"\t") {
        BadRequest::FoldedHeader
    } else if !line.contains(&b':') {
        BadRequest::NoColon
    } else if line.get(name_length) != Some(&b':') || name_length == 0 {
        BadRequest::HeaderNameNotToken
    } else {
        BadRequest::ControlInValue
    }
}

/// RFC 9110 token characters: what method names and header names are made of.
fn is_token_byte(byte: u8) -> bool {
    TOKEN[usize::from(byte)]
}

/// [`is_token_byte`] as a table, one look-up a byte: `!#$%&'*+-.^_`|~`,
/// letters and digits.
const TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).is_ascii_alphanumeric()
            || matches!(
                byte as u8,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        byte += 1;
    }
    table
};

/// The length of the request body, from `Content-Length` (0 when absent). A
/// chunked body gets 411: forwarding only known lengths keeps our framing simple.
pub fn request_body_length(head: &RequestHead) -> Result<u64, RequestError> {
    if head.header("Transfer-Encoding").is_some() {
        return Err(RequestError::LengthRequired);
    }
    let mut lengths = field_values(&head.headers, "Content-Length").map(parse_decimal);
    let Some(first) = lengths.next() else {
        return Ok(0);
    };
    let length = first.ok_or(RequestError::BadRequest(BadRequest::LengthNotNumber))?;
    // Two different lengths are how request smuggling starts: refuse them.
    if lengths.any(|other| other != Some(length)) {
        return Err(RequestError::BadRequest(BadRequest::ConflictingLengths));
    }
    Ok(length)
}

/// Parses a non-empty string of ASCII digits; `None` for anything else, or
/// for a number past `u64::MAX`. Read digit by digit: `str::parse` would
/// check the bytes are UTF-8 first, read them again, and take a `+`.
pub fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |number, &byte| {
        let digit = byte.checked_sub(b'0').filter(|&digit| digit <= 9)?;
        number.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// A response head being assembled: status line and header fields.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The header fields, in the order they will be written.
    pub headers: Vec<Header>,
}

impl ResponseHead {
    /// A head with `status` and no header fields yet.
    pub fn new(status: u16) -> ResponseHead {
        ResponseHead {
            status,
            headers: Vec::new(),
        }
    }

    /// Appends a header field.
    pub fn add(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut ResponseHead {
        self.headers.push(Header::new(name, value));
        self
    }

    /// The same head, its fields copied out of the bytes they share: for a
    /// head kept long, so that it does not keep a whole entry's first read
    /// alive (as `cacheproxy ls` keeps every entry's).
    pub fn detached(&self) -> ResponseHead {
        // Each field's line, whole, into one buffer they all share.
        let bytes: Rc<[u8]> = self
            .headers
            .iter()
            .flat_map(Header::line)
            .copied()
            .collect();
        let mut line_start = 0;
        let mut detach = |field: &Header| {
            let at = |offset: usize| line_start + offset - field.name.start;
            let detached = Header {
                bytes: Rc::clone(&bytes),
                name: at(field.name.start)..at(field.name.end),
                value: at(field.value.start)..at(field.value.end),
            };
            line_start = at(field.value.end);
            detached
        };
        ResponseHead {
            status: self.status,
            headers: self.headers.iter().map(&mut detach).collect(),
        }
    }

    /// The head as it goes on the wire: status line, fields, blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = HeadBytes::new(self.status, 256);
        for header in &self.headers {
            head.field(header.name(), header.value());
        }
        head.end()
    }
}

/// A response head written straight into the bytes that go on the wire:
/// the status line, then each field as it is added, then the blank line. A
/// reply from disk copies the stored fields into it with no copy between.
pub struct HeadBytes(Vec<u8>);

impl HeadBytes {
    /// The status line, in room for about `capacity` bytes of head.
    pub fn new(status: u16, capacity: usize) -> HeadBytes {
        let mut bytes = Vec::with_capacity(capacity);
        let status_code = Decimal::of(u64::from(status));
        let reason = reason_phrase(status).as_bytes();
        for part in [b"HTTP/1.1 ", status_code.as_bytes(), b" ", reason, b"\r\n"] {
            bytes.extend_from_slice(part);
        }
        HeadBytes(bytes)
    }

    /// Appends `field` as it came: its line, whole, from its name to its value.
    pub fn copy(&mut self, field: &Header) -> &mut HeadBytes {
        self.0.extend_from_slice(field.line());
        self.0.extend_from_slice(b"\r\n");
        self
    }

    /// Appends the field `name: value`.
    pub fn field(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut HeadBytes {
        for part in [name.as_ref(), b": ", value.as_ref(), b"\r\n"] {
            self.0.extend_from_slice(part);
        }
        self
    }

    /// Appends the field `name: number`, the number in decimal.
    pub fn number(&mut self, name: &str, number: u64) -> &mut HeadBytes {
        self.field(name, Decimal::of(number).as_bytes())
    }

    /// The head, ended by its blank line.
    pub fn end(mut self) -> Vec<u8> {
        self.0.extend_from_slice(b"\r\n");
        self.0
    }
}

/// Why [`parse_response_head`] took no head from a stored entry's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoHead {
    /// The bytes end before the head's blank line: read on, and try again.
    CutShort,
    /// A line is not what a commit writes.
    Malformed,
}

/// Parses a response head as stored in a cache entry, from the start of
/// `head` to its blank line (what follows, the body's start, is left alone),
/// and says where that line ends, which is where the body starts; the fields
/// share `head`'s bytes.
pub fn parse_response_head(head: &Rc<[u8]>) -> Result<(ResponseHead, usize), NoHead> {
    let mut at = 0;
    let status_line = next_line(head, &mut at).map(|line| &head[line]);
    // Past the end: that line had no line end, so the bytes ran out.
    if at > head.len() {
        return Err(NoHead::CutShort);
    }
    let status = status_line
        .and_then(stored_status)
        .ok_or(NoHead::Malformed)?;
    let headers = parse_fields(head, &mut at).map_err(|_| NoHead::Malformed)?;
    if at > head.len() {
        return Err(NoHead::CutShort);
    }
    // A commit ends its head with CRLF CRLF; one ended otherwise is none it wrote.
    if !head[..at].ends_with(b"\r\n\r\n") {
        return Err(NoHead::Malformed);
    }
    Ok((ResponseHead { status, headers }, at))
}

/// The status of a stored status line, `HTTP/1.1 200 OK`, as a commit writes
/// it: three digits after the version, from 200. (An interim 1xx reply is
/// never stored: served as an answer, it would leave the client waiting.)
fn stored_status(line: &[u8]) -> Option<u16> {
    let (digits, reason) = line.strip_prefix(b"HTTP/1.1 ")?.split_at_checked(3)?;
    let all_digits = digits.iter().all(u8::is_ascii_digit);
    if !all_digits || digits[0] < b'2' || !matches!(reason, [] | [b' ', ..]) {
        return None;
    }
    Some((digits.iter()).fold(0, |status, &digit| status * 10 + u16::from(digit - b'0')))
}

/// The standard reason phrase for the status codes we send or pass on.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes a whole plain-text reply of `text`, with `Connection: close`, in one
/// write; `decorate` adds the caller's own header fields. Returns the body's length.
pub fn write_text_reply(
    mut client: impl Write,
    status: u16,
    text: &str,
    decorate: impl FnOnce(&mut ResponseHead),
) -> io::Result<u64> {
    let mut head = ResponseHead::new(status);
    head.add("Content-Type", "text/plain; charset=utf-8")
        .add("Content-Length", text.len().to_string())
        .add("Connection", "close");
    decorate(&mut head);
    let mut reply = head.to_bytes();
    reply.extend_from_slice(text.as_bytes());
    client.write_all(&reply)?;
    Ok(text.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decimal_is_plain_digits_that_fit() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"1024"), Some(1024));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for not_one in [
            &b""[..],
            b"18446744073709551616",
            b"+1",
            b"-1",
            b"1 2",
            b"1a",
            b"\xd9\xa1",
        ] {
            assert_eq!(parse_decimal(not_one), None, "{not_one:?}");
        }
    }

    #[test]
    fn a_stored_status_line_is_a_version_and_three_digits() {
        let status = |line: &str| {
            let head: Rc<[u8]> = format!("{line}\r\nA: b\r\n\r\n").into_bytes().into();
            parse_response_head(&head).map(|(head, _)| head.status).ok()
        };
        assert_eq!(status("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status("HTTP/1.1 404 Not Found"), Some(404));
        assert_eq!(status("HTTP/1.1 204"), Some(204));
        // What a commit writes is all that is read back: an entry's first
        // line starts `HTTP/1.1 ` (see `store::disk::entry_key`).
        for bad in [
            "HTTP/1.0 404 Not Found",
            "HTTP/1.1 000 X",
            "HTTP/1.1 099 X",
            "HTTP/1.1 100 Continue",
            "HTTP/1.1 103 Early Hints",
            "HTTP/1.1 20 OK",
            "HTTP/1.1 2000 OK",
            "HTTP/1.1 200OK",
            "HTTP/2 200 OK",
            "HTTP/1.1 2x0 OK",
            "",
        ] {
            assert_eq!(status(bad), None, "{bad:?}");
        }
    }

    use crate::wire::target::{clean_path, parse_target, percent_decode};

    fn parse(head: &str) -> Result<RequestHead, RequestError> {
        parse_request_head(head.as_bytes())
    }

    fn status_of(head: &str) -> u16 {
        parse(head).map_or_else(|error| error.status(), |_| 200)
    }

    #[test]
    fn parses_a_simple_get() {
        let head = parse("GET /a/b?x=1 HTTP/1.1\r\nHost: example\r\nX-Thing:  v a l \r\n\r\n")
            .expect("valid head");
        assert_eq!(head.method(), "GET");
        assert_eq!(head.target(), "/a/b?x=1");
        assert_eq!(&**head.line(), "GET /a/b?x=1 HTTP/1.1");
        assert_eq!(head.minor_version, 1);
        assert_eq!(head.header("x-thing"), Some(&b"v a l"[..]));
        assert_eq!(head.header("host"), Some(&b"example"[..]));
    }

    #[test]
    fn accepts_http_1_0_without_host_and_bare_newlines() {
        let head = parse("GET / HTTP/1.0\n\n").expect("valid head");
        assert_eq!(head.minor_version, 0);
    }

    #[test]
    fn refuses_malformed_request_lines() {
        for head in [
            "GET\r\n\r\n",
            "GET /\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTX/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: a\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        ] {
            assert_eq!(status_of(head), 400, "{head:?}");
        }
    }

    /// A CR or other control byte anywhere after the colon is refused, at the
    /// value's edges too: only spaces and tabs around it are its padding
    /// (RFC 9110 5.6.3). A parser after us might take a CR for a line end and
    /// read other fields, or another `Content-Length`, than we did.
    #[test]
    fn a_bare_cr_or_control_byte_beside_a_value_is_refused() {
        let field = |line: &str| parse(&format!("GET / HTTP/1.1\r\nHost: a\r\n{line}\r\n\r\n"));
        for line in [
            "X: b\r",
            "X:\rb",
            "X:\r",
            "Content-Length:\r5",
            "X-A:\rX-Injected: 1",
        ] {
            let error = field(line).expect_err(line);
            let bare_cr = matches!(error, RequestError::BadRequest(BadRequest::BareCr));
            assert!(bare_cr, "{line:?}: {error}");
        }
        for line in ["X:\x0cb", "X: b\x0c", "X: b\x0b", "X:\x00"] {
            let error = field(line).expect_err(line);
            let control = matches!(error, RequestError::BadRequest(BadRequest::ControlInValue));
            assert!(control, "{line:?}: {error}");
        }
        let head = field("X: \t b c \t").expect("spaces and tabs are padding");
        assert_eq!(head.header("X"), Some(&b"b c"[..]));
    }

    #[test]
    fn maps_methods_and_versions_to_their_statuses() {
        // CONNECT is the handler's to refuse, with a reason of its own.
        assert!(parse_request_head(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n").is_ok());
        assert_eq!(status_of("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
        assert!(parse_request_head(b"M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n").is_ok());
        assert_eq!(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status_of("GET / HTTP/3\r\nHost: a\r\n\r\n"), 505);
        for method in PROXY_ALLOW.split(", ").chain(["M-SEARCH", "PROPFIND"]) {
            assert_eq!(
                status_of(&format!("{method} / HTTP/1.1\r\nHost: a\r\n\r\n")),
                200
            );
        }
    }

    #[test]
    fn reads_a_head_in_pieces_and_keeps_the_body_start() {
        let mut client: &[u8] = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let (head, body_start) = read_request_head(&mut client, &mut Vec::new())
            .expect("valid")
            .expect("not empty");
        assert_eq!(head.method(), "POST");
        assert_eq!(body_start, b"hello");
        assert_eq!(request_body_length(&head).expect("length"), 5);
    }

    #[test]
    fn a_silent_close_is_no_request_and_a_short_head_is_an_error() {
        let mut silent: &[u8] = b"";
        assert!(read_request_head(&mut silent, &mut Vec::new())
            .expect("no error")
            .is_none());
        let mut short: &[u8] = b"GET / HTTP/1.1\r\nHost";
        assert_eq!(
            read_request_head(&mut short, &mut Vec::new())
                .map(|_| ())
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn a_head_over_the_limit_gets_431() {
        let long = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "x".repeat(9000)
        );
        let mut client = long.as_bytes();
        let error = read_request_head(&mut client, &mut Vec::new())
            .map(|_| ())
            .unwrap_err();
        assert_eq!(error.status(), 431);
        // A head of exactly the limit is still fine.
        let filler = MAX_HEAD_BYTES - "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
        let exact = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "x".repeat(filler)
        );
        assert_eq!(exact.len(), MAX_HEAD_BYTES);
        let mut client = exact.as_bytes();
        assert!(read_request_head(&mut client, &mut Vec::new())
            .expect("fits")
            .is_some());
    }

    #[test]
    fn body_length_rules() {
        let head = |extra: &str| {
            parse(&format!("POST / HTTP/1.1\r\nHost: a\r\n{extra}\r\n")).expect("head")
        };
        assert_eq!(request_body_length(&head("")).expect("none"), 0);
        assert_eq!(
            request_body_length(&head("Content-Length: 12\r\n")).expect("12"),
            12
        );
        assert_eq!(
            request_body_length(&head("Content-Length: 3\r\nContent-Length: 3\r\n")).expect("same"),
            3
        );
        let status = |extra: &str| request_body_length(&head(extra)).unwrap_err().status();
        assert_eq!(status("Transfer-Encoding: chunked\r\n"), 411);
        assert_eq!(status("Content-Length: 3\r\nContent-Length: 4\r\n"), 400);
        assert_eq!(status("Content-Length: -1\r\n"), 400);
    }

    #[test]
    fn writes_a_response_head_and_reads_it_back() {
        let mut head = ResponseHead::new(200);
        head.add("Content-Type", "text/plain")
            .add("X-Bytes", [0xE9u8]);
        let bytes = head.to_bytes();
        assert!(bytes.starts_with(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"));
        let length = bytes.len();
        let with_body: Rc<[u8]> = [bytes, b"body".to_vec()].concat().into();
        let (parsed, end) = parse_response_head(&with_body).expect("parses");
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.headers, head.headers);
        assert_eq!(end, length, "the body starts just past the blank line");
        // Cut anywhere before its blank line ends, the head is cut short.
        for cut in [length - 1, length - 2, length - 3, 20, 5, 0] {
            let cut_head = parse_response_head(&with_body[..cut].into());
            assert_eq!(cut_head.err(), Some(NoHead::CutShort), "cut at {cut}");
        }
        // A bad line, or a head not ended as a commit ends it, is malformed.
        for malformed in [
            "HTTP/1.1 200 OK\r\nA b\r\n",
            "HTTP/1.0 200 OK\r\n",
            "HTTP/1.1 200 OK\nA: b\n\nbody",
            "HTTP/1.1 200 OK\r\nA: b\r\n\nbody",
        ] {
            let head = parse_response_head(&malformed.as_bytes().into());
            assert_eq!(head.err(), Some(NoHead::Malformed), "{malformed:?}");
        }
    }

    #[test]
    fn two_hosts_are_refused_and_leading_empty_lines_skipped() {
        assert_eq!(
            status_of("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            400
        );
        let mut input: &[u8] = b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\nbody";
        let (head, body_start) = read_request_head(&mut input, &mut Vec::new())
            .expect("parses")
            .expect("a request");
        assert_eq!((head.method(), head.target()), ("GET", "/x"));
        assert_eq!(body_start, b"body");
        let endless_blank_lines = vec![b'\n'; MAX_HEAD_BYTES + 10];
        assert!(matches!(
            read_request_head(&mut endless_blank_lines.as_slice(), &mut Vec::new()),
            Err(RequestError::HeadTooLarge)
        ));
    }

    #[test]
    fn random_bytes_never_panic_the_parsers() {
        // A seeded xorshift generator: the same 20,000 inputs on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"GET /%.2eHTP1:\r\n \t\x00\\?#@";
        for _ in 0..20_000 {
            let length = (next() % 64) as usize;
            let input: Vec<u8> = (0..length)
                .map(|_| match next() % 4 {
                    0 => next() as u8,
                    _ => alphabet[(next() % alphabet.len() as u64) as usize],
                })
                .collect();
            let text = String::from_utf8_lossy(&input);
            let _ = parse_request_head(&input);
            let _ = parse_response_head(&input.as_slice().into());
            let _ = read_request_head(&mut input.as_slice(), &mut Vec::new());
            let _ = find_head_end(&input, 0);
            let _ = percent_decode(&input);
            if let Ok(target) = parse_target(&text) {
                let _ = clean_path(target.path);
            }
        }
    }
}
