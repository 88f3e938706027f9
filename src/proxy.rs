//! The request path of the cache proxy, top to bottom, in the order of the
//! README's pseudocode:
//!
//! 1. **Receive** the request and work out which URL it asks for.
//! 2. **Look up** that URL's file in the cache directory.
//! 3. **Hit**: reply from the file. Done.
//! 4. **Miss**: fetch the URL from the origin.
//! 5. **Store and reply**: stream the origin's body to the client and to a
//!    temporary file at once; rename the file into place only once the whole
//!    body has arrived.
//!
//! Writes (`POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`) skip steps 2, 3 and 5:
//! they go to the origin with their body and the reply comes back unstored.
//!
//! This module makes the caching decisions and nothing else: it reads the
//! request from [`crate::server`], asks [`crate::store`] for files and
//! [`crate::origin`] for replies, and chooses header fields with
//! [`crate::headers`]. It never opens a socket or names a file path itself.

use std::io::{self, Read, Write};
use std::time::SystemTime;

use crate::error::RequestError;
use crate::headers;
use crate::http::{self, find_header, parse_decimal, BodyWriter, ResponseHead};
use crate::origin::{Origin, OriginResponse};
use crate::server::{self, Handler, Request, Served};
use crate::store::{CacheKey, Entry, PendingEntry, Store};

/// The cache proxy: a cache directory in front of one origin.
pub struct Proxy {
    store: Store,
    origin: Origin,
}

impl Proxy {
    /// A proxy that keeps its copies in `store` and fetches misses from `origin`.
    pub fn new(store: Store, origin: Origin) -> Proxy {
        Proxy { store, origin }
    }
}

impl Handler for Proxy {
    fn handle(&mut self, request: &mut Request) -> Result<Served, RequestError> {
        // Step 1: receive. The server has read and parsed the head; here we
        // turn the target into a cache key, refusing paths that are not clean.
        let target = http::parse_target(&request.head.target)?;
        let key = CacheKey::new(http::clean_path(&target.path)?, target.query.clone());
        let origin_url = self.origin.url_for(&target.origin_form());
        match request.head.method.as_str() {
            "GET" | "HEAD" => self.serve_read(request, &key, &origin_url),
            _ => self.forward_write(request, &origin_url),
        }
    }

    fn decorate_error(&self, head: &mut ResponseHead, error: &RequestError) {
        let cache_status = match error {
            RequestError::BadGateway(_) | RequestError::GatewayTimeout => {
                "cacheproxy; fwd=uri-miss"
            }
            _ => "cacheproxy; detail=refused",
        };
        add_cache_fields(head, "MISS", cache_status);
    }

    fn error_cache_label(&self) -> &'static str {
        "MISS"
    }
}

impl Proxy {
    /// `GET` and `HEAD`: from the cache if we can, from the origin if we must.
    fn serve_read(
        &mut self,
        request: &Request,
        key: &CacheKey,
        origin_url: &str,
    ) -> Result<Served, RequestError> {
        // Step 2: look up the URL's file in the cache directory.
        let mut note = None;
        match self.store.lookup(key) {
            // Step 3: a hit. Reply from the file; the origin is not asked.
            Ok(Some(entry)) => return Ok(reply_from_cache(request, entry)),
            Ok(None) => {}
            Err(error) => note = Some(format!("treated an unreadable entry as a miss: {error}")),
        }

        // Step 4: a miss. Ask the origin (HEAD stays HEAD: no body is fetched).
        let to_origin = headers::to_origin(&request.head, request.client_addr.ip(), None);
        let response = self
            .origin
            .send(&request.head.method, origin_url, &to_origin, None)?;

        // Step 5: store a copy of a 200 reply to GET while replying. Any other
        // status, and any HEAD, is passed on without being stored.
        let mut copy = None;
        if request.head.method == "GET" && response.status == 200 {
            let stored_head = ResponseHead {
                status: 200,
                headers: headers::from_origin(&response.headers),
            };
            // A failed cache write costs us the copy, never the reply.
            match self.store.begin(key, &stored_head) {
                Ok(pending) => copy = Some(pending),
                Err(error) => note = Some(format!("not stored: {error}")),
            }
        }
        let fwd_status = response.status;
        let stored = if copy.is_some() { "; stored" } else { "" };
        let cache_status = format!("cacheproxy; fwd=uri-miss; fwd-status={fwd_status}{stored}");
        let served = relay(request, response, copy, &cache_status);
        Ok(Served {
            note: served.note.or(note),
            ..served
        })
    }

    /// Writes go to the origin with their body; the reply comes back unstored.
    fn forward_write(
        &mut self,
        request: &mut Request,
        origin_url: &str,
    ) -> Result<Served, RequestError> {
        let body_length = http::request_body_length(&request.head)?;
        let declared = request.head.header("Content-Length").is_some() || body_length > 0;
        let to_origin = headers::to_origin(
            &request.head,
            request.client_addr.ip(),
            declared.then_some(body_length),
        );
        if wants_continue(request) {
            // The client waits for this before sending a large body.
            let _ = (&request.client).write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let method = request.head.method.clone();
        let mut body = request.body(body_length);
        let sent = self
            .origin
            .send(&method, origin_url, &to_origin, Some(&mut body));
        // If the client failed us mid-body, that is the error to report, not
        // whatever the origin made of a request cut short.
        if let Some(client_failure) = body.failure.take() {
            return Err(client_failure);
        }
        let response = sent?;
        let cache_status = format!("cacheproxy; fwd=method; fwd-status={}", response.status);
        Ok(relay(request, response, None, &cache_status))
    }
}

/// True when an HTTP/1.1 client sent `Expect: 100-continue`.
fn wants_continue(request: &Request) -> bool {
    request.head.minor_version == 1
        && request
            .head
            .header("Expect")
            .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"))
}

/// Step 3 in full: replay a stored response from its file.
fn reply_from_cache(request: &Request, entry: Entry) -> Served {
    let mut head = ResponseHead::new(entry.head.status);
    let mut origin_age = 0;
    for header in entry.head.headers {
        if header.name.eq_ignore_ascii_case("Age") {
            origin_age = parse_decimal(&header.value).unwrap_or(0);
        } else {
            head.headers.push(header);
        }
    }
    let time_in_cache = SystemTime::now()
        .duration_since(entry.stored_at)
        .map_or(0, |duration| duration.as_secs());
    head.add("Age", (origin_age + time_in_cache).to_string())
        .add("Content-Length", entry.body_length.to_string())
        .add("Connection", "close");
    add_cache_fields(&mut head, "HIT", "cacheproxy; hit");

    let mut client = &request.client;
    let mut served = Served {
        status: head.status,
        cache: "HIT",
        body_bytes: 0,
        note: None,
    };
    if let Err(error) = client.write_all(&head.to_bytes()) {
        served.note = Some(client_gone(&error));
        return served;
    }
    if request.head.method == "HEAD" {
        return served;
    }
    match server::send_file(entry.body.take(entry.body_length), &request.client) {
        Ok(count) => served.body_bytes = count,
        Err(error) => served.note = Some(client_gone(&error)),
    }
    served
}

/// Steps 4 and 5 for the reply: pass the origin's reply on to the client,
/// writing the body into `copy` as it goes, and keep the copy only if the
/// whole body arrived and reached the client.
fn relay(
    request: &Request,
    response: OriginResponse,
    mut copy: Option<PendingEntry>,
    cache_status: &str,
) -> Served {
    let content_length = find_header(&response.headers, "Content-Length").and_then(parse_decimal);
    let has_body =
        request.head.method != "HEAD" && !matches!(response.status, 100..=199 | 204 | 304);
    let chunked = has_body && content_length.is_none() && request.head.minor_version == 1;

    let mut head = ResponseHead {
        status: response.status,
        headers: headers::from_origin(&response.headers),
    };
    if let Some(length) = content_length {
        head.add("Content-Length", length.to_string());
    } else if chunked {
        head.add("Transfer-Encoding", "chunked");
    }
    head.add("Connection", "close");
    add_cache_fields(&mut head, "MISS", cache_status);

    let mut served = Served {
        status: response.status,
        cache: "MISS",
        body_bytes: 0,
        note: None,
    };
    if let Err(error) = (&request.client).write_all(&head.to_bytes()) {
        served.note = Some(client_gone(&error));
        return served;
    }
    if !has_body {
        return served;
    }
    let mut client = if chunked {
        BodyWriter::Chunked(&request.client)
    } else {
        BodyWriter::Plain(&request.client)
    };
    let mut origin_body = response.body;
    let mut piece = vec![0u8; 64 * 1024];
    loop {
        let count = match origin_body.read(&mut piece) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                // Dropping `copy` deletes the temporary file: no short entry.
                served.note = Some(format!("origin failed mid-body, nothing stored: {error}"));
                return served;
            }
        };
        if let Err(error) = client.write_all(&piece[..count]) {
            served.note = Some(format!("{}, nothing stored", client_gone(&error)));
            return served;
        }
        served.body_bytes += count as u64;
        if let Some(pending) = &mut copy {
            if let Err(error) = pending.write_all(&piece[..count]) {
                served.note = Some(format!("not stored: {error}"));
                copy = None;
            }
        }
    }
    if content_length.is_some_and(|length| length != served.body_bytes) {
        served.note = Some("origin body shorter than its Content-Length, nothing stored".into());
        return served;
    }
    if let Err(error) = client.finish() {
        served.note = Some(client_gone(&error));
        return served;
    }
    if let Some(pending) = copy {
        if let Err(error) = pending.commit() {
            served.note = Some(format!("not stored: {error}"));
        }
    }
    served
}

/// The fields every reply from the proxy carries, so a client (and a
/// learner with `curl -i`) can see what the cache did.
fn add_cache_fields(head: &mut ResponseHead, x_cache: &str, cache_status: &str) {
    head.add("X-Cache", x_cache)
        .add("Cache-Status", cache_status)
        .add("Via", headers::VIA);
}

/// A note for a client that stopped reading. Not a server error: clients
/// hang up all the time.
fn client_gone(error: &io::Error) -> String {
    format!("client went away: {error}")
}
