//! Writing entries, step 5: a response streams into a temporary file
//! ([`PendingEntry`]) that the commit renames into place only when complete.
//! `rename` within a directory is atomic, so a reader, in this process or
//! another, sees the old file or the new one, never half of one; a process
//! that dies leaves only a temporary file, swept at the next start. A power
//! cut may leave less (see [`Store::commit`]). Also the refresh after a 304
//! and the variants marker; not whether a response may be stored.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use crate::store::disk::{entry_key, found_below, remove_with_empty_parents, still_names, Found};
use crate::store::entry::{byte_sum, Entry, FIRST_READ, LENGTH_FIELD, MARKER_PREFIX, SUM_FIELD};
use crate::store::eviction::LruIndex;
use crate::store::key::{entry_path, marker_path, temp_path, CacheKey};
use crate::store::open::{make_again_if_removed, Store};
use crate::wire::http::ResponseHead;

/// The deepest entry stored, in path segments: `/a/b/c` is 3. A deeper URL is
/// served but not stored: no client can make thousands of nested directories.
pub const MAX_DEPTH: usize = 32;

/// An entry being written: a temporary file that becomes the entry on
/// [`Store::commit`], or is deleted if dropped first (an origin failed
/// mid-body, a client left), so no short file remains. The file is made at
/// the first write, not at [`Store::begin`]: a relay writes each piece to
/// the client first, so making a file (the slowest call of a small miss)
/// comes after the client has the body, not before.
pub struct PendingEntry {
    /// The temporary file, once the first write has made it.
    file: Option<File>,
    /// The head, until the first write puts it in the file.
    unwritten_head: Option<Vec<u8>>,
    /// The cache directory, above which a dropped entry's tidying stops.
    cache_dir: PathBuf,
    temp_path: PathBuf,
    entry_path: PathBuf,
    /// The `Vary` value to write into the URL's marker, if this is a variant.
    vary: Option<Vec<u8>>,
    /// The URL's own key, to find what this entry puts out of date.
    url_key: CacheKey,
    /// Bytes written so far, head included.
    written: u64,
    /// How many of them are the head, and the sum of the body's bytes so far.
    head_length: u64,
    body_sum: u64,
    /// The most this entry may grow to (the cache's `--max-size`), if bounded.
    limit: Option<u64>,
}

impl Store {
    /// Starts storing a response for `key`: a temporary file beside the
    /// entry's place, made with the head in it at the first write; the body
    /// follows through `Write`, then [`Store::commit`]. A variant's commit
    /// writes `vary` into its marker: normalised by the caller, so a hostile
    /// `Vary` stays short.
    pub fn begin(
        &self,
        key: &CacheKey,
        head: &ResponseHead,
        vary: Option<Vec<u8>>,
    ) -> io::Result<PendingEntry> {
        if key.path.iter().filter(|&&byte| byte == b'/').count() > MAX_DEPTH {
            let why = format!("the URL is deeper than {MAX_DEPTH} directories");
            return Err(io::Error::other(why));
        }
        let entry_path = entry_path(&self.dir, key);
        // The head ends in blanks that the commit fills with the body's record.
        let mut head_bytes = head.to_bytes();
        head_bytes.truncate(head_bytes.len() - 2);
        head_bytes.extend_from_slice(record(None).as_bytes());
        let head_length = head_bytes.len() as u64;
        Ok(PendingEntry {
            file: None,
            unwritten_head: Some(head_bytes),
            cache_dir: self.dir.clone(),
            temp_path: temp_path(&entry_path),
            entry_path,
            vary: vary.filter(|_| key.variant.is_some()),
            url_key: key.with_variant(None),
            written: head_length,
            head_length,
            body_sum: 0,
            limit: self.index.as_ref().map(LruIndex::max_bytes),
        })
    }
}

impl PendingEntry {
    /// Makes the temporary file, with the head in it, if not made yet.
    fn make_file(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            // The head alone counts too: an empty body never calls `write`.
            if self.limit.is_some_and(|limit| self.written > limit) {
                return Err(io::Error::other("larger than --max-size"));
            }
            let mut file = create_temp_file(&self.cache_dir, &self.entry_path, &self.temp_path)?;
            // From here on, an error drops `self`, which deletes the file.
            let head = self.unwritten_head.take().unwrap_or_default();
            let written = file.write_all(&head);
            self.file = Some(file);
            written?;
        }
        Ok(self.file.as_mut().expect("made just now"))
    }
}

/// Creates and locks the temporary file, and the directories on the way,
/// never through a symbolic link nor over a file that is not our entry.
fn create_temp_file(dir: &Path, entry_path: &Path, temp_path: &Path) -> io::Result<File> {
    let directory = entry_path.parent().unwrap_or(dir);
    let in_the_way = |what: &str| Err(io::Error::other(what.to_string()));
    // Checked before any directory is made (a link on the way would take
    // `create_dir_all` out of the cache) and after (one may have appeared).
    let mut directory_found = found_below(dir, directory)?;
    if directory_found == Found::Other {
        return in_the_way("a symbolic link or a file is in the way; not following it");
    }
    // Gone since we looked: another process may have evicted it just now.
    let ours_or_gone = || {
        entry_key(dir, entry_path).is_some()
            || matches!(found_below(dir, entry_path), Ok(Found::Nothing))
    };
    match found_below(dir, entry_path)? {
        Found::Nothing => {}
        Found::File if ours_or_gone() => {}
        _ => return in_the_way("a file that is not a cache entry is in the way; left alone"),
    }
    // Another process may remove the emptied directory first: make it again.
    let mut attempts = 0;
    let file = loop {
        // Most directories are there already, found just now: nothing to make.
        if directory_found == Found::Nothing {
            make_again_if_removed(dir)?;
            fs::create_dir_all(directory)?;
            if found_below(dir, directory)? == Found::Other {
                return in_the_way("a symbolic link inside the cache directory; not following it");
            }
        }
        // Readable too: `Store::refresh` reads the body back through it.
        let created = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(temp_path);
        match created {
            Err(error) if error.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                attempts += 1;
                directory_found = Found::Nothing;
            }
            other => break other?,
        }
    };
    // The lock tells a starting process that this file is being written and
    // must not be swept away; the OS drops it when we exit, even on SIGKILL.
    let _ = file.try_lock();
    Ok(file)
}

impl Store {
    /// Makes a pending entry visible: its record written, and renamed into
    /// place. A small entry is not synced first: that was most of a small
    /// miss's cost (0.35 ms on an SSD, 5 ms on average over a crawl of real
    /// files), so a power cut soon after may leave the new name on a file cut
    /// short, empty, or with blocks of zeros; a read finds that it does not
    /// match its record and takes it for a miss (see [`crate::store::entry`]),
    /// and the fetch replaces it. A longer entry, whose body a read does not
    /// hold in memory to check, is synced, as its transfer dwarfs the sync.
    /// Returns how many older entries were evicted to make room. A variant is
    /// found only through its URL's marker, so the marker is written first
    /// (if the variant then fails, start-up removes it). A URL is stored one
    /// way or the other: a variant's commit removes the URL's own entry, which
    /// a lookup tries first; the URL's own entry's, the variants and marker.
    pub fn commit(&mut self, pending: PendingEntry) -> io::Result<usize> {
        Ok(self.commit_keeping_file(pending, None)?.0)
    }

    /// [`Store::commit`], handing back the file, still open; with `replacing`,
    /// only if the entry's path still names that file (see [`Store::refresh`]).
    fn commit_keeping_file(
        &mut self,
        mut pending: PendingEntry,
        replacing: Option<&File>,
    ) -> io::Result<(usize, File)> {
        // Until the rename, an error drops `pending`, and its temporary file.
        let body_length = pending.written - pending.head_length;
        let record = record(Some((body_length, pending.body_sum)));
        let record_at = pending.head_length - record.len() as u64;
        let large = pending.written > FIRST_READ as u64;
        // An empty body made no write, so no file yet.
        let file = pending.make_file()?;
        file.seek(SeekFrom::Start(record_at))?;
        file.write_all(record.as_bytes())?;
        if large {
            file.sync_all()?;
        }
        // Stored and used now, by `record_use`'s clock (the kernel's is coarser).
        let now = SystemTime::now();
        file.set_times(FileTimes::new().set_modified(now).set_accessed(now))?;
        // Just before the rename: only a removal in the next few calls is lost.
        let still_there = replacing.map(|copy| still_names(&pending.entry_path, copy));
        if still_there.transpose()? == Some(false) {
            let why = "the copy was removed or replaced meanwhile, by a purge or an eviction; not put back";
            return Err(io::Error::other(why));
        }
        // The body may have taken minutes: the directory checked when the
        // file was made could be a link by now, and nothing goes through one.
        let directory = pending.entry_path.parent().unwrap_or(&self.dir);
        if found_below(&self.dir, directory)? != Found::File {
            let why = "a symbolic link or a file is in the way now; not following it";
            return Err(io::Error::other(why));
        }
        if let Some(vary) = &pending.vary {
            // Most variants join a marker that says the same: no write then.
            if self.vary_of(&pending.url_key).as_ref() != Some(vary) {
                write_marker(&marker_path(&self.dir, &pending.url_key), vary)?;
            }
        }
        fs::rename(&pending.temp_path, &pending.entry_path)?;
        let file = pending.file.take().expect("a file until commit");
        self.remove_other_kind(&pending.url_key, pending.vary.is_some());
        let evicted = self.index_and_evict(&pending.entry_path, pending.written);
        self.drop_markers_if_last(&evicted);
        Ok((evicted.len(), file))
    }

    /// Stores `entry` again under a new head (after a 304), keeping its body;
    /// its age starts again. The entry returned reads through the descriptor
    /// that wrote it, not its name. A copy purged or evicted meanwhile (later,
    /// so it wins) is not put back. Then, or on any failure, the old entry
    /// comes back, still open, with why: it costs the update, never the reply.
    pub fn refresh(
        &mut self,
        key: &CacheKey,
        mut entry: Entry,
        head: &ResponseHead,
        vary: Option<Vec<u8>>,
    ) -> (Entry, Option<io::Error>) {
        match self.write_refreshed(key, &mut entry, head, vary) {
            Ok(refreshed) => (refreshed, None),
            Err(error) => {
                // Back to where a reply from the old entry expects the file to be.
                let served_from = entry.head_length + entry.body_start().len() as u64;
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
        vary: Option<Vec<u8>>,
    ) -> io::Result<Entry> {
        let mut pending = self.begin(key, head, vary)?;
        let head_length = pending.head_length;
        // Through `pending`, which sums the body for its record. From the
        // body's first byte, the part read with the head too.
        entry.body.seek(SeekFrom::Start(entry.head_length))?;
        let old_body = &mut (&entry.body).take(entry.body_length);
        io::copy(old_body, &mut pending)?;
        let path = pending.entry_path.clone();
        let (_, mut body) = self.commit_keeping_file(pending, Some(&entry.body))?;
        body.seek(SeekFrom::Start(head_length))?;
        Ok(Entry {
            path,
            head: Rc::new(head.clone()),
            first_read: Rc::from([]),
            body_read: 0..0,
            body,
            head_length,
            body_length: entry.body_length,
            stored_at: SystemTime::now(),
        })
    }
}

/// The fields a commit writes at the end of an entry's head: the body's length
/// and byte sum, each padded to 20 characters (the most a `u64` takes), so they
/// fit over the blanks the head was written with (`None`) and stay blank,
/// and unreadable, if the commit never comes.
fn record(length_and_sum: Option<(u64, u64)>) -> String {
    let [length, sum] = length_and_sum.map_or([String::new(), String::new()], |(length, sum)| {
        [length.to_string(), sum.to_string()]
    });
    format!("{LENGTH_FIELD}: {length:20}\r\n{SUM_FIELD}: {sum:20}\r\n\r\n")
}

/// Writes a variants marker (`Vary: accept-language`) the way entries are
/// written: a temporary file renamed into place, so a reader sees all of it.
fn write_marker(marker: &Path, vary: &[u8]) -> io::Result<()> {
    let temp = temp_path(marker);
    let written = fs::write(&temp, [MARKER_PREFIX, vary, b"\n"].concat())
        .and_then(|()| fs::rename(&temp, marker));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
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
}

impl Write for PendingEntry {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self
            .limit
            .is_some_and(|limit| self.written + bytes.len() as u64 > limit)
        {
            return Err(io::Error::other("larger than --max-size"));
        }
        let count = self.make_file()?.write(bytes)?;
        self.written += count as u64;
        self.body_sum += byte_sum(&bytes[..count]);
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), File::flush)
    }
}

impl Drop for PendingEntry {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Best effort: if this fails too, start-up sweeps the file away.
            let _ = remove_with_empty_parents(&self.cache_dir, &self.temp_path);
        }
    }
}
