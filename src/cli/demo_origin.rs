//! The demo origin: a small static file server for `www/`, so the whole story
//! (client, cache, origin) runs on one machine.
//!
//! It serves `GET` and `HEAD` for regular files under its root, `index.html`
//! for a directory, with a type from the extension and the validators a cache
//! needs to ask "has this changed?" (`ETag`, `Last-Modified`), answering such
//! conditional requests with 304. `--max-age` adds `Cache-Control`; `--delay`
//! plays the slow database call a cache is there to hide. Like nginx's
//! `gzip_static`, it sends `book.txt.gz`, as it is, to a client that accepts
//! gzip, with `Vary: Accept-Encoding` and an `ETag` of its own. One byte
//! range of a `GET` gets 206, or 416 if none is in the file.
//!
//! It is the other party of every integration test, so it judges
//! conditionals, ranges and `Accept-Encoding` with its own few lines, never
//! with the cache's rules: a bug in those would otherwise sit on both sides.
//! (It borrows only the trace's step names.)
//!
//! Not here: listings, compressing on the fly, a check that a `.gz` still
//! holds its file (remake it with `gzip -9 -n -k`), `multipart/byteranges`.
//! What it does not understand gets the whole 200.

use std::fs::{File, Metadata};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::trace::Step;
use crate::error::RequestError;
use crate::net::served::{ClientGone, Note, Served};
use crate::net::server::{self, Handler, Request};
use crate::wire::dates;
use crate::wire::http::{find_header, parse_decimal, Header, RequestHead, ResponseHead};
use crate::wire::target::{clean_path, parse_target};

/// The demo origin's settings.
pub struct DemoOrigin {
    /// The directory whose files are served.
    root: PathBuf,
    /// The same with every link resolved, to tell whether a link leads out.
    real_root: PathBuf,
    /// How long to sleep before each reply.
    delay: Duration,
    /// The `max-age` to send in `Cache-Control`, if any.
    max_age: Option<u64>,
}

/// What one reply sends for a URL: its file, or that file's `.gz` sibling.
struct Representation {
    /// Where the file sent is, for the trace.
    path: PathBuf,
    /// The file itself: its bytes are the body.
    file: File,
    /// Its size and modification time, for `Content-Length` and validators.
    metadata: Metadata,
    /// Whether it is the `.gz` sibling, to go with `Content-Encoding: gzip`.
    gzip: bool,
    /// Whether the URL's file has a `.gz` sibling: then both replies vary.
    varies: bool,
}

impl Handler for DemoOrigin {
    fn handle(&mut self, request: &Request) -> Result<Served, RequestError> {
        std::thread::sleep(self.delay);
        if request.head.method() != "GET" && request.head.method() != "HEAD" {
            return Err(RequestError::MethodNotAllowed("GET, HEAD"));
        }
        request.discard_body()?;
        let target = parse_target(request.head.target())?;
        // The root directory plays a cache that always has the file; its
        // reply is the origin's own, so the trace shows only steps 1, 2 and 6.
        let file_path = self.file_for(&clean_path(target.path)?)?;
        let Some(chosen) = self.representation(&request.head, &file_path) else {
            let missing = format!("{} is missing", file_path.display());
            // Step 2: look up the URL's file in the cache directory and decide.
            request.trace.step(Step::LookUp, missing);
            return Err(RequestError::NotFound);
        };
        self.reply(request, &file_path, &chosen)
    }
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
        let inside = self.is_inside_root(&file_path);
        inside.then_some(file_path).ok_or(RequestError::NotFound)
    }

    /// Whether `path` exists and its real path is under the root: a link inside
    /// the root may point anywhere (`www/etc -> /etc`).
    fn is_inside_root(&self, path: &Path) -> bool {
        path.canonicalize()
            .is_ok_and(|real_path| real_path.starts_with(&self.real_root))
    }

    /// The regular file at `path`, open, if there is one inside the root;
    /// anything else gets a 404, as a 403 would tell a prober something is
    /// there. The type is checked *before* opening: opening a FIFO waits for a
    /// writer, holding the one thread forever, and a device may act on it.
    fn open(&self, path: &Path) -> Option<(File, Metadata)> {
        let is_file = std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file());
        if !self.is_inside_root(path) || !is_file {
            return None;
        }
        let file = File::open(path).ok()?;
        // And again on the open file: the name may have been replaced in
        // between. (The root is the learner's own directory, not a hostile one.)
        let metadata = file.metadata().ok().filter(Metadata::is_file)?;
        Some((file, metadata))
    }

    /// What to send for `file_path`: its `.gz` sibling if there is one and
    /// the request accepts gzip, else the file itself, if there is one.
    fn representation(&self, request: &RequestHead, file_path: &Path) -> Option<Representation> {
        let plain = self.open(file_path)?;
        // Looked for even when the client will not get it: that it exists is
        // what makes the reply vary.
        let gzip_path = gzip_sibling(file_path);
        let gzipped = self.open(&gzip_path);
        let varies = gzipped.is_some();
        let (path, (file, metadata), gzip) = match gzipped {
            Some(gzipped) if accepts_gzip(request) => (gzip_path, gzipped, true),
            _ => (file_path.to_path_buf(), plain, false),
        };
        Some(Representation {
            path,
            file,
            metadata,
            gzip,
            varies,
        })
    }

    /// Answers from `chosen`: 304 if the client's copy is current; else, for a
    /// `GET`, the part its `Range` asks for (206, or 416 if no byte fits); else
    /// the whole file (200). RFC 9110 14.2 defines ranges for `GET` only.
    fn reply(
        &self,
        request: &Request,
        file_path: &Path,
        chosen: &Representation,
    ) -> Result<Served, RequestError> {
        let size = chosen.metadata.len();
        let mut head = self.head_for(file_path, chosen);
        let is_current = is_current(&request.head, &head.headers);
        let is_get = request.head.method() == "GET";
        let part = (is_get && !is_current).then(|| part_asked(&request.head, &head.headers, size));
        let (status, first, count, content_range) = match part.unwrap_or(Part::Whole) {
            _ if is_current => (304, 0, 0, None),
            Part::Whole => (200, 0, size, None),
            Part::Bytes { first, last } => {
                let content_range = format!("bytes {first}-{last}/{size}");
                (206, first, last - first + 1, Some(content_range))
            }
            Part::NoneFits => (416, 0, 0, Some(format!("bytes */{size}"))),
        };
        head.status = status;
        if let Some(content_range) = &content_range {
            head.add("Content-Range", content_range);
        }
        if status != 304 {
            head.add("Content-Length", count.to_string());
        }
        head.add("Connection", "close");
        // Step 2: look up the URL's file in the cache directory and decide.
        let found = judged(chosen, status, content_range.as_deref());
        request.trace.step(Step::LookUp, found);
        let with_body = is_get && matches!(status, 200 | 206);
        if with_body {
            let sought = (&chosen.file).seek(SeekFrom::Start(first));
            let shown = chosen.path.display();
            sought.map_err(|error| {
                RequestError::Internal(format!("could not seek in {shown}: {error}"))
            })?;
        }
        let body_length = if with_body { count } else { 0 };
        Ok(send(request, &head, &chosen.file, body_length))
    }

    /// The head of a 200 reply for `chosen`: the type of the URL's file, the
    /// date, the validators of the bytes sent, and `Cache-Control` if asked.
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
        if chosen.varies {
            head.add("Vary", "Accept-Encoding");
        }
        if let Ok(modified) = chosen.metadata.modified() {
            // The tag changes with the size or time of the file sent. The
            // `.gz` has a suffix besides, so the two never share a tag: a
            // cache or a client asking about one must never hear of the other.
            let nanos = modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            let suffix = if chosen.gzip { "-gzip" } else { "" };
            let etag = format!("\"{:x}-{nanos:x}{suffix}\"", chosen.metadata.len());
            head.add("ETag", etag)
                .add("Last-Modified", dates::http_date(modified));
        }
        if let Some(seconds) = self.max_age {
            head.add("Cache-Control", format!("max-age={seconds}"));
        }
        head
    }
}

/// The trace's words for step 2: the file found, and what the client gets.
fn judged(chosen: &Representation, status: u16, content_range: Option<&str>) -> String {
    let (shown, size) = (chosen.path.display(), chosen.metadata.len());
    let coding = chosen.gzip.then_some(" (gzip, as the client accepts)");
    let coding = coding.unwrap_or_default();
    let answer = match (status, content_range) {
        (304, _) => "; the client's copy is current: 304, no body".to_string(),
        (206, Some(content_range)) => format!("; the range asked for is {content_range}: 206"),
        (416, _) => "; no byte of it is in the range asked for: 416".to_string(),
        _ => String::new(),
    };
    format!("{shown} found, {size} bytes{coding}{answer}")
}

/// Whether the client's copy is the one whose fields are `sent`: its
/// `If-None-Match` is `*` or names our `ETag` (`W/"x"` names `"x"`: RFC 9110
/// 13.1.2 compares weakly), or, without one, its `If-Modified-Since` is not
/// before our `Last-Modified`.
fn is_current(request: &RequestHead, sent: &[Header]) -> bool {
    let etag = find_header(sent, "ETag");
    if let Some(tags) = request.header("If-None-Match") {
        return tags.split(|&byte| byte == b',').any(|tag| {
            let tag = tag.trim_ascii();
            tag == b"*" || Some(tag.strip_prefix(b"W/").unwrap_or(tag)) == etag
        });
    }
    let date = |value: Option<&[u8]>| value.and_then(dates::parse_http_date);
    let since = date(request.header("If-Modified-Since"));
    let modified = date(find_header(sent, "Last-Modified"));
    matches!((since, modified), (Some(since), Some(modified)) if modified <= since)
}

/// What a `GET` gets of a file.
enum Part {
    /// The whole file, 200: no `Range`, or one this origin does not serve.
    Whole,
    /// Bytes `first..=last`, 206.
    Bytes { first: u64, last: u64 },
    /// No byte of the file is in the range, 416.
    NoneFits,
}

/// The part of a file of `size` bytes that one `Range: bytes=first-last`,
/// `first-` or `-count` asks for. An `If-Range` must be our `ETag` (in
/// `sent`) exactly; a date there, another unit, several ranges or a range
/// that breaks the grammar get the whole file, which always answers a `GET`.
fn part_asked(request: &RequestHead, sent: &[Header], size: u64) -> Part {
    let if_range = request.header("If-Range").map(<[u8]>::trim_ascii);
    if if_range.is_some_and(|validator| Some(validator) != find_header(sent, "ETag")) {
        return Part::Whole;
    }
    // One `Range` field, in bytes (a unit's name is case-insensitive).
    let mut fields = request.headers.iter().filter(|field| field.is("Range"));
    let (Some(field), None) = (fields.next(), fields.next()) else {
        return Part::Whole;
    };
    let range = std::str::from_utf8(field.value()).unwrap_or_default();
    let bytes = range
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="));
    let Some((before, after)) = bytes.and_then(|_| range[6..].split_once('-')) else {
        return Part::Whole;
    };
    // Digits only (`str::parse` would take `+5` too).
    let number = |digits: &str| parse_decimal(digits.as_bytes());
    // The first byte, and the last, which may be past the end of the file.
    let (first, last) = match (number(before), number(after)) {
        (Some(first), None) if after.is_empty() => (first, u64::MAX),
        (Some(first), Some(last)) if first <= last => (first, last),
        // The last `count` bytes: counted from the end, so "the last 0" is past it.
        (None, Some(count)) if before.is_empty() => (size.saturating_sub(count), u64::MAX),
        _ => return Part::Whole,
    };
    if first >= size {
        return Part::NoneFits;
    }
    let last = last.min(size - 1);
    Part::Bytes { first, last }
}

/// Whether the request's `Accept-Encoding` takes gzip: `gzip` (or `x-gzip`)
/// named, or else `*`, without `q=0`. A coding named outright wins over `*`,
/// so `gzip;q=0, *` refuses it.
fn accepts_gzip(request: &RequestHead) -> bool {
    let list = request.header("Accept-Encoding").unwrap_or_default();
    let refused_by = |names: &[&[u8]]| {
        list.split(|&byte| byte == b',').find_map(|element| {
            let mut parts = element.split(|&byte| byte == b';').map(<[u8]>::trim_ascii);
            let coding = parts.next()?;
            let named = names.iter().any(|name| coding.eq_ignore_ascii_case(name));
            named.then(|| parts.any(is_zero_weight))
        })
    };
    let verdict = refused_by(&[b"gzip", b"x-gzip"]).or_else(|| refused_by(&[b"*"]));
    verdict == Some(false)
}

/// Whether a parameter is a weight of zero: `q=0`, `Q=0.0`, `q=0.000`.
fn is_zero_weight(parameter: &[u8]) -> bool {
    let weight = parameter
        .get(2..)
        .filter(|_| parameter[..2].eq_ignore_ascii_case(b"q="));
    weight.is_some_and(|weight| weight.iter().all(|&byte| byte == b'0' || byte == b'.'))
}

/// The precompressed sibling of a file: `book.txt.gz` for `book.txt`.
fn gzip_sibling(file_path: &Path) -> PathBuf {
    let mut name = file_path.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

/// Writes `head` and then the next `length` bytes of `file` (from where the
/// caller sought to): binary-safe, bytes go from file to socket untouched.
fn send(request: &Request, head: &ResponseHead, file: &File, length: u64) -> Served {
    let mut client = &request.client;
    let sent = client
        .write_all(&head.to_bytes())
        .and_then(|()| server::send_file(file, length, &request.client));
    let (body_bytes, note) = match sent {
        Ok(count) => (count, None),
        Err(error) => (0, Some(Note::ClientGone(ClientGone::from(error)))),
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
    let extension = path.extension().and_then(|extension| extension.to_str());
    match extension.unwrap_or("").to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
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
            ("outgrow.md", "text/plain; charset=utf-8"),
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

    /// A `GET /` with the header fields `fields`.
    fn request(fields: &[(&str, &str)]) -> RequestHead {
        let headers = fields
            .iter()
            .map(|(name, value)| Header::new(name, value))
            .collect();
        RequestHead::new("GET", "/", 1, headers)
    }

    /// The fields a file's reply carries: its tag and date.
    fn sent() -> Vec<Header> {
        request(&[
            ("ETag", "\"1f-abc\""),
            ("Last-Modified", "Tue, 03 Mar 2026 10:00:00 GMT"),
        ])
        .headers
    }

    #[test]
    fn a_copy_is_current_by_its_tag_or_else_by_its_date() {
        let table = [
            (("If-None-Match", "\"1f-abc\""), true),
            (("If-None-Match", "W/\"1f-abc\""), true),
            (("If-None-Match", "\"old\", \"1f-abc\""), true),
            (("If-None-Match", "*"), true),
            (("If-None-Match", "\"old\""), false),
            (("If-Modified-Since", "Tue, 03 Mar 2026 10:00:00 GMT"), true),
            (("If-Modified-Since", "Wed, 04 Mar 2026 10:00:00 GMT"), true),
            (
                ("If-Modified-Since", "Mon, 02 Mar 2026 10:00:00 GMT"),
                false,
            ),
            (("If-Modified-Since", "yesterday"), false),
        ];
        for (field, current) in table {
            assert_eq!(
                is_current(&request(&[field]), &sent()),
                current,
                "{field:?}"
            );
        }
        let both = [
            ("If-None-Match", "\"old\""),
            ("If-Modified-Since", "Wed, 04 Mar 2026 10:00:00 GMT"),
        ];
        assert!(!is_current(&request(&both), &sent()), "the tag decides");
    }

    /// What a `Range` (and maybe an `If-Range`) gets of 100 bytes.
    fn part(fields: &[(&str, &str)]) -> Option<(u64, u64)> {
        match part_asked(&request(fields), &sent(), 100) {
            Part::Whole => None,
            Part::Bytes { first, last } => Some((first, last)),
            Part::NoneFits => Some((u64::MAX, u64::MAX)),
        }
    }

    #[test]
    fn one_range_is_a_part_and_anything_else_the_whole() {
        let none_fits = Some((u64::MAX, u64::MAX));
        let table = [
            ("bytes=0-9", Some((0, 9))),
            ("bytes=90-", Some((90, 99))),
            ("bytes=90-500", Some((90, 99))),
            ("bytes=-10", Some((90, 99))),
            ("bytes=-500", Some((0, 99))),
            ("bytes=100-", none_fits),
            ("bytes=-0", none_fits),
            ("bytes=5-3", None),
            ("bytes=0-1,5-6", None),
            ("bytes=+5-", None),
            ("items=0-9", None),
            ("bytes=-", None),
            ("BYTES=0-9", Some((0, 9))),
        ];
        for (range, expected) in table {
            assert_eq!(part(&[("Range", range)]), expected, "{range}");
        }
        let two_fields = [("Range", "bytes=0-9"), ("Range", "bytes=20-29")];
        assert_eq!(part(&two_fields), None, "two Range fields: the whole");
        let tagged = |tag| part(&[("Range", "bytes=0-9"), ("If-Range", tag)]);
        assert_eq!(tagged("\"1f-abc\""), Some((0, 9)));
        assert_eq!(tagged("\"other\""), None);
        assert_eq!(
            tagged("Tue, 03 Mar 2026 10:00:00 GMT"),
            None,
            "a date: the whole"
        );
    }

    #[test]
    fn gzip_is_sent_when_named_or_starred_without_a_zero_weight() {
        let table = [
            ("gzip", true),
            ("X-GZIP", true),
            ("*", true),
            ("br, gzip;q=0.5", true),
            ("gzip;Q=0.8, *;q=0", true),
            ("", false),
            ("br, identity", false),
            ("gzip;q=0", false),
            ("gzip;q=0.000, *", false),
            ("*;q=0", false),
        ];
        for (accept, accepted) in table {
            let asked = request(&[("Accept-Encoding", accept)]);
            assert_eq!(accepts_gzip(&asked), accepted, "{accept:?}");
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
