//! HTTP/1.1 plumbing shared by both sides: an incremental header-block
//! reader that stays linear however the input is chunked, and small helpers
//! for header lists and validation.

use alloc::string::String;
use alloc::vec::Vec;

use crate::config::HandshakeLimits;
use crate::error::{CapacityError, HandshakeError, Limit};

/// Owned header fields, in the order received.
pub(crate) type Headers = Vec<(String, Vec<u8>)>;

/// Header fields the handshake writes itself; applications may not add them.
const RESERVED: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

/// Collects bytes until the end of an HTTP header block.
///
/// Every input byte is looked at once, by a small line state machine, so
/// feeding one byte at a time costs the same as feeding everything at once
/// (a re-parse per call would be quadratic, as in RUSTSEC-2023-0065). Only
/// header-block bytes are buffered, and never more than the limit.
#[derive(Debug, Clone)]
pub(crate) struct HeaderReader {
    buf: Vec<u8>,
    limits: HandshakeLimits,
    /// The current line has a byte other than CR.
    line_has_content: bool,
    /// Non-empty lines finished so far (leading empty lines are skipped,
    /// as httparse does).
    lines: usize,
    state: ReaderState,
    /// Bytes examined over the reader's life; tests check it stays linear.
    #[cfg(test)]
    pub(crate) examined: usize,
}

#[derive(Debug, Clone)]
enum ReaderState {
    Reading,
    Done,
    Failed(HandshakeError),
}

impl HeaderReader {
    pub(crate) fn new(limits: HandshakeLimits) -> Self {
        Self {
            buf: Vec::new(),
            limits,
            line_has_content: false,
            lines: 0,
            state: ReaderState::Reading,
            #[cfg(test)]
            examined: 0,
        }
    }

    /// Takes more input. `Ok(Some(n))`: the block ended after `n` bytes of
    /// `data`; it is then available from [`block`](Self::block).
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<Option<usize>, HandshakeError> {
        match &self.state {
            ReaderState::Reading => {}
            ReaderState::Done => {
                return Err(HandshakeError::MalformedHttp("handshake already completed"));
            }
            ReaderState::Failed(e) => return Err(e.clone()),
        }
        let end = self.scan(data);
        let block_len = self.buf.len() + end.unwrap_or(data.len());
        if block_len > self.limits.max_header_bytes {
            return Err(self.fail(
                CapacityError {
                    limit: Limit::HeaderBytes,
                    size: block_len as u64,
                    max: self.limits.max_header_bytes as u64,
                }
                .into(),
            ));
        }
        self.buf
            .extend_from_slice(&data[..end.unwrap_or(data.len())]);
        if end.is_some() {
            self.state = ReaderState::Done;
        }
        Ok(end)
    }

    /// Runs the line state machine over `data`, stopping at the block's end.
    fn scan(&mut self, data: &[u8]) -> Option<usize> {
        for (i, &b) in data.iter().enumerate() {
            #[cfg(test)]
            {
                self.examined += 1;
            }
            match b {
                b'\n' if self.line_has_content => {
                    self.lines += 1;
                    self.line_has_content = false;
                }
                b'\n' if self.lines > 0 => return Some(i + 1),
                b'\n' | b'\r' => {}
                _ => self.line_has_content = true,
            }
        }
        None
    }

    /// Records a failure so later calls report it again.
    pub(crate) fn fail(&mut self, e: HandshakeError) -> HandshakeError {
        self.state = ReaderState::Failed(e.clone());
        e
    }

    /// The complete header block (valid once `push` returned `Some`).
    pub(crate) fn block(&self) -> &[u8] {
        &self.buf
    }

    /// Header slots for httparse: enough for every line of the block, capped
    /// at the limit so that more fields trip `TooManyHeaders`.
    pub(crate) fn header_slots(&self) -> Vec<httparse::Header<'static>> {
        let n = self.lines.saturating_sub(1).min(self.limits.max_headers);
        alloc::vec![httparse::EMPTY_HEADER; n]
    }

    /// Maps an httparse failure on the complete block.
    pub(crate) fn parse_error(&self, e: httparse::Error) -> HandshakeError {
        if e == httparse::Error::TooManyHeaders {
            return CapacityError {
                limit: Limit::HeaderCount,
                size: self.lines.saturating_sub(1) as u64,
                max: self.limits.max_headers as u64,
            }
            .into();
        }
        HandshakeError::MalformedHttp(match e {
            httparse::Error::HeaderName => "invalid header name",
            httparse::Error::HeaderValue => "invalid header value",
            httparse::Error::NewLine => "invalid line ending",
            httparse::Error::Status => "invalid status line",
            httparse::Error::Token => "invalid token",
            httparse::Error::Version => "invalid HTTP version",
            httparse::Error::TooManyHeaders => "too many headers",
        })
    }
}

/// The message httparse gives when it wants more input than the block has.
pub(crate) const INCOMPLETE: HandshakeError =
    HandshakeError::MalformedHttp("incomplete header block");

/// Copies httparse's borrowed fields into owned ones.
pub(crate) fn owned_headers(headers: &[httparse::Header<'_>]) -> Headers {
    headers
        .iter()
        .map(|h| (String::from(h.name), h.value.to_vec()))
        .collect()
}

/// An `http::HeaderMap` of received fields.
#[cfg(feature = "std")]
pub(crate) fn header_map(
    headers: &[(String, Vec<u8>)],
) -> Result<::http::HeaderMap, HandshakeError> {
    let mut map = ::http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = ::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HandshakeError::MalformedHttp("invalid header name"))?;
        let value = ::http::HeaderValue::from_bytes(value)
            .map_err(|_| HandshakeError::MalformedHttp("invalid header value"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Values of every field called `name` (case-insensitive).
pub(crate) fn values<'a>(
    headers: &'a [(String, Vec<u8>)],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// The first value of `name`.
pub(crate) fn first<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// The value of a field that must appear at most once.
pub(crate) fn single<'a>(
    headers: &'a [(String, Vec<u8>)],
    name: &'static str,
) -> Result<Option<&'a [u8]>, HandshakeError> {
    let mut found = values(headers, name);
    let value = found.next();
    match found.next() {
        Some(second) => Err(invalid(name, second)),
        None => Ok(value),
    }
}

/// The elements of a comma-separated list field, over all its lines,
/// trimmed, empty elements skipped (RFC 7230 §7).
pub(crate) fn list_items<'a>(
    headers: &'a [(String, Vec<u8>)],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    values(headers, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .filter(|s| !s.is_empty())
}

/// Whether list field `name` holds `token` (ASCII case-insensitive), as in
/// `Connection: keep-alive, Upgrade`.
pub(crate) fn has_token(headers: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    list_items(headers, name).any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
}

/// Checks a list field for a token: absent → `MissingHeader`, present
/// without it → `InvalidHeader`.
pub(crate) fn require_token(
    headers: &[(String, Vec<u8>)],
    name: &'static str,
    token: &str,
) -> Result<(), HandshakeError> {
    match first(headers, name) {
        None => Err(HandshakeError::MissingHeader(name)),
        Some(_) if has_token(headers, name, token) => Ok(()),
        Some(v) => Err(invalid(name, v)),
    }
}

/// Strips optional whitespace (SP, HTAB) from both ends.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// An `InvalidHeader` error carrying at most 256 bytes of the value.
pub(crate) fn invalid(name: &'static str, value: &[u8]) -> HandshakeError {
    let value = String::from_utf8_lossy(&value[..value.len().min(256)]).into_owned();
    HandshakeError::InvalidHeader { name, value }
}

/// `tchar` from RFC 7230 §3.2.6.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A non-empty run of `tchar`s.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A field value httparse would accept back: HTAB, visible ASCII, SP and
/// obs-text; no CR, LF, NUL or other controls, so nothing can be injected.
pub(crate) fn is_field_value(s: &[u8]) -> bool {
    s.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Validates an application-supplied header: `InvalidHeader` with name
/// `field-name` for a bad or reserved name, `field-value` for a bad value.
pub(crate) fn check_user_header(name: &str, value: &str) -> Result<(), HandshakeError> {
    if !is_token(name.as_bytes()) {
        return Err(invalid("field-name", name.as_bytes()));
    }
    if let Some(reserved) = RESERVED.iter().find(|r| r.eq_ignore_ascii_case(name)) {
        return Err(invalid(reserved, value.as_bytes()));
    }
    if !is_field_value(value.as_bytes()) {
        return Err(invalid("field-value", value.as_bytes()));
    }
    Ok(())
}

/// Appends `name: value\r\n`.
pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn reader(max_bytes: usize) -> HeaderReader {
        HeaderReader::new(HandshakeLimits {
            max_header_bytes: max_bytes,
            ..Default::default()
        })
    }

    fn headers(list: &[(&str, &str)]) -> Headers {
        list.iter()
            .map(|(n, v)| (String::from(*n), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn finds_crlf_end_and_leaves_trailing_bytes() {
        let mut r = reader(1024);
        let data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\x81\x00";
        assert_eq!(r.push(data), Ok(Some(data.len() - 2)));
        assert_eq!(r.block(), &data[..data.len() - 2]);
    }

    #[test]
    fn tolerates_bare_lf_and_leading_empty_lines_like_httparse() {
        let mut r = reader(1024);
        assert_eq!(r.push(b"\r\n\n\r\n"), Ok(None));
        assert_eq!(r.push(b"GET / HTTP/1.1\nHost: a\n\nrest"), Ok(Some(24)));
        let mut slots = r.header_slots();
        let mut req = httparse::Request::new(&mut slots);
        assert_eq!(
            req.parse(r.block()),
            Ok(httparse::Status::Complete(r.block().len()))
        );
    }

    #[test]
    fn end_split_across_calls() {
        let mut r = reader(1024);
        assert_eq!(r.push(b"HTTP/1.1 101 OK\r\n\r"), Ok(None));
        assert_eq!(r.push(b"\nxyz"), Ok(Some(1)));
    }

    #[test]
    fn limit_counts_only_the_header_block() {
        let block = b"GET / HTTP/1.1\r\n\r\n";
        let mut r = reader(block.len());
        let mut data = block.to_vec();
        data.extend_from_slice(&[0; 4096]);
        assert_eq!(r.push(&data), Ok(Some(block.len())));
        let mut r = reader(block.len() - 1);
        let err = r.push(&data).unwrap_err();
        assert!(matches!(err, HandshakeError::Capacity(c) if c.size == block.len() as u64));
    }

    #[test]
    fn failure_is_sticky() {
        let mut r = reader(4);
        let err = r.push(b"GET / HTTP/1.1").unwrap_err();
        assert_eq!(r.push(b"\r\n\r\n"), Err(err));
    }

    #[test]
    fn token_lists_span_lines_and_ignore_case() {
        let h = headers(&[("connection", "keep-alive, Upgrade"), ("X", "y")]);
        assert!(has_token(&h, "Connection", "upgrade"));
        let h = headers(&[("Connection", "keep-alive"), ("CONNECTION", " ,upgrade ,")]);
        assert!(has_token(&h, "Connection", "upgrade"));
        let h = headers(&[("Connection", "upgrader")]);
        assert!(!has_token(&h, "Connection", "upgrade"));
        assert_eq!(list_items(&h, "nope").count(), 0);
    }

    #[test]
    fn user_headers_cannot_inject_or_override() {
        assert!(check_user_header("X-Ok", "fine value\tok").is_ok());
        assert!(check_user_header("X-Bad", "a\r\nInjected: 1").is_err());
        assert!(check_user_header("X-Bad", "nul\0").is_err());
        assert!(check_user_header("Bad Name", "v").is_err());
        assert!(check_user_header("", "v").is_err());
        let err = check_user_header("sec-websocket-key", "v").unwrap_err();
        assert_eq!(
            err,
            HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Key",
                value: "v".into()
            }
        );
    }

    #[test]
    fn trim_and_invalid_truncate() {
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"  "), b"");
        let long = vec![b'a'; 1000];
        assert!(
            matches!(invalid("X", &long), HandshakeError::InvalidHeader { value, .. } if value.len() == 256)
        );
    }
}
