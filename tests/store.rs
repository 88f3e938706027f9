//! The store owns only what it wrote: foreign files survive, symbolic links
//! are never followed, depth is bounded, walks hold one descriptor, and
//! emptied directories go away. Each test reproduces an attack that once
//! worked.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use support::{
    files_below, get, mark_as_cache, send_raw, target_echo_origin, FakeOrigin, Server, TempDir,
};

/// Writes a stored entry by hand: `name` under `dir`, with a body.
fn write_entry(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let entry = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: max-age=600\r\n\r\n{body}"
    );
    std::fs::write(path, entry).expect("write entry");
}

/// Runs `cacheproxy ARGS...` through `bash -c` with a shell `prefix` (a
/// `ulimit`, a pipe), bounded by the test's patience; returns its exit code,
/// stdout and stderr.
fn run_shell(script: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new("timeout")
        .arg(support::PATIENCE.as_secs().to_string())
        .arg("bash")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_cacheproxy"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every directory below `dir`, relative to it.
fn directories_below(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut to_read = vec![dir.to_path_buf()];
    while let Some(next) = to_read.pop() {
        for entry in std::fs::read_dir(&next).expect("read_dir").flatten() {
            let path = entry.path();
            if entry.file_type().expect("type").is_dir() {
                found.push(path.strip_prefix(dir).expect("below").display().to_string());
                to_read.push(path);
            }
        }
    }
    found
}

#[test]
fn a_deep_url_is_served_but_not_stored_and_deep_trees_do_not_exhaust_descriptors() {
    let cache = TempDir::new("deep");
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let deep = format!("{}/x", "/a".repeat(1100));
    let reply = get(proxy.addr, &deep);
    assert_eq!(reply.status, 200);
    assert!(
        directories_below(&cache.path).is_empty(),
        "a deep URL made directories"
    );
    assert!(proxy.wait_for_log("not stored").contains("deeper than"));
    drop(proxy);

    // A tree deeper than the descriptors a process may hold, made by hand:
    // the walks of start-up, `ls` and `purge --all` must still get through.
    let mut deep_dir = cache.path.clone();
    for _ in 0..300 {
        deep_dir.push("d");
    }
    std::fs::create_dir_all(&deep_dir).expect("deep tree");
    write_entry(&deep_dir, "x@", "at the bottom");
    let dir = cache.path.to_str().expect("utf-8");
    let limited = r#"ulimit -n 64; exec "$0" "$@""#;
    let (code, stdout, stderr) = run_shell(limited, &["ls", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "ls: {stderr}");
    assert!(stdout.contains("/d/d/d"), "{stdout}");
    let (code, stdout, stderr) = run_shell(limited, &["purge", "--all", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "purge: {stderr}");
    assert!(stdout.starts_with("purged 1 "), "{stdout}");
    assert!(
        directories_below(&cache.path).is_empty(),
        "purge left the empty tree"
    );
}

#[test]
fn ls_lists_every_entry_under_a_low_descriptor_limit_and_stops_quietly_at_a_closed_pipe() {
    let cache = TempDir::new("many");
    mark_as_cache(&cache.path);
    for number in 0..2000 {
        write_entry(&cache.path, &format!("page-{number:04}@"), "x");
    }
    let dir = cache.path.to_str().expect("utf-8");
    let limited = r#"ulimit -n 64; exec "$0" "$@""#;
    let (code, stdout, stderr) = run_shell(limited, &["ls", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "ls: {stderr}");
    assert_eq!(
        stdout
            .lines()
            .filter(|line| line.starts_with("/page-"))
            .count(),
        2000
    );
    assert!(stdout.contains("total: 2000 entries"), "{stdout}");
    // The reader goes away after one line; ls must not call that an error.
    let piped = r#"set -o pipefail; "$0" "$@" | head -n 1"#;
    let (code, stdout, stderr) = run_shell(piped, &["ls", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "ls | head: {stderr}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn files_the_store_did_not_write_are_never_touched() {
    let cache = TempDir::new("foreign");
    mark_as_cache(&cache.path);
    let png = b"\x89PNG\r\n\x1a\nnot an entry";
    let foreign: [(&str, &[u8]); 5] = [
        ("notes#1.txt", b"my notes"),
        ("docs/#draft#", b"a draft"),
        ("docs/icon@3x.png", png),
        ("page@#x.tmp", b"HTTP/1.1 200 OK\r\n\r\nnot our temp name"),
        ("README", b"read me"),
    ];
    for (name, contents) in foreign {
        let path = cache.path.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write");
    }
    let origin = target_echo_origin();
    // Start-up sweeps; a tiny bound evicts; purge --all removes entries.
    let proxy = Server::proxy(&origin.url, &cache.path, &["--max-size", "1K"]);
    for number in 0..20 {
        assert_eq!(get(proxy.addr, &format!("/docs/p{number}")).status, 200);
    }
    drop(proxy);
    let dir = cache.path.to_str().expect("utf-8");
    let (code, stdout, _) = support::run_to_end(&["ls", "--cache-dir", dir]);
    assert_eq!(code, Some(0));
    assert!(
        !stdout.contains("icon"),
        "ls lists a file that is not an entry: {stdout}"
    );
    let (code, _, stderr) = support::run_to_end(&["purge", "--all", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "{stderr}");
    for (name, contents) in foreign {
        let kept = std::fs::read(cache.path.join(name)).unwrap_or_default();
        assert_eq!(kept, contents, "{name} was touched");
    }
}

#[test]
fn a_directory_of_someone_elses_files_is_refused() {
    let dir = TempDir::new("not-a-cache");
    std::fs::write(dir.join("thesis.tex"), b"chapter 1").expect("write");
    std::fs::write(dir.join("backup@2024"), b"HTTP/1.1 200 OK\r\n\r\nnot ours").expect("write");
    let path = dir.path.to_str().expect("utf-8");
    let (code, _, stderr) = support::run_to_end(&["proxy", "--port", "0", "--cache-dir", path]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("CACHEDIR.TAG"), "{stderr}");
    let (code, _, stderr) = support::run_to_end(&["purge", "--all", "--cache-dir", path]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(dir.join("backup@2024").exists() && dir.join("thesis.tex").exists());
    // An empty directory (a .gitignore aside) becomes a cache.
    let empty = TempDir::new("empty-cache");
    std::fs::write(empty.join(".gitignore"), b"*\n").expect("write");
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &empty.path, &[]);
    assert_eq!(get(proxy.addr, "/x").status, 200);
    assert!(empty.join("CACHEDIR.TAG").is_file());
}

#[test]
fn emptied_directories_are_removed_by_eviction_and_purge() {
    let cache = TempDir::new("empty-dirs");
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &["--max-size", "2K"]);
    for number in 0..40 {
        assert_eq!(get(proxy.addr, &format!("/d{number}/e/f/x")).status, 200);
    }
    // A bound of 2 KiB holds a few entries: the others were evicted, and
    // with them their three directories each.
    let entries = files_below(&cache.path).len();
    assert!(entries < 40, "nothing was evicted");
    let directories = directories_below(&cache.path).len();
    assert_eq!(
        directories,
        3 * entries,
        "directories left behind by eviction"
    );
    let purged = send_raw(proxy.addr, b"PURGE /d39/e/f/x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(purged.status, 200);
    assert!(!cache.join("d39").exists(), "PURGE left d39/e/f");
    drop(proxy);
    let dir = cache.path.to_str().expect("utf-8");
    let (code, _, _) = support::run_to_end(&["purge", "--all", "--cache-dir", dir]);
    assert_eq!(code, Some(0));
    assert!(
        directories_below(&cache.path).is_empty(),
        "{:?}",
        directories_below(&cache.path)
    );
}

#[test]
fn symbolic_links_inside_the_cache_are_never_followed() {
    let cache = TempDir::new("links");
    let outside = TempDir::new("links-outside");
    mark_as_cache(&cache.path);
    std::fs::write(outside.join("secret"), b"HTTP/1.1 200 OK\r\n\r\nthe secret").expect("write");
    std::os::unix::fs::symlink(&outside.path, cache.join("etc")).expect("dir link");
    std::os::unix::fs::symlink(outside.join("secret"), cache.join("page@")).expect("file link");
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    // Reading: the linked entry is not an entry.
    let page = get(proxy.addr, "/page");
    assert_eq!(page.text(), "body of /page");
    // Writing: nothing lands in the directory the link points to.
    let through = get(proxy.addr, "/etc/passwd");
    assert_eq!(through.text(), "body of /etc/passwd");
    assert_eq!(
        files_below(&outside.path),
        ["secret"],
        "a write went through the link"
    );
    // Removing: PURGE does not reach through the link.
    std::fs::write(outside.join("passwd@"), b"HTTP/1.1 200 OK\r\n\r\nkeep me").expect("write");
    send_raw(proxy.addr, b"PURGE /etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        outside.join("passwd@").exists(),
        "PURGE removed a file through the link"
    );
    assert_eq!(
        std::fs::read(outside.join("secret")).expect("read"),
        b"HTTP/1.1 200 OK\r\n\r\nthe secret"
    );
}

#[test]
fn the_demo_origin_serves_nothing_through_a_link_out_of_its_root() {
    let root = TempDir::new("demo-root");
    let outside = TempDir::new("demo-outside");
    std::fs::write(root.join("inside.txt"), b"inside").expect("write");
    std::fs::write(outside.join("secret.txt"), b"secret").expect("write");
    std::os::unix::fs::symlink(&outside.path, root.join("etc")).expect("link");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("s.txt")).expect("link");
    let origin = Server::origin(&root.path, &[]);
    assert_eq!(get(origin.addr, "/inside.txt").text(), "inside");
    assert_eq!(get(origin.addr, "/etc/secret.txt").status, 404);
    assert_eq!(get(origin.addr, "/s.txt").status, 404);
}

#[test]
fn two_proxies_sharing_a_bounded_cache_never_answer_500() {
    let cache = TempDir::new("shared-bounded");
    // Every reply is stale at once, so every request revalidates and every
    // 304 rewrites its entry, while the other proxy evicts under the bound.
    let origin = FakeOrigin::start(|request, stream| {
        let reply: &[u8] = if request.header("If-None-Match").is_some() {
            b"HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\nCache-Control: max-age=0\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\nETag: \"1\"\r\nCache-Control: max-age=0\r\n\r\n"
        };
        let _ = stream.write_all(reply);
        if reply.starts_with(b"HTTP/1.1 200") {
            let _ = stream.write_all(&[b'b'; 300]);
        }
    });
    let first = Server::proxy(&origin.url, &cache.path, &["--max-size", "2K"]);
    let second = Server::proxy(&origin.url, &cache.path, &["--max-size", "2K"]);
    let failures = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (index, addr) in [first.addr, second.addr].into_iter().enumerate() {
        let (failures, stop) = (Arc::clone(&failures), Arc::clone(&stop));
        clients.push(thread::spawn(move || {
            for round in 0..1500 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let status = get(addr, &format!("/p{}", (round * 7 + index) % 12)).status;
                if status >= 500 {
                    failures.fetch_add(1, Ordering::SeqCst);
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }));
    }
    for client in clients {
        client.join().expect("client");
    }
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "a 500 from a shared cache"
    );
}

#[test]
fn files_that_only_look_like_entries_are_never_overwritten_or_removed() {
    let cache = TempDir::new("lookalikes");
    mark_as_cache(&cache.path);
    let png = b"\x89PNG\r\n\x1a\n the user's icon";
    std::fs::create_dir_all(cache.join("spa")).expect("mkdir");
    std::fs::write(cache.join("spa/icon@3x.png"), png).expect("write");
    std::fs::write(cache.join("notes@"), b"my notes").expect("write");
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/spa/icon?3x.png").status, 200);
    assert_eq!(
        get(proxy.addr, "/spa/icon?3x.png").status,
        200,
        "served, never stored"
    );
    let purged = send_raw(proxy.addr, b"PURGE /notes HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(purged.status, 404, "{}", purged.text());
    assert_eq!(
        std::fs::read(cache.join("spa/icon@3x.png")).expect("kept"),
        png
    );
    assert_eq!(
        std::fs::read(cache.join("notes@")).expect("kept"),
        b"my notes"
    );
}

#[test]
fn a_fifo_in_the_cache_is_a_miss_not_a_hang() {
    let cache = TempDir::new("fifo");
    mark_as_cache(&cache.path);
    let made = Command::new("mkfifo")
        .arg(cache.join("fifo@"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/fifo").text(), "body of /fifo");
}

#[test]
fn a_link_on_the_way_makes_no_directories_outside_the_cache() {
    let cache = TempDir::new("link-mkdir");
    let outside = TempDir::new("link-mkdir-outside");
    mark_as_cache(&cache.path);
    std::os::unix::fs::symlink(&outside.path, cache.join("spa")).expect("link");
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/spa/made/by/proxy/x").status, 200);
    assert!(
        !outside.join("made").exists(),
        "directories were made through the link"
    );
}

#[test]
fn a_store_that_fails_leaves_no_empty_directories() {
    let cache = TempDir::new("failed-store-dirs");
    // The origin promises more than it sends, so every store fails.
    let origin = FakeOrigin::fixed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nCache-Control: max-age=600\r\n\r\nshort",
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    for number in 0..5 {
        let mut stream = std::net::TcpStream::connect(proxy.addr).expect("connect");
        let request = format!("GET /d{number}/e/f/x HTTP/1.1\r\nHost: t\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("request");
        let _ = std::io::Read::read_to_end(&mut stream, &mut Vec::new());
    }
    proxy.wait_for_log("/d4/e/f/x");
    assert!(
        directories_below(&cache.path).is_empty(),
        "{:?}",
        directories_below(&cache.path)
    );
}

#[test]
fn evicting_the_last_variant_of_a_url_removes_its_marker() {
    let cache = TempDir::new("evict-markers");
    let origin = FakeOrigin::replying(
        [
            &b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nVary: Accept-Language\r\nContent-Length: 2000\r\n\r\n"[..],
            &[b'v'; 2000],
        ]
        .concat(),
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &["--max-size", "10K"]);
    for number in 0..20 {
        get(proxy.addr, &format!("/u{number}/page"));
    }
    let names = files_below(&cache.path);
    let markers: Vec<&String> = names.iter().filter(|name| name.ends_with("@@")).collect();
    let variants = names
        .iter()
        .filter(|name| name.contains("@@accept-language"))
        .count();
    assert!(variants > 0 && variants < 20, "some evicted: {names:?}");
    assert_eq!(
        markers.len(),
        variants,
        "one marker per URL still stored: {names:?}"
    );
    for marker in markers {
        let variant = format!("{marker}accept-language");
        assert!(names.contains(&variant), "{marker} outlived its variants");
    }
}

/// Makes a FIFO at `path`: a file that blocks whoever opens it for reading
/// until someone opens it for writing. Whatever opens it hangs the proxy's
/// one thread, so a request that answers proves nothing opened it.
fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
}

#[test]
fn storing_a_url_that_does_not_vary_reads_no_directory() {
    // Named like a variant of /page, but there is no marker `page@@`: the
    // URL does not vary, so there is nothing to look for. A store that read
    // the directory anyway, to find variants to remove, would open this
    // FIFO and hang: every stored miss would read its whole directory.
    let cache = TempDir::new("no-scan-on-store");
    mark_as_cache(&cache.path);
    let lookalike = cache.join("page@@accept-language=fr");
    mkfifo(&lookalike);
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/page").x_cache(), "MISS");
    assert_eq!(get(proxy.addr, "/page").x_cache(), "HIT");
    assert!(lookalike.exists(), "the lookalike was removed");
}

#[test]
fn evicting_a_variant_reads_no_directory() {
    // The last variant of /u0/page is evicted under --max-size, and its
    // marker goes with it. Whether any variant is left is asked of the
    // proxy's own index of entries: reading the directory instead would
    // open this FIFO, named like another variant, and hang.
    let cache = TempDir::new("no-scan-on-evict");
    mark_as_cache(&cache.path);
    let lookalike = cache.join("u0/page@@accept-language=zz");
    mkfifo(&lookalike);
    let origin = FakeOrigin::replying(
        [
            &b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nVary: Accept-Language\r\nContent-Length: 2000\r\n\r\n"[..],
            &[b'v'; 2000],
        ]
        .concat(),
    );
    let proxy = Server::proxy(&origin.url, &cache.path, &["--max-size", "10K"]);
    assert_eq!(get(proxy.addr, "/u0/page").x_cache(), "MISS");
    assert!(cache.join("u0/page@@").is_file(), "the marker was written");
    // Ten more entries of 2 KB each: /u0/page is the first to go.
    for number in 1..=10 {
        assert_eq!(get(proxy.addr, &format!("/u{number}/page")).status, 200);
    }
    assert!(
        !cache.join("u0/page@@").exists(),
        "the marker outlived its last variant"
    );
    assert!(lookalike.exists(), "the lookalike was removed");
}

#[test]
fn start_up_removes_markers_whose_variants_are_all_gone() {
    let cache = TempDir::new("lone-markers");
    mark_as_cache(&cache.path);
    let marker = "Vary: accept-language\n";
    // A crash between a marker's write and its variant's, say.
    std::fs::write(cache.join("lone@@"), marker).expect("write");
    std::fs::write(cache.join("kept@@"), marker).expect("write");
    write_entry(&cache.path, "kept@@accept-language=fr", "le corps");
    // Under a bound, start-up evicts the least recently served first: the
    // only variant of /old, so its marker goes too. The others are served
    // "later": their access times are set ahead, where reading a file
    // (start-up reads each one's first bytes) leaves them as they are.
    std::fs::write(cache.join("old@@"), marker).expect("write");
    write_entry(&cache.path, "old@@accept-language=fr", &"o".repeat(700));
    write_entry(&cache.path, "new@", &"n".repeat(700));
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    for name in ["kept@@accept-language=fr", "new@"] {
        std::fs::File::options()
            .write(true)
            .open(cache.join(name))
            .and_then(|file| file.set_times(std::fs::FileTimes::new().set_accessed(later)))
            .expect("set atime");
    }
    let origin = target_echo_origin();
    let proxy = Server::proxy(&origin.url, &cache.path, &["--max-size", "1K"]);
    assert!(proxy.wait_for_log("evicted 1 entry").contains("--max-size"));
    assert_eq!(
        files_below(&cache.path),
        ["kept@@", "kept@@accept-language=fr", "new@"],
        "start-up left a marker without variants, or removed one with"
    );
}

#[test]
fn a_variant_whose_marker_cannot_be_written_is_not_stored() {
    // The marker cannot be written: a directory stands where it goes, so
    // renaming the marker's temporary file onto it fails. It stands for a
    // disk out of space or inodes, which fails the marker's write as surely
    // but cannot be arranged from a test.
    let cache = TempDir::new("marker-fails");
    mark_as_cache(&cache.path);
    std::fs::create_dir(cache.join("page@@")).expect("mkdir");
    let origin = FakeOrigin::start(|request, stream| {
        let language = request.header("Accept-Language").unwrap_or_default();
        let body = format!("page in {language}");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nCache-Control: max-age=600\r\n\
             Vary: Accept-Language\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let ask = |language: &str| {
        let request =
            format!("GET /page HTTP/1.1\r\nHost: t\r\nAccept-Language: {language}\r\n\r\n");
        send_raw(proxy.addr, request.as_bytes())
    };
    assert_eq!(ask("fr").text(), "page in fr");
    assert!(proxy.wait_for_log("not stored").contains("/page"));
    assert!(
        !cache.join("page@@accept-language=fr").exists(),
        "a variant said not to be stored is on disk"
    );
    // Once a marker can be written, the French copy is not found: it was
    // never stored, so it is a miss, not a hit nobody counted.
    std::fs::remove_dir(cache.join("page@@")).expect("rmdir");
    assert_eq!(ask("de").x_cache(), "MISS");
    assert_eq!(ask("fr").x_cache(), "MISS");
    assert_eq!(ask("fr").x_cache(), "HIT");
}

#[test]
fn a_purge_while_the_origin_is_asked_is_not_undone_by_its_304() {
    let cache = TempDir::new("purge-during-304");
    // The origin holds its 304 until the test has purged the copy, and the
    // 304 brings a field the copy lacks, so the copy would be rewritten.
    let (asked, origin_asked) = mpsc::channel();
    let (purged, origin_may_answer) = mpsc::channel::<()>();
    let (asked, origin_may_answer) = (Mutex::new(asked), Mutex::new(origin_may_answer));
    let origin = FakeOrigin::start(move |request, stream| {
        let reply: &[u8] = if request.header("If-None-Match").is_some() {
            let _ = asked.lock().expect("lock").send(());
            let may_answer = origin_may_answer.lock().expect("lock");
            let _ = may_answer.recv_timeout(support::PATIENCE);
            b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\n\
              X-Checked: yes\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\n\
              Content-Length: 4\r\n\r\nbody"
        };
        let _ = stream.write_all(reply);
    });
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    assert_eq!(get(proxy.addr, "/page").x_cache(), "MISS");
    assert_eq!(files_below(&cache.path), ["page@"]);
    // The copy is stale at once: the next request asks the origin.
    let addr = proxy.addr;
    let client = thread::spawn(move || get(addr, "/page"));
    origin_asked
        .recv_timeout(support::PATIENCE)
        .expect("the origin was asked about the copy");
    let dir = cache.path.to_str().expect("utf-8");
    let (code, stdout, stderr) = support::run_to_end(&["purge", "--cache-dir", dir, "/page"]);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), format!("purged /page from {dir}\n").as_str()),
        "{stderr}"
    );
    purged.send(()).expect("the origin waits");
    let reply = client.join().expect("client");
    assert_eq!((reply.status, reply.text()), (200, "body".into()));
    let line = proxy.wait_for_request_log("GET /page ", 200, "REVALIDATED");
    assert!(line.contains("removed or replaced meanwhile"), "{line}");
    assert_eq!(
        files_below(&cache.path),
        Vec::<String>::new(),
        "the refresh put the purged copy back"
    );
}

#[test]
fn ls_changes_nothing_in_the_cache_directory() {
    let cache = TempDir::new("ls-reads-only");
    mark_as_cache(&cache.path);
    write_entry(&cache.path, "a@", "a");
    // Another process's temporary file (a proxy storing /a right now, for
    // all `ls` can tell), and a marker whose variants are gone: start-up
    // tidies such files, a listing has no business to.
    std::fs::write(cache.join("a@#99999.0.tmp"), "HTTP/1.1 200 OK\r\n\r\nhal").expect("write");
    std::fs::write(cache.join("lone@@"), "Vary: accept-language\n").expect("write");
    let before = files_below(&cache.path);
    let dir = cache.path.to_str().expect("utf-8");
    let (code, stdout, stderr) = support::run_to_end(&["ls", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("total: 1 entry"), "{stdout}");
    assert_eq!(files_below(&cache.path), before, "ls changed the cache");
    // An empty directory is listed as empty, and not made a cache.
    let empty = TempDir::new("ls-empty");
    let dir = empty.path.to_str().expect("utf-8");
    let (code, stdout, stderr) = support::run_to_end(&["ls", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("total: 0 entries"), "{stdout}");
    assert!(
        !empty.join("CACHEDIR.TAG").exists(),
        "ls tagged a directory"
    );
}

#[test]
fn ls_lists_every_good_entry_and_names_the_ones_it_cannot_read() {
    let cache = TempDir::new("ls-cut-entry");
    mark_as_cache(&cache.path);
    for name in ["a@", "b@", "d/e@"] {
        write_entry(&cache.path, name, "fine");
    }
    // Cut in its head, as by a disk that filled, or a hand that edited it.
    // The proxy treats it as a miss; `ls` says so and lists the rest.
    std::fs::write(cache.join("c@"), "HTTP/1.1 200 OK\r\ncontent-ty").expect("write");
    let dir = cache.path.to_str().expect("utf-8");
    let (code, stdout, stderr) = support::run_to_end(&["ls", "--cache-dir", dir]);
    assert_eq!(code, Some(0), "{stderr}");
    let urls: Vec<&str> = stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(urls, ["/a", "/b", "/d/e", "total:"], "{stdout}");
    let cut = cache.join("c@");
    let warning = format!(
        "cacheproxy: warning: {} is not a readable entry",
        cut.display()
    );
    assert!(stderr.starts_with(&warning), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn purging_a_url_with_variants_leaves_no_empty_directory() {
    let cache = TempDir::new("purge-variants");
    let origin = Server::origin(&support::www(), &[]);
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let gzip = b"GET /guide/book.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n";
    assert_eq!(send_raw(proxy.addr, gzip).status, 200);
    assert!(cache.path.join("guide").is_dir(), "the variant is stored");
    let purged = send_raw(
        proxy.addr,
        b"PURGE /guide/book.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(purged.status, 200);
    // The variant and its marker went, and so did the directory they alone kept.
    assert!(
        !cache.path.join("guide").exists(),
        "{:?}",
        files_below(&cache.path)
    );
}

#[test]
fn an_empty_body_with_a_head_over_max_size_is_not_stored() {
    let cache = TempDir::new("empty-over-max");
    let pad = "x".repeat(400);
    // A chunked empty body: nothing says its size before it ends, and the
    // head alone, with the record the commit adds, is over the bound.
    let reply = format!(
        "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nX-Pad: {pad}\r\n\
         Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    );
    let origin = FakeOrigin::replying(reply.into_bytes());
    let proxy = Server::proxy(&origin.url, &cache.path, &["--max-size", "500"]);
    assert_eq!(get(proxy.addr, "/empty").status, 200);
    let line = proxy.wait_for_request_log("GET /empty ", 200, "MISS");
    assert!(line.contains("larger than --max-size"), "{line}");
    assert!(files_below(&cache.path).is_empty(), "nothing stored");
}

#[test]
fn eviction_follows_no_link_put_where_a_stored_directory_was() {
    let outside = TempDir::new("evict-link");
    let cache = outside.join("cache");
    let www = outside.join("www");
    std::fs::create_dir_all(www.join("ev/sub")).expect("www");
    std::fs::write(www.join("ev/sub/a"), "x".repeat(200)).expect("a");
    for name in ["b", "c", "d", "e"] {
        std::fs::write(www.join(name), "y".repeat(200)).expect("file");
    }
    let origin = Server::origin(&www, &["--max-age", "600"]);
    let proxy = Server::proxy(&origin.url, &cache, &["--max-size", "1500"]);
    assert_eq!(get(proxy.addr, "/ev/sub/a").status, 200);
    assert!(cache.join("ev/sub/a@").is_file(), "stored");
    // The stored directory is moved away, and a link to precious files put in its place.
    let precious = outside.join("precious");
    std::fs::create_dir_all(precious.join("sub")).expect("precious");
    std::fs::write(precious.join("sub/a@"), "precious").expect("precious file");
    std::fs::rename(cache.join("ev"), outside.join("moved")).expect("move");
    std::os::unix::fs::symlink(&precious, cache.join("ev")).expect("link");
    for name in ["/b", "/c", "/d", "/e"] {
        assert_eq!(get(proxy.addr, name).status, 200);
    }
    proxy.wait_for_log("evicted");
    assert_eq!(
        std::fs::read(precious.join("sub/a@")).expect("still there"),
        b"precious"
    );
}

#[test]
fn a_link_put_in_place_of_a_directory_during_a_body_takes_nothing_out() {
    let outside = TempDir::new("link-mid-body");
    let cache = outside.join("cache");
    // The origin sends the head and two bytes, then the rest when told.
    let (go_on, wait) = mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let origin = FakeOrigin::start(move |_, stream| {
        let head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n\
                    Vary: Accept-Language\r\nContent-Length: 5\r\n\r\nab";
        let _ = stream.write_all(head.as_bytes());
        let _ = wait.lock().expect("lock").recv_timeout(support::PATIENCE);
        let _ = stream.write_all(b"cde");
    });
    let proxy = Server::proxy(&origin.url, &cache, &[]);
    let addr = proxy.addr;
    let client = thread::spawn(move || {
        let request = b"GET /sv/page HTTP/1.1\r\nHost: t\r\nAccept-Language: fr\r\n\r\n";
        send_raw(addr, request)
    });
    // Once the copy's temporary file is there, its directory becomes a link.
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !files_below(&cache)
        .iter()
        .any(|name| name.ends_with(".tmp"))
    {
        assert!(std::time::Instant::now() < deadline, "no temporary file");
        thread::yield_now();
    }
    let elsewhere = outside.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("elsewhere");
    std::fs::rename(cache.join("sv"), outside.join("moved")).expect("move");
    std::os::unix::fs::symlink(&elsewhere, cache.join("sv")).expect("link");
    go_on.send(()).expect("the origin waits");
    assert_eq!(client.join().expect("client").text(), "abcde");
    let line = proxy.wait_for_request_log("GET /sv/page ", 200, "MISS");
    assert!(line.contains("not stored:"), "{line}");
    assert!(
        files_below(&elsewhere).is_empty(),
        "{:?}",
        files_below(&elsewhere)
    );
}

/// Files no commit writes, in an entry's place: a stored interim (1xx)
/// reply, which a client would take for a final one, is no entry, and a
/// stored 204 sends no body, whatever bytes follow its head.
#[test]
fn a_stored_interim_reply_is_no_entry_and_a_stored_204_sends_no_body() {
    let origin = target_echo_origin();
    let cache = TempDir::new("odd-statuses");
    mark_as_cache(&cache.path);
    let stored = |name: &str, status_line: &str| {
        let entry = format!("{status_line}\r\ncache-control: max-age=600\r\n\r\nSTORED\n");
        std::fs::write(cache.path.join(name), entry).expect("write entry");
    };
    stored("interim@", "HTTP/1.1 100 Continue");
    stored("empty@", "HTTP/1.1 204 No Content");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let interim = get(proxy.addr, "/interim");
    assert_eq!(
        (interim.status, &interim.body[..]),
        (200, &b"body of /interim"[..])
    );
    let empty = send_raw(proxy.addr, b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((empty.status, empty.x_cache()), (204, "HIT".to_string()));
    assert!(
        empty.body.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&empty.body)
    );
}

#[test]
fn an_entry_edited_in_place_is_served_as_edited_not_as_remembered() {
    let cache = TempDir::new("edited-in-place");
    mark_as_cache(&cache.path);
    let origin = FakeOrigin::fixed(b"HTTP/1.1 500 Not Asked\r\nContent-Length: 0\r\n\r\n");
    let proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let entry_with = |value: &str| {
        format!("HTTP/1.1 200 OK\r\nx-value: {value}\r\ncache-control: max-age=600\r\n\r\n{value}")
    };
    let path = cache.join("page@");
    std::fs::write(&path, entry_with("one")).expect("write entry");
    // The second hit finds the head it parsed for the first one.
    for _ in 0..2 {
        let hit = get(proxy.addr, "/page");
        assert_eq!(
            (hit.header("x-value"), hit.text()),
            (Some("one".into()), "one".into())
        );
    }
    // Same file, same length, other bytes: as an editor, or another
    // program, writing into the cache directory would leave it.
    let inode = |path: &Path| std::os::unix::fs::MetadataExt::ino(&path.metadata().expect("stat"));
    let before = inode(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open entry");
    file.write_all(entry_with("two").as_bytes())
        .expect("edit entry");
    drop(file);
    assert_eq!(inode(&path), before, "edited in place");
    let hit = get(proxy.addr, "/page");
    assert_eq!(
        (hit.header("x-value"), hit.text()),
        (Some("two".into()), "two".into())
    );
    assert!(origin.received().is_empty(), "every request was a hit");
}
