//! The socket loop: accept a connection, read one request (step 1), let a
//! [`Handler`] answer it (steps 2 to 5), log one line (step 6), close, repeat.
//! One thread, blocking I/O, one request per connection.
//!
//! With one thread, a client that trickles its request, stops reading, or
//! reads too slowly would hold everyone else in the queue. So this module owns
//! everything about the client's socket but the request itself: the deadlines
//! that cap each of those ([`ClientLimits`], enforced by [`Client`]), the error
//! replies for requests that never reach a handler, a close that does not
//! reset the reply, and the log line.
//!
//! Not here: what a request means. That is the handler's business.

use std::cell::Cell;
use std::io::{self, Cursor, IoSlice, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use crate::cache::labels::Outcome;
use crate::cache::trace::{log, Step, Trace};
use crate::error::{BadRequest, RequestError, StartError};
use crate::net::served::{Note, Served};
use crate::wire::dates::LogDate;
use crate::wire::decimal::Decimal;
use crate::wire::http::{self, RequestHead, ResponseHead};

/// Every bound the server puts on a client, so that no client can hold the
/// one thread for long. The README's "Why one thread" table lists them.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    /// How long a new connection has to send its first byte: short, so one
    /// that says nothing (a browser's preconnect, a port scanner) costs little.
    pub idle_timeout: Duration,
    /// How long a new connection has to send its whole request, body included.
    pub request_deadline: Duration,
    /// How long the client may go without taking a single byte of the reply
    /// (longer if what it took earlier pays for the pause at `min_rate`);
    /// also the grace period before [`ClientLimits::min_rate`] applies.
    pub write_timeout: Duration,
    /// The slowest average rate (bytes per second) of a reply once its first
    /// `write_timeout` has passed, whether the client or the origin is slow.
    pub min_rate: u64,
    /// The longest one reply may take, however fast: the cap for an endless stream.
    pub max_reply_time: Duration,
}

/// How long the server goes on reading from a client it is closing on (see
/// `close_gently`): at most this long in all, ...
pub const DRAIN_TIME: Duration = Duration::from_millis(500);
/// ... stopping at the first pause this long, ...
const DRAIN_PAUSE: Duration = Duration::from_millis(100);
/// ... or after this many bytes.
const DRAIN_BYTES: usize = 256 * 1024;

/// What a handler answers: one request, read and parsed, and its socket.
pub struct Request {
    /// The parsed request head.
    pub head: RequestHead,
    /// Who sent it.
    pub client_addr: SocketAddr,
    /// The client's socket, for the reply: write to `&request.client`.
    pub client: Client,
    /// The `--trace` narration of this request (silent without `--trace`).
    pub trace: Trace,
    /// Bytes after the head, the body's start (a `Cell`: reading needs no `&mut`).
    body_start: Cell<Vec<u8>>,
    /// When the whole request must have arrived.
    deadline: Instant,
}

impl Request {
    /// The address the client reached: the listening port, and the one
    /// address of this machine it connected to (also when listening on
    /// `0.0.0.0`). Asked of the socket only when a request needs it (a
    /// `PURGE`, a target naming a server): a plain `GET` makes no such call.
    pub fn server_addr(&self) -> Result<SocketAddr, RequestError> {
        // A socket that cannot name its own end has failed already.
        let failed = |_| RequestError::BadRequest(BadRequest::ConnectionFailed);
        self.client.stream.local_addr().map_err(failed)
    }

    /// A reader for the request body of `length` bytes, within the request deadline.
    pub fn body(&self, length: u64) -> RequestBody<'_> {
        let already_received = Cursor::new(self.body_start.take());
        let rest = DeadlineReader {
            stream: &self.client.stream,
            deadline: self.deadline,
            first_byte_deadline: None,
        };
        RequestBody {
            reader: already_received.chain(rest).take(length),
            remaining: length,
            failure: None,
        }
    }

    /// Reads and throws away a body that means nothing to us (`GET`, `HEAD`,
    /// `PURGE`): left unread, it would make the kernel reset the connection
    /// at the close, destroying the reply before the client could read it.
    pub fn discard_body(&self) -> Result<(), RequestError> {
        let length = http::request_body_length(&self.head)?;
        // Most reads have no body: `io::copy` would still zero its 8 KiB buffer.
        if length == 0 {
            return Ok(());
        }
        let mut body = self.body(length);
        let copied = io::copy(&mut body, &mut io::sink()).map(drop);
        let failed = |error: io::Error| RequestError::Internal(error.to_string());
        body.failure.take().map_or(copied.map_err(failed), Err)
    }
}

/// A request body being read from the client.
pub struct RequestBody<'a> {
    reader: io::Take<io::Chain<Cursor<Vec<u8>>, DeadlineReader<'a>>>,
    remaining: u64,
    /// Why the client failed to deliver the body (it ran out of time, or
    /// closed the connection early), as an error for it.
    pub failure: Option<RequestError>,
}

impl Read for RequestBody<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let result = match self.reader.read(buffer) {
            Ok(0) if self.remaining > 0 => Err(io::ErrorKind::UnexpectedEof.into()),
            other => other,
        };
        match &result {
            Ok(count) => self.remaining -= *count as u64,
            Err(error) if http::is_timeout(error) => {
                self.failure = Some(RequestError::ClientTimeout)
            }
            Err(_) => self.failure = Some(RequestError::BadRequest(BadRequest::BodyEndedEarly)),
        }
        result
    }
}

/// Reads from a socket, failing with `TimedOut` once `deadline` has passed.
/// A plain read timeout would restart with every byte; this does not.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
    /// An earlier deadline for the first byte ([`ClientLimits::idle_timeout`]).
    first_byte_deadline: Option<Instant>,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let deadline = self.first_byte_deadline.unwrap_or(self.deadline);
        let time_left = deadline.saturating_duration_since(Instant::now());
        if time_left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(time_left))?;
        let mut stream = self.stream;
        let count = stream.read(buffer)?;
        if count > 0 {
            self.first_byte_deadline = None;
        }
        Ok(count)
    }
}

/// The client's socket, and the clock of the reply going out on it. Every
/// byte to the client goes through `&Client`, and this is where a slow reader
/// is cut off (by the three bounds of [`ClientLimits`]), so one reply of `size`
/// bytes holds the thread at most `write_timeout + size / min_rate`, and never
/// more than `max_reply_time`.
pub struct Client {
    stream: TcpStream,
    limits: ClientLimits,
    /// When the first byte of the reply went out; `None` before that.
    reply_started: Cell<Option<Instant>>,
    /// Bytes written so far, the reply's head included.
    bytes_sent: Cell<u64>,
    /// When the socket first refused a byte (the kernel's buffers to the
    /// client were full), and the bytes sent by then; `None` until then.
    filled: Cell<Option<(Instant, u64)>>,
    /// The write timeout last set on the socket, so it is set once, not per write.
    timeout_set: Cell<Option<Duration>>,
    /// Whether Nagle's algorithm has been turned off on the socket.
    no_delay: Cell<bool>,
}

impl Client {
    fn new(stream: TcpStream, limits: ClientLimits) -> Client {
        Client {
            stream,
            limits,
            reply_started: Cell::new(None),
            bytes_sent: Cell::new(0),
            filled: Cell::new(None),
            timeout_set: Cell::new(None),
            no_delay: Cell::new(false),
        }
    }

    /// How many bytes have gone to the client, the reply's head included.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.get()
    }

    /// The bounds this client's reply is held to.
    pub fn limits(&self) -> ClientLimits {
        self.limits
    }

    /// Writes some of `parts` (at least one byte), or fails once a bound of
    /// [`ClientLimits`] passes. A plain write timeout cannot tell a stalled
    /// client from a slow one: each partial write would restart its clock. So
    /// the socket's timeout is only a short tick, and the deadlines are ours.
    fn write_some(&self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
        let length: usize = parts.iter().map(|part| part.len()).sum();
        let waiting_since = Instant::now();
        let started = self.reply_started.get().unwrap_or(waiting_since);
        self.reply_started.set(Some(started));
        let (limits, sent) = (self.limits, self.bytes_sent.get());
        let at_min_rate = bytes_at_rate(sent, limits.min_rate);
        let mut stalled = waiting_since + limits.write_timeout;
        // The kernel holds megabytes between us and the client, so a reader
        // well above --min-rate that reads in bursts (as `curl --limit-rate`
        // does) can leave the socket full for longer than --write-timeout.
        // The bytes it took before it first filled prove nothing (a client
        // that reads none gets them too); those since are room the client
        // made by reading, and at --min-rate they pay for a pause.
        if let Some((filled_at, sent_then)) = self.filled.get() {
            let paid_for = bytes_at_rate(sent - sent_then, limits.min_rate);
            stalled = stalled.max(filled_at + paid_for);
        }
        let too_slow = started + limits.write_timeout + at_min_rate;
        let too_long = started + limits.max_reply_time;
        let deadlines = [
            (stalled, "the client took nothing for --write-timeout"),
            (too_slow, "the reply flowed slower than --min-rate"),
            (too_long, "the reply took longer than --max-reply-time"),
        ];
        let (deadline, why) = deadlines
            .into_iter()
            .min_by_key(|(deadline, _)| *deadline)
            .expect("the list is not empty");
        loop {
            let time_left = deadline.saturating_duration_since(Instant::now());
            if time_left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, why));
            }
            let tick = time_left.min(WRITE_TICK);
            if self.timeout_set.replace(Some(tick)) != Some(tick) {
                self.stream.set_write_timeout(Some(tick))?;
            }
            // No Nagle once a reply takes more than one write: it would hold a
            // small last piece until the rest was acknowledged. Most hits are one.
            if self.bytes_sent.get() > 0 && !self.no_delay.replace(true) {
                let _ = self.stream.set_nodelay(true);
            }
            match (&self.stream).write_vectored(parts) {
                Ok(count) => {
                    // A write cut short by its tick found the socket full.
                    if count < length && self.filled.get().is_none() {
                        self.filled.set(Some((Instant::now(), sent + count as u64)));
                    }
                    self.bytes_sent.set(sent + count as u64);
                    return Ok(count);
                }
                Err(error) if http::is_timeout(&error) => {
                    if self.filled.get().is_none() {
                        self.filled.set(Some((Instant::now(), sent)));
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

/// How often a blocked write to a client wakes up to check its deadlines.
pub const WRITE_TICK: Duration = Duration::from_millis(100);

/// Whether `bytes` from the origin since `started` came slower than a reply
/// may flow: for origin bytes that no write to a client paces (the body
/// around a client's range, a copy filled after its client left, a check).
pub fn too_slow(started: Instant, bytes: u64, limits: ClientLimits) -> bool {
    let allowed = limits.write_timeout + bytes_at_rate(bytes, limits.min_rate);
    started.elapsed() > allowed.min(limits.max_reply_time)
}

/// How long `bytes` take at `rate` bytes per second.
fn bytes_at_rate(bytes: u64, rate: u64) -> Duration {
    Duration::from_secs_f64(bytes as f64 / rate.max(1) as f64)
}

/// For `&Client`, as the standard library does for `&TcpStream`: the counters
/// are `Cell`s, so a reply can write while other parts of the request are borrowed.
impl Write for &Client {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_some(&[IoSlice::new(bytes)])
    }

    /// Several pieces in one write (`writev`): a reply's head and the body's
    /// first bytes go out together without being copied together first.
    fn write_vectored(&mut self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_some(parts)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What answers requests: the proxy, or the demo origin.
pub trait Handler {
    /// Answers one request. `Err` means nothing has been written yet, so the
    /// loop can still send an error reply; after a reply head, any failure
    /// goes in [`Served::note`].
    fn handle(&mut self, request: &Request) -> Result<Served, RequestError>;

    /// Adds this server's own header fields to an error reply.
    fn decorate_error(&self, _head: &mut ResponseHead, _error: &RequestError) {}

    /// What the cache did, for the log line of an error reply.
    fn error_outcome(&self, _error: &RequestError) -> Option<Outcome> {
        None
    }

    /// Work left over from the request just answered (the proxy's
    /// `stale-while-revalidate` check), done after its close and before the
    /// next accept; `limits` bound it as they bound a reply.
    fn after_reply(&mut self, _trace: &Trace, _limits: ClientLimits) {}
}

/// Binds a listening socket; the error says what to do about it.
pub fn bind(host: &str, port: u16) -> Result<TcpListener, StartError> {
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| StartError::BindAddress {
            host: host.to_string(),
            source,
        })?
        .collect();
    TcpListener::bind(&addresses[..]).map_err(|source| StartError::Bind {
        host: host.to_string(),
        port,
        source,
    })
}

/// Serves connections one after another, forever (Ctrl-C ends the process).
/// With `trace`, each request is narrated step by step ([`crate::cache::trace`]).
pub fn serve(
    listener: &TcpListener,
    limits: ClientLimits,
    trace: bool,
    handler: &mut impl Handler,
) {
    let mut sequence = 0;
    let mut log_line = LogLine::default();
    loop {
        match listener.accept() {
            Ok((client, client_addr)) => {
                sequence += 1;
                let trace = if trace {
                    Trace::on(sequence)
                } else {
                    Trace::off()
                };
                let answered = serve_connection(client, client_addr, limits, trace, handler);
                if let Some((answered, elapsed)) = answered {
                    log_answered(&answered, client_addr, elapsed, &mut log_line);
                    handler.after_reply(&answered.trace, limits);
                }
            }
            Err(error) => {
                // Usually out of file descriptors; pause so we do not spin.
                log(format_args!("cacheproxy: accept failed: {error}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// One connection: one request, one reply; what was answered, for the log
/// line, and how long it took, or `None` if there was nobody to answer.
fn serve_connection(
    stream: TcpStream,
    client_addr: SocketAddr,
    limits: ClientLimits,
    trace: Trace,
    handler: &mut impl Handler,
) -> Option<(Answered, Duration)> {
    let accepted_at = Instant::now();
    let deadline = accepted_at + limits.request_deadline;
    // Step 1: receive the request and work out which URL it asks for.
    let mut head_reader = DeadlineReader {
        stream: &stream,
        deadline,
        first_byte_deadline: Some(accepted_at + limits.idle_timeout.min(limits.request_deadline)),
    };
    let mut received = Vec::new();
    let read_head = http::read_request_head(&mut head_reader, &mut received);
    let client = Client::new(stream, limits);
    let answered = match read_head {
        Ok(None) => return None, // Connected and left without a word.
        Ok(Some((head, body_start))) => {
            // A body or pipelined requests may be left unread: see `close_gently`.
            let more_followed = !body_start.is_empty();
            let request = Request {
                head,
                client_addr,
                client,
                trace,
                body_start: Cell::new(body_start),
                deadline,
            };
            answer(request, more_followed, handler)
        }
        Err(error) => {
            // Step 1: receive the request and work out which URL it asks for.
            trace.step(Step::Receive, format_args!("from {client_addr}: {error}"));
            let served = reply_with_error(&client, error, handler);
            close_gently(&client.stream, true);
            Answered {
                request_line: http::request_line_of(&received).unwrap_or("-").into(),
                served,
                trace,
                bytes_sent: client.bytes_sent(),
            }
        }
    };
    Some((answered, accepted_at.elapsed()))
}

/// A request answered, or refused: what its log line says.
struct Answered {
    /// The request line (`GET /data.json HTTP/1.1`), or `-` if none came.
    request_line: Rc<str>,
    served: Served,
    trace: Trace,
    /// All the bytes sent, the reply's head included.
    bytes_sent: u64,
}

/// Steps 2 to 5: the handler answers the request, or, if it fails before
/// writing anything, the client gets the error reply. A refused request may
/// still be partly unread, so its connection is drained before the close.
fn answer(request: Request, more_followed: bool, handler: &mut impl Handler) -> Answered {
    let (method, target) = (request.head.method(), request.head.target());
    // Step 1: receive the request and work out which URL it asks for.
    request.trace.step(
        Step::Receive,
        format_args!("{method} {target} from {}", request.client_addr),
    );
    let (served, refused) = match handler.handle(&request) {
        Ok(served) => (served, false),
        Err(error) => (reply_with_error(&request.client, error, handler), true),
    };
    if refused || more_followed {
        close_gently(&request.client.stream, refused);
    }
    Answered {
        request_line: Rc::clone(request.head.line()),
        served,
        bytes_sent: request.client.bytes_sent(),
        trace: request.trace,
    }
}

/// Step 6: done: the request's one log line (or the end of its `--trace`): the
/// Common Log Format that log tools read, plus what the cache did and how long
/// it took. The bytes are all that left, head included, even of a cut reply:
///
/// ```text
/// 127.0.0.1 - - [23/Nov/2026:03:50:04 +0000] "GET /data.json HTTP/1.1" 200 612 MISS 1004ms
/// ```
fn log_answered(
    answered: &Answered,
    client_addr: SocketAddr,
    elapsed: Duration,
    log_line: &mut LogLine,
) {
    // Step 6: done: log the request and close the connection.
    if answered.trace.is_on() {
        let (served, bytes_sent, elapsed_ms) =
            (&answered.served, answered.bytes_sent, elapsed.as_millis());
        let (status, cache) = (served.status, served.cache.map_or("-", Outcome::as_str));
        let note = (served.note.as_ref()).map_or(String::new(), |note| format!(" ({note})"));
        answered.trace.done(format_args!(
            "{status} {cache}, {bytes_sent} bytes sent, {elapsed_ms} ms in all{note}"
        ));
    } else {
        log_line.make(answered, client_addr.ip(), elapsed, SystemTime::now());
        log_line.print();
    }
}

/// The log line of [`log_answered`], made in one buffer kept from one request
/// to the next, and put together from bytes and numbers by hand rather than
/// with `format!`: its general machinery cost more than the rest of the line.
#[derive(Default)]
struct LogLine {
    /// The line being made, ended by its line end.
    bytes: Vec<u8>,
    /// The timestamp, formatted once a second.
    date: LogDate,
    /// The last client's address, formatted once for a run of requests from
    /// one client, which is most of them.
    client: LastClient,
}

/// A client's address and its text in the log.
#[derive(Default)]
struct LastClient {
    ip: Option<IpAddr>,
    text: Vec<u8>,
}

impl LogLine {
    /// Makes the log line of `answered`, which came from `client_ip` and
    /// took `elapsed`, ending at `now`.
    fn make(&mut self, answered: &Answered, client_ip: IpAddr, elapsed: Duration, now: SystemTime) {
        let served = &answered.served;
        // The cache column: the `X-Cache` value, or `-` with no cache.
        let cache = served.cache.map_or("-", Outcome::as_str);
        // A u64 of milliseconds is 584 million years: the cap is never met.
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.bytes.clear();
        // `127.0.0.1 - - [23/Nov/2026:03:50:04 +0000] "GET /data.json HTTP/1.1" 200 612 MISS 1004ms`
        self.ip(client_ip).text(" - - [").date(now).text("] \"");
        self.text(&answered.request_line).text("\" ");
        self.number(served.status.into()).text(" ");
        self.number(answered.bytes_sent).text(" ");
        self.text(cache).text(" ");
        self.number(elapsed_ms).text("ms");
        // The note is rare, and made of many kinds of words: `format!`'s job.
        if let Some(note) = &served.note {
            let _ = write!(self.bytes, " ({note})"); // A Vec takes every write.
        }
        self.bytes.push(b'\n');
    }

    /// Appends `text`.
    fn text(&mut self, text: &str) -> &mut LogLine {
        self.bytes.extend_from_slice(text.as_bytes());
        self
    }

    /// Appends `number` in decimal.
    fn number(&mut self, number: u64) -> &mut LogLine {
        self.bytes.extend_from_slice(Decimal::of(number).as_bytes());
        self
    }

    /// Appends the client's address as `Display` writes it (for IPv6, the
    /// shortest form of RFC 5952).
    fn ip(&mut self, ip: IpAddr) -> &mut LogLine {
        let client = &mut self.client;
        if client.ip != Some(ip) {
            client.text.clear();
            let _ = write!(client.text, "{ip}"); // A Vec takes every write.
            client.ip = Some(ip);
        }
        self.bytes.extend_from_slice(&client.text);
        self
    }

    /// Appends the timestamp of `now`.
    fn date(&mut self, now: SystemTime) -> &mut LogLine {
        self.bytes.extend_from_slice(self.date.of(now).as_bytes());
        self
    }

    /// Prints the line on stdout in one write. A closed stdout is not a
    /// reason to stop serving.
    fn print(&self) {
        let _ = io::stdout().lock().write_all(&self.bytes);
    }
}

/// Sends the plain-text error reply for `error`: its status and a one-line reason.
fn reply_with_error(client: &Client, error: RequestError, handler: &impl Handler) -> Served {
    let reason = format!("{error}\n");
    let written = http::write_text_reply(client, error.status(), &reason, |head| {
        if let Some((name, value)) = error.extra_header() {
            head.add(name, value);
        }
        handler.decorate_error(head, &error);
    });
    Served {
        status: error.status(),
        cache: handler.error_outcome(&error),
        body_bytes: written.unwrap_or(0),
        note: Some(Note::Refused(error)),
    }
}

/// Closes a connection without destroying the reply on its way out: closing
/// with unread input makes the kernel send a reset, which can destroy a reply
/// not read yet. So stop writing, then read and throw away what the client
/// still sends, for [`DRAIN_TIME`] at most: always after an error (the client
/// is often still sending), after a reply only if input is already waiting
/// (pipelined requests), so a hit costs no extra wait.
fn close_gently(stream: &TcpStream, after_error: bool) {
    let _ = stream.shutdown(Shutdown::Write);
    if !after_error && !has_input_waiting(stream) {
        return;
    }
    let drain_deadline = Instant::now() + DRAIN_TIME;
    let mut discard = [0u8; 8192];
    let mut budget = DRAIN_BYTES;
    let mut stream = stream;
    while budget > 0 {
        let time_left = drain_deadline.saturating_duration_since(Instant::now());
        if time_left.is_zero()
            || stream
                .set_read_timeout(Some(time_left.min(DRAIN_PAUSE)))
                .is_err()
        {
            return;
        }
        match stream.read(&mut discard) {
            Ok(0) | Err(_) => return,
            Ok(count) => budget = budget.saturating_sub(count),
        }
    }
}

/// Whether the client has sent bytes we have not read, without waiting.
fn has_input_waiting(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let waiting = matches!(stream.peek(&mut byte), Ok(count) if count > 0);
    let _ = stream.set_nonblocking(false);
    waiting
}

/// How much of a file is read into memory at a time on its way to a client.
const FILE_PIECE: usize = 256 * 1024;

/// Copies `length` bytes of a file to the client; returns how many went.
///
/// The standard library does not `sendfile` to a socket (the file could still
/// change under the kernel), so the bytes pass through our memory and the piece
/// size decides the cost: a 10 MiB file takes 2,560 system calls with
/// `io::copy`'s 8 KiB, 80 with 256 KiB. No piece outgrows its file.
pub fn send_file(file: impl Read, length: u64, client: &Client) -> io::Result<u64> {
    if length == 0 {
        return Ok(0);
    }
    let piece = usize::try_from(length).map_or(FILE_PIECE, |length| length.clamp(1, FILE_PIECE));
    let mut file = io::BufReader::with_capacity(piece, file.take(length));
    let mut client = client;
    io::copy(&mut file, &mut client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::UNIX_EPOCH;

    /// The log line as `format!` writes it: what [`LogLine`] must match.
    fn formatted(answered: &Answered, ip: IpAddr, elapsed: Duration, when: &str) -> String {
        let (served, request_line) = (&answered.served, &answered.request_line);
        let (status, bytes_sent) = (served.status, answered.bytes_sent);
        let (cache, elapsed_ms) = (
            served.cache.map_or("-", Outcome::as_str),
            elapsed.as_millis(),
        );
        let note = (served.note.as_ref()).map_or(String::new(), |note| format!(" ({note})"));
        format!("{ip} - - [{when}] \"{request_line}\" {status} {bytes_sent} {cache} {elapsed_ms}ms{note}\n")
    }

    #[test]
    fn log_lines_are_written_as_format_writes_them() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_405_804);
        let when = "23/Nov/2026:03:50:04 +0000";
        let ips: [IpAddr; 5] = [
            Ipv4Addr::new(127, 0, 0, 1).into(),
            Ipv4Addr::new(0, 0, 0, 0).into(),
            Ipv4Addr::new(255, 255, 255, 255).into(),
            Ipv6Addr::LOCALHOST.into(),
            Ipv4Addr::new(10, 0, 20, 3).to_ipv6_mapped().into(),
        ];
        let cases = [
            (200, Some(Outcome::Hit), 612, 0),
            (200, Some(Outcome::Miss), 10, 1004),
            (404, None, 0, 9),
            (504, Some(Outcome::Bypass), u64::MAX, 123_456_789),
        ];
        let mut log_line = LogLine::default();
        for ip in ips {
            let notes = [
                None,
                Some(Note::Evicted(3)),
                Some(Note::StaleOriginFailed(70)),
                None,
            ];
            for ((status, cache, bytes_sent, elapsed_ms), note) in cases.into_iter().zip(notes) {
                let served = Served {
                    status,
                    cache,
                    body_bytes: 0,
                    note,
                };
                let answered = Answered {
                    request_line: "GET /data.json HTTP/1.1".into(),
                    served,
                    trace: Trace::off(),
                    bytes_sent,
                };
                let elapsed = Duration::from_millis(elapsed_ms) + Duration::from_micros(999);
                log_line.make(&answered, ip, elapsed, now);
                let made = String::from_utf8(log_line.bytes.clone()).expect("UTF-8");
                assert_eq!(made, formatted(&answered, ip, elapsed, when));
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&log_line.bytes),
            "::ffff:10.0.20.3 - - [23/Nov/2026:03:50:04 +0000] \"GET /data.json HTTP/1.1\" \
             504 18446744073709551615 BYPASS 123456789ms\n"
        );
    }
}
