//! Fuzzing through the real binary: thousands of mangled request heads, and a
//! hostile origin that answers with random framing, codings, dates, statuses
//! and directives, and sometimes resets or stalls. Afterwards the proxy must
//! still be serving, and every entry on disk must hold a body the origin
//! sent whole.
//!
//! Both tests are seeded. The seed is `CACHEPROXY_FUZZ_SEED` if set, else
//! taken from the clock, and every failure message prints it, so a failure
//! replays with `CACHEPROXY_FUZZ_SEED=<seed> cargo test --test fuzz`.
//! `CACHEPROXY_FUZZ_ROUNDS` scales the number of requests.

mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use support::random::{rounds, seed, Random};
use support::{get, parse_reply, FakeOrigin, Server, TempDir, PATIENCE};

/// A request head made from good parts, then mangled a few times.
fn mangled_request(random: &mut Random) -> Vec<u8> {
    let mut request = Vec::new();
    request.extend_from_slice(random.pick::<[u8]>(&[
        b"GET", b"HEAD", b"POST", b"DELETE", b"BREW", b"TRACE", b"get", b"",
    ]));
    request.extend_from_slice(random.pick::<[u8]>(&[b" ", b"  ", b"\t", b""]));
    request.extend_from_slice(random.pick::<[u8]>(&[
        b"/",
        b"/index.html",
        b"/a/b?c=d",
        b"/%2e%2e/etc",
        b"/a%zz",
        b"http://h/x",
        b"*",
        b"/\xff\xfe",
        b"/a/../b",
        b"/a%2Fb",
    ]));
    request.extend_from_slice(random.pick::<[u8]>(&[
        b" HTTP/1.1",
        b" HTTP/1.0",
        b" HTTP/2.0",
        b" HTTP/1.1x",
        b" http/1.1",
        b"",
    ]));
    request.extend_from_slice(b"\r\n");
    for _ in 0..random.below(5) {
        request.extend_from_slice(random.pick::<[u8]>(&[
            b"Host: t\r\n",
            b"Host: u\r\n",
            b"Content-Length: 3\r\n",
            b"Content-Length: x\r\n",
            b"Content-Length: 18446744073709551615\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Connection: close, Host\r\n",
            b" folded\r\n",
            b"NoColon\r\n",
            b"X: \x01\r\n",
            b"Expect: 100-continue\r\n",
            b"If-Modified-Since: Sat, 01 Jan 300000000000 00:00:00 GMT\r\n",
            b"X-Forwarded-Host: evil.example\r\n",
        ]));
    }
    request.extend_from_slice(b"\r\nabc");
    for _ in 0..random.below(4) {
        let position = random.below(request.len() + 1);
        match random.below(3) {
            0 if position < request.len() => request[position] = random.next() as u8,
            1 if position < request.len() => {
                request.remove(position);
            }
            _ => request.insert(position, random.next() as u8),
        }
    }
    request
}

#[test]
fn thousands_of_mangled_requests_get_well_formed_replies() {
    let seed = seed();
    let cache = TempDir::new("fuzz-requests");
    let origin = FakeOrigin::start(|_, stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let mut proxy = Server::proxy(&origin.url, &cache.path, &["--client-timeout", "1000"]);
    let mut random = Random(seed);
    let expected_errors = [400, 405, 408, 411, 413, 421, 431, 505];
    for case in 0..rounds(2000) {
        let request = mangled_request(&mut random);
        let mut stream = TcpStream::connect_timeout(&proxy.addr, PATIENCE).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        // Half-close after the request: a cut-off head is answered now, not at the deadline.
        let _ = stream.write_all(&request);
        let _ = stream.shutdown(Shutdown::Write);
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received);
        let what = format!(
            "seed {seed}, case {case}: {:?}",
            String::from_utf8_lossy(&request)
        );
        if received.is_empty() {
            // Only a request with no bytes at all may go unanswered.
            assert!(request.iter().all(u8::is_ascii_whitespace), "{what}");
            continue;
        }
        // An interim 100 Continue (for `Expect: 100-continue`) comes first.
        let interim: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
        let received = received.strip_prefix(interim).unwrap_or(&received);
        let reply = parse_reply(received);
        if reply.status == 200 {
            assert!(reply.text() == "ok" || reply.body.is_empty(), "{what}");
        } else {
            assert!(
                expected_errors.contains(&reply.status),
                "{what}: {}",
                reply.head
            );
            assert_eq!(
                reply.header("Content-Type").as_deref(),
                Some("text/plain; charset=utf-8"),
                "{what}"
            );
        }
    }
    assert_eq!(get(proxy.addr, "/still-here").text(), "ok", "seed {seed}");
    // A panic would have ended the process: it must still be running.
    assert!(proxy.is_running(), "seed {seed}: the proxy died");
}

/// What a hostile origin does with one reply.
struct Plan {
    head: String,
    body: Vec<u8>,
    /// How the body goes out, and so whether the reply can be complete.
    framing: Framing,
    /// Pause this long once, halfway through the body (under the proxy's
    /// `--origin-timeout`).
    stall: Option<Duration>,
    /// Stop halfway and close with unread input, so the kernel sends a reset.
    reset: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Framing {
    /// `Content-Length` equal to the body.
    Length,
    /// `Content-Length` larger than the body sent: never complete.
    ShortBody,
    /// `Content-Length` smaller than the body sent: complete at the length.
    LongBody,
    /// Chunked, with its last chunk.
    Chunked,
    /// Chunked, cut before its last chunk: never complete.
    ChunkedCut,
    /// Until the close.
    UntilClose,
    /// A body that must never be read as one: bad codings, bad lengths.
    Broken,
}

fn random_date(random: &mut Random) -> String {
    let days = random.below(30_000) as u64;
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400 + random.next() % 86_400);
    match random.below(5) {
        0 => "Sat, 01 Jan 300000000000 00:00:00 GMT".into(),
        1 => "yesterday-ish".into(),
        2 => "Sun, 06 Nov 1994 8:49:37 GMT".into(),
        _ => support::http_date(time),
    }
}

fn plan(random: &mut Random, counter: u64, conditional: bool) -> Plan {
    let status = if conditional && random.chance(50) {
        "304 Not Modified"
    } else {
        random.pick::<str>(&[
            "200 OK",
            "200 OK",
            "200 OK",
            "200 OK",
            "203 Non-Authoritative Information",
            "204 No Content",
            "206 Partial Content",
            "301 Moved Permanently",
            "404 Not Found",
            "500 Internal Server Error",
            "503 Service Unavailable",
        ])
    };
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n");
    let mut field = |random: &mut Random, percent: usize, line: String| {
        if random.chance(percent) {
            head.push_str(&line);
            head.push_str("\r\n");
        }
    };
    let directive = random.pick::<str>(&[
        "max-age=600",
        "max-age=0",
        "no-store",
        "private",
        "no-cache",
        "s-maxage=5",
        "max-age=600, must-revalidate",
        "max-age=99999999999999999999",
    ]);
    field(random, 80, format!("Cache-Control: {directive}"));
    let tag = random.pick::<str>(&["\"v1\"", "\"v2\"", "W/\"v1\""]);
    field(random, 60, format!("ETag: {tag}"));
    let date = random_date(random);
    field(random, 40, format!("Date: {date}"));
    let date = random_date(random);
    field(random, 30, format!("Expires: {date}"));
    let date = random_date(random);
    field(random, 40, format!("Last-Modified: {date}"));
    field(random, 10, "Set-Cookie: sid=someone".into());
    field(random, 10, "Vary: Cookie".into());
    field(random, 10, "Content-Encoding: gzip".into());
    field(random, 5, "Content-Range: bytes 0-1/2".into());
    let age = random.below(1000);
    field(random, 10, format!("Age: {age}"));
    // Every body is different, so a body on disk names the reply it came from.
    let length = match random.below(10) {
        0 => 0,
        1 => 100_000 + random.below(200_000),
        _ => random.below(5000),
    };
    let mut body = format!("reply {counter}:").into_bytes();
    body.extend((0..length).map(|_| random.next() as u8));
    let framing = match random.below(12) {
        0 => Framing::ShortBody,
        1 => Framing::LongBody,
        2 | 3 => Framing::Chunked,
        4 => Framing::ChunkedCut,
        5 => Framing::UntilClose,
        6 => Framing::Broken,
        _ => Framing::Length,
    };
    match framing {
        Framing::Length | Framing::LongBody => {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        Framing::ShortBody => {
            let _ = write!(head, "Content-Length: {}\r\n", body.len() + 10);
        }
        Framing::Chunked | Framing::ChunkedCut => {
            if random.chance(20) {
                // With chunked, a Content-Length beside it must be ignored.
                head.push_str("Content-Length: 3\r\n");
            }
            head.push_str("Transfer-Encoding: chunked\r\n");
        }
        Framing::UntilClose => {}
        Framing::Broken => head.push_str(random.pick::<str>(&[
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: xchunked\r\n",
            "Transfer-Encoding: \r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 18446744073709551616\r\n",
        ])),
    }
    head.push_str("\r\n");
    Plan {
        head,
        body,
        framing,
        stall: random.chance(3).then_some(Duration::from_millis(30)),
        reset: random.chance(5),
    }
}

/// Writes `plan` to `stream`; returns the body a correct reader ends up
/// with if the reply was complete, or `None` if it was not.
fn carry_out(plan: &Plan, stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream.write_all(plan.head.as_bytes()).ok()?;
    let body = carry_out_body(plan, stream);
    // A 204 or 304 ends with its head (RFC 9112 6.3): what follows is junk,
    // not its body, and no framing field or cut can make it incomplete.
    let bodiless = ["HTTP/1.1 204 ", "HTTP/1.1 304 "];
    if bodiless.iter().any(|status| plan.head.starts_with(status)) {
        return Some(Vec::new());
    }
    body
}

/// [`carry_out`]'s body: the pieces as planned, with their stalls and cuts.
fn carry_out_body(plan: &Plan, stream: &mut TcpStream) -> Option<Vec<u8>> {
    let half = plan.body.len() / 2;
    let (first, second) = plan.body.split_at(half);
    let pieces: Vec<Vec<u8>> = match plan.framing {
        Framing::Chunked | Framing::ChunkedCut => [first, second]
            .iter()
            .filter(|piece| !piece.is_empty())
            .map(|piece| {
                let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                chunk.extend_from_slice(piece);
                chunk.extend_from_slice(b"\r\n");
                chunk
            })
            .collect(),
        Framing::LongBody => vec![first.to_vec(), second.to_vec(), b"trailing junk".to_vec()],
        _ => vec![first.to_vec(), second.to_vec()],
    };
    for (index, piece) in pieces.iter().enumerate() {
        if index == 1 {
            if let Some(pause) = plan.stall {
                thread::sleep(pause);
            }
            if plan.reset {
                return None; // Dropped with the request's tail unread: a reset.
            }
        }
        stream.write_all(piece).ok()?;
    }
    match plan.framing {
        Framing::Chunked => stream.write_all(b"0\r\n\r\n").ok()?,
        Framing::ChunkedCut | Framing::ShortBody | Framing::Broken => return None,
        _ => {}
    }
    stream.flush().ok()?;
    Some(plan.body.clone())
}

/// A hostile origin: reads only the request line (leaving the rest unread,
/// so dropping the connection early resets it), then carries out a random
/// plan. Records the body of every reply it completed, by path.
struct HostileOrigin {
    url: String,
    completed: Arc<Mutex<HashMap<String, Vec<Vec<u8>>>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<thread::JoinHandle<()>>,
}

impl HostileOrigin {
    fn start(seed: u64) -> HostileOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let completed = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (record, stop_flag) = (Arc::clone(&completed), Arc::clone(&stop));
        let random = Arc::new(Mutex::new(Random(seed ^ 0x0123_4567_89ab_cdef)));
        let counter = Arc::new(AtomicU64::new(0));
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let (record, random, counter) = (
                    Arc::clone(&record),
                    Arc::clone(&random),
                    Arc::clone(&counter),
                );
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(PATIENCE));
                    let Some((path, conditional)) = read_request_start(&mut stream) else {
                        return;
                    };
                    let number = counter.fetch_add(1, Ordering::SeqCst);
                    let plan = plan(&mut random.lock().expect("lock"), number, conditional);
                    if let Some(body) = carry_out(&plan, &mut stream) {
                        record
                            .lock()
                            .expect("lock")
                            .entry(path)
                            .or_insert_with(Vec::new)
                            .push(body);
                        let _ = stream.shutdown(Shutdown::Write);
                        // Read the rest, so the close is a clean one.
                        let _ = stream.read_to_end(&mut Vec::new());
                    }
                });
            }
        });
        HostileOrigin {
            url: format!("http://{addr}"),
            completed,
            stop,
            addr,
            thread: Some(thread),
        }
    }
}

impl Drop for HostileOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads the request line and, peeking at what else arrived, whether the
/// request is conditional; leaves the rest of the head unread.
fn read_request_start(stream: &mut TcpStream) -> Option<(String, bool)> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        line.push(byte[0]);
    }
    let mut peeked = [0u8; 2048];
    let count = stream.peek(&mut peeked).unwrap_or(0);
    let rest = String::from_utf8_lossy(&peeked[..count]).to_ascii_lowercase();
    let conditional = rest.contains("if-none-match") || rest.contains("if-modified-since");
    let line = String::from_utf8_lossy(&line).into_owned();
    let path = line.split(' ').nth(1)?.to_string();
    Some((path, conditional))
}

/// A random request from a client: method, one of a few paths, and
/// sometimes conditions, a range or `no-cache`.
fn client_request(random: &mut Random) -> (String, Vec<u8>) {
    let method = random.pick::<str>(&["GET", "GET", "GET", "GET", "HEAD", "POST"]);
    let path = format!("/f{}", random.below(8));
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: fuzz\r\n");
    if random.chance(20) {
        let tag = random.pick::<str>(&["\"v1\"", "\"v2\"", "*"]);
        let _ = write!(request, "If-None-Match: {tag}\r\n");
    }
    if random.chance(15) {
        let date = random_date(random);
        let _ = write!(request, "If-Modified-Since: {date}\r\n");
    }
    if random.chance(10) {
        request.push_str("Cache-Control: no-cache\r\n");
    }
    if random.chance(5) {
        request.push_str("Range: bytes=0-10\r\n");
    }
    if method == "POST" {
        request.push_str("Content-Length: 4\r\n\r\nbody");
    } else {
        request.push_str("\r\n");
    }
    (path, request.into_bytes())
}

#[test]
fn a_hostile_origin_never_gets_a_partial_or_invented_body_stored() {
    let seed = seed();
    let origin = HostileOrigin::start(seed);
    let cache = TempDir::new("fuzz-origin");
    let flags = ["--origin-timeout", "1000", "--client-timeout", "2000"];
    let mut proxy = Server::proxy(&origin.url, &cache.path, &flags);
    let mut random = Random(seed);
    let ask = |case: usize, request: &[u8]| {
        let mut stream = TcpStream::connect_timeout(&proxy.addr, PATIENCE).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        stream
            .write_all(request)
            .unwrap_or_else(|error| panic!("seed {seed}, case {case}: {error}"));
        // However the reply ends (the origin may cut it), it ends: read to the close.
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received);
        assert!(
            received.starts_with(b"HTTP/1.1 "),
            "seed {seed}, case {case}: {:?} got {:?}",
            String::from_utf8_lossy(request),
            String::from_utf8_lossy(&received[..received.len().min(200)])
        );
    };
    let cases = rounds(2000);
    for case in 0..cases {
        let (_, request) = client_request(&mut random);
        ask(case, &request);
    }
    ask(cases, b"GET /f0 HTTP/1.1\r\nHost: fuzz\r\n\r\n");
    assert!(proxy.is_running(), "seed {seed}: the proxy died");
    drop(proxy);

    let completed = origin.completed.lock().expect("lock").clone();
    let mut checked = 0;
    for (name, stored) in stored_entries(&cache.path) {
        if name.ends_with("@@") {
            continue; // the marker of a URL whose responses vary, not an entry
        }
        // `f3@`, or a variant of it: `f3@@x-a=1`.
        let path = format!("/{}", name.split('@').next().unwrap_or_default());
        let body = stored_body(&stored)
            .unwrap_or_else(|| panic!("seed {seed}: {name} is not a stored response"));
        let known = completed
            .get(&path)
            .is_some_and(|bodies| bodies.iter().any(|sent| sent == body));
        assert!(
            known,
            "seed {seed}: {name} holds a body ({} bytes, {:?}...) the origin never completed",
            body.len(),
            String::from_utf8_lossy(&body[..body.len().min(20)])
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "seed {seed}: nothing was ever stored, so nothing was checked"
    );
}

/// The entry files directly in `dir` (name and contents), temporary files
/// and the tag aside.
fn stored_entries(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .expect("read cache dir")
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.ends_with('@') && !name.contains('#'))
                .then(|| (name, std::fs::read(entry.path()).expect("read entry")))
        })
        .collect()
}

/// The body of a stored response: everything after its head.
fn stored_body(stored: &[u8]) -> Option<&[u8]> {
    let end = stored.windows(4).position(|window| window == b"\r\n\r\n")?;
    Some(&stored[end + 4..])
}
