//! A stored copy is filed under the request the origin saw, never under the
//! client's own fields. A field the client names in `Connection` is dropped
//! on the way (RFC 9110 7.6.1), and a client's conditions and `Range` never
//! reach the origin on a fetch to keep; so none of them may choose, or
//! change, the copy that the next client gets.
//!
//! The property test sends thousands of random `GET`s through the real
//! binary: random values of the fields an origin varies on, `Connection`
//! naming some of them, `no-cache`, conditions and ranges. The origin's body
//! is a pure function of the varied fields it received, so the test knows
//! what every reply and every stored copy must hold:
//!
//! - each reply is what the origin itself would answer to the client's
//!   request, its hop-by-hop fields dropped: the same body, or the part of it
//!   asked for, or the 304, 412 or 416 that the request's conditions and range
//!   call for;
//! - the origin never sees a client's `If-Match`, `If-Unmodified-Since`,
//!   `Range` or `If-Range`, and sees `If-None-Match` only with the tag of the
//!   very request it comes with: the proxy asking about its own copy;
//! - afterwards, each stored variant holds the body the origin sends for the
//!   request that its name describes.
//!
//! Only `GET`s: a `HEAD`, or a request with `no-store`, is passed on as it
//! is and never kept, so its conditions rightly reach the origin.
//!
//! Seeded like `tests/fuzz.rs`: every failure message prints the seed, and
//! `CACHEPROXY_FUZZ_SEED=<seed> cargo test --test unkeyed` replays the run.
//! `CACHEPROXY_FUZZ_ROUNDS` scales the number of requests.

mod support;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use support::random::{rounds, seed, Random};
use support::{http_date, parse_reply, FakeOrigin, Received, Reply, Server, TempDir, PATIENCE};

/// Requests per run, unless `CACHEPROXY_FUZZ_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: usize = 5000;

/// The URLs the origin serves, each with the request fields its reply
/// varies on, lower-cased, in the order of its `Vary`.
const URLS: [(&str, &[&str]); 4] = [
    ("/multi", &["x-a", "x-b", "accept-language"]),
    ("/lang", &["accept-language"]),
    // By the codings accepted; its gzip reply leaves `Vary` out, as careless
    // origins do, and the proxy must key it as if it had been said.
    ("/coded", &["accept-encoding"]),
    ("/plain", &[]),
];

/// The fields `path`'s reply varies on; `None` for a URL the origin lacks.
fn varied_names(path: &str) -> Option<&'static [&'static str]> {
    URLS.iter()
        .find(|(url, _)| *url == path)
        .map(|(_, names)| *names)
}

/// The values clients send in `Accept-Encoding`, each with the set of
/// codings the proxy asks the origin for on their behalf (see
/// `src/encoding.rs`). A client without the field accepts `identity`.
const ACCEPT_ENCODINGS: [(&str, &str); 5] = [
    ("gzip", "gzip"),
    ("gzip, deflate, br", "br,gzip"),
    ("br;q=1.0, gzip;q=0.8, *;q=0.1", "br,gzip,zstd"),
    ("gzip;q=0, *", "br,zstd"),
    ("identity", "identity"),
];

/// The origin's `Last-Modified`, and a date before and after it, for the
/// conditions on dates; the test compares dates only among these three.
const BEFORE: &str = "Sat, 01 Jan 1994 00:00:00 GMT";
const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const AFTER: &str = "Mon, 01 Jan 2001 00:00:00 GMT";

/// Where a date in a condition stands against `LAST_MODIFIED`; `None` for
/// one that is not an HTTP date, which makes the condition be ignored.
fn against_last_modified(date: &str) -> Option<Ordering> {
    match date {
        BEFORE => Some(Ordering::Less),
        LAST_MODIFIED => Some(Ordering::Equal),
        AFTER => Some(Ordering::Greater),
        _ => None,
    }
}

/// A message's header fields as (name, value), in order.
#[derive(Clone, Debug, Default)]
struct Fields(Vec<(String, String)>);

impl Fields {
    /// The fields of a message head; its first line is skipped.
    fn of_head(head: &str) -> Fields {
        let lines = head.lines().skip(1).filter_map(|line| line.split_once(':'));
        Fields(
            lines
                .map(|(name, value)| (name.to_string(), value.trim().to_string()))
                .collect(),
        )
    }

    fn add(&mut self, name: &str, value: &str) {
        self.0.push((name.to_string(), value.to_string()));
    }

    /// The value of the first line of field `name`.
    fn one(&self, name: &str) -> Option<&str> {
        let mut lines = self.0.iter();
        let line = lines.find(|(field, _)| field.eq_ignore_ascii_case(name));
        line.map(|(_, value)| value.as_str())
    }

    /// Every line of field `name` as one list (RFC 9110 5.3): its items
    /// trimmed and joined by `,`. `None` when the field is absent.
    fn list(&self, name: &str) -> Option<String> {
        let items: Vec<&str> = self
            .0
            .iter()
            .filter(|(field, _)| field.eq_ignore_ascii_case(name))
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .collect();
        (!items.is_empty()).then(|| items.join(","))
    }
}

/// The fields the origin must see for a client's `fields` (RFC 9110 7.6.1):
/// all but `Connection` and the fields it names, with `Accept-Encoding` as
/// the set of codings accepted.
fn seen_by_origin(fields: &Fields) -> Fields {
    let named = fields.list("Connection").unwrap_or_default();
    let named: Vec<String> = named.split(',').map(str::to_ascii_lowercase).collect();
    let passes = |name: &str| {
        let name = name.to_ascii_lowercase();
        !(name == "connection" || name == "accept-encoding" || named.contains(&name))
    };
    let mut seen = Fields(
        fields
            .0
            .iter()
            .filter(|(name, _)| passes(name))
            .cloned()
            .collect(),
    );
    let accepted = fields.one("Accept-Encoding").map_or("identity", |sent| {
        let known = ACCEPT_ENCODINGS.iter().find(|(value, _)| *value == sent);
        known.map_or_else(
            || panic!("not a value this test sends: {sent}"),
            |known| known.1,
        )
    });
    seen.add("Accept-Encoding", accepted);
    seen
}

/// The fields `path`'s reply varies on, each with its value in `fields`.
fn varied_values(path: &str, fields: &Fields) -> Vec<(String, Option<String>)> {
    let names = varied_names(path).unwrap_or_default();
    names
        .iter()
        .map(|name| (name.to_string(), fields.list(name)))
        .collect()
}

/// The body the origin sends for `path` to a request with these values of
/// the fields it varies on (`None`: absent). A pure function, so the test
/// knows what the copy for any key must hold: `/multi: x-a=1 x-b
/// accept-language=fr,en`.
fn body_for(path: &str, varied: &[(String, Option<String>)]) -> String {
    let mut body = format!("{path}:");
    for (name, value) in varied {
        let _ = match value {
            Some(value) => write!(body, " {name}={value}"),
            None => write!(body, " {name}"),
        };
    }
    body.push('\n');
    body
}

/// The body the origin sends for `path` to a request with `fields`.
fn body_of_request(path: &str, fields: &Fields) -> String {
    body_for(path, &varied_values(path, fields))
}

/// The strong entity tag of `body` (an FNV-1a hash): equal bodies, equal tags.
fn etag_of(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// What a request gets of a representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// 200 and the body.
    Whole,
    /// 206 and bytes `first..=last` of the body.
    Part { first: usize, last: usize },
    /// 304: the client's copy is current.
    NotModified,
    /// 412: `If-Match` or `If-Unmodified-Since` does not hold.
    Failed,
    /// 416: no byte of the body is in the range.
    Unsatisfiable,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Whole => "200",
            Outcome::Part { .. } => "206",
            Outcome::NotModified => "304",
            Outcome::Failed => "412",
            Outcome::Unsatisfiable => "416",
        }
    }
}

/// What the conditions in `fields` make of a representation tagged `etag`
/// and last modified at `LAST_MODIFIED`, in RFC 9110 13.2.2's order: 412,
/// 304, or `None` when they all hold. The origin answers by this, and a
/// cache must answer the same.
fn judge_conditions(fields: &Fields, etag: &str) -> Option<Outcome> {
    if let Some(wanted) = fields.list("If-Match") {
        // The strong comparison: a weak tag never matches.
        if !wanted.split(',').any(|tag| tag == "*" || tag == etag) {
            return Some(Outcome::Failed);
        }
    } else if fields
        .one("If-Unmodified-Since")
        .and_then(against_last_modified)
        == Some(Ordering::Less)
    {
        return Some(Outcome::Failed);
    }
    if let Some(wanted) = fields.list("If-None-Match") {
        // The weak comparison: `W/` aside.
        let opaque = |tag: &str| tag.trim_start_matches("W/").to_string();
        let matched = wanted
            .split(',')
            .any(|tag| tag == "*" || opaque(tag) == opaque(etag));
        return matched.then_some(Outcome::NotModified);
    }
    let since = fields
        .one("If-Modified-Since")
        .and_then(against_last_modified);
    since
        .is_some_and(|since| since != Ordering::Less)
        .then_some(Outcome::NotModified)
}

/// One `Range` a client asks for.
#[derive(Clone, Copy, Debug)]
enum RangeAsk {
    /// `bytes=first-last`, or `bytes=first-` without `last`.
    Span(usize, Option<usize>),
    /// `bytes=-count`: the last `count` bytes.
    Suffix(usize),
    /// A value a server ignores (invalid, several ranges, another unit): the
    /// whole body is the answer.
    Ignored(&'static str),
}

const RANGES: [RangeAsk; 11] = [
    RangeAsk::Span(0, Some(4)),
    RangeAsk::Span(2, Some(2)),
    RangeAsk::Span(0, Some(999)),
    RangeAsk::Span(5, None),
    RangeAsk::Span(999, Some(1200)),
    RangeAsk::Span(999, None),
    RangeAsk::Suffix(7),
    RangeAsk::Suffix(999),
    RangeAsk::Ignored("bytes=4-1"),
    RangeAsk::Ignored("bytes=0-1,4-5"),
    RangeAsk::Ignored("items=0-1"),
];

impl RangeAsk {
    fn text(self) -> String {
        match self {
            RangeAsk::Span(first, Some(last)) => format!("bytes={first}-{last}"),
            RangeAsk::Span(first, None) => format!("bytes={first}-"),
            RangeAsk::Suffix(count) => format!("bytes=-{count}"),
            RangeAsk::Ignored(text) => text.to_string(),
        }
    }

    /// What it asks of a body of `length` bytes (never 0 here), RFC 9110 14.1.2.
    fn answer(self, length: usize) -> Outcome {
        let (first, last) = match self {
            RangeAsk::Span(first, last) => {
                (first, last.map_or(length - 1, |last| last.min(length - 1)))
            }
            RangeAsk::Suffix(count) => (length.saturating_sub(count), length - 1),
            RangeAsk::Ignored(_) => return Outcome::Whole,
        };
        if first >= length {
            return Outcome::Unsatisfiable;
        }
        Outcome::Part { first, last }
    }
}

/// Whether `If-Range` (if any) lets a range apply to a representation tagged
/// `etag` (RFC 9110 13.1.5): a strong match of the tag, or exactly its date.
fn if_range_holds(if_range: Option<&str>, etag: &str) -> bool {
    match if_range {
        None => true,
        Some(tag) if tag.starts_with('"') || tag.starts_with("W/") => tag == etag,
        Some(date) => date == LAST_MODIFIED,
    }
}

/// A client's `GET`.
struct ClientRequest {
    path: &'static str,
    fields: Fields,
    range: Option<RangeAsk>,
}

impl ClientRequest {
    fn head(&self) -> String {
        let mut head = format!("GET {} HTTP/1.1\r\nHost: test\r\n", self.path);
        for (name, value) in &self.fields.0 {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        head
    }

    /// What the client must get: what the origin would answer to this
    /// request with its hop-by-hop fields dropped, its conditions and range
    /// judged against that body.
    fn expected(&self) -> (String, Outcome) {
        let body = body_of_request(self.path, &seen_by_origin(&self.fields));
        let etag = etag_of(&body);
        let outcome = match (judge_conditions(&self.fields, &etag), self.range) {
            (Some(outcome), _) => outcome,
            (None, Some(range)) if if_range_holds(self.fields.one("If-Range"), &etag) => {
                range.answer(body.len())
            }
            (None, _) => Outcome::Whole,
        };
        (body, outcome)
    }

    /// Whether `Connection` names a varied field that the client sent, so
    /// that the origin answers as if the client had not sent it.
    fn drops_a_varied_field(&self) -> bool {
        let undropped = without_connection(&self.fields);
        body_of_request(self.path, &seen_by_origin(&undropped))
            != body_of_request(self.path, &seen_by_origin(&self.fields))
    }
}

/// `fields` as if `Connection` named none of them.
fn without_connection(fields: &Fields) -> Fields {
    let mut undropped = fields.clone();
    undropped
        .0
        .retain(|(name, _)| !name.eq_ignore_ascii_case("Connection"));
    undropped
}

/// A random `GET`: values of the varied fields, in any case and sometimes
/// split over two lines; `Connection` naming some fields; `no-cache`; and
/// conditions and ranges, their tags mostly ones that mean something here.
fn client_request(random: &mut Random) -> ClientRequest {
    let path = URLS[random.below(URLS.len())].0;
    let mut fields = Fields::default();
    let varied: [(&[&str], &[&str]); 3] = [
        (&["X-A", "x-a"], &["", "1", "2", "1, 2", "3", "4", "5"]),
        (&["X-B", "x-B"], &["x", "y", "a&b=c/d", "café"]),
        (
            &["Accept-Language", "ACCEPT-LANGUAGE"],
            &["fr", "fr, en", "fr,en", "de", "en-GB, en;q=0.8"],
        ),
    ];
    for (names, values) in varied {
        if random.chance(30) {
            continue;
        }
        let (name, value) = (random.pick(names), random.pick(values));
        match value.split_once(", ") {
            // A list may come in several lines (RFC 9110 5.3).
            Some((first, second)) if random.chance(50) => {
                fields.add(name, first);
                fields.add(name, second);
            }
            _ => fields.add(name, value),
        }
    }
    if random.chance(60) {
        let value = ACCEPT_ENCODINGS[random.below(ACCEPT_ENCODINGS.len())].0;
        fields.add("Accept-Encoding", value);
    }
    if random.chance(20) {
        fields.add("X-Other", "1");
    }
    if random.chance(40) {
        // Never `Accept-Encoding`: the proxy sends its own, made from the
        // client's, so naming it would not change what the origin sees.
        let names = ["X-A", "x-b", "Accept-Language", "X-Other", "keep-alive"];
        let mut named: Vec<&str> = names.into_iter().filter(|_| random.chance(35)).collect();
        if named.is_empty() || random.chance(30) {
            named.insert(0, "close");
        }
        fields.add("Connection", &named.join(", "));
    }
    if random.chance(15) {
        fields.add("Cache-Control", "no-cache");
    }
    add_conditions(random, path, &mut fields);
    let range = random
        .chance(25)
        .then(|| RANGES[random.below(RANGES.len())]);
    if let Some(range) = range {
        fields.add("Range", &range.text());
        if random.chance(40) {
            let tag = etag_of(&body_of_request(path, &seen_by_origin(&fields)));
            let weak = format!("W/{tag}");
            let validators = [&tag, &weak, "\"nope\"", LAST_MODIFIED, BEFORE];
            fields.add("If-Range", random.pick(&validators));
        }
    }
    ClientRequest {
        path,
        fields,
        range,
    }
}

/// Adds random conditions: tags that match the body the client is owed, or
/// the one its own fields would name if `Connection` dropped nothing (the
/// copy an attacker would aim at), or none; dates around `LAST_MODIFIED`.
fn add_conditions(random: &mut Random, path: &str, fields: &mut Fields) {
    let owed = etag_of(&body_of_request(path, &seen_by_origin(fields)));
    let aimed = etag_of(&body_of_request(
        path,
        &seen_by_origin(&without_connection(fields)),
    ));
    let tags = [
        owed.clone(),
        aimed,
        "\"nope\"".into(),
        "*".into(),
        format!("W/{owed}"),
        format!("\"nope\", {owed}"),
    ];
    let dates = [BEFORE, LAST_MODIFIED, AFTER, "yesterday"];
    for (name, percent) in [("If-None-Match", 25), ("If-Match", 15)] {
        if random.chance(percent) {
            fields.add(name, &tags[random.below(tags.len())]);
        }
    }
    for (name, percent) in [("If-Modified-Since", 15), ("If-Unmodified-Since", 10)] {
        if random.chance(percent) {
            fields.add(name, random.pick(&dates));
        }
    }
}

/// The origin: a reply that varies on the fields `URLS` lists, honest
/// answers to any condition it receives, and a complaint for every field it
/// should never have seen.
fn recording_origin(complaints: Arc<Mutex<Vec<String>>>) -> FakeOrigin {
    FakeOrigin::start(move |request, stream| {
        let complain = |what: String| {
            let complaint = format!("{what}; the origin received:\n{}", request.head);
            complaints.lock().expect("lock").push(complaint);
        };
        let reply = origin_reply(request, complain);
        let _ = stream.write_all(reply.as_bytes());
    })
}

/// The origin's reply to `request`; `complain` hears what it should not have received.
fn origin_reply(request: &Received, complain: impl Fn(String)) -> String {
    let path = request.target.as_str();
    if request.method != "GET" || varied_names(path).is_none() {
        complain(format!(
            "{} {path} is not a request of this test",
            request.method
        ));
        return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into();
    }
    let fields = Fields::of_head(&request.head);
    for name in ["If-Match", "If-Unmodified-Since", "Range", "If-Range"] {
        if let Some(value) = fields.one(name) {
            complain(format!("the origin saw a client's {name}: {value}"));
        }
    }
    let body = body_of_request(path, &fields);
    let etag = etag_of(&body);
    let gzip = fields
        .list("Accept-Encoding")
        .is_some_and(|codings| codings.split(',').any(|coding| coding == "gzip"));
    if let Some(asked) = fields.list("If-None-Match").filter(|asked| *asked != etag) {
        complain(format!(
            "the proxy asked with If-None-Match: {asked} about a copy of another request \
             (this request's reply is tagged {etag})"
        ));
    }
    if let Some(since) = fields
        .one("If-Modified-Since")
        .filter(|since| *since != LAST_MODIFIED)
    {
        complain(format!(
            "If-Modified-Since: {since} is not a copy's Last-Modified"
        ));
    }
    let mut head = format!(
        "Date: {}\r\nCache-Control: max-age=600\r\nETag: {etag}\r\nLast-Modified: {LAST_MODIFIED}\r\n",
        http_date(SystemTime::now())
    );
    head.push_str(match path {
        "/multi" => "Vary: X-A, X-B\r\nVary: Accept-Language\r\n",
        "/lang" => "Vary: accept-language\r\n",
        "/coded" if gzip => "Content-Encoding: gzip\r\n",
        "/coded" => "Vary: Accept-Encoding\r\n",
        _ => "",
    });
    match judge_conditions(&fields, &etag) {
        Some(Outcome::NotModified) => format!("HTTP/1.1 304 Not Modified\r\n{head}\r\n"),
        Some(_) => {
            format!("HTTP/1.1 412 Precondition Failed\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n")
        }
        None => format!(
            "HTTP/1.1 200 OK\r\n{head}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    }
}

/// How to replay a failure of this run.
fn replay(seed: u64) -> String {
    format!("seed {seed} (replay: CACHEPROXY_FUZZ_SEED={seed} cargo test --test unkeyed)")
}

/// Sends `head` to the proxy and reads the whole reply; every wait bounded.
fn ask(proxy: &Server, head: &str, replay: &str) -> Reply {
    let fail = |what: &str, error: std::io::Error| -> ! { panic!("{replay}: {what}: {error}") };
    let mut stream = TcpStream::connect_timeout(&proxy.addr, PATIENCE)
        .unwrap_or_else(|error| fail("connect", error));
    stream
        .set_read_timeout(Some(PATIENCE))
        .unwrap_or_else(|error| fail("timeout", error));
    stream
        .write_all(head.as_bytes())
        .unwrap_or_else(|error| fail("send", error));
    let mut received = Vec::new();
    stream
        .read_to_end(&mut received)
        .unwrap_or_else(|error| fail("read the reply", error));
    assert!(
        received.starts_with(b"HTTP/1.1 ") && received.windows(4).any(|end| end == b"\r\n\r\n"),
        "{replay}: no reply to\n{head}got {:?}",
        String::from_utf8_lossy(&received)
    );
    parse_reply(&received)
}

/// Checks `reply` against what `request` must get; returns the outcome.
fn check_reply(request: &ClientRequest, reply: &Reply) -> Result<Outcome, String> {
    let (body, outcome) = request.expected();
    let (etag, length) = (etag_of(&body), body.len());
    let (status, part, content_range) = match outcome {
        Outcome::Whole => (200, body.as_bytes(), None),
        Outcome::Part { first, last } => (
            206,
            &body.as_bytes()[first..=last],
            Some(format!("bytes {first}-{last}/{length}")),
        ),
        Outcome::NotModified => (304, &b""[..], None),
        Outcome::Failed => (412, &b""[..], None),
        Outcome::Unsatisfiable => (416, &b""[..], Some(format!("bytes */{length}"))),
    };
    let got = (
        reply.status,
        &reply.body[..],
        reply.header("ETag"),
        reply.header("Content-Range"),
    );
    if got == (status, part, Some(etag.clone()), content_range.clone()) {
        return Ok(outcome);
    }
    Err(format!(
        "the client sent\n{}the origin answers {body:?} (ETag {etag}) to it once hop-by-hop \
         fields are dropped, so the reply must be {status} with body {:?}{}; it was\n{}\n\n{:?}",
        request.head(),
        String::from_utf8_lossy(part),
        content_range.map_or(String::new(), |range| format!(" and Content-Range {range}")),
        reply.head,
        String::from_utf8_lossy(&reply.body),
    ))
}

/// Checks every entry in the cache directory `dir`: each variant holds the
/// body the origin sends for the request its name describes. Returns how
/// many entries it checked.
fn check_store(dir: &Path) -> Result<usize, String> {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir)
        .expect("read the cache directory")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        // The cache's tag, and temporary files (their names hold a `#`).
        if name == "CACHEDIR.TAG" || name.contains('#') {
            continue;
        }
        let Some((stem, after)) = name.split_once('@') else {
            return Err(format!("{name} is not an entry's name"));
        };
        let path = format!("/{stem}");
        let names = varied_names(&path).ok_or(format!("{name}: no such URL"))?;
        let values = match after.strip_prefix('@') {
            // `multi@@`: the marker of a URL whose replies vary.
            Some("") => continue,
            Some(variant) => variant_values(variant).ok_or(format!("{name}: a bad variant"))?,
            None if after.is_empty() => BTreeMap::new(),
            None => return Err(format!("{name}: a query no request had")),
        };
        let mut filed_under: Vec<&str> = values.keys().map(String::as_str).collect();
        let mut varies_on = names.to_vec();
        filed_under.sort();
        varies_on.sort();
        if filed_under != varies_on {
            return Err(format!(
                "{name} is filed under {filed_under:?}, but {path} varies on {varies_on:?}"
            ));
        }
        let varied: Vec<_> = names
            .iter()
            .map(|name| (name.to_string(), values[*name].clone()))
            .collect();
        let owed = body_for(&path, &varied);
        let stored = std::fs::read(entry.path()).expect("read an entry");
        let end = stored.windows(4).position(|end| end == b"\r\n\r\n");
        let body = end.map(|end| &stored[end + 4..]);
        if body != Some(owed.as_bytes()) {
            return Err(format!(
                "{name} holds {:?}, but the origin sends {owed:?} to the request it names",
                String::from_utf8_lossy(&stored)
            ));
        }
        checked += 1;
    }
    Ok(checked)
}

/// The fields and values a variant's name lists: `x-a=1&x-b&accept-language=fr`,
/// the values %-escaped, a bare name for an absent field.
fn variant_values(variant: &str) -> Option<BTreeMap<String, Option<String>>> {
    let unescape = |text: &str| -> Option<String> {
        let mut bytes = Vec::new();
        let mut rest = text.as_bytes();
        while let Some((&byte, after)) = rest.split_first() {
            rest = after;
            if byte == b'%' {
                let hex = std::str::from_utf8(rest.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &rest[2..];
            } else {
                bytes.push(byte);
            }
        }
        String::from_utf8(bytes).ok()
    };
    variant
        .split('&')
        .map(|field| match field.split_once('=') {
            Some((name, value)) => Some((unescape(name)?, Some(unescape(value)?))),
            None => Some((unescape(field)?, None)),
        })
        .collect()
}

#[test]
fn only_what_the_origin_saw_chooses_a_stored_copy() {
    let seed = seed();
    let replay = replay(seed);
    let complaints = Arc::new(Mutex::new(Vec::new()));
    let origin = recording_origin(Arc::clone(&complaints));
    let cache = TempDir::new("unkeyed");
    let proxy = Server::proxy_as_shipped(&origin.url, &cache.path, &[]);
    let mut random = Random(seed);
    // What the run met, to show that it tried what it claims to.
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let cases = rounds(DEFAULT_ROUNDS);
    for case in 0..cases {
        let request = client_request(&mut random);
        let reply = ask(&proxy, &request.head(), &format!("{replay}, case {case}"));
        if let Some(complaint) = complaints.lock().expect("lock").first() {
            let head = request.head();
            panic!("{replay}, case {case}: {complaint}\nfor the client's\n{head}");
        }
        let outcome = check_reply(&request, &reply)
            .unwrap_or_else(|wrong| panic!("{replay}, case {case}: {wrong}"));
        let cache_status = reply.x_cache();
        if request.drops_a_varied_field() {
            *tally.entry(format!("dropped {cache_status}")).or_default() += 1;
        }
        for counted in [outcome.name().to_string(), cache_status] {
            *tally.entry(counted).or_default() += 1;
        }
    }
    drop(proxy);
    let checked = check_store(&cache.path)
        .unwrap_or_else(|wrong| panic!("{replay}, after {cases} requests: {wrong}"));
    // A run this long that never met one of these tested less than it
    // claims; a shorter one (`CACHEPROXY_FUZZ_ROUNDS`) may miss the rarer.
    if cases >= DEFAULT_ROUNDS {
        let met = |name: &str| tally.get(name).copied().unwrap_or(0) > 0;
        let wanted = [
            "206",
            "304",
            "412",
            "416",
            "MISS",
            "dropped HIT",
            "dropped MISS",
        ];
        let missing: Vec<_> = wanted.into_iter().filter(|name| !met(name)).collect();
        assert!(missing.is_empty(), "{replay}: no {missing:?} in {tally:?}");
        assert!(checked >= 50, "{replay}: only {checked} copies on disk");
    }
}
