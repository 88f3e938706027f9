//! The socket loop: accept a connection, read one request, let a handler answer
//! it, log one line, close, repeat. One thread, blocking I/O, one request per
//! connection.
//!
//! Both subcommands run on this loop; they differ only in their [`Handler`].
//! This module owns everything about the client's socket that is not the
//! request itself: the deadline for receiving the request, the write timeout,
//! the error replies for requests that never reach a handler, and the log line.
//!
//! Why deadlines matter here: with one thread, the server is busy for as long
//! as one client keeps it busy. A client that trickles its request one byte at
//! a time would hold everyone else in the queue; the deadline caps that at
//! [`ClientLimits::request_deadline`] (see the README's "why one thread").
//!
//! Steps: 1 (receive) and 6 (done) of the README's pseudocode; steps 2 to 5
//! are the handler's.
//!
//! Not here: what a request means. That is the handler's business.

use std::cell::Cell;
use std::io::{self, Cursor, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::error::RequestError;
use crate::http::{self, RequestHead, ResponseHead};
use crate::trace::Trace;

/// How long the server waits on a client.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    /// From accepting a connection, how long the client has to send its
    /// whole request (head and body).
    pub request_deadline: Duration,
    /// The longest one write to the client may block.
    pub write_timeout: Duration,
}

/// What a handler answers: one request, read and parsed, and its socket.
pub struct Request {
    /// The parsed request head.
    pub head: RequestHead,
    /// Who sent it.
    pub client_addr: SocketAddr,
    /// The client's socket, for the reply.
    pub client: TcpStream,
    /// The `--trace` narration of this request (silent without `--trace`).
    pub trace: Trace,
    /// Bytes that arrived after the head: the start of the request body.
    /// (A `Cell`, so that reading the body needs no `&mut Request`.)
    body_start: Cell<Vec<u8>>,
    /// When the whole request must have arrived.
    deadline: Instant,
}

impl Request {
    /// A reader for the request body of `length` bytes, which goes on obeying
    /// the request deadline.
    pub fn body(&self, length: u64) -> RequestBody<'_> {
        let already_received = Cursor::new(self.body_start.take());
        let rest = DeadlineReader {
            stream: &self.client,
            deadline: self.deadline,
        };
        RequestBody {
            reader: already_received.chain(rest).take(length),
            remaining: length,
            failure: None,
        }
    }
}

/// A request body being read from the client.
pub struct RequestBody<'a> {
    reader: io::Take<io::Chain<Cursor<Vec<u8>>, DeadlineReader<'a>>>,
    remaining: u64,
    /// Set when the client failed to deliver the body: why, as an error for
    /// the client (it ran out of time, or closed the connection early).
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
                self.failure = Some(RequestError::ClientTimeout);
            }
            Err(_) => {
                self.failure = Some(RequestError::BadRequest("the request body ended early"));
            }
        }
        result
    }
}

/// Reads from a socket, failing with `TimedOut` once `deadline` has passed.
/// A plain read timeout would restart with every byte; this does not.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let time_left = self.deadline.saturating_duration_since(Instant::now());
        if time_left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(time_left))?;
        let mut stream = self.stream;
        stream.read(buffer)
    }
}

/// How a handler reports a request it answered, for the log line.
#[derive(Debug, Clone)]
pub struct Served {
    /// The status sent to the client.
    pub status: u16,
    /// What the cache did (`HIT`, `MISS`), or `-` where no cache is involved.
    pub cache: &'static str,
    /// How many body bytes went to the client.
    pub body_bytes: u64,
    /// Anything worth a note: an entry not stored and why, a client gone.
    pub note: Option<String>,
}

/// What answers requests: the proxy, or the demo origin.
pub trait Handler {
    /// Answers one request.
    ///
    /// The contract: `Err` means nothing has been written to the client yet,
    /// so the loop can still send an error reply. Once a handler has written
    /// a reply head, it reports any later failure in [`Served::note`].
    fn handle(&mut self, request: &Request) -> Result<Served, RequestError>;

    /// Adds this server's own header fields to an error reply.
    fn decorate_error(&self, _head: &mut ResponseHead, _error: &RequestError) {}

    /// The cache column of the log line for an error reply.
    fn error_cache_label(&self, _error: &RequestError) -> &'static str {
        "-"
    }
}

/// Binds a listening socket, with an error message a learner can act on.
pub fn bind(host: &str, port: u16) -> Result<TcpListener, String> {
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot use --bind {host}: {error}"))?
        .collect();
    TcpListener::bind(&addresses[..]).map_err(|error| {
        let hint = match error.kind() {
            io::ErrorKind::AddrInUse => "; is another server running on that port?",
            io::ErrorKind::AddrNotAvailable => "; that address is not on this machine",
            io::ErrorKind::PermissionDenied => "; ports below 1024 need privileges",
            _ => "",
        };
        format!("could not bind {host}:{port}: {error}{hint}")
    })
}

/// The URL a listener answers on, e.g. `http://127.0.0.1:8888`.
pub fn listening_url(listener: &TcpListener) -> io::Result<String> {
    Ok(format!("http://{}", listener.local_addr()?))
}

/// Serves connections one after another, forever (Ctrl-C ends the process).
/// With `trace`, each request is narrated step by step instead of logged in
/// one line (see [`crate::trace`]).
pub fn serve(listener: TcpListener, limits: ClientLimits, trace: bool, handler: &mut impl Handler) {
    let mut sequence = 0;
    for connection in listener.incoming() {
        match connection {
            Ok(client) => {
                sequence += 1;
                let trace = if trace {
                    Trace::on(sequence)
                } else {
                    Trace::off()
                };
                serve_connection(client, limits, trace, handler);
            }
            Err(error) => {
                // Usually out of file descriptors; pause so we do not spin.
                log(&format!("cacheproxy: accept failed: {error}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// One connection: one request, one reply, one log line.
fn serve_connection(
    client: TcpStream,
    limits: ClientLimits,
    trace: Trace,
    handler: &mut impl Handler,
) {
    let accepted_at = Instant::now();
    let Ok(client_addr) = client.peer_addr() else {
        return; // The client left before we could look at it.
    };
    // No Nagle: the reply head and body go out as separate writes, and Nagle
    // would hold the body back until the client acknowledged the head.
    let _ = client.set_nodelay(true);
    let _ = client.set_write_timeout(Some(limits.write_timeout));
    let deadline = accepted_at + limits.request_deadline;
    // Step 1: receive the request and work out which URL it asks for.
    let received = http::read_request_head(&mut DeadlineReader {
        stream: &client,
        deadline,
    });
    let (request_line, served, trace) = match received {
        Ok(None) => return, // Connected and left without a word.
        Ok(Some((head, body_start))) => {
            let request_line = format!("{} {}", head.method, head.target);
            trace.step(1, format_args!("{request_line} from {client_addr}"));
            let body_start = Cell::new(body_start);
            let request = Request {
                head,
                client_addr,
                client,
                trace,
                body_start,
                deadline,
            };
            let served = answer(&request, handler);
            (request_line, served, request.trace)
        }
        Err(error) => {
            trace.step(1, format_args!("from {client_addr}: {error}"));
            (
                "- -".to_string(),
                reply_with_error(&client, &error, handler),
                trace,
            )
        }
    };
    // Step 6: done: log the request and close the connection.
    let elapsed_ms = accepted_at.elapsed().as_millis();
    report(
        &trace,
        &format!("{client_addr} {request_line}"),
        served,
        elapsed_ms,
    );
}

/// The one log line for a request (`client method target status cache bytes
/// ms`), or, with `--trace`, the last line of its narration.
fn report(trace: &Trace, who_and_what: &str, served: Served, elapsed_ms: u128) {
    let note = served
        .note
        .map(|note| format!(" ({note})"))
        .unwrap_or_default();
    let (status, cache, bytes) = (served.status, served.cache, served.body_bytes);
    if trace.is_on() {
        trace.done(format_args!(
            "{status} {cache}, {bytes} bytes, {elapsed_ms} ms in all{note}"
        ));
    } else {
        log(&format!(
            "{who_and_what} {status} {cache} {bytes} bytes {elapsed_ms} ms{note}"
        ));
    }
}

/// Steps 2 to 5: the handler answers the request, or, if it fails before
/// writing anything, the client gets the error reply.
fn answer(request: &Request, handler: &mut impl Handler) -> Served {
    match handler.handle(request) {
        Ok(served) => served,
        Err(error) => reply_with_error(&request.client, &error, handler),
    }
}

/// Sends the plain-text error reply for `error`, then closes gently.
fn reply_with_error(client: &TcpStream, error: &RequestError, handler: &impl Handler) -> Served {
    let mut writer = client;
    let written = http::write_error_reply(&mut writer, error, |head| {
        handler.decorate_error(head, error)
    });
    close_after_error(client);
    Served {
        status: error.status(),
        cache: handler.error_cache_label(error),
        body_bytes: written.unwrap_or(0),
        note: Some(error.to_string()),
    }
}

/// Closes a connection whose request we did not read to the end.
///
/// Closing a socket with unread input makes the kernel send a reset, which
/// can destroy our error reply before the client reads it. So: stop writing,
/// then read and discard what the client still sends, for a moment at most.
fn close_after_error(client: &TcpStream) {
    let _ = client.shutdown(Shutdown::Write);
    let _ = client.set_read_timeout(Some(Duration::from_millis(100)));
    let mut discard = [0u8; 4096];
    let mut client = client;
    let mut budget = 64 * 1024;
    while budget > 0 {
        match client.read(&mut discard) {
            Ok(0) | Err(_) => break,
            Ok(count) => budget -= count.min(budget),
        }
    }
}

/// How much of a file is read into memory at a time on its way to a client.
const FILE_PIECE: usize = 256 * 1024;

/// Copies a file's bytes (or a `take` of them) to the client; returns how many.
///
/// `io::copy` from a `File` straight to a `TcpStream` does *not* use `sendfile`:
/// the standard library avoids it on purpose, because bytes handed to the
/// kernel by `sendfile` could still change if someone wrote to the file, which
/// a plain `write` never allows. So the bytes pass through our memory, and the
/// size of each piece decides the cost: with `io::copy`'s default 8 KiB, a
/// 10 MiB file takes 2,560 system calls; with 256 KiB pieces, 80.
pub fn send_file(file: impl Read, client: &TcpStream) -> io::Result<u64> {
    let mut file = io::BufReader::with_capacity(FILE_PIECE, file);
    let mut client = client;
    io::copy(&mut file, &mut client)
}

/// Prints one line on stdout. A closed stdout is not a reason to stop serving.
pub fn log(line: &str) {
    let _ = writeln!(io::stdout(), "{line}");
}
