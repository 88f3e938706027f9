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
//! - The store owns only what it wrote. A cache directory carries a
//!   `CACHEDIR.TAG` (the Cache Directory Tagging convention, which backup
//!   tools also honour); a directory that holds other files and no tag is
//!   refused. Inside it, only files of the exact shape of an entry (a name
//!   [`entry_path`] could produce, a stored head inside) or of a temporary
//!   file are ever listed, evicted, purged or swept; anything else is left
//!   alone.
//! - Nothing below the cache directory is followed through a symbolic link,
//!   for reading, writing or removing: a link `cache/etc -> /etc` must not
//!   turn a URL into a write under `/etc`.
//! - Depth is bounded ([`MAX_DEPTH`]), walks hold one directory open at a
//!   time, and directories left empty by a removal are removed too, so one
//!   deep URL cannot exhaust file descriptors or leave thousands of empty
//!   directories behind.
//!
//! Steps: the lookup of step 2, and the temporary file, commit and refresh of
//! step 5.
//!
//! Not here: sockets, the origin, and whether a response may be stored at all
//! (that is [`crate::cache::story`]'s decision, with [`crate::cache::freshness`]'s rules).
//! Which entry to evict is [`crate::store::eviction`]'s; this module removes it.

pub mod eviction;

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::store::eviction::LruIndex;
use crate::wire::http::{self, ResponseHead};
use crate::wire::target::{key_path, percent_decode};

/// What identifies a cached response: the clean path and the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// The path, starting with `/`, decoded except for escapes of reserved
    /// characters (see [`key_path`]): `/files/a%2Fb`, `/café`.
    pub path: Vec<u8>,
    /// The query string as sent, without `?`; `None` when absent or empty.
    pub query: Option<String>,
    /// Which variant of a response that varies (see [`crate::cache::vary`]): the
    /// request's values of the fields its `Vary` names, already escaped for
    /// a file name, like `accept-language=fr`. `None` for the URL's own entry.
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

    /// The path as a URL, percent-encoded where it must be, so it never has
    /// a space. A `%` in the key already begins an escape, so it stays.
    pub fn encoded_path(&self) -> String {
        let mut encoded = String::with_capacity(self.path.len());
        for &byte in &self.path {
            if byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@%".contains(&byte) {
                encoded.push(byte as char);
            } else {
                push_escape(&mut encoded, byte);
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
        if let Some(variant) = &self.variant {
            write!(f, " ({variant})")?;
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
/// | `/page`, French variant | `page@@accept-language=fr` |
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
    let mut name = format!("{}@{}", encode_name(last), encode_name(query.as_bytes()));
    // A variant's name is escaped already (see `crate::cache::vary`), and a query's
    // `@` is escaped, so the second `@` can only begin a variant.
    if let Some(variant) = &key.variant {
        name.push('@');
        name.push_str(variant);
    }
    path.push(name);
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
            push_escape(&mut name, byte);
        }
    }
    name
}

/// Appends `byte` as a `%XX` escape, with upper-case hex digits.
pub fn push_escape(text: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    text.push('%');
    text.push(char::from(HEX[usize::from(byte >> 4)]));
    text.push(char::from(HEX[usize::from(byte & 0xF)]));
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
    let (last, query_and_variant) = file_name.split_once('@')?;
    let (query, variant) = match query_and_variant.split_once('@') {
        // `page@@`, a variant's name without a variant, is the marker of a
        // URL whose responses vary (see `Store::vary_of`), not an entry.
        Some((_, "")) => return None,
        Some((query, variant)) => {
            let escaped = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~,=&%".contains(&byte);
            if !variant.bytes().all(escaped) {
                return None;
            }
            (query, Some(variant.to_string()))
        }
        None => (query_and_variant, None),
    };
    let mut decoded = Vec::new();
    for name in names.iter().chain([&last]) {
        decoded.push(b'/');
        decoded.extend(percent_decode(name.as_bytes())?);
    }
    let query = String::from_utf8(percent_decode(query.as_bytes())?).ok()?;
    let key = CacheKey::new(decoded, Some(query)).with_variant(variant);
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
    /// The first bytes of the body, read in the same read as the head (for
    /// a small entry, the whole body: one read serves a hit).
    pub body_start: Vec<u8>,
    /// The entry file, positioned just after `body_start`.
    pub body: File,
    /// How many bytes the stored head takes, blank line included.
    pub head_length: u64,
    /// How many body bytes follow the head.
    pub body_length: u64,
    /// When the entry was stored (the file's modification time).
    pub stored_at: SystemTime,
}

/// How much of an entry file the first read takes: its head, and the body
/// too if it is small.
const FIRST_READ: usize = 32 * 1024;

/// The largest stored head we read back. The origin client refuses response
/// heads over 64 KiB, so a bigger one means the file is not ours.
const MAX_STORED_HEAD: u64 = 80 * 1024;

/// A variants marker starts with this, then the `Vary` value.
const MARKER_PREFIX: &[u8] = b"Vary: ";

/// The largest variants marker we read: a `Vary` value is a short list.
const MAX_MARKER: u64 = 4096;

/// Where the variants marker of `key`'s URL lives: `page@@` beside the
/// variants `page@@accept-language=fr` (see [`crate::cache::vary`]).
fn marker_path(cache_dir: &Path, key: &CacheKey) -> PathBuf {
    entry_path(cache_dir, &key.with_variant(Some(String::new())))
}

/// Whether `path` is a variants marker: a name [`marker_path`] gives.
fn is_marker(dir: &Path, path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    name.strip_suffix('@').is_some_and(|entry_name| {
        key_from_entry_path(dir, &path.with_file_name(entry_name))
            .is_some_and(|key| key.variant.is_none())
    })
}

/// Whether `path` is one of the variants `marker` stands for: its name is
/// the marker's and more, `page@@accept-language=fr` beside `page@@`.
fn is_variant_of(path: &Path, marker: &Path) -> bool {
    let marker_bytes = marker.as_os_str().as_encoded_bytes();
    path != marker
        && path
            .as_os_str()
            .as_encoded_bytes()
            .starts_with(marker_bytes)
}

/// Temporary files get unique names: the process id and this counter.
static TEMP_FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The deepest entry stored, in path segments: `/a/b/c` is 3. A deeper URL is
/// served but not stored, so no client can make thousands of nested
/// directories.
pub const MAX_DEPTH: usize = 32;

/// The tag that marks a directory as a cache (bford.info/cachedir): its name,
/// and the line it must start with.
const TAG_NAME: &str = "CACHEDIR.TAG";
const TAG_SIGNATURE: &str = "Signature: 8a477f597d28d172789f06886806bc55";

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
    /// temporary files of dead processes and the markers whose variants are
    /// all gone and, with a bound, fills the index of entries in the order
    /// they were last served.
    ///
    /// A temporary file still locked belongs to a live process sharing this
    /// directory, and is left alone. A directory that holds files but no
    /// `CACHEDIR.TAG` is refused: it is not ours to sweep or evict from.
    pub fn open(dir: &Path, max_bytes: Option<u64>) -> io::Result<(Store, Inventory)> {
        fs::create_dir_all(dir)?;
        claim(dir)?;
        let mut inventory = Inventory::default();
        let mut entries = Vec::new();
        let mut markers = Vec::new();
        // Another process sharing the directory may rename, evict or finish a
        // file while we walk, so a file that vanishes under us is skipped.
        visit_files(dir, &mut |path| {
            if is_temp_file(dir, path) {
                let Ok(file) = File::open(path) else {
                    return Ok(());
                };
                if file.try_lock().is_ok() && fs::remove_file(path).is_ok() {
                    inventory.stray_temp_files_removed += 1;
                }
            } else if is_marker(dir, path) {
                markers.push(path.to_path_buf());
            } else if is_entry(dir, path) {
                let Ok(metadata) = fs::symlink_metadata(path) else {
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
        let mut kept: BTreeSet<PathBuf> = entries.iter().map(|(_, path, _)| path.clone()).collect();
        for (_, path, size) in entries {
            for evicted in store.index_and_evict(&path, size) {
                kept.remove(&evicted);
                inventory.evicted += 1;
            }
        }
        // A marker whose variants are all gone (a crash, an old version, or
        // the evictions just now). The walk found every entry, so the set
        // of those kept answers without reading a directory again. Paths
        // that begin with a marker's name sort right after it, so the first
        // one at or after the marker is the only one to look at.
        for marker in markers {
            let mut first_after =
                kept.range::<Path, _>((Bound::Included(marker.as_path()), Bound::Unbounded));
            if !first_after
                .next()
                .is_some_and(|path| is_variant_of(path, &marker))
            {
                let _ = fs::remove_file(&marker);
                remove_empty_parents(dir, &marker);
            }
        }
        Ok((store, inventory))
    }

    /// Opens the store in `dir` only to look into it, as `cacheproxy ls`
    /// does: nothing is made, tagged, swept or removed. A proxy may be
    /// running on the directory, and what looks stray to a newcomer (a
    /// temporary file, a marker) may be that proxy's work in progress. A
    /// directory of someone else's files is refused, as by [`Store::open`].
    pub fn open_to_look(dir: &Path) -> io::Result<Store> {
        tagged_or_empty(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            index: None,
        })
    }

    /// Where the entry for `key` lives (whether or not it exists).
    pub fn path_for(&self, key: &CacheKey) -> PathBuf {
        entry_path(&self.dir, key)
    }

    /// The `Vary` value of the URL's variants, when its responses vary: read
    /// from the marker file `page@@` that is stored beside them.
    pub fn vary_of(&self, key: &CacheKey) -> Option<Vec<u8>> {
        let marker = marker_path(&self.dir, key);
        if found_below(&self.dir, &marker).ok()? != Found::File {
            return None;
        }
        let mut text = Vec::new();
        File::open(&marker)
            .ok()?
            .take(MAX_MARKER)
            .read_to_end(&mut text)
            .ok()?;
        let value = text.strip_prefix(MARKER_PREFIX)?.trim_ascii();
        Some(value.to_vec())
    }

    /// Opens the entry for `key`. `Ok(None)` is a miss; an error means a file
    /// is there but is not a readable entry (the caller treats it as a miss).
    ///
    /// An empty body is a valid entry: the decision is "does the file exist",
    /// never "is it empty" (cacheproxy.py's `if content:` turned every empty
    /// file into a miss).
    pub fn lookup(&self, key: &CacheKey) -> io::Result<Option<Entry>> {
        let path = entry_path(&self.dir, key);
        // Only a plain file is opened: a link is not followed, and a FIFO
        // someone left here would block the one thread in `open`.
        match found_below(&self.dir, &path)? {
            Found::File => open_entry(path),
            Found::Nothing | Found::Other => Ok(None),
        }
    }

    /// Starts `entry`'s age again without rewriting it, after a 304 that
    /// changed nothing but `Date`: the new `Date` goes over the old one in
    /// place, the same 29 bytes of an IMF-fixdate, and the file's
    /// modification time, its stored time, is now. No new file, no fsync:
    /// a crash at worst leaves the old date, which only makes the copy look
    /// older. `Ok(false)`: the dates are not both IMF-fixdates, or the file
    /// at the entry's path is no longer the one we read, so the caller must
    /// rewrite the entry instead.
    pub fn touch(&self, entry: &mut Entry, new_date: &[u8]) -> io::Result<bool> {
        let Some(offset) = date_offset(entry, new_date)? else {
            return Ok(false);
        };
        let mut file = OpenOptions::new().write(true).open(&entry.path)?;
        if !same_file(&file, &entry.body)? {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(new_date)?;
        let now = SystemTime::now();
        file.set_times(FileTimes::new().set_modified(now))?;
        entry.stored_at = now;
        Ok(true)
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
    ///
    /// `vary` is the response's `Vary` value, normalised by the caller (the
    /// store knows no HTTP caching rules): a variant's commit writes it into
    /// the URL's marker. For the URL's own key it is not used.
    pub fn begin(
        &self,
        key: &CacheKey,
        head: &ResponseHead,
        vary: Option<&[u8]>,
    ) -> io::Result<PendingEntry> {
        let depth = key.path.iter().filter(|&&byte| byte == b'/').count();
        if depth > MAX_DEPTH {
            let why = format!("the URL is deeper than {MAX_DEPTH} directories");
            return Err(io::Error::other(why));
        }
        let entry_path = entry_path(&self.dir, key);
        let directory = entry_path
            .parent()
            .expect("an entry path always has the cache directory as an ancestor");
        let entry_name = entry_path
            .file_name()
            .expect("an entry path always ends in a file name")
            .to_string_lossy();
        let counter = TEMP_FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_path =
            directory.join(format!("{entry_name}#{}.{counter}.tmp", std::process::id()));
        // Another process may remove an emptied directory between our
        // `create_dir_all` and our file; then we make it again, a few times.
        let in_the_way = |what: &str| Err(io::Error::other(what.to_string()));
        // Checked before any directory is made (a link on the way would take
        // `create_dir_all` out of the cache) and after (one may have appeared).
        if found_below(&self.dir, directory)? == Found::Other {
            return in_the_way("a symbolic link or a file is in the way; not following it");
        }
        let ours_or_gone = || {
            // (Gone: another process may have evicted it just now.)
            is_entry(&self.dir, &entry_path)
                || matches!(found_below(&self.dir, &entry_path), Ok(Found::Nothing))
        };
        match found_below(&self.dir, &entry_path)? {
            Found::Nothing => {}
            Found::File if ours_or_gone() => {}
            _ => return in_the_way("a file that is not a cache entry is in the way; left alone"),
        }
        self.make_again_if_removed()?;
        let mut attempts = 0;
        let file = loop {
            fs::create_dir_all(directory)?;
            if found_below(&self.dir, directory)? == Found::Other {
                return in_the_way("a symbolic link inside the cache directory; not following it");
            }
            // Read and write: after the commit, `Store::refresh` reads the
            // body back through this same descriptor.
            let created = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&temp_path);
            match created {
                Err(error) if error.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                }
                other => break other?,
            }
        };
        // The lock tells a starting process that this file is being written and
        // must not be swept away; the OS drops it when we exit, even on SIGKILL.
        let _ = file.try_lock();
        // A variant's commit writes the marker that lets lookups find it; the
        // URL's own entry's commit removes any marker: it varies no more.
        // The marker holds the normalised list (names once, lower case), so
        // a hostile `Vary` of a thousand repeats cannot outgrow its bounded read.
        let vary = key.variant.as_ref().and(vary).map(<[u8]>::to_vec);
        let mut pending = PendingEntry {
            file: Some(file),
            cache_dir: self.dir.clone(),
            temp_path,
            entry_path,
            marker: (marker_path(&self.dir, key), vary),
            url_key: key.with_variant(None),
            written: 0,
            limit: self.index.as_ref().map(LruIndex::max_bytes),
        };
        // If this write fails, dropping `pending` deletes the temporary file.
        pending.write_all(&head.to_bytes())?;
        Ok(pending)
    }

    /// Makes the cache directory again, with its `CACHEDIR.TAG`, if it was
    /// removed while we run.
    ///
    /// `rm -rf cache` is how many people empty a cache, proxy running or
    /// not. Storing nothing more until a restart would turn the proxy into
    /// a silent pass-through; making the directory without its tag (as a
    /// bare `create_dir_all` would) leaves one that the next start refuses
    /// as someone else's. So it is made again as it was made the first
    /// time. Whoever creates it tags it: another process sharing it, which
    /// finds it already there, leaves that to the creator.
    fn make_again_if_removed(&self) -> io::Result<()> {
        match fs::metadata(&self.dir) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            // There, or in a state that the caller's own calls will report.
            _ => return Ok(()),
        }
        match fs::create_dir(&self.dir) {
            Ok(()) => write_tag(&self.dir),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Makes a pending entry visible: flushes it to disk and renames it into
    /// place. Returns how many older entries were evicted to make room.
    ///
    /// A variant is found only through its URL's marker, so the marker is
    /// written first and the variant renamed into place after it: a variant
    /// is never on disk without its marker, and if the marker cannot be
    /// written, nothing is stored. (A marker whose variant then fails to
    /// arrive costs a miss; start-up removes it.)
    ///
    /// A URL is stored one way or the other: a variant's commit removes the
    /// URL's own entry (its responses vary now), and the URL's own entry's
    /// commit removes the variants and their marker (they vary no more).
    /// Else a lookup, which tries the URL's own entry first, would keep
    /// finding the old one.
    pub fn commit(&mut self, pending: PendingEntry) -> io::Result<usize> {
        self.commit_keeping_file(pending, None)
            .map(|(evicted, _file)| evicted)
    }

    /// [`Store::commit`], handing back the committed file, still open. With
    /// `replacing`, the entry file this one updates: if its path no longer
    /// names that file, nothing is stored (see [`Store::refresh`]).
    fn commit_keeping_file(
        &mut self,
        mut pending: PendingEntry,
        replacing: Option<&File>,
    ) -> io::Result<(usize, File)> {
        // `pending` keeps its file until the rename: if anything fails
        // before, dropping it removes the temporary file.
        let file = pending
            .file
            .as_ref()
            .expect("a pending entry has a file until commit");
        // Stored and last used: now, both read from the same clock that
        // `record_use` reads (the kernel's own file times are coarser).
        let now = SystemTime::now();
        file.set_times(FileTimes::new().set_modified(now).set_accessed(now))?;
        // Without the sync, a power cut soon after the rename could leave an
        // entry whose name is in place but whose bytes never reached the disk.
        file.sync_all()?;
        // Checked as late as can be, just before the rename: a removal in
        // the few calls between the two still loses, but no longer one in
        // the whole of the origin's round trip.
        if let Some(copy_read) = replacing {
            if !still_names(&pending.entry_path, copy_read)? {
                return Err(io::Error::other(
                    "the copy was removed or replaced meanwhile, by a purge or an eviction; not put back",
                ));
            }
        }
        let (marker, vary) = &pending.marker;
        if let Some(vary) = vary {
            // Most variants join a marker that says the same: no write then.
            if self.vary_of(&pending.url_key).as_ref() != Some(vary) {
                write_marker(marker, vary)?;
            }
        }
        fs::rename(&pending.temp_path, &pending.entry_path)?;
        let file = pending
            .file
            .take()
            .expect("a pending entry has a file until commit");
        match vary {
            Some(_) => {
                let _ = self.remove_entry(&pending.url_key);
            }
            // Only a marker that is there means variants to remove; reading
            // the directory to find out would make every stored miss cost
            // as much as the files beside it.
            None if fs::symlink_metadata(marker).is_ok_and(|found| found.is_file()) => {
                for variant in self.keys_in(marker).unwrap_or_default() {
                    let _ = self.remove_entry(&variant);
                }
                let _ = fs::remove_file(marker);
            }
            None => {}
        }
        let evicted = self.index_and_evict(&pending.entry_path, pending.written);
        for victim in &evicted {
            self.drop_marker_if_last(victim);
        }
        Ok((evicted.len(), file))
    }

    /// Stores `entry` again under a new head (after a 304), keeping its body,
    /// and returns it reopened. The body is copied inside the kernel
    /// (`copy_file_range`), and the new file replaces the old one atomically,
    /// as on a miss; its modification time, the entry's age, starts again.
    ///
    /// The returned entry reads through the descriptor that wrote it, not
    /// through its name: another process sharing the directory may evict the
    /// name a moment later, and the reply must still go out.
    ///
    /// A copy removed while the origin was asked (`cacheproxy purge`, an
    /// eviction) is not put back: the removal was asked for after the copy
    /// was read, so it wins. So is a copy another process replaced with a
    /// newer one. Either way the refresh fails, and the old copy is served.
    ///
    /// Returns the entry to serve, and why it is the old one if the refresh
    /// failed: the old entry is still open and ready, so a failed refresh
    /// costs the update, never the reply. `vary` is as for [`Store::begin`].
    pub fn refresh(
        &mut self,
        key: &CacheKey,
        mut entry: Entry,
        head: &ResponseHead,
        vary: Option<&[u8]>,
    ) -> (Entry, Option<io::Error>) {
        match self.write_refreshed(key, &mut entry, head, vary) {
            Ok(refreshed) => (refreshed, None),
            Err(error) => {
                // Back to where a reply from the old entry expects the file to be.
                let served_from = entry.head_length + entry.body_start.len() as u64;
                let seek_error = entry.body.seek(SeekFrom::Start(served_from)).err();
                (entry, Some(seek_error.unwrap_or(error)))
            }
        }
    }

    /// [`Store::refresh`]'s work: the new head, the old body, renamed into place.
    fn write_refreshed(
        &mut self,
        key: &CacheKey,
        entry: &mut Entry,
        head: &ResponseHead,
        vary: Option<&[u8]>,
    ) -> io::Result<Entry> {
        let body_length = entry.body_length;
        let mut pending = self.begin(key, head, vary)?;
        let head_length = pending.written;
        pending.append_body(entry)?;
        let path = pending.entry_path.clone();
        let (_, mut body) = self.commit_keeping_file(pending, Some(&entry.body))?;
        body.seek(SeekFrom::Start(head_length))?;
        Ok(Entry {
            path,
            head: head.clone(),
            body_start: Vec::new(),
            body,
            head_length,
            body_length,
            stored_at: SystemTime::now(),
        })
    }

    /// Removes the entry for `key`, and the directories it leaves empty; for
    /// a URL's own key, its variants and their marker too. Returns whether
    /// there was an entry. Through a symbolic link nothing is removed: what
    /// it points to is not ours.
    pub fn remove(&mut self, key: &CacheKey) -> io::Result<bool> {
        let mut removed = false;
        let marker = marker_path(&self.dir, key);
        if key.variant.is_none() && found_below(&self.dir, &marker)? == Found::File {
            // The variants are the marker's name and more: `page@@...`.
            for variant in self.keys_in(&marker)? {
                removed |= self.remove_entry(&variant)?;
            }
            let _ = fs::remove_file(&marker);
        }
        Ok(self.remove_entry(key)? || removed)
    }

    /// The keys of the entries in `marker`'s directory whose names start
    /// with the marker's: the variants it stands for.
    fn keys_in(&self, marker: &Path) -> io::Result<Vec<CacheKey>> {
        let (Some(directory), Some(prefix)) = (marker.parent(), marker.file_name()) else {
            return Ok(Vec::new());
        };
        let prefix = prefix.to_string_lossy().into_owned();
        let mut keys = Vec::new();
        for dir_entry in fs::read_dir(directory)? {
            let path = dir_entry?.path();
            let named = path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(&prefix));
            if named && is_entry(&self.dir, &path) {
                keys.extend(key_from_entry_path(&self.dir, &path));
            }
        }
        Ok(keys)
    }

    /// Removes the one entry file of `key`; see [`Store::remove`].
    fn remove_entry(&mut self, key: &CacheKey) -> io::Result<bool> {
        let path = entry_path(&self.dir, key);
        if let Some(index) = &mut self.index {
            index.remove(&path);
        }
        // Only our own entries: not through a link, not someone's file.
        if found_below(&self.dir, &path)? != Found::File || !is_entry(&self.dir, &path) {
            return Ok(false);
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                remove_empty_parents(&self.dir, &path);
                Ok(true)
            }
            Err(error) if is_absent(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Removes every entry (but not files that are not entries, such as a
    /// `.gitignore`, nor temporary files being written). Returns how many.
    pub fn remove_all(&mut self) -> io::Result<usize> {
        let mut removed = 0;
        for key in self.keys()? {
            removed += usize::from(self.remove_entry(&key)?);
        }
        let dir = self.dir.clone();
        visit_files(&dir, &mut |path| {
            if is_marker(&dir, path) {
                let _ = fs::remove_file(path);
                remove_empty_parents(&dir, path);
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// The keys of every entry, as `ls` lists them and `purge --all` removes them.
    fn keys(&self) -> io::Result<Vec<CacheKey>> {
        let dir = &self.dir;
        let mut keys = Vec::new();
        visit_files(dir, &mut |path| {
            if is_entry(dir, path) {
                keys.extend(key_from_entry_path(dir, path));
            }
            Ok(())
        })?;
        Ok(keys)
    }

    /// Every entry's key and stored head, sorted by URL, for `cacheproxy ls`,
    /// and the files shaped like entries that cannot be read. Each file is
    /// opened, read and closed in turn, so a cache of any size is listed
    /// with one descriptor. An entry that vanishes meanwhile is skipped.
    /// Only a failure to walk the directory is an error: one bad file does
    /// not hide the good ones, as it does not stop the proxy serving them.
    pub fn list(&self) -> io::Result<Listing> {
        let mut listing = Listing {
            entries: Vec::new(),
            unreadable: Vec::new(),
        };
        for key in self.keys()? {
            let entry = match self.lookup(&key) {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err(error) => {
                    listing.unreadable.push((self.path_for(&key), error));
                    continue;
                }
            };
            let file_bytes = entry.body_length + entry.head_length;
            listing.entries.push((
                key,
                Listed {
                    head: entry.head,
                    body_length: entry.body_length,
                    file_bytes,
                    stored_at: entry.stored_at,
                },
            ));
        }
        listing
            .entries
            .sort_by_cached_key(|(key, _)| key.to_string());
        listing
            .unreadable
            .sort_by(|(one, _), (other, _)| one.cmp(other));
        Ok(listing)
    }

    /// Adds an entry to the eviction index and removes what it says to.
    /// Returns the paths of the entries evicted.
    fn index_and_evict(&mut self, path: &Path, size: u64) -> Vec<PathBuf> {
        let Some(index) = &mut self.index else {
            return Vec::new();
        };
        let victims = index.insert(path, size);
        for victim in &victims {
            // Already gone (another process, `cacheproxy purge`) is fine.
            if fs::remove_file(victim).is_ok() {
                remove_empty_parents(&self.dir, victim);
            }
        }
        victims
    }

    /// After the entry at `evicted` was evicted: if it was a variant and no
    /// other variant of its URL is left, removes the URL's marker too, so
    /// that markers do not pile up under `--max-size`.
    ///
    /// The eviction index answers, not the directory: it holds every entry
    /// this process knows, sorted by path, and a request must not cost a
    /// read of a directory that may hold thousands of files. What it does
    /// not know is a variant that another process sharing the directory
    /// stored since our start; that variant's marker may go with ours. A
    /// lookup then finds no marker, which is a miss, and the miss's store
    /// writes the marker again: a hit lost, never a wrong reply.
    fn drop_marker_if_last(&self, evicted: &Path) {
        let Some(index) = &self.index else {
            return;
        };
        let Some(key) = key_from_entry_path(&self.dir, evicted) else {
            return;
        };
        if key.variant.is_none() {
            return;
        }
        let marker = marker_path(&self.dir, &key);
        let first_after = index.first_path_from(&marker);
        if !first_after.is_some_and(|path| is_variant_of(path, &marker)) {
            let _ = fs::remove_file(&marker);
            remove_empty_parents(&self.dir, &marker);
        }
    }
}

/// What `cacheproxy ls` finds in a cache directory.
pub struct Listing {
    /// Every readable entry's key and what it holds, sorted by URL.
    pub entries: Vec<(CacheKey, Listed)>,
    /// The files shaped like entries that could not be read (a head cut
    /// short, say), sorted by path, and why. The proxy treats each as a miss.
    pub unreadable: Vec<(PathBuf, io::Error)>,
}

/// What `cacheproxy ls` shows of an entry.
pub struct Listed {
    /// The stored status and header fields.
    pub head: ResponseHead,
    /// How many body bytes follow the head.
    pub body_length: u64,
    /// The whole file, head included: what `--max-size` counts.
    pub file_bytes: u64,
    /// When the entry was stored.
    pub stored_at: SystemTime,
}

/// Makes `dir` ours, or refuses it (see [`tagged_or_empty`]): an empty
/// directory gets our tag.
fn claim(dir: &Path) -> io::Result<()> {
    if tagged_or_empty(dir)? {
        return Ok(());
    }
    write_tag(dir)
}

/// Whether `dir` is ours: `true` if it carries our tag, `false` if it is
/// empty (a lone `.gitignore` aside) and so ours to tag. Anything else holds
/// someone's files, and a cache that sweeps and evicts must not touch them:
/// that is an error, which says how to mark an older cache of ours.
fn tagged_or_empty(dir: &Path) -> io::Result<bool> {
    let tag = dir.join(TAG_NAME);
    if let Ok(contents) = fs::read(&tag) {
        if contents.starts_with(TAG_SIGNATURE.as_bytes()) {
            return Ok(true);
        }
    }
    let foreign = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .any(|dir_entry| dir_entry.file_name() != ".gitignore");
    if foreign {
        return Err(io::Error::other(format!(
            "it holds files that cacheproxy did not write (there is no {TAG_NAME}); \
             use a new or empty directory, or, if it is an older cacheproxy cache, \
             mark it: echo '{TAG_SIGNATURE}' > {}",
            tag.display()
        )));
    }
    Ok(false)
}

/// Writes our `CACHEDIR.TAG` into `dir`.
fn write_tag(dir: &Path) -> io::Result<()> {
    let contents = format!(
        "{TAG_SIGNATURE}\n# This file is a cache directory tag created by cacheproxy.\n\
         # For information about cache directory tags, see https://bford.info/cachedir/\n"
    );
    fs::write(dir.join(TAG_NAME), contents)
}

/// Whether `path` is an entry: a name the store could have written, and a
/// file that starts like a stored response. (`docs/icon@3x.png` has an
/// entry's name, but a PNG inside.)
fn is_entry(dir: &Path, path: &Path) -> bool {
    if key_from_entry_path(dir, path).is_none() {
        return false;
    }
    let mut start = [0u8; 9];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut start))
        .is_ok_and(|()| &start == b"HTTP/1.1 ")
}

/// What is at a path below the cache directory, looked at without following
/// a symbolic link anywhere on the way. (`dir` itself may be a link; that is
/// the user's choice.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Nothing yet, at the path or at a directory on the way.
    Nothing,
    /// A plain file, or (for a directory path) a plain directory.
    File,
    /// A symbolic link on the way or at the end, or something that is not a
    /// plain file (a FIFO, a socket, a device).
    Other,
}

/// What is at `path` below `dir`; see [`Found`].
fn found_below(dir: &Path, path: &Path) -> io::Result<Found> {
    let Ok(relative) = path.strip_prefix(dir) else {
        return Ok(Found::Other);
    };
    let mut below = dir.to_path_buf();
    let mut found = Found::File;
    for name in relative {
        below.push(name);
        found = match fs::symlink_metadata(&below) {
            Ok(metadata) if metadata.is_file() || metadata.is_dir() => Found::File,
            Ok(_) => return Ok(Found::Other),
            Err(error) if is_absent(&error) => return Ok(Found::Nothing),
            Err(error) => return Err(error),
        };
    }
    Ok(found)
}

/// Removes the directories between `path` and `dir` that are now empty,
/// deepest first, stopping at the first that is not (or at `dir`, never
/// removed).
fn remove_empty_parents(dir: &Path, path: &Path) {
    let mut parent = path.parent();
    while let Some(directory) = parent {
        if directory == dir || !directory.starts_with(dir) || fs::remove_dir(directory).is_err() {
            return;
        }
        parent = directory.parent();
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
    let mut body = file;
    let (head, head_length, body_start) = read_stored_head(&mut body, metadata.len())?;
    Ok(Some(Entry {
        path,
        head,
        body_start,
        body,
        head_length,
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

/// Where in `entry`'s file the value of its `Date` starts, if both it and
/// `new_date` are IMF-fixdates (29 bytes), so one can replace the other.
/// The file position is put back where a reply from the entry expects it.
fn date_offset(entry: &Entry, new_date: &[u8]) -> io::Result<Option<u64>> {
    let is_imf = |date: &[u8]| date.len() == 29 && crate::wire::dates::is_imf_fixdate(date);
    if !is_imf(new_date) {
        return Ok(None);
    }
    let mut head = vec![0; usize::try_from(entry.head_length).unwrap_or(0)];
    let mut file = &entry.body;
    file.seek(SeekFrom::Start(0))?;
    let read = file.read_exact(&mut head);
    file.seek(SeekFrom::Start(
        entry.head_length + entry.body_start.len() as u64,
    ))?;
    read?;
    // The one `Date` line's value; two of them, or none, mean a rewrite.
    let (mut line_start, mut found) = (0, Vec::new());
    for line in head.split(|&byte| byte == b'\n') {
        let name_end = line.iter().position(|&byte| byte == b':');
        if let Some(name_end) = name_end.filter(|&end| line[..end].eq_ignore_ascii_case(b"date")) {
            let spaces = line[name_end + 1..]
                .iter()
                .take_while(|&&byte| byte == b' ')
                .count();
            let value_start = name_end + 1 + spaces;
            let value = line[value_start..].trim_ascii_end();
            found.push(is_imf(value).then_some((line_start + value_start) as u64));
        }
        line_start += line.len() + 1;
    }
    Ok(match found[..] {
        [one] => one,
        _ => None,
    })
}

/// Whether two open files are the same file on disk: the entry we read is
/// still the one at its path, not one another process renamed over it.
#[cfg(unix)]
fn same_file(one: &File, other: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (one, other) = (one.metadata()?, other.metadata()?);
    Ok(one.dev() == other.dev() && one.ino() == other.ino())
}

/// Elsewhere we cannot tell, so the entry is rewritten instead.
#[cfg(not(unix))]
fn same_file(_one: &File, _other: &File) -> io::Result<bool> {
    Ok(false)
}

/// Whether `path` still names `file`: not removed since `file` was opened,
/// and not replaced by another file renamed over it. A link at `path` is
/// not followed (it is another file).
#[cfg(unix)]
fn still_names(path: &Path, file: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let at_path = match fs::symlink_metadata(path) {
        Ok(at_path) => at_path,
        Err(error) if is_absent(&error) => return Ok(false),
        Err(error) => return Err(error),
    };
    let opened = file.metadata()?;
    Ok(at_path.dev() == opened.dev() && at_path.ino() == opened.ino())
}

/// Elsewhere we cannot tell one file from another: whether a file is there.
#[cfg(not(unix))]
fn still_names(path: &Path, _file: &File) -> io::Result<bool> {
    Ok(fs::symlink_metadata(path).is_ok_and(|at_path| at_path.is_file()))
}

/// Whether `path` is one of our temporary files: exactly
/// `<entry name>#<pid>.<counter>.tmp`, beside where that entry would live.
/// (`notes#1.txt` is not one, and is left alone.)
fn is_temp_file(dir: &Path, path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    let Some((entry_name, suffix)) = name.split_once('#') else {
        return false;
    };
    let numbers = suffix
        .strip_suffix(".tmp")
        .and_then(|numbers| numbers.split_once('.'));
    let all_digits =
        |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let for_path = path.with_file_name(entry_name);
    numbers.is_some_and(|(pid, counter)| all_digits(pid) && all_digits(counter))
        && (key_from_entry_path(dir, &for_path).is_some() || is_marker(dir, &for_path))
}

/// Calls `visit` with every regular file below `directory`, never following
/// a symbolic link (`file_type` does not follow them, and a link is neither
/// a file nor a directory). Each directory is read whole and closed before
/// the next is opened, so the walk holds one descriptor however deep it goes.
fn visit_files(directory: &Path, visit: &mut dyn FnMut(&Path) -> io::Result<()>) -> io::Result<()> {
    let root = directory;
    let mut to_read = vec![root.to_path_buf()];
    while let Some(directory) = to_read.pop() {
        let mut files = Vec::new();
        let dir_entries = match fs::read_dir(&directory) {
            Ok(dir_entries) => dir_entries,
            // Emptied and removed by another process since we saw it.
            Err(error) if is_absent(&error) && directory != root => continue,
            Err(error) => return Err(error),
        };
        for dir_entry in dir_entries {
            let dir_entry = dir_entry?;
            let file_type = dir_entry.file_type()?;
            if file_type.is_dir() {
                to_read.push(dir_entry.path());
            } else if file_type.is_file() {
                files.push(dir_entry.path());
            }
        }
        for file in files {
            visit(&file)?;
        }
    }
    Ok(())
}

/// Reads the head of an entry file; returns it, its length in bytes, and the
/// body bytes that came in the same
/// reads. The first read is [`FIRST_READ`] bytes (or the whole file, if it is
/// smaller), which holds the head and, for most small files, the whole body: a
/// hit then costs one read. The buffer is zeroed before the read, so it is no
/// bigger than the file: zeroing 32 KiB for a 1 KiB file would cost more than
/// the rest of a hit's own work.
fn read_stored_head(file: &mut File, file_length: u64) -> io::Result<(ResponseHead, u64, Vec<u8>)> {
    let first_read =
        usize::try_from(file_length).map_or(FIRST_READ, |length| length.clamp(1, FIRST_READ));
    let mut read = vec![0u8; first_read];
    let mut filled = 0;
    loop {
        let count = file.read(&mut read[filled..])?;
        if count == 0 {
            return Err(invalid_entry());
        }
        filled += count;
        let blank_line = read[..filled]
            .windows(4)
            .position(|bytes| bytes == b"\r\n\r\n");
        if let Some(blank_line) = blank_line {
            let head_end = blank_line + 4;
            let head = http::parse_response_head(&read[..head_end]).ok_or_else(invalid_entry)?;
            read.truncate(filled);
            let body_start = read.split_off(head_end);
            return Ok((head, head_end as u64, body_start));
        }
        if filled == read.len() {
            if read.len() as u64 >= MAX_STORED_HEAD {
                return Err(invalid_entry());
            }
            read.resize(read.len() * 2, 0);
        }
    }
}

/// Writes a variants marker (`Vary: accept-language`) the way entries are
/// written: a temporary file renamed into place, so a reader sees all of it.
fn write_marker(marker: &Path, vary: &[u8]) -> io::Result<()> {
    let counter = TEMP_FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp_name = marker.as_os_str().to_owned();
    temp_name.push(format!("#{}.{counter}.tmp", std::process::id()));
    let temp = PathBuf::from(temp_name);
    let written = fs::write(&temp, [MARKER_PREFIX, vary, b"\n"].concat())
        .and_then(|()| fs::rename(&temp, marker));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

fn invalid_entry() -> io::Error {
    let why = "its stored head is cut short, malformed or too long";
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// An entry being written: a temporary file that becomes the entry on
/// [`Store::commit`], and is deleted if dropped before that (an origin that
/// failed mid-body, a client that left), so no short file remains.
pub struct PendingEntry {
    file: Option<File>,
    /// The cache directory, so a dropped entry can tidy the directories it made.
    cache_dir: PathBuf,
    temp_path: PathBuf,
    entry_path: PathBuf,
    /// The URL's variants marker, and the `Vary` value to write into it if
    /// this entry is a variant.
    marker: (PathBuf, Option<Vec<u8>>),
    /// The URL's own key: its entry, or its variants, are out of date once
    /// this entry is the other kind (see [`Store::commit`]).
    url_key: CacheKey,
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
    fn append_body(&mut self, entry: &mut Entry) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .expect("a pending entry has a file until commit");
        // `File` to `File`: the standard library uses `copy_file_range`, so the
        // bytes never leave the kernel. (From the body's first byte, so the
        // part read along with the head is copied too.)
        entry.body.seek(SeekFrom::Start(entry.head_length))?;
        self.written += io::copy(&mut (&entry.body).take(entry.body_length), file)?;
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
            // The directories made for it go too, if nothing else is in them.
            if fs::remove_file(&self.temp_path).is_ok() {
                remove_empty_parents(&self.cache_dir, &self.temp_path);
            }
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
