//! `www/guide/outgrow.md` shows an nginx configuration that behaves like
//! `cacheproxy proxy` with its defaults. This test takes that configuration
//! out of the page, runs it with the real nginx in front of the real demo
//! origin, and checks what the page says of it: a second GET is a HIT, a
//! stale copy is revalidated with a 304, `Vary` keeps one copy per variant,
//! a reply to `Authorization` is not stored, and a stale copy stands in for
//! an origin that is gone. Without nginx on the machine it says so and passes.

mod support;

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{free_port, send_raw, www, Reply, Server, TempDir, PATIENCE};

/// The page, from the repository's root.
const PAGE: &str = "www/guide/outgrow.md";

/// The origin and the address the page's configuration names, which the test
/// replaces with its own.
const PAGE_ORIGIN: &str = "proxy_pass http://127.0.0.1:8000;";
const PAGE_LISTEN: &str = "listen 127.0.0.1:8888;";

/// The nobody user and group, which nginx runs as when the test runs as root.
const NOBODY: u32 = 65534;

/// The nginx binary: on `PATH`, or where distributions put it outside a
/// user's `PATH` (`/usr/sbin`).
fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path).map(|folder| folder.join("nginx"));
    let usual = [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ];
    on_path
        .chain(usual.iter().map(PathBuf::from))
        .find(|candidate| candidate.is_file())
}

/// The text of the page's one fenced `nginx` block.
fn page_config() -> String {
    let page_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE);
    let page = fs::read_to_string(&page_path).expect("read the page");
    let blocks: Vec<&str> = page
        .split("```nginx\n")
        .skip(1)
        .map(|rest| rest.split("\n```").next().expect("a closing fence"))
        .collect();
    assert_eq!(blocks.len(), 1, "{PAGE} should hold one ```nginx block");
    blocks[0].to_string()
}

/// The page's configuration, pointed at `origin` and listening on `port`.
///
/// One line is added, `master_process off;`: nginx then runs as this one
/// process, so killing it leaves no worker behind. Everything else is the
/// page's text, and the two lines replaced must be there as the page says.
fn test_config(origin: &str, port: u16) -> String {
    let config = page_config();
    for line in [PAGE_ORIGIN, PAGE_LISTEN] {
        assert_eq!(config.matches(line).count(), 1, "the page has no {line:?}");
    }
    let config = config
        .replace(PAGE_ORIGIN, &format!("proxy_pass {origin};"))
        .replace(PAGE_LISTEN, &format!("listen 127.0.0.1:{port};"));
    format!("master_process off;\n{config}")
}

/// Whether a user without privileges can reach `folder`: every folder above
/// it lets others through.
fn reachable_by_anyone(folder: &Path) -> bool {
    folder.ancestors().skip(1).all(|above| {
        fs::metadata(above).is_ok_and(|metadata| metadata.permissions().mode() & 0o001 != 0)
    })
}

/// nginx running the page's configuration, killed and reaped on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    /// Its prefix directory: configuration, cache, logs.
    dir: TempDir,
}

impl Nginx {
    /// Starts `binary` with the page's configuration in front of `origin`,
    /// and waits until it accepts connections.
    fn start(binary: &Path, origin: &str) -> Nginx {
        let dir = TempDir::new("nginx");
        let port = free_port();
        let config = dir.join("nginx.conf");
        fs::write(&config, test_config(origin, port)).expect("write nginx.conf");
        let stderr = fs::File::create(dir.join("stderr.log")).expect("create stderr.log");
        let mut command = Command::new(binary);
        command
            .arg("-p")
            .arg(&dir.path)
            .arg("-c")
            .arg(&config)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        // Run as root (in a container, say), nginx would keep root's powers
        // in its one process; it runs as nobody instead, in a prefix it may
        // write to, when nobody can reach it.
        let running_as_root = fs::metadata(&dir.path).expect("stat").uid() == 0;
        if running_as_root && reachable_by_anyone(&dir.path) {
            fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o777)).expect("chmod");
            command.uid(NOBODY).gid(NOBODY);
        }
        let child = command.spawn().expect("spawn nginx");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut nginx = Nginx { child, addr, dir };
        nginx.wait_until_listening();
        nginx
    }

    /// Polls a TCP connect until nginx accepts, failing with its logs if it
    /// exits first or does not listen within `PATIENCE`.
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", self.logs());
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("nginx did not listen on {}:\n{}", self.addr, self.logs());
    }

    /// What nginx printed and logged, for a failure's message.
    fn logs(&self) -> String {
        ["stderr.log", "error.log"]
            .map(|name| fs::read_to_string(self.dir.join(name)).unwrap_or_default())
            .join("")
    }

    /// `GET path` with the extra header lines `extra` (each ending in CRLF).
    /// `Connection: close`, as nginx would keep the connection open.
    fn get(&self, path: &str, extra: &str) -> Reply {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n");
        send_raw(self.addr, request.as_bytes())
    }

    /// Asks for `path` until the reply is no longer a HIT (the copy went
    /// stale; the origin sends `max-age=2`), and returns that reply.
    fn get_until_not_hit(&self, path: &str) -> Reply {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let reply = self.get(path, "");
            if x_cache(&reply) != "HIT" || Instant::now() > deadline {
                return reply;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `X-Cache` field the page's configuration adds: `$upstream_cache_status`.
fn x_cache(reply: &Reply) -> String {
    reply.header("X-Cache").unwrap_or_default()
}

#[test]
fn the_pages_nginx_configuration_caches_as_the_page_says() {
    let Some(binary) = find_nginx() else {
        println!("skipped: nginx is not installed");
        return;
    };
    // The demo origin, as in the page, but with copies fresh for 2 s, so
    // that the test sees them go stale.
    let mut origin = Server::origin(&www(), &["--max-age", "2"]);
    let nginx = Nginx::start(&binary, &origin.url);
    let logs = || nginx.logs();

    // `proxy_cache` and `add_header X-Cache $upstream_cache_status`: a miss,
    // then a hit with the same body.
    let first = nginx.get("/data.json", "");
    assert_eq!(first.status, 200, "{:?}\n{}", first.head, logs());
    assert_eq!(x_cache(&first), "MISS", "{:?}", first.head);
    let second = nginx.get("/data.json", "");
    assert_eq!(x_cache(&second), "HIT", "{:?}", second.head);
    assert_eq!(second.body, first.body);

    // `proxy_cache_revalidate on`: once stale, the copy is checked with a
    // conditional request, which the origin answers with a 304.
    let checked = nginx.get_until_not_hit("/data.json");
    assert_eq!(x_cache(&checked), "REVALIDATED", "{:?}", checked.head);
    assert_eq!(checked.body, first.body);
    origin.wait_for_request_log("GET /data.json", 304, "-");

    // `Vary` is honoured: the gzip and the plain variant are stored apart,
    // and each client gets its own from the cache.
    let gzip = "Accept-Encoding: gzip\r\n";
    for expected in ["MISS", "HIT"] {
        let zipped = nginx.get("/guide/book.txt", gzip);
        assert_eq!(x_cache(&zipped), expected, "{:?}", zipped.head);
        assert_eq!(zipped.header("Content-Encoding").as_deref(), Some("gzip"));
        let plain = nginx.get("/guide/book.txt", "");
        assert_eq!(x_cache(&plain), expected, "{:?}", plain.head);
        assert_eq!(plain.header("Content-Encoding"), None);
    }

    // `proxy_no_cache $http_authorization`: a reply to a request with
    // credentials is not stored, so nobody gets it from the cache.
    let credentials = "Authorization: Basic dXNlcjpwYXNz\r\n";
    for _ in 0..2 {
        let reply = nginx.get("/style.css", credentials);
        assert_eq!(x_cache(&reply), "MISS", "{:?}", reply.head);
    }
    assert_eq!(x_cache(&nginx.get("/style.css", "")), "MISS");

    // `proxy_cache_use_stale error ...`: with the origin gone, the stale
    // copy stands in.
    origin.kill();
    let stood_in = nginx.get_until_not_hit("/data.json");
    assert_eq!(stood_in.status, 200, "{:?}", stood_in.head);
    assert_eq!(x_cache(&stood_in), "STALE", "{:?}", stood_in.head);
    assert_eq!(stood_in.body, first.body);
}
