//! Opening a cache directory: the [`Store`], the `CACHEDIR.TAG` that marks a
//! directory as ours, and the walk at start-up that sweeps what dead processes
//! left and fills the eviction index. The store owns only what it wrote: a
//! directory of other files and no tag is refused, and inside ours, files not
//! shaped like an entry, a marker or a temporary file are left alone.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::store::disk::{entry_key, found_below, remove_with_empty_parents, visit_files, Found};
use crate::store::eviction::LruIndex;
use crate::store::key::{entry_path, is_marker, is_temp_file, CacheKey};
use crate::store::parsed_heads::{ParsedHeads, PARSED_HEADS_BUDGET};

/// The tag that marks a cache directory (bford.info/cachedir): name, first line.
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
    /// The cache directory itself.
    pub(super) dir: PathBuf,
    /// Sizes and last uses of the entries, when the cache has a size bound.
    pub(super) index: Option<LruIndex>,
    /// The heads of entries read lately, parsed (a `RefCell`: a lookup only
    /// reads the cache, but may remember what it read).
    pub(super) parsed_heads: RefCell<ParsedHeads>,
}

impl Store {
    /// Opens the store in `dir` (made and tagged if missing), bounded to
    /// `max_bytes` if given. One walk fills the index, then sweeps markers with
    /// no variant left and dead processes' temporary files (theirs are unlocked).
    pub fn open(dir: &Path, max_bytes: Option<u64>) -> io::Result<(Store, Inventory)> {
        fs::create_dir_all(dir)?;
        if !tagged_or_empty(dir)? {
            write_tag(dir)?;
        }
        let mut inventory = Inventory::default();
        let (mut entries, mut markers) = (Vec::new(), Vec::new());
        // Another process may rename or evict a file as we walk: then skip it.
        visit_files(dir, &mut |path| {
            if is_temp_file(dir, path) {
                let swept = File::open(path)
                    .is_ok_and(|file| file.try_lock().is_ok() && fs::remove_file(path).is_ok());
                inventory.stray_temp_files_removed += usize::from(swept);
            } else if is_marker(dir, path) {
                markers.push(path.to_path_buf());
            } else if let Some(metadata) =
                entry_key(dir, path).and_then(|_| fs::symlink_metadata(path).ok())
            {
                let last_use = metadata.accessed().unwrap_or(SystemTime::UNIX_EPOCH);
                entries.push((last_use, path.to_path_buf(), metadata.len()));
            }
            Ok(())
        })?;
        inventory.entries = entries.len();
        inventory.bytes = entries.iter().map(|(_, _, size)| size).sum();
        // Indexed even without a bound, to tell which markers have variants.
        let mut store = Store {
            dir: dir.to_path_buf(),
            index: Some(LruIndex::new(max_bytes.unwrap_or(u64::MAX))),
            parsed_heads: RefCell::new(ParsedHeads::new(PARSED_HEADS_BUDGET)),
        };
        entries.sort();
        for (_, path, size) in entries {
            inventory.evicted += store.index_and_evict(&path, size).len();
        }
        // The markers whose variants are all gone: a crash, or evictions just now.
        for marker in markers {
            store.remove_marker_if_alone(&marker);
        }
        // Without a bound, a hit is spared the index's bookkeeping.
        store.index = store.index.filter(|_| max_bytes.is_some());
        Ok((store, inventory))
    }

    /// Opens the store in `dir` only to look, as `cacheproxy ls` does: nothing
    /// is made, tagged or swept, as what looks stray may be a running proxy's.
    pub fn open_to_look(dir: &Path) -> io::Result<Store> {
        tagged_or_empty(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            index: None,
            // `ls` reads each entry once: nothing to remember.
            parsed_heads: RefCell::new(ParsedHeads::new(0)),
        })
    }

    /// Where the entry for `key` lives (whether or not it exists).
    pub fn path_for(&self, key: &CacheKey) -> PathBuf {
        entry_path(&self.dir, key)
    }

    /// Whether an entry of `size` bytes can be kept at all under the bound.
    pub fn fits(&self, size: u64) -> bool {
        self.index
            .as_ref()
            .is_none_or(|index| size <= index.max_bytes())
    }

    /// Adds an entry to the eviction index; removes and returns what it evicts.
    pub(super) fn index_and_evict(&mut self, path: &Path, size: u64) -> Vec<PathBuf> {
        let Some(index) = &mut self.index else {
            return Vec::new();
        };
        let victims = index.insert(path, size);
        for victim in &victims {
            // Already gone (another process, `cacheproxy purge`) is fine. A
            // link put on the way since it was stored is not followed out.
            if found_below(&self.dir, victim).is_ok_and(|found| found == Found::File) {
                let _ = remove_with_empty_parents(&self.dir, victim);
            }
        }
        victims
    }
}

/// Whether `dir` is ours: `true` if it carries our tag, `false` if it is
/// empty (a lone `.gitignore` aside) and so ours to tag. Anything else holds
/// someone's files: an error, which says how to mark an older cache of ours.
fn tagged_or_empty(dir: &Path) -> io::Result<bool> {
    let tag = dir.join(TAG_NAME);
    if fs::read(&tag).is_ok_and(|contents| contents.starts_with(TAG_SIGNATURE.as_bytes())) {
        return Ok(true);
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

/// Makes the cache directory `dir` again, tagged, if it was removed while we
/// run: `rm -rf cache` is how many empty a cache, and storing nothing until a
/// restart would make the proxy a silent pass-through.
pub(super) fn make_again_if_removed(dir: &Path) -> io::Result<()> {
    if !fs::metadata(dir).is_err_and(|error| error.kind() == io::ErrorKind::NotFound) {
        return Ok(()); // There, or in a state that the caller's own calls will report.
    }
    // Tagged (or the next start refuses it) by whichever process makes it.
    match fs::create_dir(dir) {
        Ok(()) => write_tag(dir),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}
