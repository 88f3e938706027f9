//! Whether a targeted field (RFC 9213: `CDN-Cache-Control` and the like) is
//! well formed, so that the cache may obey it instead of `Cache-Control`. It
//! is a Structured Field Dictionary (RFC 8941 3.2), `max-age=60, private`;
//! one that does not parse, or whose lifetimes are not Integers
//! (`max-age="60"`), is ignored as a whole and `Cache-Control` decides (RFC
//! 9213 2.1): better no targeted directive than a misread one.
//!
//! Not here: reading the directives ([`crate::cache::freshness::CacheControl`])
//! and which field is targeted ([`crate::cache::freshness::CachePolicy`]).

/// The directives whose value must be an Integer: the lifetimes.
const INTEGER_DIRECTIVES: [&[u8]; 4] = [
    b"max-age",
    b"s-maxage",
    b"stale-while-revalidate",
    b"stale-if-error",
];

/// Whether one line of a targeted field is a non-empty Dictionary whose
/// lifetimes are non-negative Integers and whose members have no parameters
/// (RFC 9213 gives them no meaning: `no-store;x` read either way is a guess).
pub fn is_well_formed(line: &[u8]) -> bool {
    let mut text = Cursor { rest: line };
    text.skip(b' ');
    loop {
        // Every member starts with a key: so no empty line, no trailing comma.
        let Some(key) = text.key() else {
            return false;
        };
        let integer_wanted = INTEGER_DIRECTIVES.contains(&key);
        let value_ok = if !text.eat(b'=') {
            !integer_wanted // A bare key is the Boolean `true`.
        } else if integer_wanted {
            text.integer()
        } else if text.rest.first() == Some(&b'(') {
            text.inner_list()
        } else {
            text.bare_item()
        };
        if !value_ok || text.rest.first() == Some(&b';') {
            return false;
        }
        text.skip_ows();
        if text.rest.is_empty() {
            return true;
        }
        if !text.eat(b',') {
            return false;
        }
        text.skip_ows();
    }
}

/// The unread rest of a field line.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// Takes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let rest = self.rest.strip_prefix(&[byte]);
        self.rest = rest.unwrap_or(self.rest);
        rest.is_some()
    }

    fn skip(&mut self, byte: u8) {
        while self.eat(byte) {}
    }

    fn skip_ows(&mut self) {
        while self.eat(b' ') || self.eat(b'\t') {}
    }

    /// Takes the longest prefix of bytes that `allowed` accepts.
    fn take_while(&mut self, allowed: impl Fn(u8) -> bool) -> &'a [u8] {
        let length = self.rest.iter().take_while(|&&byte| allowed(byte)).count();
        let (taken, rest) = self.rest.split_at(length);
        self.rest = rest;
        taken
    }

    /// `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`
    fn key(&mut self) -> Option<&'a [u8]> {
        let first = *self.rest.first()?;
        if !(first.is_ascii_lowercase() || first == b'*') {
            return None;
        }
        Some(self.take_while(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_-.*".contains(&byte)
        }))
    }

    /// `*( ";" *SP key [ "=" bare-item ] )`
    fn parameters(&mut self) -> bool {
        while self.eat(b';') {
            self.skip(b' ');
            if self.key().is_none() || (self.eat(b'=') && !self.bare_item()) {
                return false;
            }
        }
        true
    }

    /// `"(" *SP [ item *( 1*SP item ) *SP ] ")"`, without the list's own
    /// parameters (the caller refuses those).
    fn inner_list(&mut self) -> bool {
        self.eat(b'(');
        loop {
            self.skip(b' ');
            if self.eat(b')') {
                return true;
            }
            let item = self.bare_item() && self.parameters();
            if !item || !matches!(self.rest.first(), Some(b' ' | b')')) {
                return false;
            }
        }
    }

    /// An Integer, Decimal, String, Token, Byte Sequence or Boolean.
    fn bare_item(&mut self) -> bool {
        match self.rest.first() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => {
                self.eat(b':');
                self.take_while(|byte| byte.is_ascii_alphanumeric() || b"+/=".contains(&byte));
                self.eat(b':')
            }
            Some(b'?') => {
                self.eat(b'?');
                self.eat(b'0') || self.eat(b'1')
            }
            Some(&first) if first.is_ascii_alphabetic() || first == b'*' => {
                self.take_while(|byte| {
                    byte.is_ascii_graphic() && !b"\"(),;<=>?@[\\]{}".contains(&byte)
                });
                true
            }
            _ => false,
        }
    }

    /// A non-negative Integer: `1*15DIGIT`, not followed by a fraction.
    fn integer(&mut self) -> bool {
        let digits = self.take_while(|byte| byte.is_ascii_digit()).len();
        (1..=15).contains(&digits) && self.rest.first() != Some(&b'.')
    }

    /// `["-"] 1*15DIGIT`, or a Decimal: `["-"] 1*12DIGIT "." 1*3DIGIT`.
    fn number(&mut self) -> bool {
        self.eat(b'-');
        let whole = self.take_while(|byte| byte.is_ascii_digit()).len();
        if !self.eat(b'.') {
            return (1..=15).contains(&whole);
        }
        let fraction = self.take_while(|byte| byte.is_ascii_digit()).len();
        (1..=12).contains(&whole) && (1..=3).contains(&fraction)
    }

    /// `DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE`, printable ASCII.
    fn string(&mut self) -> bool {
        self.eat(b'"');
        loop {
            match self.rest.split_first() {
                Some((b'"', rest)) => {
                    self.rest = rest;
                    return true;
                }
                Some((b'\\', [b'"' | b'\\', rest @ ..])) => self.rest = rest,
                Some((&byte, rest)) if (b' '..=b'~').contains(&byte) && byte != b'\\' => {
                    self.rest = rest;
                }
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_with_integer_lifetimes_are_well_formed() {
        for line in [
            "max-age=60",
            "max-age=60, private",
            "no-store",
            "s-maxage=0,must-revalidate",
            "max-age=60, foo=\"a, b\", bar=?1, baz=(a;y b), qux=:aGk=:",
            "stale-while-revalidate=30, x=1.5",
        ] {
            assert!(is_well_formed(line.as_bytes()), "{line:?}");
        }
    }

    #[test]
    fn anything_else_is_not() {
        for line in [
            "",
            "  ",
            "no-store;reason=1, max-age=3600",
            "private;x",
            "max-age=3600;foo",
            "baz=(a b);x=1",
            "max-age=10000, &&&&&",
            "max-age=\"10000\"",
            "max-age=1.5",
            "max-age",
            "Max-Age=60",
            "max-age=60,",
            "max-age=60 private",
            "max-age=1234567890123456",
            "max-age=-1",
            "foo=\"unterminated",
            "foo=(a b",
        ] {
            assert!(!is_well_formed(line.as_bytes()), "{line:?}");
        }
    }
}
