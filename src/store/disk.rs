//! The careful file-system steps: what is at a path, the walk of the cache
//! directory, and whether an open file is still the one at its path (another
//! process may share the directory). Nothing below the cache directory is
//! followed through a symbolic link: a link `cache/etc -> /etc` must not turn
//! a URL into a write under `/etc`. A walk holds one directory open at a time.
//!
//! Not here: what names mean, or what an entry holds beyond its first bytes.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use crate::store::key::{key_from_entry_path, CacheKey};

/// The key of the entry at `path`, if it is one: a name the store could have
/// written, and a file that starts like a stored response. (`docs/icon@3x.png`
/// has an entry's name, but a PNG inside.)
pub(super) fn entry_key(dir: &Path, path: &Path) -> Option<CacheKey> {
    let key = key_from_entry_path(dir, path)?;
    let mut start = [0u8; 9];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut start))
        .is_ok_and(|()| &start == b"HTTP/1.1 ")
        .then_some(key)
}

/// What is at a path below the cache directory, looked at without following
/// a symbolic link anywhere on the way. (`dir` itself may be a link; that is
/// the user's choice.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Nothing yet, at the path or at a directory on the way.
    Nothing,
    /// A plain file, or (for a directory path) a plain directory.
    File,
    /// A symbolic link on the way or at the end, or something that is not a
    /// plain file (a FIFO, a socket, a device).
    Other,
}

/// What is at `path` below `dir`; see [`Found`].
pub(super) fn found_below(dir: &Path, path: &Path) -> io::Result<Found> {
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
/// deepest first, up to the first that is not (and never `dir` itself).
pub(super) fn remove_empty_parents(dir: &Path, path: &Path) {
    let mut parent = path.parent();
    while let Some(directory) = parent {
        if directory == dir || !directory.starts_with(dir) || fs::remove_dir(directory).is_err() {
            return;
        }
        parent = directory.parent();
    }
}

/// Errors that just mean "there is no such entry": the file is not there, the
/// cache directory is gone or is now a plain file, or the URL makes a name too
/// long for the file system (so it can never have been stored).
pub(super) fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    )
}

/// Whether two open files are the same file on disk: the entry we read is
/// still the one at its path, not one another process renamed over it.
#[cfg(unix)]
pub(super) fn same_file(one: &File, other: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (one, other) = (one.metadata()?, other.metadata()?);
    Ok(one.dev() == other.dev() && one.ino() == other.ino())
}

/// Elsewhere we cannot tell, so the entry is rewritten instead.
#[cfg(not(unix))]
pub(super) fn same_file(_one: &File, _other: &File) -> io::Result<bool> {
    Ok(false)
}

/// Whether `path` still names `file`: not removed since `file` was opened,
/// and not replaced by another file renamed over it. A link at `path` is
/// not followed (it is another file).
#[cfg(unix)]
pub(super) fn still_names(path: &Path, file: &File) -> io::Result<bool> {
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
pub(super) fn still_names(path: &Path, _file: &File) -> io::Result<bool> {
    Ok(fs::symlink_metadata(path).is_ok_and(|at_path| at_path.is_file()))
}

/// Calls `visit` with every regular file below `directory`, never following
/// a symbolic link (`file_type` does not), reading each directory whole before
/// the next, so the walk holds one descriptor however deep it goes.
pub(super) fn visit_files(
    directory: &Path,
    visit: &mut dyn FnMut(&Path) -> io::Result<()>,
) -> io::Result<()> {
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
