//! Passing a reply on to the client. From the origin: the head with our own
//! framing, then the body 64 KiB at a time (memory does not grow with it), to
//! the client and, if one is being made, into the cache's temporary file.
//! From a stored copy: the head and the body's first bytes in one write, then
//! the rest of the file. That is the sending of step 3 (hit), the streaming
//! half of step 5 (store and reply), and the proxy's own short replies.
//!
//! The body goes out framed as the origin framed it: with its length, chunked
//! (until the close to an HTTP/1.0 client, which cannot read chunks), or until
//! the close. An origin that fails mid-body leaves the client a short body or
//! one without its last chunk: a cut, never a clean end.
//!
//! Not here: whether a copy may be made, or what becomes of it (see
//! [`crate::cache::story`]).

use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant, SystemTime};

use crate::cache::labels::{add_cache_fields, Outcome};
use crate::cache::range::{self, Span};
use crate::net::origin::{Framing, OriginResponse};
use crate::net::served::{ClientGone, Cut, Note, Served};
use crate::net::server::{self, Client, ClientLimits, Request};
use crate::store::entry::Entry;
use crate::store::write::PendingEntry;
use crate::wire::dates;
use crate::wire::headers;
use crate::wire::http::{self, find_header, RequestHead, ResponseHead};

/// How much of the origin's body is read at a time.
const ORIGIN_PIECE: usize = 64 * 1024;

/// The budget of work no client waits for: the rest of a body after the
/// client has its part (a range, a 304 or a 412 cut from a whole reply), and
/// the check after a `stale-while-revalidate` reply. The next client waits for
/// this one thread, so a cheap request must not buy a long stall: past the
/// budget the copy is abandoned (and [`crate::cache::story`] remembers the
/// URL). Defaults to none: nothing is read once the client has its part.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unattended {
    /// The longest it may take in all: one `--origin-timeout`.
    pub time: Duration,
    /// The most body bytes it may read: what that time carries at
    /// `--min-rate`. A longer rest is not begun at all.
    pub bytes: u64,
}

impl Unattended {
    /// The budget for an origin read timeout of `time`, at `limits`' rate.
    pub fn new(time: Duration, limits: ClientLimits) -> Unattended {
        // Rounded down, and saturating: many exabytes is "no limit" anyway.
        let bytes = (time.as_secs_f64() * limits.min_rate as f64) as u64;
        Unattended { time, bytes }
    }
}

/// How a reply body is framed on the wire: `Plain` after a `Content-Length`
/// (or until the close); `Chunked` when the origin chunked it, each `write` one
/// chunk and [`BodyWriter::finish`] the last, so a cut body never looks whole.
pub enum BodyWriter<W: Write> {
    /// Bytes go out as they are.
    Plain(W),
    /// Bytes go out in chunks (RFC 9112 section 7.1).
    Chunked(W),
}

impl<W: Write> BodyWriter<W> {
    /// Ends the body: the zero-length chunk for `Chunked`, nothing for `Plain`.
    pub fn finish(self) -> io::Result<()> {
        match self {
            BodyWriter::Plain(_) => Ok(()),
            BodyWriter::Chunked(mut inner) => inner.write_all(b"0\r\n\r\n"),
        }
    }
}

impl<W: Write> Write for BodyWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            BodyWriter::Plain(inner) => inner.write(bytes),
            BodyWriter::Chunked(_) if bytes.is_empty() => Ok(0),
            BodyWriter::Chunked(inner) => {
                let mut chunk = format!("{:x}\r\n", bytes.len()).into_bytes();
                chunk.extend_from_slice(bytes);
                chunk.extend_from_slice(b"\r\n");
                inner.write_all(&chunk)?;
                Ok(bytes.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            BodyWriter::Plain(inner) | BodyWriter::Chunked(inner) => inner.flush(),
        }
    }
}

/// Passes the origin's reply on to the client, writing the body into `copy`
/// as it goes. Returns the copy, for [`crate::store::open::Store::commit`],
/// only if the whole body arrived and the client got its part; otherwise it is
/// dropped, which deletes its temporary file.
///
/// With `span`, the client gets that instead (a 304, a range, a 416, cut from
/// a reply fetched whole to keep); the copy still gets the rest within `budget`.
pub fn relay(
    request: &Request,
    mut response: OriginResponse,
    copy: Option<PendingEntry>,
    labels: (Outcome, &str),
    span: Option<Span>,
    budget: Unattended,
) -> (Served, Option<PendingEntry>) {
    let plan = BodyPlan::new(&request.head, &response, span.is_some());
    let head = client_head(&response, span.as_ref(), &plan, labels).to_bytes();
    let mut served = Served {
        status: span.as_ref().map_or(response.status, |span| span.status),
        cache: Some(labels.0),
        body_bytes: 0,
        note: None,
    };
    // The bytes the client gets: all, or the span's.
    let (first, count) = span
        .as_ref()
        .map_or((0, u64::MAX), |span| (span.first, span.count));
    let mut stream = BodyStream {
        first,
        end: first.saturating_add(count),
        // The rest of a body fetched whole for a part is the cache's own
        // business: it is filled even if the client leaves.
        fill_after_leaving: span.is_some(),
        body_length: plan.length,
        budget,
        copy,
        ..BodyStream::default()
    };
    // A part's head waits for the part's first byte: the client's clock starts
    // when there is something for it, however far into the body its range begins.
    if span.is_some() && served.status == 206 {
        stream.head = Some(head);
    } else if let Err(error) = (&request.client).write_all(&head) {
        served.note = Some(Note::ClientGone(ClientGone::from(error)));
        return (served, None);
    }
    if !plan.has_body {
        // A 204 is whole with its head; a copy of it (only for a `GET`) is complete.
        return (served, stream.copy);
    }
    let mut client = if plan.chunked {
        BodyWriter::Chunked(&request.client)
    } else {
        BodyWriter::Plain(&request.client)
    };
    let streamed = stream.pump(&mut response.body, &mut client, request.client.limits());
    let promised = span.map(|span| span.count);
    let ended = streamed.and_then(|()| stream.check_whole(promised));
    end_relay(served, ended, stream, client)
}

/// The end of a relay, once the body has streamed: the log's note, and the
/// copy if it came whole and the client got its part.
fn end_relay(
    mut served: Served,
    ended: Result<(), Cut>,
    stream: BodyStream,
    client: BodyWriter<&Client>,
) -> (Served, Option<PendingEntry>) {
    served.body_bytes = stream.sent;
    // A failed cache write is the first thing worth a note.
    served.note = stream.copy_failed.map(Cut::CopyFailed).map(Note::Cut);
    let (note, copy) = match (ended, stream.client_left) {
        (Err(cut), _) => (Note::Cut(cut), None),
        (Ok(()), Some(left)) => (Note::FilledAnyway(left), stream.copy),
        (Ok(()), None) => match client.finish() {
            Ok(()) => return (served, stream.copy),
            Err(error) => (Note::ClientGone(ClientGone::from(error)), None),
        },
    };
    (served.with_note(Some(note)), copy)
}

/// How the body of a relayed reply goes to the client.
struct BodyPlan {
    /// Whether the status allows a body (RFC 9110 6.4.1: not 1xx, 204, 304).
    may_have_body: bool,
    /// Whether the client gets one: also not after `HEAD`.
    has_body: bool,
    /// Whether it goes out chunked as it came: only whole, to HTTP/1.1.
    chunked: bool,
    /// The body's length, if the origin said it.
    length: Option<u64>,
}

impl BodyPlan {
    fn new(request: &RequestHead, response: &OriginResponse, is_span: bool) -> BodyPlan {
        let may_have_body = !matches!(response.status, 100..=199 | 204 | 304);
        let has_body = may_have_body && request.method() != "HEAD";
        let chunked = response.framing == Framing::Chunked && request.minor_version == 1;
        BodyPlan {
            may_have_body,
            has_body,
            chunked: has_body && chunked && !is_span,
            length: match response.framing {
                Framing::Length(length) if may_have_body => Some(length),
                _ => None,
            },
        }
    }
}

/// Our head for the client: the origin's end-to-end head, made the span's
/// if the client gets one, with our framing fields and the cache's labels.
fn client_head(
    response: &OriginResponse,
    span: Option<&Span>,
    plan: &BodyPlan,
    (outcome, cache_status): (Outcome, &str),
) -> ResponseHead {
    let mut head = end_to_end_head(response);
    if let Some(span) = span {
        head.status = span.status;
        if let Some(content_range) = &span.content_range {
            // Ours replaces any the origin sent (meaningless in a 200).
            head.headers.retain(|header| !header.is("Content-Range"));
            head.add("Content-Range", content_range);
        }
        if span.status == 412 {
            head.headers
                .retain(|header| headers::goes_with_a_412(header.name()));
        }
        if plan.may_have_body && span.status != 304 {
            head.add("Content-Length", span.count.to_string());
        }
    } else if let Some(length) = plan.length {
        head.add("Content-Length", length.to_string());
    } else if plan.chunked {
        head.add("Transfer-Encoding", "chunked");
    }
    head.add("Connection", "close");
    add_cache_fields(&mut head, outcome, cache_status);
    head
}

/// The end-to-end head of an origin's reply: what a stored copy keeps and a
/// relay starts from. Without `Date` it gets one of now, as age and freshness
/// count from it (RFC 9110 6.6.1); compressed, it gets its implied `Vary`
/// ([`crate::cache::vary::add_implied_vary`]).
pub fn end_to_end_head(response: &OriginResponse) -> ResponseHead {
    let mut head = ResponseHead {
        status: response.status,
        headers: headers::from_origin(&response.headers),
    };
    if find_header(&head.headers, "Date").is_none() {
        head.add("Date", dates::http_date(SystemTime::now()));
    }
    crate::cache::vary::add_implied_vary(&mut head);
    head
}

/// Fills `copy` with the origin's whole body when no client waits for it (the
/// check after a stale reply), at a reply's pace: the next client is waiting.
pub fn fill(
    mut response: OriginResponse,
    copy: PendingEntry,
    limits: ClientLimits,
    budget: Unattended,
) -> Result<PendingEntry, Cut> {
    // No client: its part is empty, and all of the body is the budget's.
    let mut stream = BodyStream {
        body_length: match response.framing {
            Framing::Length(length) => Some(length),
            _ => None,
        },
        budget,
        copy: Some(copy),
        ..BodyStream::default()
    };
    stream.pump(&mut response.body, &mut io::sink(), limits)?;
    let whole = stream.check_whole(None);
    match (stream.copy, stream.copy_failed) {
        (_, Some(error)) => Err(Cut::CopyFailed(error)),
        (Some(copy), None) => whole.map(|()| copy),
        // The copy goes only when writing it fails: not reached.
        (None, None) => Err(Cut::Short),
    }
}

/// Sends a reply from a stored copy: `head`, then, with `span`, the `count`
/// body bytes from offset `first`. Returns how many body bytes went. The body
/// bytes read with the stored head go out in the same write as our head: for
/// a small file, the whole reply is one read and one write.
pub fn send_stored(
    client: &Client,
    head: &[u8],
    entry: &Entry,
    span: Option<(u64, u64)>,
) -> io::Result<u64> {
    let mut to_client = client;
    let Some((first, count)) = span else {
        return to_client.write_all(head).map(|()| 0);
    };
    let (in_memory, (skip, rest)) = range::split(entry.body_start(), first, count);
    write_all_parts(
        &mut to_client,
        &mut [IoSlice::new(head), IoSlice::new(in_memory)],
    )?;
    // The file stands just past the bytes read with the head.
    let mut file = &entry.body;
    if skip > 0 {
        file.seek(SeekFrom::Current(skip))?;
    }
    let sent = server::send_file(file, rest, client)?;
    Ok(count - rest + sent)
}

/// Writes all of `parts`, in one write as a rule (`Write::write_all_vectored`
/// is not stable yet).
fn write_all_parts(to: &mut impl Write, mut parts: &mut [IoSlice<'_>]) -> io::Result<()> {
    // Drops the empty pieces in front, so that a write of none is an end.
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        match to.write_vectored(parts) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => IoSlice::advance_slices(&mut parts, count),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// An origin's body on its way: which bytes the client gets, and how far it got.
#[derive(Default)]
struct BodyStream {
    /// The offsets of the first byte the client gets and just past its last.
    first: u64,
    end: u64,
    /// Our head, if it is still to go out with the client's first byte.
    head: Option<Vec<u8>>,
    /// Whether a client that leaves lets the copy go on filling.
    fill_after_leaving: bool,
    /// The whole body's length, if the origin said it.
    body_length: Option<u64>,
    /// What the rest may cost once the client has its part.
    budget: Unattended,
    /// How many body bytes were read, and how many went to the client.
    read: u64,
    sent: u64,
    /// Why the client left, if it left and the copy went on filling.
    client_left: Option<ClientGone>,
    /// The copy being filled; dropped if writing it fails, and why.
    copy: Option<PendingEntry>,
    copy_failed: Option<io::Error>,
    /// When the client's part ended, and how much had been read by then.
    unattended_since: Option<(Instant, u64)>,
}

impl BodyStream {
    /// Copies the origin's body to the client (bytes `first` to `end`) and into
    /// the copy: to the end, unless there is no copy and the client's part ended
    /// first. The origin keeps pace with `limits`, whoever its bytes are for.
    fn pump(
        &mut self,
        origin_body: &mut dyn Read,
        client: &mut impl Write,
        limits: ClientLimits,
    ) -> Result<(), Cut> {
        let started = Instant::now();
        // No bigger than the body: zeroing 64 KiB for a 1 KiB one is much of
        // the proxy's own work on a small miss.
        let body_length = self
            .body_length
            .and_then(|length| usize::try_from(length).ok());
        let piece_size = body_length.map_or(ORIGIN_PIECE, |length| length.clamp(1, ORIGIN_PIECE));
        let mut piece = vec![0u8; piece_size];
        loop {
            if self.read >= self.end || self.client_left.is_some() {
                if self.copy.is_none() {
                    return Ok(());
                }
                self.check_budget()?;
            }
            let count = match origin_body.read(&mut piece) {
                Ok(0) => return Ok(()),
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(Cut::Origin(error)),
            };
            self.send_to_client(client, &piece[..count])?;
            self.read += count as u64;
            if let Some(copy) = &mut self.copy {
                if let Err(error) = copy.write_all(&piece[..count]) {
                    (self.copy, self.copy_failed) = (None, Some(error));
                }
            }
            if server::too_slow(started, self.read, limits) {
                let why = "the origin's reply flowed slower than --min-rate";
                return Err(Cut::Origin(io::Error::new(io::ErrorKind::TimedOut, why)));
            }
        }
    }

    /// Sends the client the bytes of `piece` inside its part, with our head
    /// if it is still waiting. A client that leaves while the copy may go on
    /// filling is noted, not a cut.
    fn send_to_client(&mut self, client: &mut impl Write, piece: &[u8]) -> Result<(), Cut> {
        // The client's part of this piece, as offsets into it.
        let within =
            |offset: u64| offset.saturating_sub(self.read).min(piece.len() as u64) as usize;
        let part = &piece[within(self.first)..within(self.end)];
        if self.client_left.is_some() || part.is_empty() {
            return Ok(());
        }
        let written = match self.head.take() {
            Some(head) => write_all_parts(client, &mut [IoSlice::new(&head), IoSlice::new(part)]),
            None => client.write_all(part),
        };
        match written {
            Ok(()) => self.sent += part.len() as u64,
            Err(error) if self.fill_after_leaving && self.copy.is_some() => {
                self.client_left = Some(ClientGone::from(error));
            }
            Err(error) => return Err(Cut::Client(ClientGone::from(error))),
        }
        Ok(())
    }

    /// Once the client has its part, the rest is the cache's own: fails when
    /// it costs more than the budget, and at once if it is longer than that.
    fn check_budget(&mut self) -> Result<(), Cut> {
        let Unattended { bytes, time } = self.budget;
        let over = match self.unattended_since {
            None => {
                self.unattended_since = Some((Instant::now(), self.read));
                let rest = self.body_length.map(|all| all.saturating_sub(self.read));
                rest.is_some_and(|rest| rest > bytes)
            }
            Some((since, read_then)) => since.elapsed() > time || self.read - read_then > bytes,
        };
        if over {
            return Err(Cut::OverBudget { bytes, time });
        }
        Ok(())
    }

    /// After a body streamed without a cut: [`Cut::Short`] if the body read to
    /// its end fell short of its length, or a client still there of its `promised`.
    fn check_whole(&self, promised: Option<u64>) -> Result<(), Cut> {
        // Reading stopped after the span only if no copy needed the rest.
        let read_to_end = self.copy.is_some() || promised.is_none();
        let client_short = promised.is_some_and(|promised| self.sent < promised);
        if read_to_end && self.body_length.is_some_and(|length| length != self.read)
            || self.client_left.is_none() && client_short
        {
            return Err(Cut::Short);
        }
        Ok(())
    }
}

/// A short plain-text reply from the proxy itself, such as `PURGE`'s.
pub fn plain_reply(request: &Request, status: u16, text: &str, cache_status: &str) -> Served {
    let written = http::write_text_reply(&request.client, status, text, |head| {
        add_cache_fields(head, Outcome::Bypass, cache_status)
    });
    Served {
        status,
        cache: Some(Outcome::Bypass),
        body_bytes: text.len() as u64,
        note: written.err().map(|error| Note::ClientGone(error.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_frames_each_write() {
        let mut out = Vec::new();
        let mut writer = BodyWriter::Chunked(&mut out);
        writer.write_all(b"hello").expect("write");
        writer.write_all(&[0u8; 16]).expect("write");
        writer.finish().expect("finish");
        let mut expected = b"5\r\nhello\r\n10\r\n".to_vec();
        expected.extend_from_slice(&[0u8; 16]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
    }
}
