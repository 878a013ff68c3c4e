//! Close codes (RFC 6455 §7.4) and close frames (§5.5.1).

use alloc::vec::Vec;

use crate::error::ProtocolError;
use crate::utf8_bytes::Utf8Bytes;

/// A close status code. A newtype rather than an enum, so that registered
/// and application codes (3000–4999) are the same type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: closed without a close frame (never sent on the wire).
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: payload inconsistent with the message type (invalid UTF-8).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: policy violation.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: message too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway received an invalid response.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: TLS handshake failure (never sent on the wire).
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this code may appear in a close frame (§7.4.1, §7.4.2):
    /// 1000–1003, 1007–1014 and 3000–4999.
    pub const fn is_allowed_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl core::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// The longest close reason: 125 payload bytes minus the 2-byte code.
pub(crate) const MAX_REASON_LEN: usize = 123;

/// A close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most [`CloseFrame::MAX_REASON_LEN`] bytes of UTF-8.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// The longest close reason in bytes: 125 payload bytes minus the
    /// 2-byte code (§5.5).
    pub const MAX_REASON_LEN: usize = MAX_REASON_LEN;

    /// A close frame with `code` and `reason`.
    pub fn new(code: impl Into<CloseCode>, reason: impl Into<Utf8Bytes>) -> Self {
        Self {
            code: code.into(),
            reason: reason.into(),
        }
    }

    /// Parses a received close payload (§5.5.1): empty, or a 2-byte code
    /// allowed on the wire followed by a UTF-8 reason.
    pub fn parse(payload: &[u8]) -> Result<Option<Self>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_allowed_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    crate::utf8::validate(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(Self {
                    code,
                    reason: reason.into(),
                }))
            }
        }
    }

    /// Checks that this frame may be sent: code allowed on the wire and
    /// reason no longer than [`CloseFrame::MAX_REASON_LEN`].
    pub fn validate(&self) -> Result<(), crate::Error> {
        if !self.code.is_allowed_on_wire() {
            return Err(crate::Error::InvalidCloseFrame(
                "close code not allowed on the wire",
            ));
        }
        if self.reason.len() > MAX_REASON_LEN {
            return Err(crate::Error::InvalidCloseFrame(
                "close reason longer than 123 bytes",
            ));
        }
        Ok(())
    }

    /// Writes the payload (code then reason) to `out`.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.code.0.to_be_bytes());
        out.extend_from_slice(self.reason.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6455 §7.4.1 / §7.4.2: which codes may be sent.
    #[test]
    fn wire_codes() {
        for code in 0..=u16::MAX {
            let ok = CloseCode(code).is_allowed_on_wire();
            let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(ok, expected, "code {code}");
        }
        for code in [1004, 1005, 1006, 1015, 999, 1016, 2999, 5000] {
            assert!(!CloseCode(code).is_allowed_on_wire());
        }
    }

    // RFC 6455 §5.5.1: body is a 2-byte code then UTF-8.
    #[test]
    fn parse_payloads() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(
            CloseFrame::parse(&[3]),
            Err(ProtocolError::InvalidClosePayload)
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, b'b', b'y', b'e']),
            Ok(Some(CloseFrame::new(1000, "bye")))
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xed]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, 0xff]),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn validate_outgoing() {
        assert!(CloseFrame::new(1000, "").validate().is_ok());
        assert!(CloseFrame::new(4999, "x".repeat(123)).validate().is_ok());
        assert!(CloseFrame::new(1000, "x".repeat(124)).validate().is_err());
        assert!(CloseFrame::new(1006, "").validate().is_err());
    }
}
