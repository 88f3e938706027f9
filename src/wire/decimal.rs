//! Numbers written as decimal digits, as `write!` would write them, without
//! the formatting machinery: a reply head's `Content-Length` and `Age`, the
//! log line's numbers, a date's fields. Formatting one number through
//! `core::fmt` costs a hit more than the rest of its head.

/// A number's decimal digits, made without `core::fmt`.
pub struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    /// The digits of `number` (`u64::MAX` has 20).
    pub fn of(number: u64) -> Decimal {
        let (mut digits, mut start, mut rest) = ([0; 20], 20, number);
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                return Decimal { digits, start };
            }
        }
    }

    /// The digits, as bytes for a head or a log line.
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits were written, so this never falls back.
        std::str::from_utf8(&self.digits[self.start..]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_writes_the_digits_write_would() {
        for number in [0, 7, 10, 99, 100, 1024, 65_535, u64::MAX] {
            assert_eq!(Decimal::of(number).as_str(), number.to_string());
        }
    }
}
