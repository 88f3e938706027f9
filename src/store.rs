//! The disk store: where a URL's copy lives, how it is written, how it is found.
//!
//! Each cache entry is one file, and that file *is* the stored response: the
//! status line and header fields as text, a blank line, then the body bytes
//! exactly as the origin sent them. `head -n 20 cache/index.html@` shows what
//! will be replayed; nothing is hidden in a database.
//!
//! Invariants this module keeps:
//! - A URL maps to one file name, by a fixed rule ([`entry_path`]), so a person
//!   can find an entry from its URL and two URLs never share a file.
//! - Every file name the store creates for itself (temporary files) contains a
//!   `#`, which the rule never produces, so nothing of ours is ever served as a
//!   URL's body, and a URL can never name one of our files.
//! - An entry appears all at once or not at all: it is written to a temporary
//!   file beside it and renamed into place only when complete. `rename` within
//!   a directory is atomic, so a reader (in this process or another one sharing
//!   the directory) sees the old file or the new one, never half of one.
//! - The file's modification time is when it was stored (or last refreshed by
//!   a 304): the entry's age counts from it. Its access time is when it was
//!   last served, which orders evictions under `--max-size` across restarts.
//!
//! Steps: the lookup of step 2, and the temporary file, commit and refresh of
//! step 5.
//!
//! Not here: sockets, the origin, and whether a response may be stored at all
//! (that is [`crate::proxy`]'s decision, with [`crate::freshness`]'s rules).
//! Which entry to evict is [`crate::eviction`]'s; this module removes it.

use std::fmt;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::eviction::LruIndex;
use crate::http::{self, ResponseHead};
use crate::target::{key_path, percent_decode};

/// What identifies a cached response: the clean path and the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// The path, starting with `/`, decoded except for escapes of reserved
    /// characters (see [`key_path`]): `/files/a%2Fb`, `/café`.
    pub path: Vec<u8>,
    /// The query string as sent, without `?`; `None` when absent or empty.
    pub query: Option<String>,
}

impl CacheKey {
    /// The key for a clean path and an optional query.
    pub fn new(path: Vec<u8>, query: Option<String>) -> CacheKey {
        let query = query.filter(|query| !query.is_empty());
        CacheKey { path, query }
    }

    /// The path as a URL, percent-encoded where it must be, so it never has
    /// a space. A `%` in the key already begins an escape, so it stays.
    pub fn encoded_path(&self) -> String {
        let mut encoded = String::with_capacity(self.path.len());
        for &byte in &self.path {
            if byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@%".contains(&byte) {
                encoded.push(byte as char);
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        encoded
    }
}

/// The key as a URL, `/path?query`: what logs and `cacheproxy ls` show.
impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.encoded_path())?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

/// Where the entry for `key` lives under `cache_dir`.
///
/// Path segments become directories and the last segment becomes the file
/// name, followed by `@` and the query:
///
/// | URL | file |
/// |---|---|
/// | `/` | `@` |
/// | `/index.html` | `index.html@` |
/// | `/users` and `/users/1` | `users@` and `users/1@` |
/// | `/docs/` | `docs/@` |
/// | `/a?x=1` | `a@x=1` |
/// | `/caf%C3%A9 x` | `caf%C3%A9%20x@` |
///
/// Every byte outside a small safe set is written as `%XX` (so `@` and `#` in a
/// URL become `%40` and `%23`), which keeps the `@` unique to entry names and
/// the `#` unique to temporary files. Because the directory for `/users/1` is
/// `users/` and the entry for `/users` is `users@`, both can be cached at once.
/// The key must come from [`key_path`]: no `.`, `..` or empty segments. A
/// `%` in the key is written `%25`, so `/a%40b` is `a%2540b@` and `/a@b` is
/// `a%40b@`: two URLs, two files.
pub fn entry_path(cache_dir: &Path, key: &CacheKey) -> PathBuf {
    let mut path = cache_dir.to_path_buf();
    let segments: Vec<&[u8]> = key.path[1..].split(|&byte| byte == b'/').collect();
    let (last, directories) = segments
        .split_last()
        .expect("split always yields at least one segment");
    for directory in directories {
        path.push(encode_name(directory));
    }
    let query = key.query.as_deref().unwrap_or("");
    path.push(format!(
        "{}@{}",
        encode_name(last),
        encode_name(query.as_bytes())
    ));
    path
}

/// Escapes a path segment or query for use in a file name: letters, digits and
/// `-._~=&+,` stay as they are, every other byte becomes `%XX`.
fn encode_name(bytes: &[u8]) -> String {
    let mut name = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~=&+,".contains(&byte) {
            name.push(byte as char);
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    name
}

/// The key whose entry lives at `path`, the reverse of [`entry_path`]; `None`
/// for any file that is not an entry (a temporary file, `.gitignore`, a name
/// the store would never have written).
pub fn key_from_entry_path(cache_dir: &Path, path: &Path) -> Option<CacheKey> {
    let relative = path.strip_prefix(cache_dir).ok()?;
    let mut names: Vec<&str> = relative
        .iter()
        .map(|name| name.to_str())
        .collect::<Option<_>>()?;
    let file_name = names.pop()?;
    if file_name.contains('#') {
        return None;
    }
    let (last, query) = file_name.split_once('@')?;
    let mut decoded = Vec::new();
    for name in names.iter().chain([&last]) {
        decoded.push(b'/');
        decoded.extend(percent_decode(name.as_bytes())?);
    }
    let query = String::from_utf8(percent_decode(query.as_bytes())?).ok()?;
    let key = CacheKey::new(decoded, Some(query));
    // Only names this store writes: clean keys, encoded the one way it encodes.
    let clean = key_path(&key.encoded_path()).ok()?;
    (clean == key.path && entry_path(cache_dir, &key) == path).then_some(key)
}

/// A stored response, open and ready to replay.
pub struct Entry {
    /// Where the entry lives, for logs.
    pub path: PathBuf,
    /// The stored status and header fields.
    pub head: ResponseHead,
    /// The entry file, positioned at the first byte of the body.
    pub body: File,
    /// How many body bytes follow the head.
    pub body_length: u64,
    /// When the entry was stored (the file's modification time).
    pub stored_at: SystemTime,
}

/// The largest stored head we read back. The origin client refuses response
/// heads over 64 KiB, so a bigger one means the file is not ours.
const MAX_STORED_HEAD: u64 = 80 * 1024;

/// Temporary files get unique names: the process id and this counter.
static TEMP_FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What [`Store::open`] found in the cache directory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Inventory {
    /// Entries found.
    pub entries: usize,
    /// Their total size in bytes (whole files, heads included).
    pub bytes: u64,
    /// Temporary files left by a process that died while storing, now removed.
    pub stray_temp_files_removed: usize,
    /// Entries evicted at once because they were over `--max-size`.
    pub evicted: usize,
}

/// A cache directory.
pub struct Store {
    dir: PathBuf,
    /// Sizes and last uses of the entries, when the cache has a size bound.
    index: Option<LruIndex>,
}

impl Store {
    /// Opens the store in `dir` (created if missing), bounded to `max_bytes`
    /// if given, and takes stock: one walk of the directory that removes the
    /// temporary files of dead processes and, with a bound, fills the index
    /// of entries in the order they were last served.
    ///
    /// A temporary file still locked belongs to a live process sharing this
    /// directory, and is left alone.
    pub fn open(dir: &Path, max_bytes: Option<u64>) -> io::Result<(Store, Inventory)> {
        fs::create_dir_all(dir)?;
        let mut inventory = Inventory::default();
        let mut entries = Vec::new();
        // Another process sharing the directory may rename, evict or finish a
        // file while we walk, so a file that vanishes under us is skipped.
        visit_files(dir, &mut |path| {
            if is_temp_file(path) {
                let Ok(file) = File::open(path) else {
                    return Ok(());
                };
                if file.try_lock().is_ok() && fs::remove_file(path).is_ok() {
                    inventory.stray_temp_files_removed += 1;
                }
            } else if key_from_entry_path(dir, path).is_some() {
                let Ok(metadata) = fs::metadata(path) else {
                    return Ok(());
                };
                let last_use = metadata.accessed().unwrap_or(SystemTime::UNIX_EPOCH);
                entries.push((last_use, path.to_path_buf(), metadata.len()));
            }
            Ok(())
        })?;
        inventory.entries = entries.len();
        inventory.bytes = entries.iter().map(|(_, _, size)| size).sum();
        let mut store = Store {
            dir: dir.to_path_buf(),
            index: max_bytes.map(LruIndex::new),
        };
        entries.sort();
        for (_, path, size) in entries {
            inventory.evicted += store.index_and_evict(&path, size);
        }
        Ok((store, inventory))
    }

    /// Where the entry for `key` lives (whether or not it exists).
    pub fn path_for(&self, key: &CacheKey) -> PathBuf {
        entry_path(&self.dir, key)
    }

    /// Opens the entry for `key`. `Ok(None)` is a miss; an error means a file
    /// is there but is not a readable entry (the caller treats it as a miss).
    ///
    /// An empty body is a valid entry: the decision is "does the file exist",
    /// never "is it empty" (cacheproxy.py's `if content:` turned every empty
    /// file into a miss).
    pub fn lookup(&self, key: &CacheKey) -> io::Result<Option<Entry>> {
        open_entry(entry_path(&self.dir, key))
    }

    /// Records that `entry` was just served, when the cache has a size bound:
    /// its access time on disk (so the order survives a restart) and its place
    /// in the eviction order. Without a bound nothing needs the order, and a
    /// hit is spared the write.
    pub fn record_use(&mut self, entry: &Entry) {
        if let Some(index) = &mut self.index {
            let _ = entry
                .body
                .set_times(FileTimes::new().set_accessed(SystemTime::now()));
            index.touch(&entry.path);
        }
    }

    /// Whether an entry of `size` bytes can be kept at all under the bound.
    pub fn fits(&self, size: u64) -> bool {
        self.index
            .as_ref()
            .is_none_or(|index| size <= index.max_bytes())
    }

    /// Starts storing a response for `key`: creates a temporary file beside
    /// the entry's final place and writes the head into it. The body follows
    /// through [`PendingEntry`]'s `Write`, then [`Store::commit`].
    pub fn begin(&self, key: &CacheKey, head: &ResponseHead) -> io::Result<PendingEntry> {
        let entry_path = entry_path(&self.dir, key);
        let directory = entry_path
            .parent()
            .expect("an entry path always has the cache directory as an ancestor");
        fs::create_dir_all(directory)?;
        let entry_name = entry_path
            .file_name()
            .expect("an entry path always ends in a file name")
            .to_string_lossy();
        let counter = TEMP_FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_path =
            directory.join(format!("{entry_name}#{}.{counter}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)?;
        // The lock tells a starting process that this file is being written and
        // must not be swept away; the OS drops it when we exit, even on SIGKILL.
        let _ = file.try_lock();
        let mut pending = PendingEntry {
            file: Some(file),
            temp_path,
            entry_path,
            written: 0,
            limit: self.index.as_ref().map(LruIndex::max_bytes),
        };
        // If this write fails, dropping `pending` deletes the temporary file.
        pending.write_all(&head.to_bytes())?;
        Ok(pending)
    }

    /// Makes a pending entry visible: flushes it to disk and renames it into
    /// place. Returns how many older entries were evicted to make room.
    pub fn commit(&mut self, mut pending: PendingEntry) -> io::Result<usize> {
        let file = pending
            .file
            .take()
            .expect("a pending entry has a file until commit");
        // Stored and last used: now, both read from the same clock that
        // `record_use` reads (the kernel's own file times are coarser).
        let now = SystemTime::now();
        file.set_times(FileTimes::new().set_modified(now).set_accessed(now))?;
        // Without the sync, a power cut soon after the rename could leave an
        // entry whose name is in place but whose bytes never reached the disk.
        file.sync_all()?;
        drop(file);
        fs::rename(&pending.temp_path, &pending.entry_path)?;
        Ok(self.index_and_evict(&pending.entry_path, pending.written))
    }

    /// Stores `entry` again under a new head (after a 304), keeping its body,
    /// and returns it reopened. The body is copied inside the kernel
    /// (`copy_file_range`), and the new file replaces the old one atomically,
    /// as on a miss; its modification time, the entry's age, starts again.
    pub fn refresh(
        &mut self,
        key: &CacheKey,
        entry: Entry,
        head: &ResponseHead,
    ) -> io::Result<Entry> {
        let mut pending = self.begin(key, head)?;
        pending.append_body(entry)?;
        self.commit(pending)?;
        self.lookup(key)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "refreshed entry vanished"))
    }

    /// Removes the entry for `key`. Returns whether there was one.
    pub fn remove(&mut self, key: &CacheKey) -> io::Result<bool> {
        let path = entry_path(&self.dir, key);
        if let Some(index) = &mut self.index {
            index.remove(&path);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(error) if is_absent(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Removes every entry (but not files that are not entries, such as a
    /// `.gitignore`, nor temporary files being written). Returns how many.
    pub fn remove_all(&mut self) -> io::Result<usize> {
        let dir = self.dir.clone();
        let mut keys = Vec::new();
        visit_files(&dir, &mut |path| {
            keys.extend(key_from_entry_path(&dir, path));
            Ok(())
        })?;
        let mut removed = 0;
        for key in keys {
            removed += usize::from(self.remove(&key)?);
        }
        Ok(removed)
    }

    /// Every entry, opened, with its key, sorted by URL. For `cacheproxy ls`.
    pub fn list(&self) -> io::Result<Vec<(CacheKey, Entry)>> {
        let mut entries = Vec::new();
        visit_files(&self.dir, &mut |path| {
            if let Some(key) = key_from_entry_path(&self.dir, path) {
                if let Ok(Some(entry)) = open_entry(path.to_path_buf()) {
                    entries.push((key, entry));
                }
            }
            Ok(())
        })?;
        entries.sort_by_cached_key(|(key, _)| key.to_string());
        Ok(entries)
    }

    /// Adds an entry to the eviction index and removes what it says to.
    fn index_and_evict(&mut self, path: &Path, size: u64) -> usize {
        let Some(index) = &mut self.index else {
            return 0;
        };
        let victims = index.insert(path, size);
        for victim in &victims {
            // Already gone (another process, `cacheproxy purge`) is fine.
            let _ = fs::remove_file(victim);
        }
        victims.len()
    }
}

/// Opens the entry file at `path`; see [`Store::lookup`].
fn open_entry(path: PathBuf) -> io::Result<Option<Entry>> {
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if is_absent(&error) => return Ok(None),
        Err(error) => return Err(error),
    };
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Ok(None);
    }
    let (head, head_length) = read_stored_head(&file)?;
    let mut body = file;
    body.seek(SeekFrom::Start(head_length))?;
    Ok(Some(Entry {
        path,
        head,
        body,
        body_length: metadata.len() - head_length,
        stored_at: metadata.modified()?,
    }))
}

/// Errors that just mean "there is no such entry": the file is not there, the
/// cache directory is gone or is now a plain file, or the URL makes a name too
/// long for the file system (so it can never have been stored).
fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    )
}

/// Temporary files, and only they, have a `#` in their name.
fn is_temp_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().contains('#'))
}

/// Calls `visit` with every regular file below `directory`.
fn visit_files(directory: &Path, visit: &mut dyn FnMut(&Path) -> io::Result<()>) -> io::Result<()> {
    for dir_entry in fs::read_dir(directory)? {
        let dir_entry = dir_entry?;
        let file_type = dir_entry.file_type()?;
        if file_type.is_dir() {
            visit_files(&dir_entry.path(), visit)?;
        } else if file_type.is_file() {
            visit(&dir_entry.path())?;
        }
    }
    Ok(())
}

/// Reads the head of an entry file; returns it and its length in bytes.
fn read_stored_head(file: &File) -> io::Result<(ResponseHead, u64)> {
    let mut reader = BufReader::new(Read::take(file, MAX_STORED_HEAD));
    let mut head = Vec::new();
    loop {
        let before = head.len();
        if reader.read_until(b'\n', &mut head)? == 0 {
            return Err(invalid_entry());
        }
        if &head[before..] == b"\r\n" {
            break;
        }
    }
    let parsed = http::parse_response_head(&head).ok_or_else(invalid_entry)?;
    Ok((parsed, head.len() as u64))
}

fn invalid_entry() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "not a cache entry")
}

/// An entry being written: a temporary file that becomes the entry on
/// [`Store::commit`], and is deleted if dropped before that (an origin that
/// failed mid-body, a client that left), so no short file remains.
pub struct PendingEntry {
    file: Option<File>,
    temp_path: PathBuf,
    entry_path: PathBuf,
    /// Bytes written so far, head included.
    written: u64,
    /// The most this entry may grow to (the cache's `--max-size`), if bounded.
    limit: Option<u64>,
}

impl PendingEntry {
    /// The temporary file being written.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Where the entry will live once committed.
    pub fn entry_path(&self) -> &Path {
        &self.entry_path
    }

    /// Appends the body of an existing entry (for [`Store::refresh`]).
    fn append_body(&mut self, entry: Entry) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .expect("a pending entry has a file until commit");
        // `File` to `File`: the standard library uses `copy_file_range`, so the
        // bytes never leave the kernel.
        self.written += io::copy(&mut entry.body.take(entry.body_length), file)?;
        Ok(())
    }
}

impl Write for PendingEntry {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let new_size = self.written + bytes.len() as u64;
        if self.limit.is_some_and(|limit| new_size > limit) {
            return Err(io::Error::other("larger than --max-size"));
        }
        let file = self
            .file
            .as_mut()
            .expect("a pending entry has a file until commit");
        let count = file.write(bytes)?;
        self.written += count as u64;
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for PendingEntry {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Best effort: if this fails too, start-up sweeps the file away.
            let _ = fs::remove_file(&self.temp_path);
        }
    }
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
        ] {
            let key = key(path, query);
            let path_of_key = entry_path(dir, &key);
            assert_eq!(key_from_entry_path(dir, &path_of_key), Some(key), "{path}");
        }
        for not_an_entry in [
            "cache/.gitignore",
            "cache/a@#1.2.tmp",
            "cache/x",
            "cache/../a@",
            "cache/a b@",
            "cache/a/@@",
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
