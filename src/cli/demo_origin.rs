//! The demo origin: a small static file server for `www/`, so the whole story
//! (client, cache, origin) runs on one machine.
//!
//! It serves `GET` and `HEAD` for regular files under its root (a FIFO,
//! socket or device there is a 404), maps `/` and directories to
//! `index.html`, names the type from the file extension, and
//! sends the validators a cache needs to ask "has this changed?": `ETag` and
//! `Last-Modified`. It answers such conditional requests with 304. `--max-age`
//! adds `Cache-Control: max-age=N`, and `--delay` makes it sleep before each
//! reply, to play the slow database call that a cache is there to hide.
//!
//! Two more things real static servers do, so a learner can watch a cache
//! meet them:
//!
//! - Precompressed files, like nginx's `gzip_static`: when `book.txt.gz` lies
//!   beside `book.txt` and the request's `Accept-Encoding` accepts gzip, the
//!   `.gz` bytes go out as they are, with `Content-Encoding: gzip` and the
//!   type of `book.txt`. The URL then has two representations, so both
//!   replies say `Vary: Accept-Encoding`, and each has its own `ETag`.
//! - Byte ranges (RFC 9110 section 14): one range in a `GET` gets 206 and
//!   just those bytes of the representation chosen, a range past its end
//!   416, several ranges or a failed `If-Range` the whole 200. The rules are
//!   those of [`crate::cache::range`], which the proxy follows for its own copies.
//!
//! Steps: 1, 2 and 6 of the README's pseudocode, on the same server loop as
//! the proxy, with the root directory as a cache that always has the file.
//! (Its replies are the origin's own, so it never says "hit".)
//!
//! Not here: anything clever. No listings. No compressing on the fly (a file
//! without a `.gz` is always sent as it is), no codings but gzip, and no
//! check that a `.gz` still holds its file's content: remake it with
//! `gzip -9 -n -k` when the file changes. No `multipart/byteranges`. It
//! shares the socket loop and the request parser with the proxy, so the same
//! limits protect it.

use std::fs::{File, Metadata};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::encoding;
use crate::cache::freshness;
use crate::cache::range::{self, RangeAnswer};
use crate::cache::trace::Step;
use crate::error::RequestError;
use crate::net::server::{self, Handler, Request, Served};
use crate::wire::dates;
use crate::wire::http::{RequestHead, ResponseHead};
use crate::wire::target::{clean_path, parse_target};

/// The demo origin's settings.
pub struct DemoOrigin {
    /// The directory whose files are served.
    root: PathBuf,
    /// The same, with every symbolic link resolved, to tell whether a link
    /// inside it leads out of it.
    real_root: PathBuf,
    /// How long to sleep before each reply.
    delay: Duration,
    /// The `max-age` to send in `Cache-Control`, if any.
    max_age: Option<u64>,
}

impl DemoOrigin {
    /// An origin serving `root`, sleeping `delay` before each reply, and
    /// sending `Cache-Control: max-age=N` if `max_age` is given.
    pub fn new(root: &Path, delay: Duration, max_age: Option<u64>) -> DemoOrigin {
        DemoOrigin {
            root: root.to_path_buf(),
            real_root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
            delay,
            max_age,
        }
    }

    /// The file behind a clean, decoded path: segments joined under the root,
    /// and `index.html` for a directory.
    fn file_for(&self, clean_path: &[u8]) -> Result<PathBuf, RequestError> {
        let path = std::str::from_utf8(clean_path).map_err(|_| RequestError::NotFound)?;
        let mut file_path = self.root.clone();
        file_path.extend(path.split('/').filter(|segment| !segment.is_empty()));
        if file_path.is_dir() {
            file_path.push("index.html");
        } else if path.ends_with('/') {
            return Err(RequestError::NotFound);
        }
        if self.is_inside_root(&file_path) {
            Ok(file_path)
        } else {
            Err(RequestError::NotFound)
        }
    }

    /// Whether `path` exists and is under the root once every symbolic link
    /// is resolved: a link inside the root may point anywhere (`www/etc ->
    /// /etc`), and only files whose real path is under it are served.
    fn is_inside_root(&self, path: &Path) -> bool {
        path.canonicalize()
            .is_ok_and(|real_path| real_path.starts_with(&self.real_root))
    }

    /// The regular file at `path`, open, if there is one inside the root.
    ///
    /// Anything else is no file to serve, and gets the same 404 as a missing
    /// one (a 403 would tell a prober that something is there). The type is
    /// checked *before* opening: opening a FIFO waits for a writer, which
    /// would hold the one thread forever, and opening a device can have
    /// effects of its own. `metadata` follows a link, as `File::open` does,
    /// so a link to a regular file inside the root still serves.
    fn open(&self, path: &Path) -> Option<Opened> {
        if !self.is_inside_root(path) {
            return None;
        }
        if !std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file()) {
            return None;
        }
        let file = File::open(path).ok()?;
        // And again on the open file: the name may have been replaced in
        // between. (A FIFO swapped in during that instant would still block
        // the open; closing that window needs `O_NONBLOCK`, which std does
        // not name. The root is the learner's own directory, not a hostile one.)
        let metadata = file.metadata().ok().filter(Metadata::is_file)?;
        Some(Opened {
            path: path.to_path_buf(),
            file,
            metadata,
        })
    }

    /// What to send for `file_path`: its `.gz` sibling if there is one and
    /// the request accepts gzip, else the file itself. `None` if the file is
    /// missing.
    fn representation(&self, request: &RequestHead, file_path: &Path) -> Option<Representation> {
        let plain = self.open(file_path)?;
        // A `.gz` beside the file is its content compressed ahead of time
        // (nginx's `gzip_static`). It is looked for even when the client
        // will not get it: that it exists is what makes the reply vary.
        let gzipped = self.open(&gzip_sibling(file_path));
        let has_gzip_sibling = gzipped.is_some();
        Some(match gzipped {
            Some(gzipped) if encoding::accepts(request, "gzip") => Representation {
                sent: gzipped,
                gzip: true,
                has_gzip_sibling,
            },
            _ => Representation {
                sent: plain,
                gzip: false,
                has_gzip_sibling,
            },
        })
    }
}

/// A file open for a reply, with the metadata its head is made from.
struct Opened {
    /// Where the file is, for the trace.
    path: PathBuf,
    /// The file itself: its bytes are the body.
    file: File,
    /// Its size and modification time, for `Content-Length` and validators.
    metadata: Metadata,
}

/// What one reply sends for a URL: its file, or that file's `.gz` sibling.
struct Representation {
    /// The file whose bytes are sent.
    sent: Opened,
    /// Whether `sent` is the `.gz` sibling, to go with `Content-Encoding: gzip`.
    gzip: bool,
    /// Whether the URL's file has a `.gz` sibling at all, so that what is
    /// sent depends on `Accept-Encoding`, whichever of the two it is.
    has_gzip_sibling: bool,
}

impl Handler for DemoOrigin {
    fn handle(&mut self, request: &Request) -> Result<Served, RequestError> {
        std::thread::sleep(self.delay);
        if request.head.method != "GET" && request.head.method != "HEAD" {
            return Err(RequestError::MethodNotAllowed("GET, HEAD"));
        }
        request.discard_body()?;
        let target = parse_target(&request.head.target)?;
        // The root directory plays a cache that always has the file; its
        // reply is the origin's own, so the trace shows only steps 1, 2 and 6.
        let file_path = self.file_for(&clean_path(&target.path)?)?;
        let Some(chosen) = self.representation(&request.head, &file_path) else {
            let shown = file_path.display();
            // Step 2: look up the URL's file in the cache directory and judge it.
            request
                .trace
                .step(Step::LookUp, format_args!("{shown} is missing"));
            return Err(RequestError::NotFound);
        };
        self.reply(request, &file_path, &chosen)
    }
}

impl DemoOrigin {
    /// Answers `request` from `chosen`: 304 if the client's copy is current,
    /// by the rule the proxy uses; else, for a `GET`, the part its `Range`
    /// asks for (206, or 416 if no byte fits); else the whole file (200).
    /// `HEAD` never gets a part: RFC 9110 14.2 defines ranges for `GET` only.
    fn reply(
        &self,
        request: &Request,
        file_path: &Path,
        chosen: &Representation,
    ) -> Result<Served, RequestError> {
        let size = chosen.sent.metadata.len();
        let mut head = self.head_for(file_path, chosen);
        let not_modified = freshness::not_modified(&request.head, &head.headers);
        let is_get = request.head.method == "GET";
        // The range is judged against the validators of what is sent, so an
        // `If-Range` naming the other representation gets the whole 200.
        let part = if is_get && !not_modified {
            range::answer(&request.head, &head.headers, size)
        } else {
            RangeAnswer::Whole
        };
        let (status, first, count) = match part {
            _ if not_modified => (304, 0, 0),
            RangeAnswer::Whole => (200, 0, size),
            RangeAnswer::Part { first, last } => (206, first, last - first + 1),
            RangeAnswer::Unsatisfiable => (416, 0, 0),
        };
        head.status = status;
        let content_range = range::content_range(part, size);
        if let Some(content_range) = &content_range {
            head.add("Content-Range", content_range);
        }
        if status != 304 {
            head.add("Content-Length", count.to_string());
        }
        head.add("Connection", "close");
        // Step 2: look up the URL's file in the cache directory and judge it.
        let found = judged(chosen, status, content_range.as_deref());
        request.trace.step(Step::LookUp, found);
        let with_body = is_get && matches!(status, 200 | 206);
        if with_body {
            (&chosen.sent.file)
                .seek(SeekFrom::Start(first))
                .map_err(|error| {
                    let shown = chosen.sent.path.display();
                    RequestError::Internal(format!("could not seek in {shown}: {error}"))
                })?;
        }
        Ok(send(
            request,
            &head,
            with_body.then_some((&chosen.sent.file, count)),
        ))
    }

    /// The head of a 200 reply for `chosen`: the type of the URL's file
    /// (`file_path`), the date, the validators of the bytes sent, which a
    /// cache needs to ask "has it changed?", and `Cache-Control` if asked for.
    fn head_for(&self, file_path: &Path, chosen: &Representation) -> ResponseHead {
        let mut head = ResponseHead::new(200);
        // A `.gz` holds the same content as its file, so it has the same type.
        head.add("Content-Type", content_type(file_path))
            .add("Date", dates::http_date(SystemTime::now()))
            .add("Accept-Ranges", "bytes");
        if chosen.gzip {
            head.add("Content-Encoding", "gzip");
        }
        // Both representations say so: a cache that stored the plain one
        // without `Vary` would hand it to everyone and never ask for the other.
        if chosen.has_gzip_sibling {
            head.add("Vary", "Accept-Encoding");
        }
        let metadata = &chosen.sent.metadata;
        if let Ok(modified) = metadata.modified() {
            // The ETag changes whenever the size or time of the file sent does.
            // The `.gz` has its own, with a suffix besides, so the two never
            // share a tag even if sizes and times happen to match: a cache
            // revalidating one, or a client resuming one, must never be
            // answered about the other. (`gzip -k` gives the `.gz` its file's
            // time, so the two `Last-Modified` dates are often equal; a date
            // is the weaker validator, and clients prefer the tag.)
            let nanos = modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            let suffix = if chosen.gzip { "-gzip" } else { "" };
            let etag = format!("\"{:x}-{nanos:x}{suffix}\"", metadata.len());
            head.add("ETag", etag)
                .add("Last-Modified", dates::http_date(modified));
        }
        if let Some(seconds) = self.max_age {
            head.add("Cache-Control", format!("max-age={seconds}"));
        }
        head
    }
}

/// The trace's words for step 2: the file found, its size, and what the
/// client gets of it.
fn judged(chosen: &Representation, status: u16, content_range: Option<&str>) -> String {
    let (shown, size) = (chosen.sent.path.display(), chosen.sent.metadata.len());
    let coding = if chosen.gzip {
        " (gzip, as the client accepts)"
    } else {
        ""
    };
    let answer = match (status, content_range) {
        (304, _) => "; the client's copy is current: 304, no body".to_string(),
        (206, Some(content_range)) => format!("; the range asked for is {content_range}: 206"),
        (416, _) => "; no byte of it is in the range asked for: 416".to_string(),
        _ => String::new(),
    };
    format!("{shown} found, {size} bytes{coding}{answer}")
}

/// The precompressed sibling of a file: `book.txt.gz` for `book.txt`.
fn gzip_sibling(file_path: &Path) -> PathBuf {
    let mut name = file_path.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

/// Writes `head` and then, if given, the next `length` bytes of the file
/// (from where the caller sought to): binary-safe, bytes go from file to
/// socket untouched.
fn send(request: &Request, head: &ResponseHead, body: Option<(&File, u64)>) -> Served {
    let mut client = &request.client;
    let sent = client
        .write_all(&head.to_bytes())
        .and_then(|()| match body {
            Some((file, length)) => server::send_file(file, length, &request.client),
            None => Ok(0),
        });
    let (body_bytes, note) = match sent {
        Ok(count) => (count, None),
        Err(error) => (0, Some(server::ClientGone::from(error).to_string())),
    };
    Served {
        status: head.status,
        cache: None,
        body_bytes,
        note,
    }
}

/// The Content-Type for a file, from its extension.
pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gzip_sibling_is_the_name_with_gz_added() {
        let sibling = gzip_sibling(Path::new("www/guide/book.txt"));
        assert_eq!(sibling, Path::new("www/guide/book.txt.gz"));
        let of_index = gzip_sibling(Path::new("www/index.html"));
        assert_eq!(of_index, Path::new("www/index.html.gz"));
    }

    #[test]
    fn content_types_follow_the_extension() {
        let table = [
            ("index.html", "text/html; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("data.json", "application/json"),
            ("notes.txt", "text/plain; charset=utf-8"),
            ("logo.PNG", "image/png"),
            ("photo.jpg", "image/jpeg"),
            ("anim.gif", "image/gif"),
            ("icon.svg", "image/svg+xml"),
            ("favicon.ico", "image/x-icon"),
            ("paper.pdf", "application/pdf"),
            ("module.wasm", "application/wasm"),
            ("archive.tar.gz", "application/octet-stream"),
            ("Makefile", "application/octet-stream"),
        ];
        for (name, expected) in table {
            assert_eq!(content_type(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn directories_map_to_index_html() {
        let origin = DemoOrigin::new(Path::new("www"), Duration::ZERO, None);
        let root = origin.file_for(b"/").expect("root");
        assert_eq!(root, Path::new("www/index.html"));
        let page = origin.file_for(b"/style.css").expect("file");
        assert_eq!(page, Path::new("www/style.css"));
    }
}
