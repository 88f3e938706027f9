//! A stored gzip reply is revalidated with one conditional request, behind
//! an origin that compresses on the fly the way nginx's `gzip on` does: the
//! 200 it compresses carries a weak `ETag: W/"x"` (the bytes are its own
//! work, not the file's), but its 304 carries the file's strong `"x"`
//! (nothing is compressed in a 304, so nothing weakens the tag).
//!
//! Why the 304 validates the copy: the proxy's `If-None-Match` carried only
//! this copy's own validator, `W/"x"`, and an origin compares
//! `If-None-Match` weakly (RFC 9110 13.1.2), where `W/"x"` and `"x"` match
//! (RFC 9110 8.8.3.2). So the 304 says "the representation you named is
//! still current". RFC 9111 4.3.4's rule for a strong tag in a 304 picks
//! *which* stored responses to update when several were named; here one
//! was named and the 304 answers it. The copy keeps its own `ETag` and
//! `Content-Encoding`: the strong `"x"` names the uncompressed file, and the
//! stored bytes are still gzip.
//!
//! One test against a small origin that mimics nginx always runs; one
//! against a real nginx runs when nginx is installed.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{free_port, send_raw, FakeOrigin, Reply, Server, TempDir, PATIENCE};

/// "hello\n", gzipped. The proxy never decodes it: any bytes would do.
const GZIP_BODY: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7,
    0x02, 0x00, 0x20, 0x30, 0x3a, 0x36, 0x06, 0x00, 0x00, 0x00,
];

/// What a browser sends on a reload, as far as this test cares.
fn get_gzip(proxy: &Server, path: &str) -> Reply {
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n");
    send_raw(proxy.addr, request.as_bytes())
}

/// An origin that answers like nginx with `gzip on` and `gzip_vary on`: a
/// gzip 200 with a weak tag, and, to `If-None-Match: W/"x"`, a 304 with
/// the strong tag and no `Content-Encoding`.
fn nginx_like_origin() -> FakeOrigin {
    FakeOrigin::start(|request, stream| {
        let fields = "Cache-Control: max-age=0\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
        if request.header("If-None-Match").as_deref() == Some("W/\"x\"") {
            let reply = format!("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n{fields}\r\n");
            let _ = stream.write_all(reply.as_bytes());
            return;
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n\
             Vary: Accept-Encoding\r\nETag: W/\"x\"\r\n{fields}Content-Length: {}\r\n\r\n",
            GZIP_BODY.len()
        );
        let _ = stream.write_all(&[reply.as_bytes(), GZIP_BODY].concat());
    })
}

#[test]
fn a_gzip_copy_is_revalidated_by_a_304_with_the_strong_tag() {
    let cache = TempDir::new("gzip304");
    let origin = nginx_like_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let first = get_gzip(&proxy, "/hello.txt");
    assert_eq!(first.x_cache(), "MISS");
    assert_eq!(first.body, GZIP_BODY);

    let reload = get_gzip(&proxy, "/hello.txt");
    assert_eq!(reload.x_cache(), "REVALIDATED", "{}", reload.head);
    assert_eq!(reload.body, GZIP_BODY);
    assert_eq!(reload.header("Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(
        reload.header("ETag").as_deref(),
        Some("W/\"x\""),
        "the gzip bytes keep their own, weak, tag"
    );
    let asked: Vec<Option<String>> = (origin.received().iter())
        .map(|request| request.header("If-None-Match"))
        .collect();
    assert_eq!(asked, [None, Some("W/\"x\"".to_string())]);

    // The copy on disk kept its labels too: the next reload is the same.
    let again = get_gzip(&proxy, "/hello.txt");
    assert_eq!(again.x_cache(), "REVALIDATED");
    assert_eq!(again.header("Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(again.body, GZIP_BODY);
    assert_eq!(origin.received().len(), 3);
}

/// A real nginx in its own prefix directory, stopped on drop.
struct Nginx {
    child: Child,
    url: String,
    prefix: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx binary, if one is installed (it often lives in an `sbin`
/// directory that is not on a user's `PATH`).
fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbins = ["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from);
    (std::env::split_paths(&path).chain(sbins))
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

impl Nginx {
    /// Starts `nginx` in the foreground, serving `hello.txt` with `gzip on`,
    /// and returns once it accepts connections. `gzip_proxied any`, because
    /// by default nginx does not compress for a request with a `Via` field,
    /// and the proxy adds one.
    fn start(nginx: &Path) -> Nginx {
        let prefix = TempDir::new("nginx");
        std::fs::create_dir_all(prefix.join("www")).expect("www dir");
        let text = "hello, compressed world\n".repeat(40);
        std::fs::write(prefix.join("www/hello.txt"), text).expect("hello.txt");
        let port = free_port();
        let config = format!(
            "daemon off;\nmaster_process off;\npid nginx.pid;\nerror_log stderr;\n\
             events {{}}\nhttp {{\n  default_type text/plain;\n\
             log_format asked escape=none '$status [$http_if_none_match]';\n\
             access_log access.log asked;\n  client_body_temp_path tmp;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root www;\n\
             gzip on; gzip_types text/plain; gzip_min_length 1; gzip_vary on; etag on;\n\
             gzip_proxied any;\n\
             add_header Cache-Control max-age=0;\n  }}\n}}\n"
        );
        std::fs::write(prefix.join("nginx.conf"), config).expect("nginx.conf");
        let stderr = std::fs::File::create(prefix.join("stderr.log")).expect("stderr.log");
        let child = Command::new(nginx)
            .args(["-e", "stderr", "-p"])
            .arg(&prefix.path)
            .args(["-c", "nginx.conf"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx {
            child,
            url: format!("http://127.0.0.1:{port}"),
            prefix,
        };
        nginx.wait_until_listening(SocketAddr::from(([127, 0, 0, 1], port)));
        nginx
    }

    /// Retries connecting until nginx accepts, it exits, or patience ends.
    fn wait_until_listening(&mut self, addr: SocketAddr) {
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, PATIENCE).is_err() {
            let exited = self.child.try_wait().expect("try_wait").is_some();
            if exited || started.elapsed() > PATIENCE {
                let log = std::fs::read_to_string(self.prefix.join("stderr.log"));
                panic!("nginx did not start (exited: {exited}): {log:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// What nginx printed and logged: its stderr and access log.
    fn logs(&self) -> String {
        ["stderr.log", "access.log"]
            .map(|name| std::fs::read_to_string(self.prefix.join(name)).unwrap_or_default())
            .join("")
    }

    /// The access log's lines, `status [if-none-match]`, once there are `count`
    /// (nginx writes a line after its reply has gone out).
    fn requests(&self, count: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(self.prefix.join("access.log")).unwrap_or_default();
            let lines: Vec<String> = log.lines().map(str::to_string).collect();
            if lines.len() >= count || started.elapsed() > PATIENCE {
                return lines;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_gzip_copy_from_a_real_nginx_is_revalidated_with_one_request() {
    let Some(nginx) = find_nginx() else {
        // Straight to stderr, past the test harness's capture, so a skip
        // is visible in a normal `cargo test` run.
        let reason = "skipped: nginx is not installed (looked on PATH and in sbin directories)";
        let _ = writeln!(std::io::stderr(), "{reason}");
        return;
    };
    let origin = Nginx::start(&nginx);
    let cache = TempDir::new("gzip304-nginx");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let first = get_gzip(&proxy, "/hello.txt");
    // A reply that is not nginx's 200 says what nginx and the proxy logged.
    let logs = || {
        format!(
            "{}\nnginx: {}\nproxy: {:?}",
            first.head,
            origin.logs(),
            proxy.log()
        )
    };
    assert_eq!(first.status, 200, "{}", logs());
    assert_eq!(first.x_cache(), "MISS");
    assert_eq!(
        first.header("Content-Encoding").as_deref(),
        Some("gzip"),
        "{}",
        logs()
    );
    let etag = first.header("ETag").expect("nginx sends an ETag");
    assert!(etag.starts_with("W/"), "nginx weakens a gzip tag: {etag}");

    let reload = get_gzip(&proxy, "/hello.txt");
    assert_eq!(reload.x_cache(), "REVALIDATED", "{}", reload.head);
    assert_eq!(reload.header("Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(reload.header("ETag"), Some(etag.clone()));
    assert_eq!(reload.body, first.body);
    let asked = origin.requests(2);
    assert_eq!(asked, ["200 []".to_string(), format!("304 [{etag}]")]);
}
