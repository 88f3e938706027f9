//! Range requests (RFC 9110 section 14): which bytes of a stored response a
//! client's `Range` asks for, whether its `If-Range` lets it have them, and
//! the `Content-Range` that goes with them. A client that holds the first
//! half of a file asks for the rest (`bytes=5000-`); a player that seeks asks
//! for a slice. The answer is the whole body (200), one part of it (206), or
//! none (416), so that a reply from a copy (step 3 or 5), or a fetch answered
//! here, sends only those bytes.
//!
//! Not here: reading the file or writing the reply ([`crate::cache::story`]),
//! units other than `bytes`, and several ranges in one request: those would
//! need a `multipart/byteranges` body, and RFC 9110 lets a server answer with
//! the whole body instead, so we do.

use crate::cache::freshness::Precondition;
use crate::wire::dates::parse_http_date;
use crate::wire::http::{field_values, find_header, parse_decimal, Header, RequestHead};

/// What a request's `Range` asks of a stored response of `length` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Send the whole body with 200: no `Range`, one we ignore, or a failed `If-Range`.
    Whole,
    /// Send bytes `first..=last` with 206 and `Content-Range: bytes first-last/length`.
    Part {
        /// The offset of the first byte to send.
        first: u64,
        /// The offset of the last byte to send (included), below `length`.
        last: u64,
    },
    /// No byte of the body is in the range: 416 with `Content-Range: bytes */length`.
    Unsatisfiable,
}

/// What `request` may have of a stored response with header fields `stored`
/// and a body of `length` bytes. A `Range` we do not understand is ignored
/// (the whole body is a correct answer to any `GET`), and a failed `If-Range`
/// means "send me everything".
#[must_use]
pub fn answer(request: &RequestHead, stored: &[Header], length: u64) -> RangeAnswer {
    // Two `Range` lines would be a list split in two, or a client unsure
    // what it wants; either way we ignore them.
    let [range] = field_values(&request.headers, "Range").collect::<Vec<_>>()[..] else {
        return RangeAnswer::Whole;
    };
    let spec = parse_range(range).filter(|_| if_range_allows(request, stored));
    spec.map_or(RangeAnswer::Whole, |spec| satisfy(spec, length))
}

/// The `Content-Range` field that goes with an answer: `bytes 0-99/1000` for
/// a part (206), `bytes */1000` for none (416, so the client learns the real
/// length and can ask again), nothing for the whole body.
pub fn content_range(answer: RangeAnswer, length: u64) -> Option<String> {
    match answer {
        RangeAnswer::Whole => None,
        RangeAnswer::Part { first, last } => Some(format!("bytes {first}-{last}/{length}")),
        RangeAnswer::Unsatisfiable => Some(format!("bytes */{length}")),
    }
}

/// What a client gets of a body: the status, which bytes, and the
/// `Content-Range` that goes with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// 200 (or the response's own status), 206, 304, 412 or 416.
    pub status: u16,
    /// The offset of the first body byte to send.
    pub first: u64,
    /// How many body bytes to send.
    pub count: u64,
    /// The `Content-Range` value for a 206 or 416.
    pub content_range: Option<String>,
}

/// The reply to `request` from a response (`status`, `headers`, a body of
/// `length` bytes) after its `precondition`: 304 or 412 without a body; one
/// range of a 200 as 206, or 416; else the whole body with its status.
pub fn span(
    request: &RequestHead,
    status: u16,
    headers: &[Header],
    length: u64,
    precondition: Precondition,
) -> Span {
    let part = match status {
        200 if precondition == Precondition::Holds && request.method() != "HEAD" => {
            answer(request, headers, length)
        }
        _ => RangeAnswer::Whole,
    };
    let (status, first, count) = match (precondition, part) {
        (Precondition::NotModified, _) => (304, 0, 0),
        (Precondition::Failed, _) => (412, 0, 0),
        (Precondition::Holds, RangeAnswer::Whole) => (status, 0, length),
        (Precondition::Holds, RangeAnswer::Part { first, last }) => (206, first, last - first + 1),
        (Precondition::Holds, RangeAnswer::Unsatisfiable) => (416, 0, 0),
    };
    let content_range = content_range(part, length);
    Span {
        status,
        first,
        count,
        content_range,
    }
}

/// Where `count` body bytes from offset `first` come from, for a stored body
/// whose first bytes are already in memory (`in_memory`): the slice of them to
/// send, then how far to skip in the file and how many bytes to read from it.
pub fn split(in_memory: &[u8], first: u64, count: u64) -> (&[u8], (i64, u64)) {
    let held = in_memory.len() as u64;
    let (start, end) = (first.min(held), first.saturating_add(count).min(held));
    // `start` and `end` are at most `in_memory.len()`, so they fit a usize.
    let slice = &in_memory[start as usize..end as usize];
    let skip = i64::try_from(first.saturating_sub(held)).unwrap_or(i64::MAX);
    (slice, (skip, count - (end - start)))
}

/// One range as the client wrote it, before we know the length of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSpec {
    /// `first-last` or `first-` (then `last` is `None`: to the end).
    From { first: u64, last: Option<u64> },
    /// `-count`: the last `count` bytes, whatever the length.
    Suffix { count: u64 },
}

/// Whether `If-Range` lets the range apply (RFC 9110 section 13.1.5): it says
/// "only if you still have the version I have the other bytes of", so it must
/// name the stored response exactly, or the client would splice two versions.
fn if_range_allows(request: &RequestHead, stored: &[Header]) -> bool {
    match field_values(&request.headers, "If-Range").collect::<Vec<_>>()[..] {
        [] => true,
        [validator] => names_stored_response(validator.trim_ascii(), stored),
        // Two validators: we cannot tell which one the client meant.
        _ => false,
    }
}

/// Whether an `If-Range` validator, an entity tag or a date, is that of the
/// stored response.
fn names_stored_response(validator: &[u8], stored: &[Header]) -> bool {
    if validator.starts_with(b"\"") || validator.starts_with(b"W/") {
        // The strong comparison (RFC 9110 8.8.3.2): a weak tag (`W/"x"`)
        // promises only an equivalent body, not the same bytes.
        let etag = find_header(stored, "ETag").map(<[u8]>::trim_ascii);
        return !validator.starts_with(b"W/") && etag == Some(validator);
    }
    // Not a tag, so it should be a date. One we cannot read matches nothing,
    // and the client gets the whole body, which is always safe.
    let Some(date) = parse_http_date(validator) else {
        return false;
    };
    let modified = find_header(stored, "Last-Modified").and_then(parse_http_date);
    let sent = find_header(stored, "Date").and_then(parse_http_date);
    // The date must be strong (RFC 9110 8.8.2.2): at least a second before
    // the response's `Date`, or a second change in the same second as the
    // response could share it.
    let strong = match (modified, sent) {
        (Some(modified), Some(sent)) => sent
            .duration_since(modified)
            .is_ok_and(|gap| gap.as_secs() >= 1),
        _ => false,
    };
    strong && modified == Some(date)
}

/// Parses a `Range` value with one byte range in it: `first-last`, `first-`
/// or `-count`. `None` for anything we ignore: another unit, several ranges,
/// or a value that breaks the grammar (RFC 9110 14.1.1; no spaces around `-`).
fn parse_range(value: &[u8]) -> Option<RangeSpec> {
    let equals = value.iter().position(|&byte| byte == b'=')?;
    let (unit, set) = (value[..equals].trim_ascii(), &value[equals + 1..]);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    // A list in HTTP may have empty elements (`0-1, ,`); RFC 9110 5.6.1
    // asks us to skip them rather than refuse the field.
    let specs: Vec<&[u8]> = set
        .split(|&byte| byte == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|spec| !spec.is_empty())
        .collect();
    // Several ranges, even valid ones, get the whole body (RFC 9110 14.2).
    let [spec] = specs[..] else {
        return None;
    };
    let dash = spec.iter().position(|&byte| byte == b'-')?;
    let (before, after) = (&spec[..dash], &spec[dash + 1..]);
    if before.is_empty() {
        return Some(RangeSpec::Suffix {
            count: position(after)?,
        });
    }
    let first = position(before)?;
    let last = match after {
        [] => None,
        digits => Some(position(digits)?),
    };
    // `5-3` is not an empty range but an invalid one (RFC 9110 14.1.1).
    if last.is_some_and(|last| last < first) {
        return None;
    }
    Some(RangeSpec::From { first, last })
}

/// A byte position or count: ASCII digits only, so no sign, space or `+`.
/// One too big for a `u64` is `u64::MAX`, past the end of any body, so it is
/// treated like any other number that far (clamped, or unsatisfiable), without a panic.
fn position(digits: &[u8]) -> Option<u64> {
    let all_digits = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
    // All digits, so parsing can fail only by overflowing.
    all_digits.then(|| parse_decimal(digits).unwrap_or(u64::MAX))
}

/// A valid range against a body of `length` bytes (RFC 9110 14.1.2).
fn satisfy(spec: RangeSpec, length: u64) -> RangeAnswer {
    // An empty body has no byte to send, whatever range was asked for.
    if length == 0 {
        return RangeAnswer::Unsatisfiable;
    }
    let end = length - 1;
    match spec {
        RangeSpec::From { first, .. } if first >= length => RangeAnswer::Unsatisfiable,
        // A last byte past the end, or none, means "to the end".
        RangeSpec::From { first, last } => RangeAnswer::Part {
            first,
            last: last.map_or(end, |last| last.min(end)),
        },
        // "The last 0 bytes" asks for nothing, and nothing cannot be sent.
        RangeSpec::Suffix { count: 0 } => RangeAnswer::Unsatisfiable,
        // A suffix longer than the body is the whole body, as a 206.
        RangeSpec::Suffix { count } => RangeAnswer::Part {
            first: length.saturating_sub(count),
            last: end,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::parse_request_head;

    const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    fn headers(lines: &[(&str, &str)]) -> Vec<Header> {
        lines
            .iter()
            .map(|(name, value)| Header::new(name, value))
            .collect()
    }

    fn request(extra: &str) -> RequestHead {
        parse_request_head(format!("GET / HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes())
            .expect("valid")
    }

    /// The answer to `Range: {range}` for a body of `length` bytes with no
    /// validators stored.
    fn range_of(range: &str, length: u64) -> RangeAnswer {
        answer(&request(&format!("Range: {range}\r\n")), &[], length)
    }

    fn part(first: u64, last: u64) -> RangeAnswer {
        RangeAnswer::Part { first, last }
    }

    #[test]
    fn no_range_or_two_range_lines_mean_the_whole_body() {
        assert_eq!(answer(&request(""), &[], 1000), RangeAnswer::Whole);
        let two = request("Range: bytes=0-1\r\nRange: bytes=5-6\r\n");
        assert_eq!(answer(&two, &[], 1000), RangeAnswer::Whole);
    }

    #[test]
    fn the_three_forms_of_a_byte_range() {
        assert_eq!(range_of("bytes=0-99", 1000), part(0, 99));
        assert_eq!(range_of("bytes=500-", 1000), part(500, 999));
        assert_eq!(range_of("bytes=-100", 1000), part(900, 999));
        assert_eq!(range_of("bytes=7-7", 1000), part(7, 7), "a single byte");
        assert_eq!(range_of("bytes=0-0", 1), part(0, 0));
    }

    #[test]
    fn the_unit_is_bytes_in_any_case_and_others_are_ignored() {
        assert_eq!(range_of("Bytes=0-9", 100), part(0, 9));
        assert_eq!(range_of("BYTES=0-9", 100), part(0, 9));
        assert_eq!(range_of("items=0-9", 100), RangeAnswer::Whole);
        assert_eq!(range_of("0-9", 100), RangeAnswer::Whole, "no unit at all");
    }

    #[test]
    fn whitespace_around_the_equals_and_commas_is_tolerated() {
        assert_eq!(range_of("bytes = 0-9", 100), part(0, 9));
        assert_eq!(range_of("bytes=\t-5", 100), part(95, 99));
        assert_eq!(
            range_of("bytes=0-9 , ", 100),
            part(0, 9),
            "empty list elements"
        );
        assert_eq!(range_of("bytes=,0-9", 100), part(0, 9));
    }

    #[test]
    fn invalid_ranges_are_ignored() {
        for invalid in [
            "bytes=5-3",
            "bytes=abc",
            "bytes=",
            "bytes=-",
            "bytes=,",
            "bytes",
            "bytes=0 - 9",
            "bytes=0-9 9",
            "bytes=1 0-20",
            "bytes=+1-5",
            "bytes=-+5",
            "bytes=--5",
            "bytes=1-2-3",
            "bytes=0x10-20",
            "bytes=١-٢",
        ] {
            assert_eq!(range_of(invalid, 100), RangeAnswer::Whole, "{invalid:?}");
        }
    }

    #[test]
    fn several_ranges_get_the_whole_body() {
        assert_eq!(range_of("bytes=0-1,5-6", 100), RangeAnswer::Whole);
        assert_eq!(range_of("bytes=0-1, -5", 100), RangeAnswer::Whole);
        assert_eq!(
            range_of("bytes=0-1,200-300", 100),
            RangeAnswer::Whole,
            "even when only one of them could be satisfied"
        );
    }

    #[test]
    fn a_last_byte_past_the_end_is_clamped() {
        assert_eq!(range_of("bytes=10-5000", 100), part(10, 99));
        assert_eq!(range_of("bytes=99-100", 100), part(99, 99));
        assert_eq!(range_of("bytes=0-99", 100), part(0, 99));
        assert_eq!(range_of("bytes=-500", 100), part(0, 99), "a long suffix");
    }

    #[test]
    fn ranges_that_miss_the_body_are_unsatisfiable() {
        assert_eq!(range_of("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(range_of("bytes=100-200", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(range_of("bytes=-0", 100), RangeAnswer::Unsatisfiable);
        for on_empty in [
            "bytes=0-",
            "bytes=0-0",
            "bytes=0-10",
            "bytes=-1",
            "bytes=-0",
        ] {
            assert_eq!(
                range_of(on_empty, 0),
                RangeAnswer::Unsatisfiable,
                "{on_empty:?} of an empty body"
            );
        }
    }

    #[test]
    fn huge_numbers_are_handled_without_overflow() {
        let huge = "99999999999999999999999";
        assert_eq!(range_of(&format!("bytes=0-{huge}"), 100), part(0, 99));
        assert_eq!(
            range_of(&format!("bytes={huge}-"), 100),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(
            range_of(&format!("bytes={huge}-{huge}"), 100),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(range_of(&format!("bytes=-{huge}"), 100), part(0, 99));
        assert_eq!(
            range_of("bytes=18446744073709551615-", u64::MAX),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(
            range_of("bytes=0-", u64::MAX),
            part(0, u64::MAX - 1),
            "the largest length"
        );
        assert_eq!(
            range_of("bytes=-1", u64::MAX),
            part(u64::MAX - 1, u64::MAX - 1)
        );
    }

    #[test]
    fn if_range_with_an_entity_tag_needs_a_strong_match() {
        let stored = headers(&[("ETag", "\"v1\""), ("Last-Modified", LAST_MODIFIED)]);
        let with = |if_range: &str| {
            answer(
                &request(&format!("Range: bytes=0-9\r\nIf-Range: {if_range}\r\n")),
                &stored,
                100,
            )
        };
        assert_eq!(with("\"v1\""), part(0, 9));
        assert_eq!(with("\"v2\""), RangeAnswer::Whole);
        assert_eq!(with("W/\"v1\""), RangeAnswer::Whole, "weak never matches");
        assert_eq!(
            with("\"V1\""),
            RangeAnswer::Whole,
            "tags are case-sensitive"
        );
        let weak_stored = headers(&[("ETag", "W/\"v1\"")]);
        let strong_tag = request("Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n");
        assert_eq!(answer(&strong_tag, &weak_stored, 100), RangeAnswer::Whole);
        assert_eq!(
            answer(&strong_tag, &[], 100),
            RangeAnswer::Whole,
            "no stored tag"
        );
    }

    #[test]
    fn if_range_with_a_date_needs_the_same_last_modified() {
        let stored = headers(&[
            ("ETag", "\"v1\""),
            ("Last-Modified", LAST_MODIFIED),
            ("Date", "Sun, 06 Nov 1994 08:49:38 GMT"),
        ]);
        let with = |if_range: &str| {
            answer(
                &request(&format!("Range: bytes=0-9\r\nIf-Range: {if_range}\r\n")),
                &stored,
                100,
            )
        };
        assert_eq!(with(LAST_MODIFIED), part(0, 9));
        assert_eq!(
            with("Mon, 07 Nov 1994 08:49:37 GMT"),
            RangeAnswer::Whole,
            "a later date is not the same version"
        );
        assert_eq!(
            with("Sat, 05 Nov 1994 08:49:37 GMT"),
            RangeAnswer::Whole,
            "nor is an earlier one"
        );
        assert_eq!(with("yesterday"), RangeAnswer::Whole, "an unreadable date");
        // Modified in the second it was sent: another change could share it.
        let same_second = headers(&[("Last-Modified", LAST_MODIFIED), ("Date", LAST_MODIFIED)]);
        let asked = request(&format!(
            "Range: bytes=0-9\r\nIf-Range: {LAST_MODIFIED}\r\n"
        ));
        assert_eq!(
            answer(&asked, &same_second, 100),
            RangeAnswer::Whole,
            "a weak date"
        );
        let dated = request(&format!(
            "Range: bytes=0-9\r\nIf-Range: {LAST_MODIFIED}\r\n"
        ));
        assert_eq!(
            answer(&dated, &headers(&[("ETag", "\"v1\"")]), 100),
            RangeAnswer::Whole,
            "no stored Last-Modified"
        );
        let unreadable = headers(&[("Last-Modified", "last week")]);
        assert_eq!(answer(&dated, &unreadable, 100), RangeAnswer::Whole);
    }

    #[test]
    fn if_range_without_range_is_ignored_and_two_of_them_fail() {
        let stored = headers(&[("ETag", "\"v1\"")]);
        assert_eq!(
            answer(&request("If-Range: \"v1\"\r\n"), &stored, 100),
            RangeAnswer::Whole
        );
        assert_eq!(
            answer(&request("If-Range: \"v2\"\r\n"), &stored, 100),
            RangeAnswer::Whole
        );
        let two = request("Range: bytes=0-9\r\nIf-Range: \"v1\"\r\nIf-Range: \"v1\"\r\n");
        assert_eq!(answer(&two, &stored, 100), RangeAnswer::Whole);
    }

    #[test]
    fn if_range_does_not_turn_an_invalid_range_into_a_part() {
        let stored = headers(&[("ETag", "\"v1\"")]);
        let backwards = request("Range: bytes=5-3\r\nIf-Range: \"v1\"\r\n");
        assert_eq!(answer(&backwards, &stored, 100), RangeAnswer::Whole);
        let past_the_end = request("Range: bytes=200-\r\nIf-Range: \"v1\"\r\n");
        assert_eq!(
            answer(&past_the_end, &stored, 100),
            RangeAnswer::Unsatisfiable
        );
    }

    #[test]
    fn content_range_values() {
        let part = |first, last| RangeAnswer::Part { first, last };
        assert_eq!(
            content_range(part(0, 99), 1000).as_deref(),
            Some("bytes 0-99/1000")
        );
        assert_eq!(content_range(part(5, 5), 6).as_deref(), Some("bytes 5-5/6"));
        let none = RangeAnswer::Unsatisfiable;
        assert_eq!(content_range(none, 1000).as_deref(), Some("bytes */1000"));
        assert_eq!(content_range(RangeAnswer::Whole, 1000), None);
    }

    #[test]
    fn a_part_comes_from_memory_then_the_file() {
        let held = b"0123456789";
        assert_eq!(split(held, 0, 4), (&b"0123"[..], (0, 0)), "all in memory");
        assert_eq!(
            split(held, 8, 5),
            (&b"89"[..], (0, 3)),
            "then 3 from the file"
        );
        assert_eq!(split(held, 15, 5), (&b""[..], (5, 5)), "skip 5 in the file");
        assert_eq!(split(held, 0, 0), (&b""[..], (0, 0)));
    }
}
