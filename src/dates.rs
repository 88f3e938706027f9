//! Dates: the HTTP date of `Date`, `Expires` and `Last-Modified`, and the
//! timestamp of each log line. A learner can skip this file: it is calendar
//! arithmetic, kept apart so the request path stays readable.
//!
//! Strictness is the point: a date comes from a peer, and a peer may be
//! hostile. A year past 9999 once made the proxy panic on every request for
//! the entry that carried it.
//!
//! Steps: none; steps 2 and 4 read dates, step 6 writes one.
//!
//! Not here: what a date means for freshness (see [`crate::freshness`]).

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats a time as an HTTP date (RFC 9110 IMF-fixdate), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let days = seconds / 86_400;
    let (year, month, day) = civil_from_days(days);
    let second_of_day = seconds % 86_400;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Formats a time as the Common Log Format does, e.g.
/// `06/Nov/1994:08:49:37 +0000`: the timestamp of each log line.
pub fn log_date(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Parses an HTTP date in the IMF-fixdate form that every current server
/// sends (`Sun, 06 Nov 1994 08:49:37 GMT`). `None` for anything else.
///
/// Strict on purpose: every field has its fixed width (so `2:01:18` is not a
/// time), the year has four digits (so no year past 9999 can overflow the
/// arithmetic below: a date from a hostile peer once killed the process), and
/// the day must exist in its month. What an unreadable date means is the
/// caller's rule: an `Expires` is then already past (RFC 9111 5.3), a
/// conditional date is ignored (RFC 9110 13.1.3).
pub fn parse_http_date(text: &[u8]) -> Option<SystemTime> {
    const WEEKDAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    // `Sun, 06 Nov 1994 08:49:37 GMT`: 29 bytes, each in its place.
    if text.len() != 29
        || !WEEKDAYS.contains(&&text[0..3])
        || &text[3..5] != b", "
        || text[7] != b' '
        || text[11] != b' '
        || text[16] != b' '
        || text[19] != b':'
        || text[22] != b':'
        || &text[25..] != b" GMT"
    {
        return None;
    }
    let month = MONTHS.iter().position(|name| *name == &text[8..11])? as u64 + 1;
    let (day, year) = (digits(&text[5..7])?, digits(&text[12..16])?);
    let (hour, minute, second) = (
        digits(&text[17..19])?,
        digits(&text[20..22])?,
        digits(&text[23..25])?,
    );
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds))
}

/// A fixed-width field of ASCII digits (at most four, so it cannot overflow).
fn digits(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 4 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        field
            .iter()
            .fold(0, |number, digit| number * 10 + u64::from(digit - b'0')),
    )
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
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
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
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
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
}
