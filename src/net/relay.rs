//! Passing a reply from the origin on to the client: the head with our own
//! framing, then the body in fixed pieces, to the client and, if one is being
//! made, to the cache's temporary file at the same time.
//!
//! The body goes out framed as the origin framed it: with its length,
//! chunked (to an HTTP/1.0 client, which cannot read chunks: until the close),
//! or until the close. An origin that fails mid-body leaves the client a short
//! body or one without its last chunk: a cut, never a clean end. Memory does
//! not grow with the body: 64 KiB at a time.
//!
//! A reply from a stored copy goes out here too: its head and the first
//! bytes of its body in one write, then the rest of the file.
//!
//! Steps: the sending of step 3 (hit), the streaming half of step 5 (store
//! and reply), and the proxy's own short replies.
//!
//! Not here: whether a copy may be made, or what becomes of it (see
//! [`crate::cache::story`]).

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant, SystemTime};

use crate::cache::labels::{add_cache_fields, Outcome};
use crate::cache::range::{self, Span};
use crate::net::origin::{Framing, OriginResponse};
use crate::net::server::{self, client_gone, Client, ClientLimits, Request, Served};
use crate::store::entry::Entry;
use crate::store::write::PendingEntry;
use crate::wire::dates;
use crate::wire::headers;
use crate::wire::http::{find_header, ResponseHead};

/// How much of the origin's body is read at a time.
const ORIGIN_PIECE: usize = 64 * 1024;

/// The budget of work that no client waits for: the rest of a body after
/// the client has its part (a range, a 304 or a 412 cut from a reply fetched
/// whole), and the check after a `stale-while-revalidate` reply. That work
/// is the cache's own, and the next client waits for this one thread, so a
/// cheap request must not buy a long stall: past the budget, the copy is
/// abandoned (and [`crate::cache::story`] remembers the URL for a while).
#[derive(Debug, Clone, Copy)]
pub struct Unattended {
    /// The longest it may take in all: one `--origin-timeout`.
    pub time: Duration,
    /// The most body bytes it may read: what that time carries at
    /// `--min-rate`. A longer rest is not begun at all.
    pub bytes: u64,
}

impl Unattended {
    /// The budget for an origin read timeout of `time`, at the reply rate
    /// that `limits` requires.
    pub fn new(time: Duration, limits: ClientLimits) -> Unattended {
        let bytes = time.as_secs_f64() * limits.min_rate as f64;
        Unattended {
            time,
            // Rounded down; a budget of many exabytes is "no limit" anyway.
            bytes: bytes as u64,
        }
    }
}

/// How a reply body is framed on the wire.
///
/// `Plain` is for bodies whose length went out in `Content-Length` (or that end
/// when the connection closes); `Chunked` is for a miss whose origin did not say
/// how long the body is: each `write` becomes one chunk and [`BodyWriter::finish`]
/// writes the last, empty one, so the client can tell a whole body from a cut one.
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
/// as it goes. Returns the copy only if the whole body arrived and the
/// client got its part, ready for [`crate::store::open::Store::commit`];
/// otherwise it is dropped, which deletes its temporary file.
///
/// With `span`, the client gets that instead of the whole reply: a 304, a
/// range, a 416, cut from a reply the proxy fetched whole to keep. The copy
/// still gets every byte; without a copy, reading stops after the span.
pub fn relay(
    request: &Request,
    response: OriginResponse,
    copy: Option<PendingEntry>,
    (outcome, cache_status): (Outcome, &str),
    (span, budget): (Option<Span>, Unattended),
) -> (Served, Option<PendingEntry>) {
    // RFC 9110 6.4.1: no body after HEAD, 1xx, 204 or 304, whatever the origin sends.
    let may_have_body = !matches!(response.status, 100..=199 | 204 | 304);
    let has_body = may_have_body && request.head.method != "HEAD";
    let framing = response.framing;
    let chunked = has_body
        && framing == Framing::Chunked
        && request.head.minor_version == 1
        && span.is_none();
    let length = match framing {
        Framing::Length(length) if may_have_body => Some(length),
        _ => None,
    };
    let mut head = end_to_end_head(&response);
    // The bytes the client gets: all, or the span's.
    let (mut first, mut count) = (0, u64::MAX);
    let promised = span.as_ref().map(|span| span.count);
    if let Some(span) = span {
        (head.status, first, count) = (span.status, span.first, span.count);
        if let Some(content_range) = span.content_range {
            // Ours replaces any the origin sent (meaningless in a 200).
            head.headers
                .retain(|header| !header.name.eq_ignore_ascii_case("Content-Range"));
            head.add("Content-Range", content_range);
        }
        if span.status == 412 {
            head.headers
                .retain(|header| headers::goes_with_a_412(&header.name));
        }
        if may_have_body && span.status != 304 {
            head.add("Content-Length", count.to_string());
        }
    } else if let Some(length) = length {
        head.add("Content-Length", length.to_string());
    } else if chunked {
        head.add("Transfer-Encoding", "chunked");
    }
    head.add("Connection", "close");
    add_cache_fields(&mut head, outcome, cache_status);

    let mut served = Served {
        status: head.status,
        cache: Some(outcome),
        body_bytes: 0,
        note: None,
    };
    // A part's head waits for the part's first byte: the client's clock
    // (`--write-timeout`, `--min-rate`) starts when there is something for
    // it, however far into the body its range begins.
    let mut head = Some(head.to_bytes());
    if !(promised.is_some() && served.status == 206) {
        if let Err(error) = (&request.client).write_all(&head.take().unwrap_or_default()) {
            return (served.with_note(Some(client_gone(&error))), None);
        }
    }
    if !has_body {
        // A 204 is whole with its head; a copy of it (only ever for a
        // `GET`) is complete.
        return (served, copy);
    }
    let mut client = if chunked {
        BodyWriter::Chunked(&request.client)
    } else {
        BodyWriter::Plain(&request.client)
    };
    let mut copy = copy;
    let mut origin_body = response.body;
    let for_client = ForClient {
        first,
        end: first.saturating_add(count),
        head,
        // The rest of a body fetched whole for a part is the cache's own
        // business: it is filled even if the client leaves, within the
        // budget of work no client waits for.
        fill_after_leaving: promised.is_some(),
        body_length: length,
        budget,
    };
    let limits = request.client.limits();
    let streamed = stream_body(
        &mut origin_body,
        (&mut client, for_client),
        &mut copy,
        &mut served,
        limits,
    );
    // Reading stopped after the span only if no copy needed the rest.
    let read_to_end = copy.is_some() || promised.is_none();
    let client_short = promised.is_some_and(|promised| served.body_bytes < promised);
    match streamed {
        Err(cut) => (served.with_note(Some(cut.to_string())), None),
        // Short: the body read to its end was not all its Content-Length
        // said, or a client still there did not get all it was promised.
        Ok((read, left))
            if read_to_end && length.is_some_and(|length| length != read)
                || left.is_none() && client_short =>
        {
            let why = "origin body shorter than its Content-Length, nothing stored";
            (served.with_note(Some(why.into())), None)
        }
        Ok((_, Some(left))) => {
            let note = format!("{}; the copy was filled all the same", client_gone(&left));
            (served.with_note(Some(note)), copy)
        }
        Ok(_) => match client.finish() {
            Ok(()) => (served, copy),
            Err(error) => (served.with_note(Some(client_gone(&error))), None),
        },
    }
}

/// The end-to-end head of an origin's reply: its status and the fields that
/// cross the proxy. It is what a stored copy keeps, and what a relay starts from.
/// A reply without `Date` gets one, now (RFC 9110 6.6.1): its age and
/// freshness are counted from it. A compressed one without `Vary:
/// Accept-Encoding` gets that (see [`crate::cache::vary::add_implied_vary`]).
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

/// Fills `copy` with the origin's whole body when no client waits for it
/// (the check after a stale reply), at the pace a reply must keep: the next
/// client is waiting for this one thread. Returns the copy if the whole body
/// arrived, else why not.
pub fn fill(
    response: OriginResponse,
    copy: PendingEntry,
    (limits, budget): (ClientLimits, Unattended),
) -> Result<PendingEntry, String> {
    let no_client = ForClient {
        first: 0,
        end: 0,
        head: None,
        fill_after_leaving: false,
        body_length: match response.framing {
            Framing::Length(length) => Some(length),
            _ => None,
        },
        budget,
    };
    let mut served = Served {
        status: response.status,
        cache: None,
        body_bytes: 0,
        note: None,
    };
    let (framing, mut body, mut copy) = (response.framing, response.body, Some(copy));
    let streamed = stream_body(
        &mut body,
        (&mut io::sink(), no_client),
        &mut copy,
        &mut served,
        limits,
    );
    match (streamed, copy) {
        (Err(cut), _) => Err(cut.to_string()),
        (Ok(_), None) => Err(served.note.unwrap_or_default()),
        (Ok((read, _)), Some(_)) if matches!(framing, Framing::Length(length) if length != read) => {
            Err("origin body shorter than its Content-Length, nothing stored".into())
        }
        (Ok(_), Some(copy)) => Ok(copy),
    }
}

/// Sends a reply from a stored copy: `head`, then, if `span` is given, the
/// `count` body bytes from offset `first` (the whole body, or the part a
/// `Range` asked for). Returns how many body bytes went.
///
/// The body bytes read along with the stored head go out in the same write
/// as our head: for a small file, the whole reply is one read and one write.
pub fn send_stored(
    client: &Client,
    mut head: Vec<u8>,
    entry: &Entry,
    span: Option<(u64, u64)>,
) -> io::Result<u64> {
    let mut to_client = client;
    let Some((first, count)) = span else {
        return to_client.write_all(&head).map(|()| 0);
    };
    let (in_memory, (skip, rest)) = range::split(&entry.body_start, first, count);
    head.extend_from_slice(in_memory);
    to_client.write_all(&head)?;
    // The file is positioned just past the bytes read with the head; a part
    // further on begins with a seek.
    let mut file = &entry.body;
    if skip > 0 {
        file.seek(SeekFrom::Current(skip))?;
    }
    let sent = server::send_file(file, rest, client)?;
    Ok(count - rest + sent)
}

/// Why a body stopped before its end.
enum Cut {
    /// Reading from the origin failed.
    Origin(io::Error),
    /// Writing to the client failed (it left, or a deadline cut it off).
    Client(io::Error),
    /// The rest of the body, which no client waits for, was more than its
    /// [`Unattended`] budget.
    OverBudget(Unattended),
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Origin(error) => write!(f, "origin failed mid-body, nothing stored: {error}"),
            Cut::Client(error) => write!(f, "{}, nothing stored", client_gone(error)),
            Cut::OverBudget(budget) => write!(
                f,
                "the rest of the body was more than the cache reads with no client \
                 waiting ({} KiB within {} s), nothing stored",
                budget.bytes / 1024,
                budget.time.as_secs_f64()
            ),
        }
    }
}

/// Which of the origin's body bytes go to the client, and how.
struct ForClient {
    /// The offset of the first byte the client gets.
    first: u64,
    /// The offset just past the last one.
    end: u64,
    /// Our head, if it is still to go out with the first byte.
    head: Option<Vec<u8>>,
    /// Whether a client that leaves lets the copy go on filling (within
    /// [`ForClient::budget`]).
    fill_after_leaving: bool,
    /// The whole body's length, if the origin said it.
    body_length: Option<u64>,
    /// What the rest may cost once the client has its part.
    budget: Unattended,
}

/// Copies the origin's body to the client (its bytes from `for_client.first`
/// up to `for_client.end`), and into `copy` while it lasts. Returns how many
/// bytes were read (all of them, unless there is no copy and the client's
/// part ended first), and why the client left, if it left and the copy went
/// on filling. `Err` says why the body stopped early; the copy is then
/// worthless and dropped by the caller. A failed cache write costs the copy,
/// never the reply. The origin must keep pace with `limits` whether or not
/// its bytes go to the client.
fn stream_body(
    origin_body: &mut dyn Read,
    (client, mut for_client): (&mut impl Write, ForClient),
    copy: &mut Option<PendingEntry>,
    served: &mut Served,
    limits: ClientLimits,
) -> Result<(u64, Option<io::Error>), Cut> {
    let (first, end) = (for_client.first, for_client.end);
    let started = Instant::now();
    let mut piece = vec![0u8; ORIGIN_PIECE];
    let (mut read, mut client_left) = (0, None);
    // When the client's part ended, and how much had been read by then.
    let mut unattended_since: Option<(Instant, u64)> = None;
    loop {
        let client_done = read >= end || client_left.is_some();
        if copy.is_none() && client_done {
            return Ok((read, client_left));
        }
        let budget = for_client.budget;
        if client_done && unattended_since.is_none() {
            unattended_since = Some((Instant::now(), read));
            // A rest longer than the budget can carry is not begun at all.
            let rest = for_client
                .body_length
                .map(|length| length.saturating_sub(read));
            if rest.is_some_and(|rest| rest > budget.bytes) {
                return Err(Cut::OverBudget(budget));
            }
        }
        if let Some((since, read_then)) = unattended_since {
            if since.elapsed() > budget.time || read - read_then > budget.bytes {
                return Err(Cut::OverBudget(budget));
            }
        }
        let count = match origin_body.read(&mut piece) {
            Ok(0) => return Ok((read, client_left)),
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(Cut::Origin(error)),
        };
        // The part of this piece inside the client's part, as offsets into it.
        let within = |offset: u64| offset.saturating_sub(read).min(count as u64) as usize;
        let part = &piece[within(first)..within(end)];
        if client_left.is_none() && !part.is_empty() {
            let written = match for_client.head.take() {
                Some(mut head) => {
                    head.extend_from_slice(part);
                    client.write_all(&head)
                }
                None => client.write_all(part),
            };
            match written {
                Ok(()) => served.body_bytes += part.len() as u64,
                Err(error) if for_client.fill_after_leaving && copy.is_some() => {
                    client_left = Some(error);
                }
                Err(error) => return Err(Cut::Client(error)),
            }
        }
        read += count as u64;
        if let Some(pending) = copy {
            if let Err(error) = pending.write_all(&piece[..count]) {
                served.note = Some(format!("not stored: {error}"));
                *copy = None;
            }
        }
        if server::too_slow(started, read, limits) {
            let why = "the origin's reply flowed slower than --min-rate";
            return Err(Cut::Origin(io::Error::new(io::ErrorKind::TimedOut, why)));
        }
    }
}

/// A short plain-text reply from the proxy itself, such as `PURGE`'s.
pub fn plain_reply(request: &Request, status: u16, text: &str, cache_status: &str) -> Served {
    let mut head = ResponseHead::new(status);
    head.add("Content-Type", "text/plain; charset=utf-8")
        .add("Content-Length", text.len().to_string())
        .add("Connection", "close");
    add_cache_fields(&mut head, Outcome::Bypass, cache_status);
    let mut reply = head.to_bytes();
    reply.extend_from_slice(text.as_bytes());
    let written = (&request.client).write_all(&reply);
    Served {
        status,
        cache: Some(Outcome::Bypass),
        body_bytes: text.len() as u64,
        note: written.err().map(|error| client_gone(&error)),
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
