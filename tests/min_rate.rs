//! `--min-rate` means what it says: a client that reads a large hit at twice
//! the rate gets all of it, however it spaces its reads; one that reads at
//! half the rate is cut within the README's bound, `--write-timeout` + bytes
//! sent / `--min-rate`. The body is 32 MiB, several times what the kernel
//! buffers between the proxy and a client hold (a few MiB on loopback).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::{connect, get, www_with_big_file, Server, PATIENCE};

/// Slack on top of each bound: process start-up, scheduling, a loaded CI machine.
const SLACK: Duration = Duration::from_millis(1500);

const SIZE: usize = 32 << 20;
const WRITE_TIMEOUT_MS: u64 = 500;
/// `--min-rate 4M`, in bytes per second.
const MIN_RATE: u64 = 4 << 20;

/// A proxy with small bounds, in front of an origin with `/big.bin` stored.
fn proxy_with_big_hit(label: &str) -> (Server, Server, support::TempDir, support::TempDir) {
    let www = www_with_big_file(&format!("{label}-www"), SIZE);
    let cache = support::TempDir::new(label);
    let origin = Server::origin(&www.path, &["--max-age", "600"]);
    let write_timeout = WRITE_TIMEOUT_MS.to_string();
    let flags = ["--write-timeout", &write_timeout, "--min-rate", "4M"];
    let proxy = Server::proxy(&origin.url, &cache.path, &flags);
    assert_eq!(get(proxy.addr, "/big.bin").body.len(), SIZE, "stored");
    (proxy, origin, www, cache)
}

/// Reads a reply to its end at `rate` bytes per second, the way `curl
/// --limit-rate` does: as fast as it can for a burst, then nothing until its
/// average since the first byte is back down to `rate`. Its bursts double
/// from `first_burst`, as curl's grow with its kernel buffers, so its pauses
/// grow too, past `--write-timeout`. Returns all it read, the head included.
fn read_at_rate(stream: &mut TcpStream, rate: u64, first_burst: usize) -> Vec<u8> {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut piece = vec![0u8; 64 * 1024];
    let (mut burst, mut burst_end) = (first_burst, first_burst);
    while started.elapsed() < PATIENCE {
        match stream.read(&mut piece) {
            Ok(0) | Err(_) => break,
            Ok(count) => received.extend_from_slice(&piece[..count]),
        }
        if received.len() >= burst_end {
            burst *= 2;
            burst_end = received.len() + burst;
            // The pause is the rate itself: when the bytes read so far are due.
            let due = started + Duration::from_secs_f64(received.len() as f64 / rate as f64);
            thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }
    received
}

/// Asks `proxy` for the hit and reads it at `rate`; returns what came.
fn get_big_hit_at_rate(proxy: &Server, rate: u64, first_burst: usize) -> Vec<u8> {
    let mut client = connect(proxy.addr);
    client
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("request");
    read_at_rate(&mut client, rate, first_burst)
}

/// The bytes sent and the milliseconds taken, from a request's log line
/// (`... "GET /big.bin HTTP/1.1" 200 4270723 HIT 718ms (cut off: ...)`).
fn bytes_and_time(log_line: &str) -> (u64, Duration) {
    let (_, fields) = log_line.rsplit_once("\" ").expect("a request line");
    let fields: Vec<&str> = fields.split(' ').collect();
    let bytes = fields[1].parse().expect("bytes sent");
    let millis = fields[3].trim_end_matches("ms").parse().expect("time");
    (bytes, Duration::from_millis(millis))
}

#[test]
fn a_client_reading_at_twice_the_minimum_rate_gets_the_whole_body() {
    let (proxy, _origin, _www, _cache) = proxy_with_big_hit("twice-min-rate");
    let received = get_big_hit_at_rate(&proxy, 2 * MIN_RATE, 1 << 20);
    let log_line = proxy.wait_for_request_log("GET /big.bin", 200, "HIT");
    assert!(!log_line.contains("cut off"), "{log_line}");
    let reply = support::parse_reply(&received);
    assert_eq!(reply.body.len(), SIZE, "{log_line}");
    let expected: Vec<u8> = (0..SIZE).map(|index| (index % 251) as u8).collect();
    assert!(reply.body == expected, "the body came back changed");
}

#[test]
fn a_client_reading_at_half_the_minimum_rate_is_cut_within_the_bound() {
    let (proxy, _origin, _www, _cache) = proxy_with_big_hit("half-min-rate");
    let received = get_big_hit_at_rate(&proxy, MIN_RATE / 2, 256 << 10);
    let log_line = proxy.wait_for_request_log("GET /big.bin", 200, "HIT");
    assert!(log_line.contains("cut off"), "{log_line}");
    assert!(received.len() < SIZE, "got the whole body: {log_line}");
    // The README's bound, with the bytes the proxy sent before the cut.
    let (bytes_sent, held) = bytes_and_time(&log_line);
    let bound = Duration::from_millis(WRITE_TIMEOUT_MS)
        + Duration::from_secs_f64(bytes_sent as f64 / MIN_RATE as f64);
    assert!(held < bound + SLACK, "held {held:?}, bound {bound:?}");
}
