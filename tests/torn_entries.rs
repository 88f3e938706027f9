//! Torn entries: what a power cut can leave of an entry renamed into place
//! before its bytes reached the disk (cut short, empty, or zero-filled) is
//! read as a miss, fetched again and stored anew; never served. Each shape
//! of entry the proxy stores is stored through the real proxy, damaged by
//! hand each way in turn, then asked for from a proxy started afterwards.

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use support::{files_below, send_raw, FakeOrigin, Server, TempDir};

/// A body larger than the first read of an entry (32 KiB), and never zero.
fn large_body() -> Vec<u8> {
    (0..100 * 1024)
        .map(|index| (index % 251 + 1) as u8)
        .collect()
}

/// The body the origin sends for `target` (and, for `/varied`, a language).
fn body_for(target: &str, language: Option<&str>) -> Vec<u8> {
    match target {
        "/large" => large_body(),
        _ => format!("the body of {target} in {language:?}").into_bytes(),
    }
}

/// An origin with one URL per shape: `/small` and `/large` with a length,
/// `/varied` varying on `Accept-Language`, `/chunked` chunked.
fn origin() -> FakeOrigin {
    FakeOrigin::start(|request, stream| {
        let language = request.header("Accept-Language");
        let body = body_for(&request.target, language.as_deref());
        let mut head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n".to_string();
        if request.target == "/varied" {
            head.push_str("Vary: Accept-Language\r\n");
        }
        let reply = if request.target == "/chunked" {
            let (first, rest) = body.split_at(body.len() / 2);
            let mut reply = format!("{head}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
            for chunk in [first, rest] {
                reply.extend(format!("{:x}\r\n", chunk.len()).bytes());
                reply.extend(chunk);
                reply.extend(b"\r\n");
            }
            reply.extend(b"0\r\n\r\n");
            reply
        } else {
            let mut reply = format!("{head}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            reply.extend(&body);
            reply
        };
        let _ = stream.write_all(&reply);
    })
}

/// A damage: from an entry file's bytes and where its head ends, what a
/// crash might leave of it.
type Damage = fn(&[u8], usize) -> Vec<u8>;

/// Every damage, named.
const DAMAGES: [(&str, Damage); 6] = [
    ("cut mid-head", |entry, head_end| {
        entry[..head_end / 2].to_vec()
    }),
    ("cut just after the head", |entry, head_end| {
        entry[..head_end].to_vec()
    }),
    ("cut mid-body", |entry, head_end| {
        entry[..head_end + (entry.len() - head_end) / 2].to_vec()
    }),
    ("emptied", |_, _| Vec::new()),
    ("zero-filled", |entry, _| vec![0; entry.len()]),
    ("body zero-filled", |entry, head_end| {
        let mut damaged = entry[..head_end].to_vec();
        damaged.resize(entry.len(), 0);
        damaged
    }),
];

/// Asks `proxy` for `target`, with `Accept-Language` if given.
fn ask(proxy: &Server, target: &str, language: Option<&str>) -> support::Reply {
    let language = language.map_or(String::new(), |language| {
        format!("Accept-Language: {language}\r\n")
    });
    let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\n{language}\r\n");
    send_raw(proxy.addr, request.as_bytes())
}

/// How often `origin` was asked for `target`.
fn asked(origin: &FakeOrigin, target: &str) -> usize {
    let received = origin.received();
    received.iter().filter(|seen| seen.target == target).count()
}

/// Overwrites the file at `path` with `contents` in place (same inode), as a
/// crash would leave it: truncated to their length.
fn damage(path: &Path, contents: &[u8]) {
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open entry");
    file.write_all(contents).expect("damage entry");
}

/// Stores `target` through a proxy, then damages its entry each way in
/// turn: every request after a damage must be a miss that asks the origin
/// and gets the right body, and the one after it a hit again. What went
/// wrong is reported for every damage at once, one line each.
fn check_every_damage(
    label: &str,
    target: &str,
    language: Option<&str>,
    damages: &[(&str, Damage)],
) {
    let cache = TempDir::new(label);
    let origin = origin();
    let mut proxy = Server::proxy(&origin.url, &cache.path, &[]);
    let expected = body_for(target, language);
    let first = ask(&proxy, target, language);
    assert_eq!((first.x_cache(), &first.body), ("MISS".into(), &expected));
    let entry_name = |files: Vec<String>| {
        let name = &target[1..];
        let entries = files.into_iter().filter(|file| file.starts_with(name));
        let entries: Vec<String> = entries.filter(|file| !file.ends_with("@@")).collect();
        assert_eq!(entries.len(), 1, "one entry for {target}: {entries:?}");
        cache.path.join(&entries[0])
    };
    let entry: PathBuf = entry_name(files_below(&cache.path));
    let mut failures = Vec::new();
    for &(name, make_damage) in damages {
        let hit = ask(&proxy, target, language);
        assert_eq!((hit.x_cache(), &hit.body), ("HIT".into(), &expected));
        let stored = std::fs::read(&entry).expect("read entry");
        let head_end = stored
            .windows(4)
            .position(|bytes| bytes == b"\r\n\r\n")
            .expect("a stored head")
            + 4;
        let damaged = make_damage(&stored, head_end);
        damage(&entry, &damaged);
        // As after a power cut, the next process finds the damage.
        drop(proxy);
        proxy = Server::proxy(&origin.url, &cache.path, &[]);
        let asked_before = asked(&origin, target);
        let reply = ask(&proxy, target, language);
        let fetched = asked(&origin, target) == asked_before + 1;
        let stored_anew =
            std::fs::read(&entry).is_ok_and(|anew| anew != damaged && anew.ends_with(&expected));
        if reply.x_cache() != "MISS" || !fetched || reply.body != expected || !stored_anew {
            failures.push(format!(
                "{name}: X-Cache {}, origin asked: {fetched}, right body: {} ({} bytes), stored anew: {stored_anew}",
                reply.x_cache(),
                reply.body == expected,
                reply.body.len()
            ));
            // Put the entry back whole, for the next damage.
            let _ = std::fs::remove_file(&entry);
            ask(&proxy, target, language);
        }
    }
    let hit = ask(&proxy, target, language);
    assert_eq!((hit.x_cache(), &hit.body), ("HIT".into(), &expected));
    assert!(failures.is_empty(), "{target}:\n{}", failures.join("\n"));
}

#[test]
fn a_small_entry_damaged_by_a_crash_is_a_miss() {
    check_every_damage("torn-small", "/small", None, &DAMAGES);
}

#[test]
fn a_large_entry_damaged_by_a_crash_is_a_miss() {
    // A body longer than the first read is synced before its rename, so a
    // crash cannot leave it zeroed at its full length: that damage is not
    // one a crash makes, and a read does not sum such a body.
    let damages = &DAMAGES[..DAMAGES.len() - 1];
    assert_eq!(damages.last().map(|damage| damage.0), Some("zero-filled"));
    check_every_damage("torn-large", "/large", None, damages);
}

#[test]
fn a_variant_damaged_by_a_crash_is_a_miss() {
    check_every_damage("torn-varied", "/varied", Some("fr"), &DAMAGES);
}

#[test]
fn a_chunked_reply_damaged_by_a_crash_is_a_miss() {
    check_every_damage("torn-chunked", "/chunked", None, &DAMAGES);
}
