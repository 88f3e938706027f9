//! The demo origin: a small static file server for `www/`, so the whole story
//! (client, cache, origin) runs on one machine.
//!
//! It serves `GET` and `HEAD` for files under its root, maps `/` and
//! directories to `index.html`, names the type from the file extension, and
//! sends the validators a cache needs to ask "has this changed?": `ETag` and
//! `Last-Modified`. It answers such conditional requests with 304. `--max-age`
//! adds `Cache-Control: max-age=N`, and `--delay` makes it sleep before each
//! reply, to play the slow database call that a cache is there to hide.
//!
//! Steps: 1, 2 and 6 of the README's pseudocode, on the same server loop as
//! the proxy, with the root directory as a cache that always has the file.
//! (Its replies are the origin's own, so it never says "hit".)
//!
//! Not here: anything clever. No listings, no ranges. It shares the socket
//! loop and the request parser with the proxy, so the same limits protect it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dates;
use crate::error::RequestError;
use crate::freshness;
use crate::http::ResponseHead;
use crate::server::{self, Handler, Request, Served};
use crate::target::{clean_path, parse_target};
use crate::trace::Step;

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
        // A symbolic link inside the root may point anywhere (`www/etc ->
        // /etc`); only files whose real path is under the root are served.
        match file_path.canonicalize() {
            Ok(real_path) if real_path.starts_with(&self.real_root) => Ok(file_path),
            _ => Err(RequestError::NotFound),
        }
    }
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
        let shown = file_path.display();
        let opened = File::open(&file_path).and_then(|file| Ok((file.metadata()?, file)));
        let Ok((metadata, file)) = opened.and_then(|(metadata, file)| {
            if metadata.is_file() {
                Ok((metadata, file))
            } else {
                Err(std::io::ErrorKind::NotFound.into())
            }
        }) else {
            // Step 2: look up the URL's file in the cache directory and judge it.
            request
                .trace
                .step(Step::LookUp, format_args!("{shown} is missing"));
            return Err(RequestError::NotFound);
        };
        let size = metadata.len();
        // A 304 if the client's copy is current, by the rule the proxy uses.
        let mut head = self.head_for(&file_path, &metadata);
        let not_modified = freshness::not_modified(&request.head, &head.headers);
        let current = if not_modified {
            head.status = 304;
            "; the client's copy is current: 304, no body"
        } else {
            head.add("Content-Length", size.to_string());
            ""
        };
        // Step 2: look up the URL's file in the cache directory and judge it.
        let found = format_args!("{shown} found, {size} bytes{current}");
        request.trace.step(Step::LookUp, found);
        head.add("Connection", "close");
        let with_body = request.head.method == "GET" && !not_modified;
        Ok(send(request, &head, with_body.then_some((&file, size))))
    }
}

impl DemoOrigin {
    /// The head of a 200 reply for a file: its type, the date, the validators
    /// a cache needs to ask "has it changed?", and `Cache-Control` if asked for.
    fn head_for(&self, file_path: &Path, metadata: &std::fs::Metadata) -> ResponseHead {
        let mut head = ResponseHead::new(200);
        head.add("Content-Type", content_type(file_path))
            .add("Date", dates::http_date(SystemTime::now()));
        if let Ok(modified) = metadata.modified() {
            // The ETag changes whenever the file's size or time does.
            let nanos = modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            head.add("ETag", format!("\"{:x}-{nanos:x}\"", metadata.len()))
                .add("Last-Modified", dates::http_date(modified));
        }
        if let Some(seconds) = self.max_age {
            head.add("Cache-Control", format!("max-age={seconds}"));
        }
        head
    }
}

/// Writes `head` and then, if given, the file's `length` bytes: binary-safe,
/// bytes go from file to socket untouched.
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
        Err(error) => (0, Some(server::client_gone(&error))),
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
