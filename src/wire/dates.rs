//! Dates: the HTTP date of `Date`, `Expires` and `Last-Modified`, and the log
//! line's timestamp. Calendar arithmetic, kept apart so the request path stays
//! readable: a learner can skip it. Strictness is the point: a date comes from
//! a peer, and a peer may be hostile (a year past 9999 once made the proxy
//! panic on every request for the entry that carried it).
//!
//! Not here: what a date means for freshness (see [`crate::cache::freshness`]).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::wire::decimal::Decimal;

/// Formats a time as an HTTP date (RFC 9110 IMF-fixdate), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let (days, second_of_day) = days_and_seconds(time);
    let (year, month, day) = civil_from_days(days);
    // Day 0, 1970-01-01, was a Thursday.
    let weekday = WEEKDAYS[(days + 3) as usize % 7];
    let month = MONTHS[month as usize - 1];
    // Piece by piece, as the log's date is: `Sun, 06 Nov 1994 08:49:37 GMT`.
    let mut text = String::with_capacity(29);
    text.push_str(weekday);
    text.push_str(", ");
    push_digits(&mut text, day, 2);
    text.push(' ');
    text.push_str(month);
    text.push(' ');
    push_digits(&mut text, year, 4);
    text.push(' ');
    push_clock(&mut text, second_of_day);
    text.push_str(" GMT");
    text
}

/// Appends `time` to `text` as the Common Log Format writes it, e.g.
/// `06/Nov/1994:08:49:37 +0000`: the timestamp of each log line. Piece by
/// piece rather than with `format!`: a handful of fixed-width numbers need
/// none of its machinery.
fn push_log_date(text: &mut String, time: SystemTime) {
    let (days, second_of_day) = days_and_seconds(time);
    let (year, month, day) = civil_from_days(days);
    // `06/Nov/1994:08:49:37 +0000`
    push_digits(text, day, 2);
    text.push('/');
    text.push_str(MONTHS[month as usize - 1]);
    text.push('/');
    push_digits(text, year, 4);
    text.push(':');
    push_clock(text, second_of_day);
    text.push_str(" +0000");
}

/// The log's timestamp, formatted again only when the second changes: a busy
/// second's lines share one.
#[derive(Default)]
pub struct LogDate {
    second: u64,
    text: String,
}

impl LogDate {
    /// The log's timestamp of `time`, `06/Nov/1994:08:49:37 +0000`: the text made
    /// for an earlier call in the same second, or a new one, made in the
    /// same `String`.
    pub fn of(&mut self, time: SystemTime) -> &str {
        let second = time
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text.clear();
            push_log_date(&mut self.text, time);
        }
        &self.text
    }
}

/// Whole days since 1970-01-01 (UTC; 0 for a time before it), and the
/// seconds since that day's midnight.
fn days_and_seconds(time: SystemTime) -> (u64, u64) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    (seconds / 86_400, seconds % 86_400)
}

/// Appends the time of day `second_of_day` as `08:49:37`.
fn push_clock(text: &mut String, second_of_day: u64) {
    push_digits(text, second_of_day / 3600, 2);
    text.push(':');
    push_digits(text, second_of_day % 3600 / 60, 2);
    text.push(':');
    push_digits(text, second_of_day % 60, 2);
}

/// Appends `number` in decimal with at least `width` digits, zeros in
/// front if it has fewer: what `format!("{number:0width$}")` writes.
fn push_digits(text: &mut String, number: u64, width: usize) {
    let digits = Decimal::of(number);
    let digits = digits.as_str();
    for _ in digits.len()..width {
        text.push('0');
    }
    text.push_str(digits);
}

/// Parses an HTTP date in the three forms RFC 9110 5.6.7 says a recipient must
/// read: IMF-fixdate, which every current server sends, and the obsolete
/// rfc850-date and asctime-date, which old servers still send.
///
/// Strict on purpose: every field has its fixed width (`2:01:18` is not a
/// time), the year at most four digits (no year past 9999 can overflow the
/// arithmetic), the weekday is a real one, the day exists in its month. Only
/// the case of names is forgiven (`THU`, `gmt`). What `None` means is the
/// caller's rule: an `Expires` already past (RFC 9111 5.3), a conditional
/// date ignored (RFC 9110 13.1.3).
pub fn parse_http_date(text: &[u8]) -> Option<SystemTime> {
    parse_imf_fixdate(text)
        .or_else(|| parse_rfc850_date(text))
        .or_else(|| parse_asctime_date(text))
}

/// Weekday and month names as the dates write them. The rfc850 form spells
/// the weekday in full; the other two forms shorten it to three letters.
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const FULL_WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Whether `text` is an IMF-fixdate, the one form a sender uses.
pub fn is_imf_fixdate(text: &[u8]) -> bool {
    parse_imf_fixdate(text).is_some()
}

/// IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`, 29 bytes, each in its place.
fn parse_imf_fixdate(text: &[u8]) -> Option<SystemTime> {
    if text.len() != 29
        || !is_short_weekday(&text[0..3])
        || &text[3..5] != b", "
        || text[7] != b' '
        || text[11] != b' '
        || text[16] != b' '
        || !text[25..].eq_ignore_ascii_case(b" GMT")
    {
        return None;
    }
    let month = month_number(&text[8..11])?;
    let (day, year) = (digits(&text[5..7])?, digits(&text[12..16])?);
    time_from_fields(year, month, day, clock(&text[17..25])?)
}

/// rfc850-date (obsolete): `Sunday, 06-Nov-94 08:49:37 GMT`. The weekday is
/// spelled in full, so the fixed-width part starts at the comma.
fn parse_rfc850_date(text: &[u8]) -> Option<SystemTime> {
    let comma = text.iter().position(|&byte| byte == b',')?;
    let (weekday, rest) = text.split_at(comma);
    // `, 06-Nov-94 08:49:37 GMT`: 24 bytes, each in its place.
    if !is_one_of(&FULL_WEEKDAYS, weekday)
        || rest.len() != 24
        || &rest[0..2] != b", "
        || rest[4] != b'-'
        || rest[8] != b'-'
        || rest[11] != b' '
        || !rest[20..].eq_ignore_ascii_case(b" GMT")
    {
        return None;
    }
    let month = month_number(&rest[5..8])?;
    let day = digits(&rest[2..4])?;
    let year = full_year(digits(&rest[9..11])?, current_year());
    time_from_fields(year, month, day, clock(&rest[12..20])?)
}

/// asctime-date (obsolete, C's `asctime()`): `Sun Nov  6 08:49:37 1994`,
/// 24 bytes. The day is two bytes wide, padded with a space (` 6`); a zero
/// (`06`) is read as well.
fn parse_asctime_date(text: &[u8]) -> Option<SystemTime> {
    if text.len() != 24
        || !is_short_weekday(&text[0..3])
        || text[3] != b' '
        || text[7] != b' '
        || text[10] != b' '
        || text[19] != b' '
    {
        return None;
    }
    let month = month_number(&text[4..7])?;
    let day = digits(text[8..10].strip_prefix(b" ").unwrap_or(&text[8..10]))?;
    let year = digits(&text[20..24])?;
    time_from_fields(year, month, day, clock(&text[11..19])?)
}

/// A three-letter month name, in any case, to its number, 1 to 12.
///
/// One `match` on the name made lowercase, rather than a walk through
/// [`MONTHS`] comparing each name letter by letter in any case: a hit that
/// judges a copy's age reads a date, and this way costs a few comparisons
/// instead of dozens.
fn month_number(name: &[u8]) -> Option<u64> {
    let number = match &lowercase_three(name)? {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    };
    Some(number)
}

/// Whether `name` is a three-letter weekday name ([`WEEKDAYS`]), in any
/// case; one `match`, as in [`month_number`].
fn is_short_weekday(name: &[u8]) -> bool {
    matches!(
        lowercase_three(name).as_ref(),
        Some(b"mon" | b"tue" | b"wed" | b"thu" | b"fri" | b"sat" | b"sun")
    )
}

/// A three-byte name made lowercase (only `A` to `Z` change), or `None` if
/// it is not three bytes long.
fn lowercase_three(name: &[u8]) -> Option<[u8; 3]> {
    let &[first, second, third] = name else {
        return None;
    };
    Some([first, second, third].map(|letter| letter.to_ascii_lowercase()))
}

/// Whether `name` is one of `names`, in any case.
fn is_one_of(names: &[&str], name: &[u8]) -> bool {
    names
        .iter()
        .any(|known| known.as_bytes().eq_ignore_ascii_case(name))
}

/// `08:49:37`, exactly eight bytes, to seconds since midnight. A second of
/// 60 is allowed: that is how a leap second is written.
fn clock(field: &[u8]) -> Option<u64> {
    if field.len() != 8 || field[2] != b':' || field[5] != b':' {
        return None;
    }
    let [hour, minute, second] = [0, 3, 6].map(|at| digits(&field[at..at + 2]));
    let (hour, minute, second) = (hour?, minute?, second?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(hour * 3600 + minute * 60 + second)
}

/// The fields every form shares, checked and turned into a time. The year
/// bound keeps the arithmetic far from overflow whichever form gave it.
fn time_from_fields(year: u64, month: u64, day: u64, second_of_day: u64) -> Option<SystemTime> {
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + second_of_day;
    UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds))
}

/// The year a two-digit rfc850 year means (RFC 9110 5.6.7): the latest year
/// ending in `two_digits` that is at most 50 years after `this_year`.
fn full_year(two_digits: u64, this_year: u64) -> u64 {
    let latest = this_year + 50;
    let year = latest - latest % 100 + two_digits;
    if year > latest {
        year - 100
    } else {
        year
    }
}

/// The current year, from the system clock (1970 if the clock is before it).
fn current_year() -> u64 {
    civil_from_days(days_and_seconds(SystemTime::now()).0).0
}

/// A fixed-width field of ASCII digits (at most four, so it cannot overflow).
fn digits(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 4 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let digit_values = field.iter().map(|digit| u64::from(digit - b'0'));
    Some(digit_values.fold(0, |number, digit| number * 10 + digit))
}

/// How many days `month` (1 to 12) of `year` has.
fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) to days since 1970-01-01: the inverse of `civil_from_days`.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days` (valid for every date after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = (month_index + 2) % 12 + 1; // Index 0 is March, 11 February.
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_http_dates() {
        let time = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(time), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap_day = UNIX_EPOCH + Duration::from_secs(1_709_164_800);
        assert_eq!(http_date(leap_day), "Thu, 29 Feb 2024 00:00:00 GMT");
        assert_eq!(LogDate::default().of(time), "06/Nov/1994:08:49:37 +0000");
    }

    #[test]
    fn digits_are_written_as_format_writes_them() {
        for (number, width) in [
            (0, 1),
            (0, 2),
            (7, 2),
            (10, 2),
            (59, 2),
            (1994, 4),
            (12_345, 4),
        ] {
            let mut text = String::new();
            push_digits(&mut text, number, width);
            assert_eq!(text, format!("{number:0width$}"));
        }
        let mut text = "x".to_string();
        push_digits(&mut text, u64::MAX, 2);
        assert_eq!(text, format!("x{}", u64::MAX));
        let mut log_date = LogDate::default();
        let time = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(log_date.of(time), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(
            log_date.of(time + Duration::from_secs(1)),
            "06/Nov/1994:08:49:38 +0000"
        );
        // A year past 9999 (a clock gone wrong) is written whole, as `{year}` would.
        let far = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(log_date.of(far), "01/Jan/10000:00:00:00 +0000");
    }

    #[test]
    fn parses_http_dates_back() {
        for seconds in [0, 784_111_777, 1_709_164_800, 1_893_456_000 + 86_399] {
            let time = UNIX_EPOCH + Duration::from_secs(seconds);
            assert_eq!(
                parse_http_date(http_date(time).as_bytes()),
                Some(time),
                "{seconds}"
            );
        }
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "0",
            // One-digit hour, day; a five-digit or huge year; a day the month lacks.
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sat, 01 Jan 300000000000 00:00:00 GMT",
            "Sat, 01 Jan 10000 00:00:00 GMT",
            "Sat, 31 Feb 2024 00:00:00 GMT",
            "Sat, 29 Feb 2023 00:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 0x Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes()), None, "{bad}");
        }
        let last = parse_http_date(b"Fri, 31 Dec 9999 23:59:59 GMT").expect("year 9999");
        assert_eq!(http_date(last), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn every_date_round_trips_and_no_input_panics() {
        // A seeded splitmix64: the same inputs on every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut mixed = state;
            mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            mixed ^ (mixed >> 31)
        };
        // Every second from 1970 to the end of 9999 that a date can name.
        let last_second = 253_402_300_799u64;
        for _ in 0..50_000 {
            let time = UNIX_EPOCH + Duration::from_secs(next() % (last_second + 1));
            let text = http_date(time);
            assert_eq!(parse_http_date(text.as_bytes()), Some(time), "{text}");
            // Each field of a real date, replaced by random bytes or digits.
            let mut mangled = text.into_bytes();
            let at = (next() % 29) as usize;
            mangled[at] = match next() % 3 {
                0 => next() as u8,
                1 => b'0' + (next() % 10) as u8,
                _ => b'9',
            };
            let _ = parse_http_date(&mangled);
            let noise: Vec<u8> = (0..next() % 40).map(|_| next() as u8).collect();
            let _ = parse_http_date(&noise);
        }
    }

    #[test]
    fn obsolete_forms_read_as_the_same_instant() {
        // The 2-digit year of rfc850 depends on today; `94` is 1994 until 2044.
        let year = full_year(94, current_year());
        let imf = format!("Sun, 06 Nov {year} 08:49:37 GMT");
        let expected = parse_http_date(imf.as_bytes()).expect("IMF-fixdate");
        for obsolete in [
            "Sunday, 06-Nov-94 08:49:37 GMT".to_string(),
            format!("Sun Nov  6 08:49:37 {year}"),
            format!("Sun Nov 06 08:49:37 {year}"),
        ] {
            assert_eq!(
                parse_http_date(obsolete.as_bytes()),
                Some(expected),
                "{obsolete}"
            );
        }
        // A leap day, the last day a date can name, and the first, in asctime form.
        for (asctime, imf) in [
            ("Thu Feb 29 00:00:00 2024", "Thu, 29 Feb 2024 00:00:00 GMT"),
            ("Fri Dec 31 23:59:59 9999", "Fri, 31 Dec 9999 23:59:59 GMT"),
            ("Thu Jan  1 00:00:00 1970", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ] {
            assert_eq!(
                parse_http_date(asctime.as_bytes()),
                parse_http_date(imf.as_bytes()),
                "{asctime}"
            );
            assert!(parse_http_date(asctime.as_bytes()).is_some(), "{asctime}");
        }
    }

    #[test]
    fn two_digit_years_are_at_most_50_years_ahead() {
        // With a fixed "now", the rule by example (RFC 9110 5.6.7).
        assert_eq!(full_year(94, 2026), 1994);
        assert_eq!(full_year(30, 2026), 2030);
        assert_eq!(full_year(26, 2026), 2026);
        assert_eq!(full_year(0, 2026), 2000);
        assert_eq!(full_year(76, 2026), 2076);
        assert_eq!(full_year(77, 2026), 1977);
        assert_eq!(full_year(99, 2049), 2099);
        assert_eq!(full_year(0, 2050), 2100);
        // With the real "now", through the parser, so the test does not rot.
        let now = current_year();
        for (ahead, expected) in [(0, now), (50, now + 50), (51, now + 51 - 100)] {
            let text = format!("Monday, 01-Jan-{:02} 00:00:00 GMT", (now + ahead) % 100);
            let imf = format!("Mon, 01 Jan {expected} 00:00:00 GMT");
            let parsed = parse_http_date(text.as_bytes());
            assert!(parsed.is_some(), "{text}");
            assert_eq!(parsed, parse_http_date(imf.as_bytes()), "{text}");
        }
    }

    #[test]
    fn names_are_read_in_any_case() {
        let imf = parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT");
        for text in [
            "SUN, 06 NOV 1994 08:49:37 gmt",
            "sunday, 06-nov-94 08:49:37 Gmt",
            "SUN NOV  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text.as_bytes()), imf, "{text}");
        }
    }

    #[test]
    fn names_match_their_tables_and_nothing_else() {
        // The `match`es against the tables they stand for, in any case,
        // with every byte of every name changed in turn: the same answers.
        let in_table = |names: &[&str], name: &[u8]| {
            let position = names
                .iter()
                .position(|known| known.as_bytes().eq_ignore_ascii_case(name));
            position.map(|index| index as u64 + 1)
        };
        for name in MONTHS.iter().chain(&WEEKDAYS) {
            for at in 0..3 {
                for byte in 0..=u8::MAX {
                    let mut mangled = name.as_bytes().to_vec();
                    mangled[at] = byte;
                    assert_eq!(
                        month_number(&mangled),
                        in_table(&MONTHS, &mangled),
                        "{mangled:?}"
                    );
                    let weekday = in_table(&WEEKDAYS, &mangled).is_some();
                    assert_eq!(is_short_weekday(&mangled), weekday, "{mangled:?}");
                }
            }
        }
        assert_eq!(month_number(b"DEC"), Some(12));
        assert!(is_short_weekday(b"sUn"));
        assert_eq!(month_number(b"Ja"), None);
        assert!(!is_short_weekday(b"Sund"));
    }

    #[test]
    fn obsolete_forms_are_strict() {
        for bad in [
            "",
            // A field one byte short: a one-digit day, a single space, an hour.
            "Sunday, 6-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sunday, 06-Nov-94 8:49:37 GMT",
            "Sun Nov  6 8:49:37 1994",
            "Sun Nov 6  08:49:37 1994",
            // Month names that are not.
            "Sunday, 06-Foo-94 08:49:37 GMT",
            "Sun Foo  6 08:49:37 1994",
            // Weekday names that are not, or of the other form.
            "Sundae, 06-Nov-94 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday Nov  6 08:49:37 1994",
            "Xyz Nov  6 08:49:37 1994",
            // Days the month lacks, and other out-of-range fields.
            "Sunday, 31-Nov-94 08:49:37 GMT",
            "Sun Nov 31 08:49:37 1994",
            "Sun Nov  0 08:49:37 1994",
            "Wed Feb 29 00:00:00 2023",
            "Sun Nov  6 24:00:00 1994",
            "Sunday, 06-Nov-94 08:60:00 GMT",
            "Sun Nov  6 08:49:37 1969",
            // A four-digit year where two belong, and the other way round.
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  6 08:49:37 10000",
            // Trailing garbage, or another zone.
            "Sunday, 06-Nov-94 08:49:37 GMT ",
            "Sunday, 06-Nov-94 08:49:37 GMTx",
            "Sunday, 06-Nov-94 08:49:37 UTC",
            "Sun Nov  6 08:49:37 1994 ",
            "Sun Nov  6 08:49:37 1994x",
            ",",
            "Sunday,",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes()), None, "{bad:?}");
        }
        // Every one-byte change of an obsolete date: none may panic.
        for good in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            for at in 0..good.len() {
                for byte in 0..=u8::MAX {
                    let mut mangled = good.as_bytes().to_vec();
                    mangled[at] = byte;
                    let _ = parse_http_date(&mangled);
                }
            }
        }
    }
}
