//! Cache keys and file names: which file holds a URL's entry ([`entry_path`])
//! and which URL a file's name stands for. Our own files get names no URL
//! gets (a temporary file's has a `#`, a marker's is an entry's and one more
//! `@`), so none is served as a body. This only names: no file-system call.

use std::fmt;
use std::path::{Path, PathBuf, MAIN_SEPARATOR};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use crate::wire::target::{key_path, percent_decode};

/// What identifies a cached response: the clean path and the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// The path, starting with `/`, decoded except for escapes of reserved
    /// characters (see [`key_path`]): `/files/a%2Fb`, `/café`.
    pub path: Vec<u8>,
    /// The query string as sent, without `?`; `None` when absent or empty.
    pub query: Option<String>,
    /// Which variant of a response that varies (see [`crate::cache::vary`]),
    /// escaped for a file name: `accept-language=fr`. `None` for the URL's own.
    pub variant: Option<String>,
}

impl CacheKey {
    /// The key for a clean path and an optional query.
    pub fn new(path: Vec<u8>, query: Option<String>) -> CacheKey {
        let query = query.filter(|query| !query.is_empty());
        CacheKey {
            path,
            query,
            variant: None,
        }
    }

    /// The same URL, with another variant (or none).
    pub fn with_variant(&self, variant: Option<String>) -> CacheKey {
        CacheKey {
            variant,
            ..self.clone()
        }
    }

    /// The path as a URL: what the origin is asked for and the logs show.
    /// Reserved characters stay as the key holds them, raw or escaped (a raw
    /// `[` is not `%5B`, RFC 3986 2.2), so each key has its own spelling and
    /// [`key_path`] of it gives the key back; others are escaped.
    pub fn encoded_path(&self) -> String {
        escape_all_but(&self.path, b"/-._~!$&'()*+,;=:@[]%")
    }
}

/// The key as a URL, `/path?query`: what logs and `cacheproxy ls` show.
impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.encoded_path())?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        if let Some(variant) = &self.variant {
            write!(f, " ({variant})")?;
        }
        Ok(())
    }
}

/// Where the entry for `key` lives under `cache_dir`.
///
/// Segments become directories, the last the file name, then `@` and the query:
///
/// | URL | file |
/// |---|---|
/// | `/` | `@` |
/// | `/index.html` | `index.html@` |
/// | `/users` and `/users/1` | `users@` and `users/1@` |
/// | `/docs/` | `docs/@` |
/// | `/a?x=1` | `a@x=1` |
/// | `/caf%C3%A9 x` | `caf%C3%A9%20x@` |
/// | `/page`, French variant | `page@@accept-language=fr` |
///
/// Letters, digits and `-._~=&+,` stay, every other byte becomes `%XX`: so
/// `@` is unique to entry names, `#` to temporary files, and `/a%40b`
/// (`a%2540b@`) and `/a@b` (`a%40b@`) are two files. The key must come from
/// [`key_path`]: no `.`, `..` or empty segments.
pub fn entry_path(cache_dir: &Path, key: &CacheKey) -> PathBuf {
    let name = relative_entry_path(key);
    let mut path = PathBuf::with_capacity(cache_dir.as_os_str().len() + 1 + name.len());
    path.push(cache_dir);
    path.push(name);
    path
}

/// The part of [`entry_path`] below the cache directory, `users/1@`: the
/// names the store walks down to reach the entry (see
/// [`walk_below`](crate::store::disk::walk_below)), all ASCII.
pub(super) fn relative_entry_path(key: &CacheKey) -> String {
    const SAFE: &[u8] = b"-._~=&+,";
    let query = key.query.as_deref().unwrap_or("");
    let variant_length = key.variant.as_ref().map_or(0, String::len);
    // Room for a usual name, which has few escapes if any.
    let mut name = String::with_capacity(key.path.len() + query.len() + variant_length + 8);
    // `split` always yields a name: the last, the file's own.
    for (index, segment) in key.path[1..].split(|&byte| byte == b'/').enumerate() {
        if index > 0 {
            name.push(MAIN_SEPARATOR);
        }
        push_escaped_all_but(&mut name, segment, SAFE);
    }
    name.push('@');
    push_escaped_all_but(&mut name, query.as_bytes(), SAFE);
    // A variant's name is escaped already (see `crate::cache::vary`), and a
    // query's `@` is escaped, so the second `@` can only begin a variant.
    if let Some(variant) = &key.variant {
        name.push('@');
        name.push_str(variant);
    }
    name
}

/// `bytes` as text: letters, digits and `safe` bytes as they are, others `%XX`.
fn escape_all_but(bytes: &[u8], safe: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    push_escaped_all_but(&mut text, bytes, safe);
    text
}

/// Appends [`escape_all_but`]'s text to `text`.
fn push_escaped_all_but(text: &mut String, bytes: &[u8], safe: &[u8]) {
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || safe.contains(&byte) {
            text.push(byte as char);
        } else {
            push_escape(text, byte);
        }
    }
}

/// Appends `byte` as a `%XX` escape, with upper-case hex digits.
pub fn push_escape(text: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    text.extend([
        '%',
        char::from(HEX[usize::from(byte >> 4)]),
        char::from(HEX[usize::from(byte & 15)]),
    ]);
}

/// The key whose entry lives at `path`, the reverse of [`entry_path`]; `None`
/// for a temporary file, a marker, `.gitignore`, any name we never write.
pub fn key_from_entry_path(cache_dir: &Path, path: &Path) -> Option<CacheKey> {
    let relative = path.strip_prefix(cache_dir).ok()?;
    let mut names: Vec<&str> = relative
        .iter()
        .map(|name| name.to_str())
        .collect::<Option<_>>()?;
    let (last, query_and_variant) = names.pop()?.split_once('@')?;
    let (query, variant) = match query_and_variant.split_once('@') {
        // `page@@` is the marker of a URL whose responses vary, not an entry.
        Some((_, "")) => return None,
        Some((query, variant)) => {
            let escaped = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~,=&%".contains(&byte);
            let variant = variant.bytes().all(escaped).then(|| variant.to_string())?;
            (query, Some(variant))
        }
        None => (query_and_variant, None),
    };
    let mut decoded = Vec::new();
    for name in names.iter().chain([&last]) {
        decoded.push(b'/');
        decoded.extend_from_slice(&percent_decode(name.as_bytes())?);
    }
    let query = String::from_utf8(percent_decode(query.as_bytes())?.into_owned()).ok()?;
    let key = CacheKey::new(decoded, Some(query)).with_variant(variant);
    // Only names this store writes: clean keys, encoded the one way it encodes.
    let clean = key_path(&key.encoded_path()).ok()?;
    (clean == key.path && entry_path(cache_dir, &key) == path).then_some(key)
}

/// Where the variants marker of `key`'s URL lives: `page@@`, beside `page@@x=1`.
pub(super) fn marker_path(cache_dir: &Path, key: &CacheKey) -> PathBuf {
    entry_path(cache_dir, &key.with_variant(Some(String::new())))
}

/// Whether `path` is a variants marker: a name [`marker_path`] gives.
pub(super) fn is_marker(dir: &Path, path: &Path) -> bool {
    let entry_name = file_name(path).strip_suffix('@');
    entry_name.is_some_and(|entry_name| {
        key_from_entry_path(dir, &path.with_file_name(entry_name))
            .is_some_and(|key| key.variant.is_none())
    })
}

/// Whether `path` is a variant `marker` stands for: the marker's name and
/// more, as `page@@accept-language=fr` beside `page@@`.
pub(super) fn is_variant_of(path: &Path, marker: &Path) -> bool {
    let marker_bytes = marker.as_os_str().as_encoded_bytes();
    path != marker
        && path
            .as_os_str()
            .as_encoded_bytes()
            .starts_with(marker_bytes)
}

/// With the process id, what makes each temporary file's name unique.
static TEMP_FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// This process's id, asked of the system once (each ask is a system call).
static PROCESS_ID: LazyLock<u32> = LazyLock::new(std::process::id);

/// A new temporary file's name beside the entry or marker at `path`:
/// `<name>#<pid>.<counter>.tmp`.
pub(super) fn temp_path(path: &Path) -> PathBuf {
    let counter = TEMP_FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!("#{}.{counter}.tmp", *PROCESS_ID));
    PathBuf::from(name)
}

/// Whether `path` is exactly a name [`temp_path`] gives, beside where that
/// entry or marker would live. (`notes#1.txt` is not one, and is left alone.)
pub(super) fn is_temp_file(dir: &Path, path: &Path) -> bool {
    let Some((entry_name, suffix)) = file_name(path).split_once('#') else {
        return false;
    };
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let numbers = suffix
        .strip_suffix(".tmp")
        .and_then(|numbers| numbers.split_once('.'));
    let for_path = path.with_file_name(entry_name);
    numbers.is_some_and(|(pid, counter)| digits(pid) && digits(counter))
        && (key_from_entry_path(dir, &for_path).is_some() || is_marker(dir, &for_path))
}

/// The last name of `path` as text; empty if it has none or is not UTF-8.
fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str, query: Option<&str>) -> CacheKey {
        let clean = key_path(path).expect("clean path");
        CacheKey::new(clean, query.map(str::to_string))
    }

    fn mapped(path: &str, query: Option<&str>) -> String {
        entry_path(Path::new("cache"), &key(path, query))
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn urls_map_to_readable_file_names() {
        assert_eq!(mapped("/", None), "cache/@");
        assert_eq!(mapped("/index.html", None), "cache/index.html@");
        assert_eq!(mapped("/docs/", None), "cache/docs/@");
        assert_eq!(mapped("/docs", None), "cache/docs@");
        assert_eq!(mapped("/a/b/c.png", None), "cache/a/b/c.png@");
        assert_eq!(mapped("/a", Some("x=1&y=2")), "cache/a@x=1&y=2");
        assert_eq!(
            mapped("/.well-known/security.txt", None),
            "cache/.well-known/security.txt@"
        );
        assert_eq!(mapped("/caf%C3%A9%20x", None), "cache/caf%C3%A9%20x@");
    }

    #[test]
    fn an_entry_name_is_its_path_below_the_cache_directory() {
        for (path, query) in [("/", None), ("/docs/", None), ("/a/b/c.png", Some("x=1"))] {
            let key = key(path, query);
            let below = Path::new("cache").join(relative_entry_path(&key));
            assert_eq!(below, entry_path(Path::new("cache"), &key), "{path}");
        }
        assert_eq!(
            relative_entry_path(&key("/a/b@", Some("q"))),
            format!("a{MAIN_SEPARATOR}b%40@q")
        );
    }

    #[test]
    fn a_path_and_its_children_can_be_cached_together() {
        assert_eq!(mapped("/users", None), "cache/users@");
        assert_eq!(mapped("/users/1", None), "cache/users/1@");
    }

    #[test]
    fn different_queries_are_different_entries_and_empty_is_none() {
        assert_ne!(mapped("/a", Some("x=1")), mapped("/a", Some("x=2")));
        assert_eq!(mapped("/a", Some("")), mapped("/a", None));
    }

    #[test]
    fn reserved_characters_are_escaped() {
        assert_eq!(mapped("/a@b", None), "cache/a%40b@");
        // An escaped reserved character stays escaped in the key, and its
        // `%` is escaped in the name: two URLs, two files.
        assert_eq!(mapped("/a%23b", None), "cache/a%2523b@");
        assert_eq!(mapped("/files/a%2Fb", None), "cache/files/a%252Fb@");
        assert_eq!(mapped("/files/a/b", None), "cache/files/a/b@");
        assert_eq!(mapped("/a", Some("q=a/b#c%")), "cache/a@q=a%2Fb%23c%25");
        assert_eq!(mapped("/dir@/x", None), "cache/dir%40/x@");
    }

    #[test]
    fn entry_paths_map_back_to_their_keys() {
        let dir = Path::new("cache");
        for (path, query) in [
            ("/", None),
            ("/index.html", None),
            ("/docs/", None),
            ("/a/b/c.png", None),
            ("/a", Some("x=1&y=%2F")),
            ("/caf%C3%A9%20x", None),
            ("/a@b", None),
            ("/a%40b", None),
            ("/files/a%2Fb", None),
            ("/a[b]", None),
            ("/a%5Bb%5D", None),
            ("/a%7Bb%7D", None),
        ] {
            let key = key(path, query);
            let path_of_key = entry_path(dir, &key);
            assert_eq!(
                key_from_entry_path(dir, &path_of_key),
                Some(key.clone()),
                "{path}"
            );
            let variant = key.with_variant(Some("accept-language=fr%2C&x".into()));
            let path_of_variant = entry_path(dir, &variant);
            assert_eq!(
                key_from_entry_path(dir, &path_of_variant),
                Some(variant),
                "{path}"
            );
            let marker = marker_path(dir, &key);
            assert!(is_marker(dir, &marker), "{path}");
            assert_eq!(
                key_from_entry_path(dir, &marker),
                None,
                "a marker is no entry"
            );
        }
        assert_eq!(
            entry_path(dir, &key("/page", None).with_variant(Some("x-a=1".into()))),
            Path::new("cache/page@@x-a=1")
        );
        for not_an_entry in [
            "cache/.gitignore",
            "cache/a@#1.2.tmp",
            "cache/x",
            "cache/../a@",
            "cache/a b@",
            "cache/a/@@",
            "cache/a@@b c",
            "cache/a@@b/c",
        ] {
            let path = Path::new(not_an_entry);
            assert_eq!(key_from_entry_path(dir, path), None, "{not_an_entry}");
        }
    }

    #[test]
    fn keys_display_as_urls_without_spaces() {
        assert_eq!(
            key("/caf%C3%A9%20x", Some("q=1")).to_string(),
            "/caf%C3%A9%20x?q=1"
        );
        assert_eq!(key("/a/b@c:d", None).to_string(), "/a/b@c:d");
    }

    #[test]
    fn no_two_urls_share_a_file() {
        let urls = [
            ("/a", None),
            ("/a/", None),
            ("/a@", None),
            ("/a", Some("")),
            ("/a", Some("@")),
            ("/a/@", None),
            ("/@", None),
        ];
        let mut files: Vec<String> = urls
            .iter()
            .map(|(path, query)| mapped(path, *query))
            .collect();
        // "/a" and "/a?" are the same entry on purpose; every other pair differs.
        files.remove(3);
        let count = files.len();
        files.sort();
        files.dedup();
        assert_eq!(files.len(), count, "{files:?}");
    }
}
