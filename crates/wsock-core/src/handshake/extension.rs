//! `Sec-WebSocket-Extensions` values (RFC 6455 §9.1).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::wire::{invalid, is_tchar, is_token};
use crate::error::HandshakeError;

const HEADER: &str = "Sec-WebSocket-Extensions";

/// One extension with its parameters, as offered by a client or accepted
/// by a server, e.g. `permessage-deflate; client_max_window_bits=10`.
///
/// Extensions (such as permessage-deflate) negotiate through this type;
/// the handshake itself only checks that the server accepts nothing the
/// client did not offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order; `None` for a parameter without a value. Quoted
    /// values are stored unquoted.
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionOffer {
    /// An offer without parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter (by value, for chaining).
    pub fn param(mut self, name: impl Into<String>, value: Option<&str>) -> Self {
        self.params.push((name.into(), value.map(String::from)));
        self
    }

    /// Parses a whole header value: a comma-separated list of extensions.
    /// Empty list elements are ignored (RFC 7230 §7), so an empty value
    /// gives an empty list.
    pub fn parse_list(value: &str) -> Result<Vec<ExtensionOffer>, HandshakeError> {
        parse_bytes(value.as_bytes())
    }

    /// Checks that names and values are tokens, as §9.1 requires of
    /// anything written on the wire.
    pub(crate) fn validate(&self) -> Result<(), HandshakeError> {
        let ok = is_token(self.name.as_bytes())
            && self.params.iter().all(|(n, v)| {
                is_token(n.as_bytes()) && v.as_ref().is_none_or(|v| is_token(v.as_bytes()))
            });
        if ok {
            Ok(())
        } else {
            Err(invalid(HEADER, alloc::format!("{self}").as_bytes()))
        }
    }
}

impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            write!(f, "; {name}")?;
            match value {
                Some(v) if is_token(v.as_bytes()) => write!(f, "={v}")?,
                Some(v) => write_quoted(f, v)?,
                None => {}
            }
        }
        Ok(())
    }
}

/// Writes `="…"` with `"` and `\` escaped.
fn write_quoted(f: &mut fmt::Formatter<'_>, v: &str) -> fmt::Result {
    f.write_str("=\"")?;
    for c in v.chars() {
        if matches!(c, '"' | '\\') {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

/// Parses a header value given as bytes (the form headers arrive in).
pub(crate) fn parse_bytes(value: &[u8]) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    Parser { s: value, i: 0 }
        .list()
        .ok_or_else(|| invalid(HEADER, value))
}

/// A cursor over the value; each method returns `None` on malformed input.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// Consumes `b` (after optional whitespace) if it is next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_ows();
        let hit = self.peek() == Some(b);
        self.i += usize::from(hit);
        hit
    }

    fn list(&mut self) -> Option<Vec<ExtensionOffer>> {
        let mut out = Vec::new();
        loop {
            while self.eat(b',') {}
            if self.peek().is_none() {
                return Some(out);
            }
            out.push(self.extension()?);
            if !self.eat(b',') && self.peek().is_some() {
                return None;
            }
        }
    }

    fn extension(&mut self) -> Option<ExtensionOffer> {
        let mut offer = ExtensionOffer::new(self.token()?);
        while self.eat(b';') {
            self.skip_ows();
            let name = self.token()?;
            let value = if self.eat(b'=') {
                Some(self.value()?)
            } else {
                None
            };
            offer.params.push((name, value));
        }
        Some(offer)
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        let token = core::str::from_utf8(&self.s[start..self.i]).ok()?;
        (!token.is_empty()).then(|| String::from(token))
    }

    /// A token or a quoted string whose unescaped content is a token (§9.1).
    fn value(&mut self) -> Option<String> {
        self.skip_ows();
        if self.peek() != Some(b'"') {
            return self.token();
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let b = match self.peek()? {
                b'"' => break,
                b'\\' => {
                    self.i += 1;
                    self.peek()?
                }
                b => b,
            };
            if !is_tchar(b) {
                return None;
            }
            out.push(char::from(b));
            self.i += 1;
        }
        self.i += 1;
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn offer(name: &str, params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        params
            .iter()
            .fold(ExtensionOffer::new(name), |o, (n, v)| o.param(*n, *v))
    }

    /// RFC 7692 §7 offers as Chrome and Firefox send them (RFC 6455 §9.1 grammar).
    #[test]
    fn rfc6455_9_1_parses_lists_and_params() {
        let list = ExtensionOffer::parse_list(
            "permessage-deflate; client_max_window_bits, permessage-deflate",
        )
        .unwrap();
        assert_eq!(
            list,
            vec![
                offer("permessage-deflate", &[("client_max_window_bits", None)]),
                offer("permessage-deflate", &[]),
            ]
        );
        let list = ExtensionOffer::parse_list("foo;a=1 ; b = 2,bar").unwrap();
        assert_eq!(
            list,
            vec![
                offer("foo", &[("a", Some("1")), ("b", Some("2"))]),
                offer("bar", &[])
            ]
        );
    }

    #[test]
    fn rfc6455_9_1_quoted_values_unescape_to_tokens() {
        let list =
            ExtensionOffer::parse_list(r#"x; server_max_window_bits="10"; y="a\-b", z"#).unwrap();
        assert_eq!(
            list,
            vec![
                offer(
                    "x",
                    &[("server_max_window_bits", Some("10")), ("y", Some("a-b"))]
                ),
                offer("z", &[]),
            ]
        );
    }

    #[test]
    fn rfc6455_9_1_rejects_malformed_values() {
        for bad in [
            ";a",
            "a;",
            "a;=1",
            "a; b=",
            "a; b=\"1",
            "a; b=\"x y\"",
            "a; b=\"\"",
            "a b",
            "a;b c",
            "a; b=1=2",
            "é",
            "a, ;b",
            "a; b=\"1\"x",
        ] {
            let err = ExtensionOffer::parse_list(bad).unwrap_err();
            assert_eq!(
                err,
                HandshakeError::InvalidHeader {
                    name: HEADER,
                    value: bad.to_string()
                },
                "{bad}"
            );
        }
    }

    #[test]
    fn rfc7230_7_empty_elements_are_ignored() {
        assert_eq!(ExtensionOffer::parse_list("").unwrap(), vec![]);
        assert_eq!(
            ExtensionOffer::parse_list(" , a ,, ").unwrap(),
            vec![offer("a", &[])]
        );
    }

    #[test]
    fn display_round_trips() {
        let text = "permessage-deflate; client_max_window_bits; server_max_window_bits=10";
        let list = ExtensionOffer::parse_list(text).unwrap();
        assert_eq!(list[0].to_string(), text);
        let odd = offer("x", &[("p", Some("a \"b\\"))]);
        assert_eq!(odd.to_string(), r#"x; p="a \"b\\""#);
        assert!(odd.validate().is_err());
        assert!(list[0].validate().is_ok());
    }
}
