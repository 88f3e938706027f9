//! The heads of entries read lately, kept parsed, so that a hit on a copy
//! read before neither parses its stored head again nor checks its body
//! again: those were the largest part of a hit's work, and a popular copy is
//! read many times between two writes.
//!
//! A remembered head is used only while its file still begins with the very
//! bytes it was parsed from: the same bytes parse to the same head, and that
//! comparison (a few dozen instructions for a usual head) is what makes the
//! head right. The file is found by its device and inode, and its length and
//! modification time must still be those it had when its body passed the
//! check (which is why a head is remembered only then): a commit sets the
//! modification time, as does the in-place `Date` of a 304, and any other
//! write moves it unless it is set back by hand. The check itself is against
//! what a power cut leaves, and a power cut ends this process, whose memory
//! starts empty: each file is checked once in each run.
//!
//! So a body changed while we run by another program that writes into the
//! cache directory, in a way this does not see (through a shared mapping,
//! which leaves the times; within the same second, on a file system that
//! keeps whole seconds; or between our `fstat` and our read), is served
//! unchecked. The
//! check was never a guard against such a program: it could as well write an
//! entry of its own, record and all. Our own writes are renames of new files
//! or the in-place `Date`, whose bytes are in the head compared above.
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

/// How many bytes of heads a proxy remembers at most (about 4,000 usual heads).
pub(super) const PARSED_HEADS_BUDGET: usize = 4 << 20;

/// What reading an entry's head back found: the head, how long it is, and
/// the body's length and sum that its commit recorded (taken out of it).
/// (Defined here, not in `entry`, which uses this module: no import cycle.)
#[derive(Clone)]
pub(super) struct StoredHead {
    /// The status and the fields, without the commit's record.
    pub head: Rc<ResponseHead>,
    /// How many bytes the head takes in the file, blank line included.
    pub head_length: usize,
    /// The body's length, as its commit recorded it.
    pub recorded_body_length: Option<u64>,
    /// The sum of the body's bytes, as its commit recorded it.
    pub recorded_body_sum: Option<u64>,
}

/// The heads of entry files read lately, by file.
pub(super) struct ParsedHeads {
    /// What is remembered of each file, by device and inode: a change in
    /// place replaces it; a new file (a commit) is another key.
    heads: HashMap<(u64, u64), Remembered, BuildHasherDefault<FileHasher>>,
    /// About how many bytes the remembered heads take.
    bytes: usize,
    /// How many bytes they may take; 0 remembers nothing.
    budget: usize,
}

/// What is remembered of one file.
struct Remembered {
    /// The file's version when its body passed the check.
    version: FileVersion,
    /// Its head's bytes, as they were in the file.
    file_head: Box<[u8]>,
    /// What they hold.
    stored: StoredHead,
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

    /// The head parsed from the file `metadata` describes, if this version
    /// of it was checked before and still begins with the same bytes:
    /// `first_bytes`, read from it now.
    pub fn recall(&self, metadata: &Metadata, first_bytes: &[u8]) -> Option<StoredHead> {
        let version = file_version(metadata)?;
        let known = self.heads.get(&version.device_and_inode)?;
        let same = known.version == version && first_bytes.starts_with(&known.file_head);
        same.then(|| known.stored.clone())
    }

    /// Remembers `stored`, just parsed from `file_head`, the first bytes of
    /// the file `metadata` describes, whose body has just passed the check.
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
        let remembered = Remembered {
            version,
            file_head: Box::from(file_head),
            stored: StoredHead {
                head: Rc::new(stored.head.detached()),
                ..stored.clone()
            },
        };
        if let Some(older) = self.heads.insert(version.device_and_inode, remembered) {
            self.bytes -= cost_of(&older.stored);
        }
        self.bytes += cost;
    }
}

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

    // Required of every hasher; the two `u64`s of a key come to `write_u64`.
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
    2 * stored.head_length + fields + mem::size_of::<Remembered>()
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
            head_length: HEAD.len(),
            recorded_body_length: Some(4),
            recorded_body_sum: None,
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
        let mut heads = ParsedHeads::new(PARSED_HEADS_BUDGET);
        assert!(
            heads.recall(&first, READ).is_none(),
            "nothing is known at first"
        );
        heads.remember(&first, HEAD, &stored("one"));
        let recalled = heads
            .recall(&first, READ)
            .expect("the head just remembered");
        assert_eq!(value_of(&recalled), b"one");
        assert_eq!(recalled.recorded_body_length, Some(4));
        // Other first bytes, as a new entry in a freed inode would have on a
        // file system that keeps times to the second.
        let other = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert!(
            heads.recall(&first, other).is_none(),
            "other bytes are parsed again"
        );
        assert!(heads.recall(&first, &READ[..10]).is_none(), "so are fewer");

        // Each part of the version on its own: the modification time (as the
        // in-place `Date` of a 304 sets it), then the length.
        file.set_modified(stored_at + Duration::from_nanos(1))
            .expect("touch it");
        let touched = file.metadata().expect("its metadata");
        assert_eq!(touched.len(), first.len());
        assert!(
            heads.recall(&touched, READ).is_none(),
            "a touched file is checked again"
        );
        file.set_len(5).expect("lengthen it");
        file.set_modified(stored_at).expect("set its time back");
        let longer = file.metadata().expect("its metadata");
        assert_eq!(longer.modified().ok(), first.modified().ok());
        assert!(
            heads.recall(&longer, READ).is_none(),
            "a longer file is checked again"
        );
        // The access time, which `--max-size` sets on every hit, is no part.
        let accessed = stored_at + Duration::from_secs(60);
        file.set_len(4).expect("shorten it back");
        file.set_times(
            fs::FileTimes::new()
                .set_modified(stored_at)
                .set_accessed(accessed),
        )
        .expect("set its access time");
        let used = file.metadata().expect("its metadata");
        assert!(
            heads.recall(&used, READ).is_some(),
            "a file read again is the same file"
        );

        heads.remember(&longer, HEAD, &stored("two"));
        let recalled = heads.recall(&longer, READ).expect("the newer head");
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
