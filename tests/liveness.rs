//! One thread that nobody can hold: each peer that stalls, trickles or never
//! stops is cut at the bound the README states, and a second client waiting
//! behind it is answered soon after. Small flag values keep each test to a
//! few seconds; the bounds asserted are the README's formulas plus slack.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    connect, files_below, get, www_with_big_file, FakeOrigin, Server, TempDir, PATIENCE,
};

/// Slack on top of each bound: process start-up, scheduling, a loaded CI machine.
const SLACK: Duration = Duration::from_millis(1500);

/// Sends `request` and reads to the end of the connection, however the reply
/// ends; returns its first line and how long it all took.
fn status_line_of_cut_reply(addr: SocketAddr, request: &[u8]) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = connect(addr);
    stream.write_all(request).expect("request");
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    let text = String::from_utf8_lossy(&received);
    let status_line = text.lines().next().unwrap_or_default().to_string();
    (status_line, started.elapsed())
}

/// Asks for `path` and returns the reply's status and how long it took.
fn timed_get(addr: SocketAddr, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let reply = get(addr, path);
    (reply.status, started.elapsed())
}

/// Reads from `stream` until the end of a reply head has arrived.
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => received.push(byte[0]),
            _ => panic!(
                "no reply head, got {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    received
}

#[test]
fn a_client_dripping_after_a_bad_request_is_cut_within_the_drain_time() {
    let cache = TempDir::new("drip-error");
    let origin = Server::origin(&support::www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &["--client-timeout", "1000"]);
    let mut dripper = connect(proxy.addr);
    dripper
        .write_all(b"GET /../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("bad request");
    // The 400 is the signal that the proxy is now draining this connection.
    assert!(String::from_utf8_lossy(&read_head(&mut dripper)).starts_with("HTTP/1.1 400"));
    let drip = thread::spawn(move || {
        // One byte every 80 ms for up to 6 s, until the proxy hangs up.
        for _ in 0..75 {
            if dripper.write_all(b"x").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(80));
        }
    });
    let (status, waited) = timed_get(proxy.addr, "/data.json");
    assert_eq!(status, 200);
    // The drain after an error is bounded by the server's DRAIN_TIME (500 ms).
    assert!(
        waited < Duration::from_millis(500) + SLACK,
        "waited {waited:?}"
    );
    drip.join().expect("dripping client");
}

#[test]
fn a_client_that_stops_reading_is_cut_within_one_write_timeout() {
    let cache = TempDir::new("stalled-reader");
    let www = www_with_big_file("stalled-reader-www", 48 << 20);
    let origin = Server::origin(&www.path, &["--max-age", "600"]);
    // Once a client's socket is full, the room it makes pays for waiting at
    // --min-rate; one that reads nothing still gets some room, as the
    // kernel's buffers grow (a few hundred KiB: about a second at the default
    // 256K). At 16M that is a few milliseconds, so the bound here is the
    // write timeout alone.
    let flags = ["--write-timeout", "700", "--min-rate", "16M"];
    let proxy = Server::proxy(&origin.url, &cache.path, &flags);
    assert_eq!(get(proxy.addr, "/big.bin").body.len(), 48 << 20, "stored");
    // Three clients ask for 48 MiB each and stop reading after the head: each
    // is cut one write timeout after its last progress, not a multiple of it.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut reader = connect(proxy.addr);
        reader
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("request");
        stalled.push(reader);
    }
    let mut first = stalled.remove(0);
    read_head(&mut first);
    let (status, waited) = timed_get(proxy.addr, "/small.txt");
    assert_eq!(status, 200);
    assert!(
        waited < 3 * Duration::from_millis(700) + SLACK,
        "waited {waited:?} behind three stalled readers"
    );
    proxy.wait_for_log("--write-timeout");
}

#[test]
fn a_slow_reader_is_cut_by_the_minimum_rate() {
    let cache = TempDir::new("slow-reader");
    let size = 32 << 20;
    let www = www_with_big_file("slow-reader-www", size);
    let origin = Server::origin(&www.path, &["--max-age", "600"]);
    let flags = ["--write-timeout", "3000", "--min-rate", "16M"];
    let proxy = Server::proxy(&origin.url, &cache.path, &flags);
    assert_eq!(get(proxy.addr, "/big.bin").body.len(), size, "stored");
    let mut slow = connect(proxy.addr);
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("request");
    read_head(&mut slow);
    // About 4 MB/s: the whole file would take eight seconds.
    let reader = thread::spawn(move || {
        let mut piece = [0u8; 64 * 1024];
        let mut total = 0;
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            match slow.read(&mut piece) {
                Ok(0) | Err(_) => break,
                Ok(count) => total += count,
            }
            thread::sleep(Duration::from_millis(16));
        }
        total
    });
    let (status, waited) = timed_get(proxy.addr, "/small.txt");
    assert_eq!(status, 200);
    // The README's bound: write-timeout + size / min-rate = 3 s + 2 s.
    let bound = Duration::from_secs(3) + Duration::from_secs(2);
    assert!(waited < bound + SLACK, "waited {waited:?}");
    let read = reader.join().expect("slow reader");
    assert!(
        read < size,
        "the slow reader got the whole file ({read} bytes)"
    );
    proxy.wait_for_log("--min-rate");
}

/// An origin that sends a reply head and then `piece` every `pause`, for as
/// long as the proxy keeps reading (at most `PATIENCE`).
fn endless_origin(piece: &'static [u8], pause: Duration) -> FakeOrigin {
    FakeOrigin::start(move |_, stream| {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: max-age=600\r\n\r\n";
        if stream.write_all(head).is_err() {
            return;
        }
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if stream.write_all(piece).is_err() {
                return;
            }
            thread::sleep(pause);
        }
    })
}

#[test]
fn an_origin_that_drips_forever_is_cut_by_the_minimum_rate_and_not_stored() {
    let cache = TempDir::new("drip-origin");
    let origin = endless_origin(b"data: tick\n\n", Duration::from_millis(50));
    let flags = ["--write-timeout", "500", "--min-rate", "1K"];
    let proxy = Server::proxy(&origin.url, &cache.path, &flags);
    let (status_line, waited) =
        status_line_of_cut_reply(proxy.addr, b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    assert!(
        waited < Duration::from_millis(500) + SLACK,
        "held {waited:?}"
    );
    proxy.wait_for_log("--min-rate");
    let stored: Vec<String> = files_below(&cache.path)
        .into_iter()
        .filter(|name| name.contains("events"))
        .collect();
    assert!(stored.is_empty(), "a cut stream was stored: {stored:?}");
}

#[test]
fn an_origin_that_streams_fast_forever_is_cut_at_the_max_reply_time() {
    static PIECE: [u8; 16 * 1024] = [b'e'; 16 * 1024];
    let cache = TempDir::new("endless-origin");
    let origin = endless_origin(&PIECE, Duration::from_millis(1));
    let proxy = Server::proxy(&origin.url, &cache.path, &["--max-reply-time", "1000"]);
    let (status_line, waited) =
        status_line_of_cut_reply(proxy.addr, b"GET /firehose HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    assert!(
        waited < Duration::from_millis(1000) + SLACK,
        "held {waited:?}"
    );
    proxy.wait_for_log("--max-reply-time");
    let (again, _) =
        status_line_of_cut_reply(proxy.addr, b"GET /firehose HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(again, "HTTP/1.1 200 OK", "the proxy still answers");
}

#[test]
fn idle_connections_cost_one_idle_timeout_each() {
    let cache = TempDir::new("idle");
    let origin = Server::origin(&support::www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &["--idle-timeout", "200"]);
    // Five connections that never say a word, as a browser's speculative
    // preconnects or a port scanner would open; the default --client-timeout
    // (5 s) would cost 25 s.
    let idle: Vec<TcpStream> = (0..5).map(|_| connect(proxy.addr)).collect();
    let (status, waited) = timed_get(proxy.addr, "/data.json");
    assert_eq!(status, 200);
    assert!(
        waited < 5 * Duration::from_millis(200) + SLACK,
        "waited {waited:?} behind five idle connections"
    );
    drop(idle);
}

#[test]
fn bytes_that_cannot_start_a_request_are_refused_at_once() {
    let cache = TempDir::new("garbage");
    let origin = Server::origin(&support::www(), &[]);
    // Generous timeouts: the refusal must not wait for them.
    let flags = ["--client-timeout", "8000", "--idle-timeout", "8000"];
    let proxy = Server::proxy(&origin.url, &cache.path, &flags);
    let tls_client_hello: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];
    let cases: [(&str, &[u8], &str); 3] = [
        ("a TLS ClientHello", tls_client_hello, "use http://"),
        (
            "binary noise",
            &[0x00, 0xff, 0x13, 0x37, 0x80],
            "not an HTTP/1.x request",
        ),
        ("a bad target", b"GET /a\x01b", "not an HTTP/1.x request"),
    ];
    for (what, bytes, reason) in cases {
        let started = Instant::now();
        let mut client = connect(proxy.addr);
        client.write_all(bytes).expect("send");
        // Leave the connection open: the proxy must not wait for more.
        let head = String::from_utf8_lossy(&read_head(&mut client)).into_owned();
        let waited = started.elapsed();
        assert!(head.starts_with("HTTP/1.1 400"), "{what}: {head}");
        assert!(waited < SLACK, "{what}: refused after {waited:?}");
        let mut body = Vec::new();
        let _ = client.read_to_end(&mut body);
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(reason), "{what}: {body}");
    }
}

/// Sends `request` from one thread while reading the reply in another, as
/// curl does, and returns everything read until the connection ended (or
/// `None` if it ended in an error, such as a reset).
fn send_while_reading(addr: SocketAddr, request: Vec<u8>) -> Option<Vec<u8>> {
    let mut reader = connect(addr);
    let mut writer = reader.try_clone().expect("clone");
    let sending = thread::spawn(move || {
        // The proxy may close before taking it all; that is its right.
        let _ = writer.write_all(&request);
    });
    let mut received = Vec::new();
    let result = reader.read_to_end(&mut received);
    sending.join().expect("sender");
    result.ok().map(|_| received)
}

#[test]
fn a_get_with_a_body_gets_its_reply() {
    let cache = TempDir::new("get-body");
    let origin = Server::origin(&support::www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let expected = std::fs::read(support::www().join("data.json")).expect("data.json");
    let body = vec![b'b'; 2 << 20];
    for attempt in 0..20 {
        let mut request = format!(
            "GET /data.json HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let received = send_while_reading(proxy.addr, request)
            .unwrap_or_else(|| panic!("attempt {attempt}: the reply was reset"));
        let reply = support::parse_reply(&received);
        assert_eq!(reply.status, 200, "attempt {attempt}");
        assert_eq!(reply.body, expected, "attempt {attempt}");
    }
}

#[test]
fn pipelined_gets_get_the_first_reply_whole() {
    let cache = TempDir::new("pipelined");
    let origin = Server::origin(&support::www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let expected = std::fs::read(support::www().join("data.json")).expect("data.json");
    let one = "GET /data.json HTTP/1.1\r\nHost: t\r\n\r\n";
    // One request per connection: the first is answered with
    // `Connection: close`, and a client resends the others (RFC 9112 9.3.2).
    for attempt in 0..20 {
        let received = send_while_reading(proxy.addr, one.repeat(100).into_bytes())
            .unwrap_or_else(|| panic!("attempt {attempt}: the reply was reset"));
        let reply = support::parse_reply(&received);
        assert_eq!(reply.status, 200, "attempt {attempt}");
        assert_eq!(reply.header("Connection").as_deref(), Some("close"));
        assert_eq!(reply.body, expected, "attempt {attempt}");
    }
}

#[test]
#[cfg(feature = "tls")]
fn an_https_origin_that_speaks_plain_http_is_a_502_at_once() {
    let cache = TempDir::new("https-plain");
    // The demo origin is plain HTTP; its first bytes from the proxy are a TLS
    // ClientHello, which it refuses at once, so the handshake fails at once.
    let origin = Server::origin(&support::www(), &["--client-timeout", "8000"]);
    let https_url = origin.url.replace("http://", "https://");
    let proxy = Server::proxy(&https_url, &cache.path, &[]);
    let started = Instant::now();
    let reply = get(proxy.addr, "/data.json");
    let waited = started.elapsed();
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(waited < SLACK, "took {waited:?}");
}

#[test]
fn an_origin_that_never_reads_a_request_body_is_cut_at_the_origin_timeout() {
    let cache = TempDir::new("origin-no-read");
    // An origin that accepts and then reads nothing, for as long as the test.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin_url = format!("http://{}", listener.local_addr().expect("addr"));
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let silent = thread::spawn(move || {
        let accepted = listener.accept();
        let _ = wait.recv_timeout(PATIENCE);
        drop(accepted);
    });
    let flags = ["--origin-timeout", "500", "--client-timeout", "8000"];
    let proxy = Server::proxy(&origin_url, &cache.path, &flags);
    let body = vec![b'p'; 30_000_000];
    let mut request = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let started = Instant::now();
    let mut client = connect(proxy.addr);
    let sender = {
        let mut writer = client.try_clone().expect("clone");
        thread::spawn(move || {
            let _ = writer.write_all(&request);
        })
    };
    let head = String::from_utf8_lossy(&read_head(&mut client)).into_owned();
    let waited = started.elapsed();
    assert!(head.starts_with("HTTP/1.1 504"), "{head}");
    assert!(
        waited < Duration::from_millis(500) + SLACK,
        "held {waited:?}"
    );
    drop(client);
    sender.join().expect("sender");
    let _ = done.send(());
    silent.join().expect("silent origin");
}
