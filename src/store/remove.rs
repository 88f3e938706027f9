//! Removing entries: `cacheproxy purge`, and the tidying after a write or an
//! eviction (a URL's variants once it varies no more, a marker whose last
//! variant went), with the directories that leaves empty.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::store::disk::{
    entry_key, found_below, is_absent, remove_with_empty_parents, visit_files, Found,
};
use crate::store::key::{
    entry_path, is_marker, is_variant_of, key_from_entry_path, marker_path, CacheKey,
};
use crate::store::open::Store;

impl Store {
    /// Removes the entry for `key` (for a URL's own key, its variants and
    /// their marker too); returns whether there was one.
    pub fn remove(&mut self, key: &CacheKey) -> io::Result<bool> {
        let mut removed = false;
        let marker = marker_path(&self.dir, key);
        if key.variant.is_none() && found_below(&self.dir, &marker)? == Found::File {
            for variant in self.keys_in(&marker)? {
                removed |= self.remove_entry(&variant)?;
            }
            // The marker last, with the directories it alone kept.
            let _ = remove_with_empty_parents(&self.dir, &marker);
        }
        Ok(self.remove_entry(key)? || removed)
    }

    /// The keys of the variants `marker` stands for: the entries beside it
    /// whose names start with its name, `page@@...`.
    fn keys_in(&self, marker: &Path) -> io::Result<Vec<CacheKey>> {
        let mut keys = Vec::new();
        for dir_entry in fs::read_dir(marker.parent().unwrap_or(&self.dir))? {
            let path = dir_entry?.path();
            if is_variant_of(&path, marker) {
                keys.extend(entry_key(&self.dir, &path));
            }
        }
        Ok(keys)
    }

    /// Removes the one entry file of `key`, if ours: not a link, nor someone's.
    fn remove_entry(&mut self, key: &CacheKey) -> io::Result<bool> {
        let path = entry_path(&self.dir, key);
        if let Some(index) = &mut self.index {
            index.remove(&path);
        }
        if found_below(&self.dir, &path)? != Found::File || entry_key(&self.dir, &path).is_none() {
            return Ok(false);
        }
        match remove_with_empty_parents(&self.dir, &path) {
            Ok(()) => Ok(true),
            Err(error) if is_absent(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// After a commit for `url_key`'s URL, removes, best effort, what is now
    /// out of date (see [`Store::commit`]).
    pub(super) fn remove_other_kind(&mut self, url_key: &CacheKey, variant: bool) {
        let marker = &marker_path(&self.dir, url_key);
        if variant {
            let _ = self.remove_entry(url_key);
        // Only a marker means variants: reading the directory to find out would
        // make every stored miss cost as much as the files beside it.
        } else if fs::symlink_metadata(marker).is_ok_and(|found| found.is_file()) {
            for variant in self.keys_in(marker).unwrap_or_default() {
                let _ = self.remove_entry(&variant);
            }
            let _ = remove_with_empty_parents(&self.dir, marker);
        }
    }

    /// Removes every entry and marker (not others' files, nor temporary files
    /// being written); returns how many entries.
    pub fn remove_all(&mut self) -> io::Result<usize> {
        let (dir, mut removed) = (self.dir.clone(), 0);
        visit_files(&dir, &mut |path| {
            if is_marker(&dir, path) {
                let _ = remove_with_empty_parents(&dir, path);
            } else if let Some(key) = entry_key(&dir, path) {
                removed += usize::from(self.remove_entry(&key)?);
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// After evictions: removes the marker of each variant evicted that was
    /// its URL's last, so markers do not pile up.
    pub(super) fn drop_markers_if_last(&self, evicted: &[PathBuf]) {
        let keys = evicted
            .iter()
            .filter_map(|path| key_from_entry_path(&self.dir, path));
        for variant in keys.filter(|key| key.variant.is_some()) {
            self.remove_marker_if_alone(&marker_path(&self.dir, &variant));
        }
    }

    /// Removes `marker` if the eviction index holds none of its variants
    /// (they sort right after it). The index does not know what other
    /// processes stored since our start, so their variants' marker may go
    /// too: a hit lost (the next store writes it again), never a wrong reply.
    pub(super) fn remove_marker_if_alone(&self, marker: &Path) {
        let Some(index) = &self.index else {
            return;
        };
        let first_after = index.first_path_from(marker);
        if !first_after.is_some_and(|path| is_variant_of(path, marker)) {
            let _ = remove_with_empty_parents(&self.dir, marker);
        }
    }
}
