//! The careful file-system steps: what is at a path, the walk of the cache
//! directory, and whether an open file is still the one at its path (another
//! process may share the directory). Nothing below the cache directory is
//! followed through a symbolic link: a link `cache/etc -> /etc` must not turn
//! a URL into a write under `/etc`. What names mean is not known here.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf, MAIN_SEPARATOR};

use crate::store::key::{key_from_entry_path, CacheKey};

/// The key of the entry at `path`: a name we could have written, on a file
/// that starts like a stored response (`icon@3x.png` may hold a PNG), or
/// like what a power cut can leave of one: cut short, even to nothing, or
/// zeros. Such a file is ours to replace, or its URL would never be stored again.
pub(super) fn entry_key(dir: &Path, path: &Path) -> Option<CacheKey> {
    let key = key_from_entry_path(dir, path)?;
    let mut start = Vec::new();
    File::open(path)
        .ok()?
        .take(9)
        .read_to_end(&mut start)
        .ok()?;
    let zeros = start.iter().all(|&byte| byte == 0);
    (b"HTTP/1.1 ".starts_with(&start) || zeros).then_some(key)
}

/// What is at a path below `dir`, seen through no link (`dir` itself may be one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Nothing yet, at the path or at a directory on the way.
    Nothing,
    /// A plain file, or (for a directory path) a plain directory.
    File,
    /// A symbolic link on the way or at the end, or a FIFO, socket or device.
    Other,
}

/// What is at `relative` below `dir` (see [`Found`]), and, when it is
/// [`Found::File`], its path, the one the caller opens. `relative` is a path
/// the store made, as [`relative_entry_path`](crate::store::key::relative_entry_path)
/// makes them: names joined by the separator, none empty, `.` or `..`. The
/// path grows in one buffer and each name is looked at as it is added, so
/// no path is taken apart again; the walk stops at the first name that is
/// not a plain directory or file.
pub(super) fn walk_below(dir: &Path, relative: &str) -> io::Result<(PathBuf, Found)> {
    let mut below = PathBuf::with_capacity(dir.as_os_str().len() + 1 + relative.len());
    below.push(dir);
    for name in relative.split(MAIN_SEPARATOR) {
        below.push(name);
        match fs::symlink_metadata(&below) {
            Ok(metadata) if metadata.is_file() || metadata.is_dir() => {}
            Ok(_) => return Ok((below, Found::Other)),
            Err(error) if is_absent(&error) => return Ok((below, Found::Nothing)),
            Err(error) => return Err(error),
        }
    }
    Ok((below, Found::File))
}

/// What is at `path` below `dir`; see [`Found`]. For the paths the store
/// has only as paths (an eviction's victim, an entry's directory): a lookup,
/// which has the key, walks its name with [`walk_below`] and is spared
/// taking a path apart.
pub(super) fn found_below(dir: &Path, path: &Path) -> io::Result<Found> {
    // The names below `dir` are the store's, all ASCII: text to walk.
    let relative = path.strip_prefix(dir).ok().and_then(Path::to_str);
    match relative {
        // The cache directory itself, which `dir` names.
        Some("") => Ok(Found::File),
        Some(relative) => Ok(walk_below(dir, relative)?.1),
        None => Ok(Found::Other),
    }
}

/// Removes the file at `path`, then the directories it leaves empty between
/// it and `dir`, deepest first, up to the first that is not (never `dir`).
pub(super) fn remove_with_empty_parents(dir: &Path, path: &Path) -> io::Result<()> {
    fs::remove_file(path)?;
    for directory in path.ancestors().skip(1) {
        if directory == dir || !directory.starts_with(dir) || fs::remove_dir(directory).is_err() {
            break;
        }
    }
    Ok(())
}

/// Errors that just mean "no such entry": no file, no cache directory (or a
/// plain file there), or a name too long to have ever been stored.
pub(super) fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    )
}

/// Which file on disk `metadata` describes: its device and inode.
#[cfg(unix)]
fn file_id(metadata: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

/// Elsewhere we cannot tell one file from another.
#[cfg(not(unix))]
fn file_id(_metadata: &Metadata) -> Option<(u64, u64)> {
    None
}

/// One version of one file: which file, and what a change to it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileVersion {
    /// Its device and inode.
    pub device_and_inode: (u64, u64),
    /// Its length in bytes.
    pub length: u64,
    /// Its modification time, in seconds and nanoseconds. (Not its change
    /// time: `--max-size` sets the access time of every entry it serves,
    /// which moves that.)
    pub modified: (i64, i64),
}

/// Which version of which file `metadata` describes.
#[cfg(unix)]
pub(super) fn file_version(metadata: &Metadata) -> Option<FileVersion> {
    use std::os::unix::fs::MetadataExt;
    Some(FileVersion {
        device_and_inode: file_id(metadata)?,
        length: metadata.len(),
        modified: (metadata.mtime(), metadata.mtime_nsec()),
    })
}

/// Elsewhere we cannot tell one file from another, nor so its versions.
#[cfg(not(unix))]
pub(super) fn file_version(_metadata: &Metadata) -> Option<FileVersion> {
    None
}

/// Whether two open files are one file on disk (not one another process
/// renamed over it); where we cannot tell, `false`, and it is rewritten.
pub(super) fn same_file(one: &File, other: &File) -> io::Result<bool> {
    let one = file_id(&one.metadata()?);
    Ok(one.is_some() && one == file_id(&other.metadata()?))
}

/// Whether `path` still names `file`, not removed nor replaced since (a link
/// is another file); where we cannot tell files apart, whether one is there.
pub(super) fn still_names(path: &Path, file: &File) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(at_path) => Ok(at_path.is_file() && file_id(&at_path) == file_id(&file.metadata()?)),
        Err(error) if is_absent(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Calls `visit` with every regular file below `root`, following no symbolic
/// link and reading each directory whole first: one descriptor at any depth.
pub(super) fn visit_files(
    root: &Path,
    visit: &mut dyn FnMut(&Path) -> io::Result<()>,
) -> io::Result<()> {
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
        files.iter().try_for_each(|file| visit(file))?;
    }
    Ok(())
}
