//! The command line and the demo origin, as a user meets them.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::{get, run_to_end, run_to_end_in, send_raw, www, Server, TempDir};

#[test]
fn help_explains_every_flag() {
    let (code, stdout, _) = run_to_end(&["proxy", "--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "--bind",
        "--port",
        "--origin",
        "--cache-dir",
        "--client-timeout",
        "--write-timeout",
        "--origin-connect-timeout",
        "--origin-timeout",
    ] {
        assert!(stdout.contains(flag), "proxy --help lacks {flag}");
    }
    let (code, stdout, _) = run_to_end(&["origin", "--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "--bind",
        "--port",
        "--root",
        "--delay",
        "--client-timeout",
        "--write-timeout",
    ] {
        assert!(stdout.contains(flag), "origin --help lacks {flag}");
    }
    assert!(stdout.contains("(default:"), "defaults are shown");
}

#[test]
fn mistakes_give_one_line_and_exit_2_for_usage_1_for_failure() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port().to_string();
    let missing_root = TempDir::new("no-root").join("absent");
    let missing_root = missing_root.to_str().expect("utf-8");
    // A command line wrong as written: 2, as clap-based and GNU tools do.
    let usage: [&[&str]; 6] = [
        &["proxy", "--no-such-flag"],
        &["proxy", "--port", "not-a-number"],
        &["proxy", "--port", "0", "--origin", "ftp://example.com"],
        &["proxy", "--port", "0", "--client-timeout", "0"],
        &["prxy"],
        &[],
    ];
    // A sound command line that fails on this machine: 1.
    let failures: [&[&str]; 3] = [
        &["proxy", "--port", &taken_port],
        &["proxy", "--port", "0", "--bind", "192.0.2.1"],
        &["origin", "--port", "0", "--root", missing_root],
    ];
    let cases = usage
        .iter()
        .map(|args| (2, args))
        .chain(failures.iter().map(|args| (1, args)));
    for (expected, args) in cases {
        let (code, line) = error_line(args);
        assert_eq!(code, expected, "{args:?}: {line}");
    }
}

#[test]
fn the_first_line_names_the_address_and_each_request_gets_a_log_line() {
    let cache = TempDir::new("log");
    let origin = Server::origin(&www(), &[]);
    assert!(origin.url.starts_with("http://127.0.0.1:"));
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    get(proxy.addr, "/data.json");
    get(proxy.addr, "/data.json");
    let miss = proxy.wait_for_request_log("GET /data.json HTTP/1.1", 200, "MISS");
    let hit = proxy.wait_for_request_log("GET /data.json HTTP/1.1", 200, "HIT");
    let size = std::fs::metadata(www().join("data.json"))
        .expect("size")
        .len();
    // The Common Log Format, then the cache's verdict and the time taken:
    // 127.0.0.1 - - [23/Nov/2026:03:50:04 +0000] "GET /data.json HTTP/1.1" 200 612 MISS 3ms
    for line in [&miss, &hit] {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words[..3], ["127.0.0.1", "-", "-"], "{line}");
        assert!(words[3].starts_with('[') && words[4] == "+0000]", "{line}");
        let bytes: u64 = words[9].parse().expect("bytes sent");
        assert!(bytes > size, "the head and the body: {line}");
        let milliseconds = words[11].strip_suffix("ms").expect("ms");
        assert!(milliseconds.parse::<u64>().is_ok(), "{line}");
    }
    origin.wait_for_request_log("GET /data.json HTTP/1.1", 200, "-");
}

#[test]
fn the_demo_origin_serves_files_with_types_and_dates() {
    let origin = Server::origin(&www(), &[]);
    let index = get(origin.addr, "/");
    assert_eq!(index.status, 200);
    assert_eq!(
        index.body,
        std::fs::read(www().join("index.html")).expect("read")
    );
    assert_eq!(
        index.header("Content-Type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(index
        .header("Last-Modified")
        .is_some_and(|date| date.ends_with(" GMT")));
    assert_eq!(
        get(origin.addr, "/guide/").body,
        std::fs::read(www().join("guide/index.html")).expect("read")
    );
    assert_eq!(
        get(origin.addr, "/guide").status,
        200,
        "a directory without its slash"
    );
    assert_eq!(
        get(origin.addr, "/data.json")
            .header("Content-Type")
            .as_deref(),
        Some("application/json")
    );
    assert_eq!(
        get(origin.addr, "/style.css")
            .header("Content-Type")
            .as_deref(),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(get(origin.addr, "/nope.html").status, 404);
    assert_eq!(get(origin.addr, "/data.json/").status, 404);
    assert_eq!(get(origin.addr, "/%2e%2e/Cargo.toml").status, 400);
    let head = send_raw(origin.addr, b"HEAD /data.json HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((head.status, head.body.len()), (200, 0));
    let post = send_raw(
        origin.addr,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow").as_deref(), Some("GET, HEAD"));
}

#[test]
fn the_demo_origin_delay_makes_it_slow_and_the_cache_hides_it() {
    let cache = TempDir::new("delay");
    let origin = Server::origin(&www(), &["--delay", "600"]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let started = Instant::now();
    assert_eq!(get(proxy.addr, "/").x_cache(), "MISS");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the miss waited for the origin"
    );
    let started = Instant::now();
    assert_eq!(get(proxy.addr, "/").x_cache(), "HIT");
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "the hit did not wait"
    );
}

#[test]
fn the_demo_origin_sends_validators_and_answers_conditionals_with_304() {
    let origin = Server::origin(&www(), &["--max-age", "30"]);
    let plain = get(origin.addr, "/style.css");
    assert_eq!(plain.header("Cache-Control").as_deref(), Some("max-age=30"));
    let etag = plain.header("ETag").expect("ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let last_modified = plain.header("Last-Modified").expect("Last-Modified");
    let conditional = |field: String| {
        let request = format!("GET /style.css HTTP/1.1\r\nHost: t\r\n{field}\r\n\r\n");
        send_raw(origin.addr, request.as_bytes())
    };
    let unchanged = conditional(format!("If-None-Match: {etag}"));
    assert_eq!((unchanged.status, unchanged.body.len()), (304, 0));
    assert_eq!(unchanged.header("ETag"), Some(etag));
    assert_eq!(
        conditional(format!("If-Modified-Since: {last_modified}")).status,
        304
    );
    assert_eq!(conditional("If-None-Match: \"old\"".into()).status, 200);
    let default = Server::origin(&www(), &[]);
    assert_eq!(
        get(default.addr, "/style.css")
            .header("Cache-Control")
            .as_deref(),
        Some("max-age=60")
    );
    let no_max_age = Server::origin(&www(), &["--max-age", "none"]);
    assert_eq!(
        get(no_max_age.addr, "/style.css").header("Cache-Control"),
        None
    );
}

#[test]
fn trace_narrates_each_step_with_the_readme_numbers() {
    let cache = TempDir::new("trace");
    let origin = Server::origin(&www(), &["--max-age", "1", "--trace"]);
    let proxy = Server::proxy(&origin.url, &cache.path, &["--trace"]);
    get(proxy.addr, "/data.json");
    get(proxy.addr, "/data.json");
    std::thread::sleep(Duration::from_millis(1100));
    get(proxy.addr, "/data.json");
    let entry = cache.join("data.json@").display().to_string();
    let expected = [
        "#1 1. receive: GET /data.json from 127.0.0.1:".to_string(),
        format!("#1 2. look up: {entry} is missing ("),
        format!(
            "#1 4. ask the origin: GET {}/data.json -> 200 OK (",
            origin.url
        ),
        format!("#1 5. store and reply: 269 bytes to the client and to {entry}#"),
        "#1 6. done: 200 MISS, ".to_string(),
        format!("#2 2. look up: {entry} is fresh: age 0 s of its 1 s lifetime ("),
        format!("#2 3. hit: reply from {entry} ("),
        "#2 6. done: 200 HIT, ".to_string(),
        format!("#3 2. look up: {entry} is stale: age 1 s, 0 s past its 1 s lifetime ("),
        "-> 304 Not Modified (".to_string(),
        format!("#3 5. refresh: {entry}: the 304 changed only Date: written in place, no new file; reply from {entry}"),
        "#3 6. done: 200 REVALIDATED, ".to_string(),
    ];
    for needle in &expected {
        proxy.wait_for_log(needle);
    }
    let revalidation = proxy.wait_for_log("#3 4. ask the origin:");
    assert!(revalidation.contains("If-None-Match: \""), "{revalidation}");
    assert!(
        !proxy
            .log()
            .iter()
            .any(|line| line.contains(" GET /data.json 200 MISS")),
        "--trace replaces the one-line log"
    );
    origin.wait_for_log("#1 2. look up: ");
    // The demo origin's replies are its own: it never says "hit".
    origin.wait_for_log("bytes; the client's copy is current: 304, no body");
    assert!(!origin.log().iter().any(|line| line.contains(" 3. hit")));
    origin.wait_for_log("#2 6. done: 304 -, ");
}

#[test]
fn bind_chooses_the_listening_address() {
    let cache = TempDir::new("bind");
    let origin = Server::start(&[
        "origin",
        "--bind",
        "127.0.0.2",
        "--port",
        "0",
        "--root",
        www().to_str().expect("utf-8"),
    ]);
    assert!(
        origin.url.starts_with("http://127.0.0.2:"),
        "{}",
        origin.url
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &["--bind", "127.0.0.3"]);
    assert!(proxy.url.starts_with("http://127.0.0.3:"), "{}", proxy.url);
    assert_eq!(get(proxy.addr, "/data.json").status, 200);
}

/// Runs `cacheproxy ARGS...`, expects it to fail with one line on stderr
/// starting `cacheproxy: error: ` and nothing on stdout, and returns its exit
/// status and that line.
fn error_line(args: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = run_to_end(args);
    let code = code.expect("an exit status, not a signal");
    assert_ne!(code, 0, "{args:?}: {stdout}");
    assert!(stdout.is_empty(), "{args:?}: {stdout:?}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
    assert!(
        stderr.starts_with("cacheproxy: error: "),
        "{args:?}: {stderr:?}"
    );
    (code, stderr.trim_end().to_string())
}

#[test]
fn every_mistake_is_answered_in_plain_english_with_the_fix() {
    let file = TempDir::new("not-a-dir");
    let a_file = file.join("afile");
    std::fs::write(&a_file, b"x").expect("write");
    let a_file = a_file.to_str().expect("utf-8");
    // (arguments, words the message must contain)
    let cases: [(&[&str], &[&str]); 14] = [
        (
            &[],
            &["cacheproxy proxy", "cacheproxy origin", "cacheproxy --help"],
        ),
        (
            &["proxy", "--prot", "9000"],
            &["--prot", "cacheproxy proxy --help"],
        ),
        (
            &["proxy", "--port", "70000"],
            &["--port", "0 to 65535", "cacheproxy proxy --help"],
        ),
        (
            &["proxy", "--ttl", "-1"],
            &["--ttl", "whole number of seconds", "proxy --help"],
        ),
        (
            &["origin", "--delay", "soon"],
            &["--delay", "milliseconds", "origin --help"],
        ),
        (
            &["proxy", "--client-timeout", "0"],
            &["--client-timeout", "at least 1"],
        ),
        (
            &["proxy", "--cache-dir", a_file],
            &["--cache-dir", "not a directory"],
        ),
        (
            &["ls", "--cache-dir", ""],
            &["--cache-dir is empty", "--cache-dir cache"],
        ),
        (&["purge", "style.css"], &["start with /", "/style.css"]),
        (
            &["proxy", "--origin", "http://127.0.0.1:8000#frag"],
            &["--origin", "#fragment"],
        ),
        (
            &["proxy", "--origin", "http://127.0.0.1:99999"],
            &["--origin", "1 to 65535"],
        ),
        (
            &["proxy", "--origin", "ftp://example.com"],
            &["--origin", "http://"],
        ),
        (
            &["proxy", "--origin", "http://ann:s3cret@127.0.0.1:8000"],
            &["password"],
        ),
        (&["ls", "extra"], &["does not take", "cacheproxy ls --help"]),
    ];
    for (args, words) in cases {
        let (_, line) = error_line(args);
        for word in words {
            assert!(line.contains(word), "{args:?}: {line:?} lacks {word:?}");
        }
        for raw in [
            "invalid digit",
            "too large to fit",
            "os error",
            "bad request:",
        ] {
            assert!(
                !line.contains(raw),
                "{args:?}: {line:?} is not plain English"
            );
        }
        assert!(!line.contains("s3cret"), "a password was printed: {line}");
    }
}

#[test]
fn version_prints_the_version_and_whether_https_is_built_in() {
    let https = if cfg!(feature = "tls") { "yes" } else { "no" };
    let expected = format!(
        "cacheproxy {} (https origins: {https})",
        env!("CARGO_PKG_VERSION")
    );
    for flag in ["--version", "-V"] {
        let (code, stdout, _) = run_to_end(&[flag]);
        assert_eq!(
            (code, stdout.trim()),
            (Some(0), expected.as_str()),
            "{flag}"
        );
    }
}

#[test]
fn a_mistyped_command_or_flag_gets_a_suggestion() {
    let cases: [(&[&str], &str); 4] = [
        (&["prxy"], "(did you mean proxy?)"),
        (&["purg", "/x"], "(did you mean purge?)"),
        (
            &["proxy", "--origni", "http://h"],
            "(did you mean --origin?)",
        ),
        (
            &["ls", "--cache-dri", "cache"],
            "(did you mean --cache-dir?)",
        ),
    ];
    for (args, suggestion) in cases {
        let (code, line) = error_line(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(line.contains(suggestion), "{args:?}: {line}");
    }
    // Nothing close: no guess.
    let (_, line) = error_line(&["proxy", "--verbose"]);
    assert!(!line.contains("did you mean"), "{line}");
}

#[test]
fn purge_takes_the_proxys_own_url_and_says_what_it_takes_for_another() {
    let cache = TempDir::new("purge-url");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/data.json").x_cache(), "MISS");
    let dir = cache.path.to_str().expect("utf-8");
    // The URL as the user asked the proxy for it, pasted back.
    let url = format!("{}/data.json", proxy.url);
    let (code, stdout, stderr) = run_to_end(&["purge", "--cache-dir", dir, &url]);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), format!("purged /data.json from {dir}\n").as_str()),
        "{stderr}"
    );
    assert_eq!(get(proxy.addr, "/data.json").x_cache(), "MISS");
    // The origin's URL names the same copy.
    let url = format!("{}/data.json", origin.url);
    let (code, stdout, _) = run_to_end(&["purge", "--cache-dir", dir, &url]);
    let purged = format!("purged /data.json from {dir}\n");
    assert_eq!((code, stdout.as_str()), (Some(0), purged.as_str()));
    let (code, line) = error_line(&["purge", "--cache-dir", dir, "http://example.com/data.json"]);
    assert_eq!(code, 2);
    for words in ["names another server", "a URL path, like /data.json,"] {
        assert!(line.contains(words), "{line}");
    }
}

#[test]
fn schemes_are_case_insensitive() {
    let cache = TempDir::new("scheme-case");
    let origin = Server::origin(&www(), &[]);
    let shouted = origin.url.replace("http://", "HTTP://");
    let proxy = Server::proxy(&shouted, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/data.json").status, 200);
}

#[test]
fn a_proxy_whose_origin_is_itself_is_refused_at_start_up() {
    // Find a free port, then ask the proxy to listen on it and fetch from it.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
        .to_string();
    let cache = TempDir::new("self-origin");
    let cache_dir = cache.join("cache");
    let (_, line) = error_line(&[
        "proxy",
        "--port",
        &port,
        "--origin",
        &format!("http://localhost:{port}"),
        "--cache-dir",
        cache_dir.to_str().expect("utf-8"),
    ]);
    assert!(line.contains("own address"), "{line}");
    assert!(
        !cache_dir.exists(),
        "the cache dir was created on a failed start"
    );
}

#[test]
fn a_failed_bind_creates_no_cache_directory() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let cache = TempDir::new("bind-fails");
    let cache_dir = cache.join("cache");
    let (_, line) = error_line(&[
        "proxy",
        "--port",
        &port,
        "--cache-dir",
        cache_dir.to_str().expect("utf-8"),
    ]);
    assert!(line.contains("could not bind"), "{line}");
    assert!(
        !cache_dir.exists(),
        "the cache dir was created on a failed start"
    );
}

#[test]
fn a_new_cache_directory_is_announced() {
    let cache = TempDir::new("announced");
    let cache_dir = cache.join("fresh");
    let origin = Server::origin(&www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache_dir, &[]);
    let banner = proxy.wait_for_log("cache dir");
    assert!(banner.contains("new"), "{banner}");
    assert!(banner.contains("0 entries, 0 bytes"), "{banner}");
    assert!(cache_dir.is_dir());
}

#[test]
fn relative_paths_are_named_in_full() {
    let work = TempDir::new("relative");
    // Relative paths are found from the working directory, in full.
    let here = work.path.canonicalize().expect("canonical");
    let (code, _, stderr) = run_to_end_in(&work.path, &["origin", "--port", "0"]);
    assert_eq!(code, Some(1), "{stderr}");
    let www_in_full = here.join("www").display().to_string();
    assert!(
        stderr.contains(&format!("--root www ({www_in_full}) is not a directory")),
        "{stderr}"
    );
    std::fs::write(work.join("afile"), b"x").expect("write");
    let (code, _, stderr) = run_to_end_in(&work.path, &["ls", "--cache-dir", "afile"]);
    assert_eq!(code, Some(1), "{stderr}");
    let afile_in_full = here.join("afile").display().to_string();
    assert!(
        stderr.contains(&format!("afile ({afile_in_full})")),
        "{stderr}"
    );
    // The banners say where the cache is made and which files are served.
    std::fs::create_dir(work.join("site")).expect("mkdir");
    let origin = Server::start_in(&work.path, &["origin", "--port", "0", "--root", "site"]);
    let site_in_full = here.join("site").display().to_string();
    origin.wait_for_log(&format!("serving site ({site_in_full})"));
    let proxy = Server::start_in(
        &work.path,
        &["proxy", "--port", "0", "--origin", &origin.url],
    );
    let cache_in_full = here.join("cache").display().to_string();
    proxy.wait_for_log(&format!("cache dir cache ({cache_in_full}), new"));
    assert!(work.join("cache").is_dir());
}

#[test]
fn https_origins_need_the_tls_feature() {
    if cfg!(feature = "tls") {
        let cache = TempDir::new("https-accepted");
        let proxy = Server::proxy("https://127.0.0.1:1", &cache.path, &[]);
        assert!(proxy.url.starts_with("http://127.0.0.1:"), "started");
    } else {
        let (code, _, stderr) =
            run_to_end(&["proxy", "--port", "0", "--origin", "https://127.0.0.1:1"]);
        assert_eq!(code, Some(2));
        assert!(stderr.contains("needs TLS"), "{stderr}");
    }
}

#[test]
fn a_revalidation_and_a_stale_if_error_print_each_step_once() {
    let cache = TempDir::new("trace-once");
    let origin = support::FakeOrigin::start(|request, stream| {
        let reply: &[u8] = match (request.header("If-None-Match"), request.target.as_str()) {
            (None, _) => {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"1\"\r\nCache-Control: max-age=0\r\n\r\nok"
            }
            (Some(_), "/up") => b"HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\r\n",
            (Some(_), _) => b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        };
        let _ = std::io::Write::write_all(stream, reply);
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &["--trace"]);
    for path in ["/up", "/up", "/down", "/down"] {
        assert_eq!(get(proxy.addr, path).text(), "ok", "{path}");
    }
    proxy.wait_for_log("#4 6. done: 200 STALE");
    proxy.wait_for_log("#2 6. done: 200 REVALIDATED");
    for request in ["#2 ", "#4 "] {
        let steps: Vec<String> = proxy
            .log()
            .into_iter()
            .filter_map(|line| line.strip_prefix(request).map(|rest| rest[..2].to_string()))
            .collect();
        let mut unique = steps.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), steps.len(), "{request}: {steps:?}");
        assert_eq!(steps.first().map(String::as_str), Some("1."), "{steps:?}");
        assert_eq!(steps.last().map(String::as_str), Some("6."), "{steps:?}");
    }
}
