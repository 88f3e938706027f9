//! Test helpers: the real binary on port 0, in-test origins built from
//! `std::net`, a raw HTTP client, and a temporary directory. Every wait is
//! bounded and every process and thread started here is stopped on `Drop`.
#![allow(dead_code)]

pub mod random;

use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A directory under the system's temp dir, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "cacheproxy-test-{label}-{}-{unique}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Every regular file below `dir`, as paths relative to it, sorted; the
/// `CACHEDIR.TAG` that marks a cache directory aside, which every cache has.
pub fn files_below(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, found: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, base, found);
            } else if path.file_name() != Some("CACHEDIR.TAG".as_ref()) {
                let relative = path.strip_prefix(base).expect("below base");
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

/// Marks `dir` as a cache directory, as the proxy does when it makes one,
/// so that a test can put files in it by hand before a proxy starts there.
pub fn mark_as_cache(dir: &Path) {
    std::fs::write(
        dir.join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    )
    .expect("write CACHEDIR.TAG");
}

/// A loopback port for a server that takes no port 0 (nginx), free a moment
/// ago. It is picked at random below the kernel's range for port 0 (from
/// 32768 on Linux, 49152 on macOS), so that no server bound to port 0 by a
/// test running alongside can be given it before nginx binds it.
pub fn free_port() -> u16 {
    let random = RandomState::new();
    (0..1000)
        .map(|attempt| 20_000 + (random.hash_one(attempt) % 12_000) as u16)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port from 20000 to 31999")
}

/// The repository's own `www/` directory.
pub fn www() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www")
}

/// A `www` with one file of `size` bytes, `/big.bin`, and `/small.txt`.
pub fn www_with_big_file(label: &str, size: usize) -> TempDir {
    let www = TempDir::new(label);
    let body: Vec<u8> = (0..size).map(|index| (index % 251) as u8).collect();
    std::fs::write(www.join("big.bin"), body).expect("write big.bin");
    std::fs::write(www.join("small.txt"), b"small").expect("write small.txt");
    www
}

/// The real `cacheproxy` binary, running, killed on drop.
pub struct Server {
    child: Child,
    /// The URL from the first line of output, e.g. `http://127.0.0.1:40000`.
    pub url: String,
    /// `host:port` of the same.
    pub addr: SocketAddr,
    /// Every line printed after the first.
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `cacheproxy ARGS...` and waits for its first line.
    pub fn start(args: &[&str]) -> Server {
        Server::start_in(Path::new("."), args)
    }

    /// Starts `cacheproxy ARGS...` in the working directory `dir`, where
    /// relative paths in `args` are found, and waits for its first line.
    pub fn start_in(dir: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cacheproxy"))
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Piped, not inherited: if this test process dies without
            // running `Drop`, the orphaned server must not hold the output
            // pipe of `cargo test | tee` open, or the run never ends.
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cacheproxy");
        let stderr = child.stderr.take().expect("piped stderr");
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (first_line_tx, first_line_rx) = mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let collected = Arc::clone(&lines);
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = reader.next() {
                let _ = first_line_tx.send(first);
            }
            for line in reader.map_while(Result::ok) {
                collected.lock().expect("lock").push(line);
            }
        });
        let first = match first_line_rx.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cacheproxy {args:?} printed no first line");
            }
        };
        let url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in first line {first:?}"))
            .to_string();
        let addr = url
            .trim_start_matches("http://")
            .parse()
            .expect("host:port in the URL");
        Server {
            child,
            url,
            addr,
            lines,
        }
    }

    /// The demo origin serving `root` on a free port.
    pub fn origin(root: &Path, extra: &[&str]) -> Server {
        let root = root.to_str().expect("utf-8 path");
        let mut args = vec!["origin", "--port", "0", "--root", root];
        args.extend_from_slice(extra);
        Server::start(&args)
    }

    /// The proxy in front of `origin_url`, caching in `cache_dir`, on a free port.
    ///
    /// With `--ttl 60` unless `extra` names its own `--ttl`: most tests are
    /// about something else than freshness, and their origins send none. The
    /// tests of the default rules (no `--ttl`) use [`Server::proxy_as_shipped`].
    pub fn proxy(origin_url: &str, cache_dir: &Path, extra: &[&str]) -> Server {
        let mut args = extra.to_vec();
        if !extra.contains(&"--ttl") {
            args.extend(["--ttl", "60"]);
        }
        Server::proxy_as_shipped(origin_url, cache_dir, &args)
    }

    /// The proxy with its own defaults and `extra`.
    pub fn proxy_as_shipped(origin_url: &str, cache_dir: &Path, extra: &[&str]) -> Server {
        let cache_dir = cache_dir.to_str().expect("utf-8 path");
        let mut args = vec![
            "proxy",
            "--port",
            "0",
            "--origin",
            origin_url,
            "--cache-dir",
            cache_dir,
        ];
        args.extend_from_slice(extra);
        Server::start(&args)
    }

    /// The log lines printed so far (after the first).
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }

    /// Waits until a log line contains `needle`, and returns it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if let Some(line) = self.log().into_iter().find(|line| line.contains(needle)) {
                return line;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line with {needle:?} in {:?}", self.log());
    }

    /// Waits for the log line of a request, `... "GET /x HTTP/1.1" 200 612
    /// MISS 3ms ...`, whose request line starts with `request` and whose
    /// status and cache fields are `status` and `cache`, and returns it.
    pub fn wait_for_request_log(&self, request: &str, status: u16, cache: &str) -> String {
        let wanted = |line: &String| {
            let Some((_, after_quote)) = line.split_once(" \"") else {
                return false;
            };
            let Some((request_line, rest)) = after_quote.split_once("\" ") else {
                return false;
            };
            let fields: Vec<&str> = rest.split(' ').collect();
            request_line.starts_with(request)
                && fields.first() == Some(&status.to_string().as_str())
                && fields.get(2) == Some(&cache)
        };
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if let Some(line) = self.log().into_iter().find(wanted) {
                return line;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no log line for {request:?} {status} {cache} in {:?}",
            self.log()
        );
    }

    /// The process id, for sending signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it has not exited or crashed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit by itself; returns whether it did in time.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the process now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cacheproxy ARGS...` to completion (bounded), for flag checks.
pub fn run_to_end(args: &[&str]) -> (Option<i32>, String, String) {
    run_to_end_in(Path::new("."), args)
}

/// Runs `cacheproxy ARGS...` in the working directory `dir` to completion.
pub fn run_to_end_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cacheproxy"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cacheproxy {args:?} did not exit");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A reply as raw bytes, split into its parts.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// The value of the first header field `name` (any case) in a message head.
fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

impl Reply {
    /// The value of the first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(&self.head, name)
    }

    /// How many header lines are called `name`.
    pub fn header_count(&self, name: &str) -> usize {
        self.head
            .lines()
            .skip(1)
            .filter(|line| {
                line.split_once(':')
                    .is_some_and(|(field, _)| field.eq_ignore_ascii_case(name))
            })
            .count()
    }

    pub fn x_cache(&self) -> String {
        self.header("X-Cache").unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A connection to `addr` whose every read and write waits at most `PATIENCE`.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream.set_write_timeout(Some(PATIENCE)).expect("timeout");
    stream
}

/// Sends `request` as raw bytes and reads the reply to the end of the connection.
pub fn send_raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = connect(addr);
    stream.write_all(request).expect("write request");
    read_reply(&mut stream)
}

/// Reads a whole reply (to EOF) from `stream` and splits it.
pub fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    parse_reply(&received)
}

/// Splits a raw reply; a chunked body is decoded.
pub fn parse_reply(received: &[u8]) -> Reply {
    let head_end = received
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no reply head in {:?}", String::from_utf8_lossy(received)));
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let mut reply = Reply {
        status,
        head,
        body: received[head_end + 4..].to_vec(),
    };
    if reply.header("Transfer-Encoding").as_deref() == Some("chunked") {
        reply.body = dechunk(&reply.body);
    }
    reply
}

fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = chunked
            .windows(2)
            .position(|window| window == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&chunked[..line_end]).expect("ascii"),
            16,
        )
        .expect("hex size");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunked[line_end + 2..line_end + 2 + size]);
        chunked = &chunked[line_end + 2 + size + 2..];
    }
}

/// A plain GET of `path` with HTTP/1.1.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    send_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// Asks `proxy` for `path`, expects `body`, and checks that the reply came
/// within `limit`: the one thread was not held by work that no client
/// waits for (a fill after a range, a check after a stale reply).
pub fn served_within(proxy: &Server, path: &str, body: &str, limit: Duration) {
    let asked_at = Instant::now();
    assert_eq!(get(proxy.addr, path).text(), body);
    let waited = asked_at.elapsed();
    assert!(waited < limit, "the next client waited {waited:?}");
}

/// A request the in-test origin received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub head: String,
    pub body: Vec<u8>,
}

impl Received {
    /// The value of the first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(&self.head, name)
    }
}

/// A tiny origin in a thread: reads each request (head and `Content-Length`
/// body), records it, and lets `respond` write whatever bytes it likes.
pub struct FakeOrigin {
    pub url: String,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<Received>>>,
    /// One message each time a connection has been handled to its end.
    handled: Mutex<mpsc::Receiver<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FakeOrigin {
    pub fn start(
        respond: impl Fn(&Received, &mut TcpStream) + Send + Sync + 'static,
    ) -> FakeOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake origin");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (stop_flag, log) = (Arc::clone(&stop), Arc::clone(&received));
        let respond = Arc::new(respond);
        let (handled_tx, handled) = mpsc::channel();
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                // One thread per connection, so a slow reply does not hold up
                // the next request (two proxies may share this origin).
                let (respond, log) = (Arc::clone(&respond), Arc::clone(&log));
                let handled_tx = handled_tx.clone();
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(PATIENCE));
                    if let Some(request) = read_request(&mut stream) {
                        log.lock().expect("lock").push(request.clone());
                        respond(&request, &mut stream);
                        let _ = stream.shutdown(Shutdown::Write);
                    }
                    let _ = handled_tx.send(());
                });
            }
        });
        FakeOrigin {
            url: format!("http://{addr}"),
            addr,
            stop,
            received,
            handled: Mutex::new(handled),
            thread: Some(thread),
        }
    }

    /// Waits until `count` more connections have been handled to their end.
    pub fn wait_for_connections(&self, count: usize) {
        let handled = self.handled.lock().expect("lock");
        for _ in 0..count {
            handled
                .recv_timeout(PATIENCE)
                .expect("the origin handled a connection");
        }
    }

    /// An origin that answers every request with these exact bytes.
    pub fn fixed(reply: &'static [u8]) -> FakeOrigin {
        FakeOrigin::replying(reply.to_vec())
    }

    /// An origin that answers every request with these bytes, made at run time.
    pub fn replying(reply: Vec<u8>) -> FakeOrigin {
        FakeOrigin::start(move |_, stream| {
            let _ = stream.write_all(&reply);
        })
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for FakeOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        received.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&received).into_owned();
    let mut words = head.split(' ');
    let method = words.next()?.to_string();
    let target = words.next()?.to_string();
    let mut request = Received {
        method,
        target,
        head,
        body: Vec::new(),
    };
    let length: u64 = request
        .header("Content-Length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    // Read what arrives, up to the length, without allocating the length up
    // front: a hostile request may claim 18 exabytes and send three bytes.
    let read = stream.take(length).read_to_end(&mut request.body).ok()?;
    (read as u64 == length).then_some(request)
}

/// An origin that answers every request with a small storable body naming
/// the request target exactly as it arrived (`body of /a%22b`), as an
/// origin that routes on the raw path would see it.
pub fn target_echo_origin() -> FakeOrigin {
    FakeOrigin::start(|request, stream| {
        let body = format!("body of {}", request.target);
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nCache-Control: max-age=600\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    })
}

/// A 200 reply with a body and a `Content-Length`.
pub fn ok_reply(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(body);
    reply
}

/// An HTTP date (IMF-fixdate), for in-test origins.
pub fn http_date(time: std::time::SystemTime) -> String {
    cacheproxy::wire::dates::http_date(time)
}
