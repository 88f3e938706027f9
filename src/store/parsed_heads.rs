//! The heads of entries read lately, kept parsed, so that a hit on a copy
//! read before neither parses its stored head again nor checks its body
//! again (a head is remembered once its body passed the check): those were
//! the largest part of a hit's work, and a popular copy is read many times
//! between two writes.
//!
//! A remembered head is used only for the very file version it was parsed
//! from: the same device and inode, length, modification time and change
//! time, which the `fstat` that opening an entry makes already tells, and
//! only while the file still begins with the very bytes it was parsed from.
//! Every way an entry changes moves one of the times. A commit is a new file
//! (a new inode, or at least a new modification time, which it sets to the
//! nanosecond); the in-place `Date` of a 304 sets the modification time too;
//! any other write moves both times, and no program can set the change time
//! back. So an entry replaced or changed, by us, by another cacheproxy or by
//! hand, is parsed afresh. The bytes are compared too, as some file systems
//! keep times to the second only: there, a new entry that reused a freed
//! inode within the same second, at the same length, would pass for the old.
//!
//! The memory is bounded in bytes: when the next head would not fit, every
//! head is forgotten at once. That costs each popular copy one parse more,
//! and is simpler than keeping an order of use.

use std::collections::HashMap;
use std::fs::Metadata;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem;
use std::rc::Rc;

use crate::store::disk::{file_version, FileVersion};
use crate::wire::http::{Header, ResponseHead};

/// How many bytes of heads a proxy remembers at most (about 8,000 typical heads).
pub(super) const PROXY_BUDGET: usize = 4 << 20;

/// What reading an entry's head back found: the head, how long it is, and
/// the body's length and sum that its commit recorded (taken out of it).
#[derive(Clone)]
pub(super) struct StoredHead {
    /// The status and the fields, without the commit's record.
    pub head: Rc<ResponseHead>,
    /// How many bytes the head takes in the file, blank line included.
    pub length: usize,
    /// The body's length, as its commit recorded it.
    pub recorded_length: Option<u64>,
    /// The sum of the body's bytes, as its commit recorded it.
    pub recorded_sum: Option<u64>,
}

/// The heads of entry files read lately, by file.
pub(super) struct ParsedHeads {
    /// Each file's version when its head was parsed, the head's bytes as they
    /// were in the file, and what they hold. Keyed by device and inode, so a
    /// file's newer version replaces its older one.
    heads: HashMap<(u64, u64), Remembered, BuildHasherDefault<FileHasher>>,
    /// About how many bytes the remembered heads take.
    bytes: usize,
    /// How many bytes they may take; 0 remembers nothing.
    budget: usize,
}

impl ParsedHeads {
    /// An empty memory of at most `budget` bytes of heads.
    pub fn new(budget: usize) -> ParsedHeads {
        ParsedHeads {
            heads: HashMap::default(),
            bytes: 0,
            budget,
        }
    }

    /// The head parsed from the file `metadata` describes, if this very
    /// version of it was parsed before and still begins with the same bytes:
    /// `first_bytes`, read from it now.
    pub fn recall(&self, metadata: &Metadata, first_bytes: &[u8]) -> Option<StoredHead> {
        let version = file_version(metadata)?;
        let (known, file_head, stored) = self.heads.get(&version.file)?;
        (*known == version && first_bytes.starts_with(file_head)).then(|| stored.clone())
    }

    /// Remembers `stored`, just parsed from `file_head`, the first bytes of
    /// the file `metadata` describes.
    pub fn remember(&mut self, metadata: &Metadata, file_head: &[u8], stored: &StoredHead) {
        let Some(version) = file_version(metadata) else {
            return;
        };
        let cost = cost_of(stored);
        if cost > self.budget {
            return;
        }
        if self.bytes + cost > self.budget {
            self.heads.clear();
            self.bytes = 0;
        }
        // Its own copy of the fields' bytes: the parsed head shares the
        // entry's whole first read, body and all, which is not to be kept.
        let kept = StoredHead {
            head: Rc::new(stored.head.detached()),
            ..stored.clone()
        };
        let remembered = (version, Box::from(file_head), kept);
        if let Some((_, _, older)) = self.heads.insert(version.file, remembered) {
            self.bytes -= cost_of(&older);
        }
        self.bytes += cost;
    }
}

/// A file's version, its head's bytes, and what they hold.
type Remembered = (FileVersion, Box<[u8]>, StoredHead);

/// Hashes a file's device and inode numbers. The file system hands them out
/// and no client chooses them, so the standard hasher's defence against keys
/// made to collide buys nothing here; a multiply per number costs a tenth of
/// it (FxHash's mix, as the `rustc-hash` crate had it).
#[derive(Default)]
struct FileHasher(u64);

impl Hasher for FileHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, number: u64) {
        self.0 = (self.0.rotate_left(5) ^ number).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// About how many bytes remembering `stored` takes: its bytes (kept twice,
/// as they were in the file and as its fields) and its fields.
fn cost_of(stored: &StoredHead) -> usize {
    let fields = stored.head.headers.len() * mem::size_of::<Header>();
    2 * stored.length + fields + mem::size_of::<Remembered>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File};
    use std::time::{Duration, SystemTime};

    /// The head bytes the tests remember, and a file's first bytes after them.
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n";
    const READ: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nbody";

    /// A head with one field whose value is `value`.
    fn stored(value: &str) -> StoredHead {
        let mut head = ResponseHead::new(200);
        head.add("X-Value", value);
        StoredHead {
            head: Rc::new(head),
            length: HEAD.len(),
            recorded_length: Some(4),
            recorded_sum: None,
        }
    }

    fn value_of(stored: &StoredHead) -> &[u8] {
        stored.head.headers[0].value()
    }

    #[test]
    fn a_head_is_recalled_only_for_the_file_version_and_bytes_it_was_parsed_from() {
        let path = std::env::temp_dir().join(format!("cacheproxy-heads-{}", std::process::id()));
        fs::write(&path, "body").expect("write a file");
        let file = File::options().write(true).open(&path).expect("open it");
        let stored_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        file.set_modified(stored_at).expect("set its time");
        let first = file.metadata().expect("its metadata");
        let mut heads = ParsedHeads::new(PROXY_BUDGET);
        assert!(
            heads.recall(&first, READ).is_none(),
            "nothing is known at first"
        );
        heads.remember(&first, HEAD, &stored("one"));
        let recalled = heads
            .recall(&first, READ)
            .expect("the head just remembered");
        assert_eq!(value_of(&recalled), b"one");
        assert_eq!(recalled.recorded_length, Some(4));
        // Other first bytes, as a new entry in a freed inode would have on a
        // file system that keeps times to the second.
        let other = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert!(
            heads.recall(&first, other).is_none(),
            "other bytes are parsed again"
        );
        assert!(heads.recall(&first, &READ[..10]).is_none(), "so are fewer");

        // The in-place `Date` of a 304 sets the modification time.
        file.set_modified(stored_at + Duration::from_nanos(1))
            .expect("touch it");
        let touched = file.metadata().expect("its metadata");
        let parsed_again = heads.recall(&touched, READ).is_none();
        assert!(parsed_again, "a touched file is parsed again");
        // A write that keeps the times still changes the length.
        fs::write(&path, "longer body").expect("rewrite it");
        file.set_modified(stored_at).expect("set its time back");
        let rewritten = file.metadata().expect("its metadata");
        let parsed_again = heads.recall(&rewritten, READ).is_none();
        assert!(parsed_again, "a rewritten file is parsed again");

        heads.remember(&rewritten, HEAD, &stored("two"));
        let recalled = heads.recall(&rewritten, READ).expect("the newer head");
        assert_eq!(value_of(&recalled), b"two");
        let forgotten = heads.recall(&first, READ).is_none();
        assert!(forgotten, "the older version is forgotten");
        assert_eq!(heads.heads.len(), 1);
        fs::remove_file(&path).expect("remove the file");
    }

    #[test]
    fn the_memory_forgets_everything_when_full_and_keeps_nothing_with_no_budget() {
        let dir = std::env::temp_dir().join(format!("cacheproxy-full-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("make a directory");
        let metadata_of = |name: usize| {
            let path = dir.join(name.to_string());
            fs::write(&path, "body").expect("write a file");
            fs::metadata(&path).expect("its metadata")
        };
        let head = stored("value");
        let mut heads = ParsedHeads::new(3 * cost_of(&head));
        let files: Vec<Metadata> = (0..4).map(metadata_of).collect();
        for metadata in &files[..3] {
            heads.remember(metadata, HEAD, &head);
        }
        let known = |heads: &ParsedHeads, file| heads.recall(file, READ).is_some();
        assert!(files[..3].iter().all(|file| known(&heads, file)));
        heads.remember(&files[3], HEAD, &head);
        assert!(known(&heads, &files[3]));
        assert!(files[..3].iter().all(|file| !known(&heads, file)));
        assert_eq!(heads.bytes, cost_of(&head));

        let mut none = ParsedHeads::new(0);
        none.remember(&files[0], HEAD, &head);
        assert!(!known(&none, &files[0]));
        fs::remove_dir_all(&dir).expect("remove the directory");
    }
}
