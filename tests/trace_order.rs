//! `--trace` numbers each request's steps as the README does, and the
//! numbers are an order: for a miss, a hit, a revalidation, stale-if-error
//! and stale-while-revalidate, every request's step numbers strictly
//! increase, and the check after a stale-while-revalidate reply is printed
//! under its own label, not as more steps of a request that is done.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::{get, FakeOrigin, Server, TempDir};

/// An origin whose `Cache-Control` depends on the path; `Age: 5` makes a
/// `max-age=1` copy stale at once. With `down`, `/sie` answers 503.
fn origin(down: Arc<AtomicBool>) -> FakeOrigin {
    FakeOrigin::start(move |request, stream| {
        let path = request.target.as_str();
        let cache_control = match path {
            "/check" => "max-age=0",
            "/sie" => "max-age=1, stale-if-error=600",
            "/swr" => "max-age=1, stale-while-revalidate=600",
            _ => "max-age=60",
        };
        let reply = if path == "/sie" && down.load(Ordering::SeqCst) {
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_string()
        } else if request.header("If-None-Match").is_some() {
            format!("HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\nCache-Control: {cache_control}\r\n\r\n")
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"1\"\r\nAge: 5\r\n\
                 Cache-Control: {cache_control}\r\n\r\nok"
            )
        };
        let _ = stream.write_all(reply.as_bytes());
    })
}

/// The step numbers the trace printed for request `#sequence`, in order.
fn steps_of(log: &[String], sequence: usize) -> Vec<usize> {
    let prefix = format!("#{sequence} ");
    log.iter()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| rest.split_once(". ")?.0.parse().ok())
        .collect()
}

#[test]
fn every_requests_steps_strictly_increase() {
    let cache = TempDir::new("trace-order");
    let down = Arc::new(AtomicBool::new(false));
    let origin = origin(Arc::clone(&down));
    let proxy = Server::proxy(&origin.url, &cache.path, &["--trace"]);
    let mut cases = Vec::new();
    let mut ask = |path: &str, x_cache: &str, case: &'static str| {
        assert_eq!(get(proxy.addr, path).x_cache(), x_cache, "{case}");
        cases.push(case);
    };
    ask("/plain", "MISS", "a miss");
    ask("/plain", "HIT", "a hit");
    ask("/check", "MISS", "a miss");
    ask("/check", "REVALIDATED", "a revalidation");
    ask("/sie", "MISS", "a miss");
    down.store(true, Ordering::SeqCst);
    ask("/sie", "STALE", "stale-if-error");
    ask("/swr", "MISS", "a miss");
    ask("/swr", "STALE", "stale-while-revalidate");
    // The check after the stale reply, then one more request after it.
    ask("/plain", "HIT", "a hit after the check");
    proxy.wait_for_log("#9 6. done: ");
    let log = proxy.log();
    for (index, case) in cases.iter().enumerate() {
        let steps = steps_of(&log, index + 1);
        assert!(steps.len() >= 4, "{case}: {steps:?}");
        assert_eq!(
            (steps[0], steps[steps.len() - 1]),
            (1, 6),
            "{case}: {steps:?}"
        );
        assert!(
            steps.windows(2).all(|pair| pair[0] < pair[1]),
            "{case}: {steps:?}"
        );
    }
    // Stale-if-error stands in at step 5, after asking at 4; the check after
    // the stale-while-revalidate reply has its own label.
    assert_eq!(steps_of(&log, 6), [1, 2, 4, 5, 6]);
    assert!(log.iter().any(|line| line.starts_with("#6 5. stand in: ")));
    assert_eq!(steps_of(&log, 8), [1, 2, 3, 6]);
    assert!(log
        .iter()
        .any(|line| line.starts_with("#8 after the reply, ask the origin: ")));
    assert!(log
        .iter()
        .any(|line| line.starts_with("#8 after the reply, refresh: ")));
}

#[test]
fn a_ranged_miss_says_the_file_got_the_whole_body() {
    let cache = TempDir::new("trace-range");
    let origin = origin(Arc::new(AtomicBool::new(false)));
    let proxy = Server::proxy(&origin.url, &cache.path, &["--trace"]);
    let request =
        b"GET /plain HTTP/1.1\r\nHost: t\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n";
    let reply = support::send_raw(proxy.addr, request);
    assert_eq!((reply.status, reply.body.as_slice()), (206, &b"o"[..]));
    proxy.wait_for_log("#1 5. store and reply: 1 byte to the client, the whole body to ");
}
