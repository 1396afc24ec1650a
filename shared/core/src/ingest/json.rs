//! A tokenizer for one flat JSON object: string keys, scalar values.
//!
//! Why our own and not serde_json: an ingest row is always a flat object,
//! and going through `serde_json::Value` cost a map, a key `String` and a
//! boxed value per cell (most of ingest's time). This reads the bytes once
//! and hands out borrowed slices. It also keeps a number's text, so a
//! decimal sent as a JSON number is read exactly instead of through an f64.
//!
//! It is strict JSON (RFC 8259) for what it accepts: no trailing commas, no
//! comments, no raw control characters in strings, no lone surrogates.

use std::borrow::Cow;

/// One scalar value, borrowed from the line where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    Str(Cow<'a, str>),
    /// The number's text, checked against JSON's number grammar.
    Num(&'a str),
    Bool(bool),
    Null,
}

impl Token<'_> {
    /// The value as JSON text, for error messages.
    pub fn to_json(&self) -> String {
        match self {
            Token::Str(s) => serde_json::to_string(s.as_ref()).unwrap_or_default(),
            Token::Num(n) => (*n).to_string(),
            Token::Bool(b) => b.to_string(),
            Token::Null => "null".into(),
        }
    }
}

/// A cursor over one line. Positions are byte offsets for error messages.
pub struct Cursor<'a> {
    b: &'a [u8],
    text: &'a str,
    pub i: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            b: text.as_bytes(),
            text,
            i: 0,
        }
    }

    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at column {}", self.i + 1))
    }

    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    /// Consumes `c` after optional whitespace, or fails saying what was wanted.
    pub fn expect(&mut self, c: u8, wanted: &str) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.fail(&format!("expected {wanted}"))
        }
    }

    /// A string; the opening quote is the next byte.
    pub fn string(&mut self) -> Result<Cow<'a, str>, String> {
        if self.peek() != Some(b'"') {
            return self.fail("expected a string");
        }
        self.i += 1;
        let start = self.i;
        loop {
            match self.b.get(self.i) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    let s = &self.text[start..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(c) if *c < 0x20 => return self.fail("control character in a string"),
                Some(_) => self.i += 1,
            }
        }
        // Escapes: copy what came before and decode the rest.
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(&self.text[start..self.i]);
        loop {
            let run = self.i;
            while let Some(c) = self.b.get(self.i) {
                if *c == b'"' || *c == b'\\' || *c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.text[run..self.i]);
            match self.b.get(self.i) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = self.peek();
                    self.i += 1;
                    match e {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => out.push(self.unicode_escape()?),
                        _ => {
                            self.i -= 1;
                            return self.fail("invalid escape");
                        }
                    }
                }
                Some(_) => return self.fail("control character in a string"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let Some(h) = self.text.get(self.i..self.i + 4) else {
            return self.fail("invalid \\u escape");
        };
        let v = u32::from_str_radix(h, 16).or_else(|_| self.fail("invalid \\u escape"))?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return self.fail("invalid \\u escape");
        }
        self.i += 4;
        Ok(v)
    }

    /// After `\u`: one code point, joining a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let hi = self.hex4()?;
        let cp = if (0xD800..0xDC00).contains(&hi) {
            if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                return self.fail("lone surrogate in \\u escape");
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return self.fail("lone surrogate in \\u escape");
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else if (0xDC00..0xE000).contains(&hi) {
            return self.fail("lone surrogate in \\u escape");
        } else {
            hi
        };
        char::from_u32(cp).map_or_else(|| self.fail("invalid \\u escape"), Ok)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<&'a str, String> {
        let start = self.i;
        let digits = |c: &mut Self| {
            let s = c.i;
            while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                c.i += 1;
            }
            c.i - s
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return self.fail("invalid number"),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return self.fail("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if digits(self) == 0 {
                return self.fail("invalid number");
            }
        }
        Ok(&self.text[start..self.i])
    }

    fn literal(&mut self, word: &str, t: Token<'a>) -> Result<Token<'a>, String> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(t)
        } else {
            self.fail("invalid literal")
        }
    }

    /// A scalar value, after optional whitespace. Objects and arrays are
    /// refused by name: a row is flat.
    pub fn value(&mut self) -> Result<Token<'a>, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string().map(Token::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(Token::Num),
            Some(b't') => self.literal("true", Token::Bool(true)),
            Some(b'f') => self.literal("false", Token::Bool(false)),
            Some(b'n') => self.literal("null", Token::Null),
            Some(b'{') => self.fail("a nested object is not a column value"),
            Some(b'[') => self.fail("an array is not a column value"),
            None => self.fail("expected a value"),
            Some(_) => self.fail("expected a value"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(s: &str) -> Result<Token<'_>, String> {
        let mut c = Cursor::new(s);
        let t = c.value()?;
        c.skip_ws();
        if c.at_end() {
            Ok(t)
        } else {
            Err("trailing".into())
        }
    }

    #[test]
    fn numbers_follow_the_json_grammar() {
        for ok in ["0", "-0", "12", "-1.5", "1e5", "1E-05", "0.25e+2"] {
            assert_eq!(one(ok), Ok(Token::Num(ok)), "{ok}");
        }
        for bad in [
            "01", "+1", ".5", "1.", "1e", "-", "1.e3", "0x10", "NaN", "Infinity",
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strings_decode_escapes_and_refuse_bad_ones() {
        assert_eq!(
            one(r#""a\"b\\c\/\n\u00e9""#).unwrap(),
            Token::Str("a\"b\\c/\né".into())
        );
        assert_eq!(one(r#""\ud83d\ude00""#).unwrap(), Token::Str("😀".into()));
        assert!(matches!(
            one(r#""plain""#).unwrap(),
            Token::Str(Cow::Borrowed("plain"))
        ));
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\x""#,
            "\"a\u{1}\"",
            r#""abc"#,
            r#""\u12""#,
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Whatever serde_json writes for a string or number, we read back
        /// as serde_json does.
        #[test]
        fn agrees_with_serde_json_on_what_it_writes(s in ".*", f in any::<f64>(), i in any::<i64>()) {
            let text = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(one(&text).unwrap(), Token::Str(s.into()));
            if f.is_finite() {
                let text = serde_json::to_string(&f).unwrap();
                let Token::Num(n) = one(&text).unwrap() else { panic!("{text}") };
                prop_assert_eq!(n.parse::<f64>().unwrap().to_bits(), f.to_bits());
            }
            let text = i.to_string();
            prop_assert_eq!(one(&text).unwrap(), Token::Num(&text));
        }

        #[test]
        fn junk_is_an_error_not_a_panic(s in "\\PC{0,40}") {
            let _ = one(&s);
        }
    }
}
