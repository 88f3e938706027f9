//! The size bound, at the end of step 5: which entries to evict past
//! `--max-size`, least recently used first. An in-memory index of each
//! entry's size and last use, filled at start-up from access times and kept
//! as the proxy stores and serves, so no request walks the cache directory.
//! Not here: removing files, or what other processes stored since our start.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// Entry sizes and their order of last use; each update is `O(log n)`.
#[derive(Debug, Default)]
pub struct LruIndex {
    max_bytes: u64,
    total_bytes: u64,
    /// A counter that orders uses: bigger is more recent.
    clock: u64,
    /// Each entry's size and the clock value of its last use, by path.
    entries: BTreeMap<PathBuf, (u64, u64)>,
    /// Entries by last use, least recent first.
    by_last_use: BTreeMap<u64, PathBuf>,
}

impl LruIndex {
    /// An empty index that keeps the total at or below `max_bytes`.
    pub fn new(max_bytes: u64) -> LruIndex {
        LruIndex {
            max_bytes,
            ..LruIndex::default()
        }
    }

    /// The bound, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The sum of all entry sizes.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Records an entry of `size` bytes at `path` as just used, and returns
    /// the entries to evict, least recent first (never `path`), to fit again.
    pub fn insert(&mut self, path: &Path, size: u64) -> Vec<PathBuf> {
        self.remove(path);
        self.clock += 1;
        self.entries.insert(path.to_path_buf(), (size, self.clock));
        self.by_last_use.insert(self.clock, path.to_path_buf());
        self.total_bytes += size;
        let mut victims = Vec::new();
        while self.total_bytes > self.max_bytes {
            // Never the new entry: the caller checked that it fits alone.
            let oldest = self.by_last_use.values().next().cloned();
            let Some(oldest) = oldest.filter(|oldest| oldest != path) else {
                break;
            };
            self.remove(&oldest);
            victims.push(oldest);
        }
        victims
    }

    /// Records that the entry at `path` was just served.
    pub fn touch(&mut self, path: &Path) {
        if let Some((_, last_use)) = self.entries.get_mut(path) {
            self.by_last_use.remove(last_use);
            self.clock += 1;
            *last_use = self.clock;
            self.by_last_use.insert(self.clock, path.to_path_buf());
        }
    }

    /// The first entry's path at or after `path`. Paths that begin with the
    /// same bytes sort right after those bytes as a path of their own, so this
    /// says whether a URL has a variant left without reading a directory.
    pub fn first_path_from(&self, path: &Path) -> Option<&Path> {
        let mut from_path = self
            .entries
            .range::<Path, _>((Bound::Included(path), Bound::Unbounded));
        from_path.next().map(|(found, _)| found.as_path())
    }

    /// Forgets the entry at `path`, if known.
    pub fn remove(&mut self, path: &Path) {
        if let Some((size, last_use)) = self.entries.remove(path) {
            self.by_last_use.remove(&last_use);
            self.total_bytes -= size;
        }
    }
}

/// Parses a size like `500`, `64K`, `10M` or `2G` (powers of 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 1 << 10),
        Some((at, 'm' | 'M')) => (&text[..at], 1 << 20),
        Some((at, 'g' | 'G')) => (&text[..at], 1 << 30),
        _ => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|number| number.checked_mul(multiplier))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> PathBuf {
        PathBuf::from(name)
    }

    #[test]
    fn evicts_the_least_recently_used_until_it_fits() {
        let mut index = LruIndex::new(250);
        assert!(index.insert(&path("a"), 100).is_empty());
        assert!(index.insert(&path("b"), 100).is_empty());
        index.touch(&path("a")); // b is now the least recently used
        assert_eq!(index.insert(&path("c"), 100), [path("b")]);
        assert_eq!(index.total_bytes(), 200);
        assert_eq!(index.insert(&path("d"), 200), [path("a"), path("c")]);
        assert_eq!(index.total_bytes(), 200);
    }

    #[test]
    fn replacing_an_entry_counts_its_new_size_once() {
        let mut index = LruIndex::new(1000);
        index.insert(&path("a"), 300);
        index.insert(&path("a"), 500);
        assert_eq!(index.total_bytes(), 500);
        index.remove(&path("a"));
        index.remove(&path("a"));
        assert_eq!(index.total_bytes(), 0);
        index.touch(&path("unknown"));
        assert_eq!(index.total_bytes(), 0);
    }

    #[test]
    fn never_evicts_the_entry_just_stored() {
        let mut index = LruIndex::new(100);
        index.insert(&path("a"), 50);
        assert_eq!(index.insert(&path("big"), 150), [path("a")]);
        assert_eq!(index.total_bytes(), 150);
    }

    #[test]
    fn finds_the_first_path_at_or_after_a_prefix() {
        let mut index = LruIndex::new(1000);
        for name in ["d/a@", "d/page@@x=1", "d/page@@y=2", "d/q@", "e@"] {
            index.insert(&path(name), 1);
        }
        let first = |name: &str| index.first_path_from(&path(name)).map(Path::to_path_buf);
        assert_eq!(first("d/page@@"), Some(path("d/page@@x=1")));
        assert_eq!(first("d/page@@y=2"), Some(path("d/page@@y=2")));
        assert_eq!(first("d/pz@@"), Some(path("d/q@")), "no entry begins so");
        assert_eq!(first("e@@"), None);
    }

    #[test]
    fn parses_sizes_with_suffixes() {
        assert_eq!(parse_size("500"), Some(500));
        assert_eq!(parse_size("64K"), Some(65_536));
        assert_eq!(parse_size("10m"), Some(10_485_760));
        assert_eq!(parse_size("2G"), Some(2_147_483_648));
        for bad in ["", "K", "1.5M", "-1", "10T", "99999999999999999999G"] {
            assert!(parse_size(bad).is_none(), "{bad}");
        }
    }
}
