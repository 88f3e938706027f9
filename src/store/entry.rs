//! Reading entries back: [`Entry`], the lookup of step 2, the variants
//! marker that says what a URL varies on, the in-place `Date` of a 304, and
//! the listing of `cacheproxy ls`. Not here: writing entries, or whether an
//! entry may be served (the cache's rules).
//!
//! A small entry (one that fits the first read) is not synced before its
//! rename, so after a power cut its name may stand for a file cut short,
//! empty, or with blocks of zeros (file systems that set a file's size before
//! its blocks are written, as XFS and ext4 can). The first read of a file
//! checks: a head cut short or zeroed does not parse; a body cut short has
//! not the length its commit recorded; a zeroed block of the body, even at
//! the right length, has not the recorded sum of its bytes, since zeros can
//! only lower that sum: a plain sum catches that damage exactly, at one add
//! per byte of a body that is in memory already. A longer entry is synced
//! before its rename, so a hit never reads a body twice. Any mismatch is an
//! unreadable entry: a miss, and the fetch replaces it. A file that passed
//! has its head remembered ([`crate::store::parsed_heads`]), and later hits
//! on that same version of it skip the parse and the checks.

use std::cell::RefCell;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::iter;
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::SystemTime;

use crate::store::disk::{
    entry_key, found_below, is_absent, same_file, visit_files, walk_below, Found,
};
use crate::store::key::{marker_path, relative_entry_path, CacheKey};
use crate::store::open::Store;
use crate::store::parsed_heads::{ParsedHeads, StoredHead};
use crate::wire::http::{self, NoHead, ResponseHead};

/// A stored response, open and ready to replay.
pub struct Entry {
    /// Where the entry lives, for logs.
    pub path: PathBuf,
    /// The stored status and header fields: just parsed, sharing
    /// `first_read`, or recalled, shared with the store's memory of parsed
    /// heads (so a change makes a new head, not a change to this one).
    pub head: Rc<ResponseHead>,
    /// The file's first read: the head, then the body's first bytes (a small
    /// entry's whole body).
    pub(super) first_read: Rc<[u8]>,
    /// Where in `first_read` the body's bytes are.
    pub(super) body_read: Range<usize>,
    /// The entry file, positioned just after [`Entry::body_start`].
    pub body: File,
    /// How many bytes the stored head takes, blank line included.
    pub head_length: u64,
    /// How many body bytes follow the head.
    pub body_length: u64,
    /// When the entry was stored (the file's modification time).
    pub stored_at: SystemTime,
}

impl Entry {
    /// The body's first bytes, read with the head (a small entry's whole body).
    pub fn body_start(&self) -> &[u8] {
        &self.first_read[self.body_read.clone()]
    }
}

/// How much of an entry file the first read takes (or all of a smaller
/// one): the head and, for most small entries, the body, so a hit costs one
/// read.
pub(super) const FIRST_READ: usize = 32 * 1024;

/// The largest stored head we read back (the origin client refuses over 64 KiB).
const MAX_STORED_HEAD: u64 = 80 * 1024;

/// The fields a commit records at the end of an entry's head, the body's length
/// and the sum of its bytes; taken out of the head when it is read back. An
/// entry without them was written by a cacheproxy that synced each entry.
pub(super) const LENGTH_FIELD: &str = "Content-Length";
pub(super) const SUM_FIELD: &str = "Cacheproxy-Body-Sum";

/// A variants marker starts with this, then the `Vary` value.
pub(super) const MARKER_PREFIX: &[u8] = b"Vary: ";

/// The largest variants marker we read: a `Vary` value is a short list.
const MAX_MARKER: u64 = 4096;

impl Store {
    /// The `Vary` value of the URL's variants, from its marker `page@@`.
    pub fn vary_of(&self, key: &CacheKey) -> Option<Vec<u8>> {
        let marker = marker_path(&self.dir, key);
        if found_below(&self.dir, &marker).ok()? != Found::File {
            return None;
        }
        let (marker_file, mut text) = (File::open(&marker).ok()?, Vec::new());
        marker_file.take(MAX_MARKER).read_to_end(&mut text).ok()?;
        Some(text.strip_prefix(MARKER_PREFIX)?.trim_ascii().to_vec())
    }

    /// Opens the entry for `key`. `Ok(None)` is a miss; an error means a file
    /// is there but is not a readable entry (the caller treats it as a miss).
    /// An empty body is an entry (cacheproxy.py's `if content:` made it a miss).
    pub fn lookup(&self, key: &CacheKey) -> io::Result<Option<Entry>> {
        // Only a plain file is opened: a link is not followed, and a FIFO
        // someone left here would block the one thread in `open`.
        let (path, found) = walk_below(&self.dir, &relative_entry_path(key))?;
        if found != Found::File {
            return Ok(None);
        }
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if is_absent(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Ok(None);
        }
        read_entry(path, file, &metadata, &self.parsed_heads).map(Some)
    }

    /// Starts `entry`'s age again after a 304 that changed only `Date`: the new
    /// `Date` goes over the old in place, and the modification time becomes
    /// now (no new file, no fsync: a crash at worst leaves the old date).
    /// `Ok(false)`: a date is no IMF-fixdate, or the path names another file.
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

    /// Records that `entry` was just served, in the eviction order and on disk
    /// (so the order survives a restart); without a size bound, nowhere.
    pub fn record_use(&mut self, entry: &Entry) {
        if let Some(index) = &mut self.index {
            let accessed = FileTimes::new().set_accessed(SystemTime::now());
            let _ = entry.body.set_times(accessed);
            index.touch(&entry.path);
        }
    }

    /// Every entry's key and stored head, sorted by URL, for `cacheproxy ls`,
    /// and the files shaped like entries that cannot be read: one bad file
    /// does not hide the good ones. One descriptor lists a cache of any size.
    pub fn list(&self) -> io::Result<Listing> {
        let (mut entries, mut unreadable) = (Vec::new(), Vec::new());
        visit_files(&self.dir, &mut |path| {
            let Some(key) = entry_key(&self.dir, path) else {
                return Ok(());
            };
            match self.lookup(&key) {
                Ok(Some(entry)) => {
                    let listed = Listed {
                        file_bytes: entry.head_length + entry.body_length,
                        body_length: entry.body_length,
                        stored_at: entry.stored_at,
                        head: entry.head.detached(),
                    };
                    entries.push((key, listed));
                }
                Ok(None) => {}
                Err(error) => unreadable.push((self.path_for(&key), error)),
            }
            Ok(())
        })?;
        entries.sort_by_cached_key(|(key, _)| key.to_string());
        unreadable.sort_by(|(one, _), (other, _)| one.cmp(other));
        Ok(Listing {
            entries,
            unreadable,
        })
    }
}

/// What `cacheproxy ls` finds in a cache directory.
pub struct Listing {
    /// Every readable entry's key and what it holds, sorted by URL.
    pub entries: Vec<(CacheKey, Listed)>,
    /// The files shaped like entries that could not be read, and why, by path.
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

/// Reads the entry in `file`: its head, parsed, or recalled from a read of
/// this same version of the file, and the body's first bytes, which a first
/// read checks against the commit's record (see the module's docs).
fn read_entry(
    path: PathBuf,
    mut file: File,
    metadata: &fs::Metadata,
    parsed_heads: &RefCell<ParsedHeads>,
) -> io::Result<Entry> {
    let file_length = metadata.len();
    let (mut first_read, mut filled) = (zeros(first_read_length(file_length)), 0);
    let ended = fill(&mut file, &mut first_read, &mut filled)?;
    let recalled = parsed_heads
        .borrow()
        .recall(metadata, &first_read[..filled]);
    // A head is remembered only once its body passed the check below, and
    // only until the file changes (see `parsed_heads`).
    let checked_before = recalled.is_some();
    let (first_read, filled, stored) = match recalled {
        Some(stored) => (first_read, filled, stored),
        None => parse_head(&mut file, file_length, first_read, filled, ended)?,
    };
    let body_read = stored.head_length..filled;
    let head_length = stored.head_length as u64;
    // (A file that grew after `fstat` may hold a head longer than it was then.)
    let body_length = (file_length.checked_sub(head_length)).ok_or_else(invalid_entry)?;
    if !checked_before {
        check_body(&stored, &first_read[body_read.clone()], body_length)?;
        // A head longer than the first read could never be recalled.
        if stored.head_length <= FIRST_READ {
            let file_head = &first_read[..stored.head_length];
            parsed_heads
                .borrow_mut()
                .remember(metadata, file_head, &stored);
        }
    }
    Ok(Entry {
        path,
        head: stored.head,
        first_read,
        body_read,
        body: file,
        head_length,
        body_length,
        stored_at: metadata.modified()?,
    })
}

/// How much of a file of `file_length` bytes the first read takes: all of a
/// small one (zeroing 32 KiB for a 1 KiB file costs more than the rest of a hit).
fn first_read_length(file_length: u64) -> usize {
    usize::try_from(file_length).map_or(FIRST_READ, |length| length.clamp(1, FIRST_READ))
}

/// A buffer of `length` zeros, to read into: read straight into the buffer the
/// head's fields share, as a `Vec` made into an `Rc` after would be allocated
/// and copied a second time.
fn zeros(length: usize) -> Rc<[u8]> {
    iter::repeat_n(0, length).collect()
}

/// Reads `file` into `buffer` from `filled` on, until the buffer is full or
/// the file ends, and says whether it ended. A read cut short is read on from
/// (a local file's never is): the check of a small body needs all of it.
fn fill(file: &mut File, buffer: &mut Rc<[u8]>, filled: &mut usize) -> io::Result<bool> {
    // Not shared (a failed parse keeps none of its fields), so `make_mut`
    // copies nothing.
    let buffer = Rc::make_mut(buffer);
    while *filled < buffer.len() {
        match file.read(&mut buffer[*filled..])? {
            0 => return Ok(true),
            count => *filled += count,
        }
    }
    Ok(false)
}

/// Parses the stored head at the start of `read`, whose first `filled` bytes
/// came from `file` (and `ended` if the file did), reading on, twice as much
/// each time, while the head goes on: the bytes read, how many, and what the
/// head holds. The bytes are read once, into the buffer the fields share.
fn parse_head(
    file: &mut File,
    file_length: u64,
    mut read: Rc<[u8]>,
    mut filled: usize,
    mut ended: bool,
) -> io::Result<(Rc<[u8]>, usize, StoredHead)> {
    loop {
        ended = ended || filled as u64 == file_length;
        // The head's fields share these bytes, the body's first ones with
        // them; so the whole buffer is parsed, not a slice of it, which would
        // be a copy. (Past `filled` are zeros only if the file came up short:
        // a line with no end, so `CutShort`, and the file has ended.)
        match http::parse_response_head(&read) {
            Ok((mut head, head_length)) => {
                let recorded_body_length = take_recorded(&mut head, LENGTH_FIELD)?;
                let recorded_body_sum = take_recorded(&mut head, SUM_FIELD)?;
                let stored = StoredHead {
                    head: Rc::new(head),
                    head_length,
                    recorded_body_length,
                    recorded_body_sum,
                };
                return Ok((read, filled, stored));
            }
            Err(NoHead::Malformed) => return Err(invalid_entry()),
            Err(NoHead::CutShort) => {}
        }
        // The head goes on past the buffer: refused if the file ended, or if
        // a head this long is none we wrote; else read on.
        if ended || filled as u64 >= MAX_STORED_HEAD {
            return Err(invalid_entry());
        }
        let grown = (2 * filled).min(MAX_STORED_HEAD as usize);
        let more_zeros = iter::repeat_n(0, grown - filled);
        read = read.iter().copied().chain(more_zeros).collect();
        ended = fill(file, &mut read, &mut filled)?;
    }
}

/// Checks a body of `body_length` bytes, whose first ones are `first_bytes`,
/// against its commit's record: its length, and, when all of it was read,
/// the sum of its bytes (see the module's docs).
fn check_body(stored: &StoredHead, first_bytes: &[u8], body_length: u64) -> io::Result<()> {
    let length_differs = (stored.recorded_body_length).is_some_and(|length| length != body_length);
    // A longer body was synced before its rename (see the module's docs).
    let whole_in_memory = first_bytes.len() as u64 == body_length;
    let sum_differs = (stored.recorded_body_sum)
        .is_some_and(|sum| whole_in_memory && sum != byte_sum(first_bytes));
    if length_differs || sum_differs {
        return Err(body_not_stored());
    }
    Ok(())
}

fn body_not_stored() -> io::Error {
    let why = "its body is not the one stored: cut short or zeroed, by a power cut?";
    io::Error::new(io::ErrorKind::InvalidData, why)
}

fn invalid_entry() -> io::Error {
    let why = "its stored head is cut short, malformed or too long";
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Takes the last `name` field (the commit's, after any the origin sent) out
/// of `head`, as a number; one that is no number (left blank) is an error.
fn take_recorded(head: &mut ResponseHead, name: &str) -> io::Result<Option<u64>> {
    let is_named = |field: &http::Header| field.is(name);
    let Some(index) = head.headers.iter().rposition(is_named) else {
        return Ok(None);
    };
    let field = head.headers.remove(index);
    // ASCII digits, as a commit writes them (an origin's `Content-Length` is
    // checked to be so before it is stored); a blank is a commit that never came.
    http::parse_decimal(field.value())
        .map(Some)
        .ok_or_else(invalid_entry)
}

/// The sum of `bytes`, each as a number from 0 to 255.
pub(super) fn byte_sum(bytes: &[u8]) -> u64 {
    // Summed in `u16`s, 256 bytes at a time (255 * 256 fits in one): the
    // compiler turns that into adds of 16 or 32 bytes at once.
    let chunk_sum =
        |chunk: &[u8]| u64::from(chunk.iter().map(|&byte| u16::from(byte)).sum::<u16>());
    bytes.chunks(256).map(chunk_sum).sum()
}

/// Where in `entry`'s file the value of its one `Date` starts, if both it and
/// `new_date` are IMF-fixdates; the file position is put back for a reply.
fn date_offset(entry: &Entry, new_date: &[u8]) -> io::Result<Option<u64>> {
    let is_imf = |date: &[u8]| date.len() == 29 && crate::wire::dates::is_imf_fixdate(date);
    if !is_imf(new_date) {
        return Ok(None);
    }
    let mut head = vec![0; usize::try_from(entry.head_length).unwrap_or(0)];
    let mut file = &entry.body;
    file.seek(SeekFrom::Start(0))?;
    let read = file.read_exact(&mut head);
    let served_from = entry.head_length + entry.body_start().len() as u64;
    file.seek(SeekFrom::Start(served_from))?;
    read?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::parsed_heads::PARSED_HEADS_BUDGET;

    /// `read_entry` of a file holding `bytes`.
    fn read_back(name: &str, bytes: &[u8]) -> io::Result<Entry> {
        let unique = format!("cacheproxy-entry-{}-{name}", std::process::id());
        let path = std::env::temp_dir().join(unique);
        fs::write(&path, bytes).expect("write the entry");
        let file = File::open(&path).expect("open the entry");
        let metadata = file.metadata().expect("its metadata");
        let no_memory = RefCell::new(ParsedHeads::new(0));
        let entry = read_entry(path.clone(), file, &metadata, &no_memory);
        fs::remove_file(&path).expect("remove the entry");
        entry
    }

    #[test]
    fn a_small_entry_is_read_whole_and_checked_against_its_record() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                    Content-Length: 4\r\nCacheproxy-Body-Sum: 430\r\n\r\n";
        let entry = read_back("small", format!("{head}body").as_bytes()).expect("an entry");
        assert_eq!(entry.head_length, head.len() as u64);
        assert_eq!(entry.body_start(), b"body");
        assert_eq!(entry.head.headers.len(), 1, "the record is taken out");
        let zeroed = format!("{head}\0\0\0\0");
        assert!(read_back("zeroed", zeroed.as_bytes()).is_err());
    }

    #[test]
    fn a_body_that_fails_its_check_is_refused_at_every_read_not_remembered() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nCacheproxy-Body-Sum: 430\r\n\r\n";
        let path = std::env::temp_dir().join(format!("cacheproxy-zeroed-{}", std::process::id()));
        let memory = RefCell::new(ParsedHeads::new(PARSED_HEADS_BUDGET));
        let read = |contents: String| {
            fs::write(&path, contents).expect("write the entry");
            let file = File::open(&path).expect("open the entry");
            let metadata = file.metadata().expect("its metadata");
            read_entry(path.clone(), file, &metadata, &memory)
        };
        let zeroed = format!("{head}\0\0\0\0");
        assert!(read(zeroed).is_err());
        // The same file, unchanged: refused again, not served from memory.
        let file = File::open(&path).expect("open the entry");
        let metadata = file.metadata().expect("its metadata");
        assert!(read_entry(path.clone(), file, &metadata, &memory).is_err());
        let good = read(format!("{head}body")).expect("a good entry");
        assert_eq!(good.body_start(), b"body");
        let first_bytes = fs::read(&path).expect("read the entry");
        let recalled = memory.borrow().recall(&metadata_of(&path), &first_bytes);
        assert_eq!(recalled.map(|stored| stored.head_length), Some(head.len()));
        fs::remove_file(&path).expect("remove the entry");
    }

    fn metadata_of(path: &std::path::Path) -> fs::Metadata {
        fs::metadata(path).expect("its metadata")
    }

    #[test]
    fn a_head_longer_than_the_first_read_is_read_whole() {
        let long = "x".repeat(FIRST_READ + 100);
        let head = format!("HTTP/1.1 200 OK\r\nX-Long: {long}\r\nContent-Length: 4\r\n\r\n");
        let entry = read_back("long", format!("{head}body").as_bytes()).expect("an entry");
        assert_eq!(entry.head_length, head.len() as u64);
        assert_eq!(entry.body_start(), b"body");
        assert_eq!(entry.head.headers[0].value(), long.as_bytes());
    }

    #[test]
    fn a_file_that_grew_after_its_length_was_taken_is_refused() {
        // 40 KiB of head, no end yet: longer than the first read, so the
        // read goes on past the length `fstat` gave, into what came later.
        let start = format!("HTTP/1.1 200 OK\r\nX-Long: {}", "x".repeat(40 * 1024));
        let path = std::env::temp_dir().join(format!("cacheproxy-grew-{}", std::process::id()));
        fs::write(&path, &start).expect("write the entry");
        let file = File::open(&path).expect("open the entry");
        let metadata = file.metadata().expect("its metadata");
        let rest = format!("{}\r\n\r\nbody", "x".repeat(10 * 1024));
        let mut appending = OpenOptions::new().append(true).open(&path).expect("open");
        appending
            .write_all(rest.as_bytes())
            .expect("grow the entry");
        let no_memory = RefCell::new(ParsedHeads::new(0));
        let read = read_entry(path.clone(), file, &metadata, &no_memory);
        assert!(read.is_err(), "a head longer than the file was is no entry");
        fs::remove_file(&path).expect("remove the entry");
    }

    #[test]
    fn a_head_longer_than_any_we_write_is_refused() {
        let head_of = |length: usize| {
            let long = "x".repeat(length);
            format!("HTTP/1.1 200 OK\r\nX-Long: {long}\r\nContent-Length: 4\r\n\r\nbody")
        };
        assert!(read_back("under", head_of(MAX_STORED_HEAD as usize - 100).as_bytes()).is_ok());
        for length in [MAX_STORED_HEAD as usize, 100 * 1024, 130 * 1024] {
            let refused = read_back("over", head_of(length).as_bytes());
            assert!(refused.is_err(), "a head of {length} bytes was read");
        }
    }
}
