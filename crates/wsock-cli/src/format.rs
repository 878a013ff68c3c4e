//! Turning stdin lines into messages and messages into stdout lines.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use clap::ValueEnum;
use wsock_core::Message;

/// Standard base64 alphabet; padding optional on input, written on output.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How each stdin line becomes a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputMode {
    /// The line, which must be UTF-8, as a text message.
    Text,
    /// The line's bytes as a binary message.
    Binary,
    /// The line decoded from base64, as a binary message.
    Base64,
}

/// How received binary messages are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum BinaryOutput {
    /// Lowercase hexadecimal, no separators.
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// Removes the line terminator (`\n` or `\r\n`) from a line read with
/// `read_until(b'\n')`.
pub(crate) fn trim_line_ending(mut line: &[u8]) -> &[u8] {
    if let Some(rest) = line.strip_suffix(b"\n") {
        line = rest;
        if let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
    }
    line
}

/// The message for one stdin line (line terminator already removed).
pub(crate) fn line_to_message(line: &[u8], mode: InputMode) -> Result<Message, String> {
    match mode {
        InputMode::Text => match std::str::from_utf8(line) {
            Ok(text) => Ok(Message::text(text.to_owned())),
            Err(e) => Err(format!(
                "line is not valid UTF-8 ({e}); use --binary or --base64"
            )),
        },
        InputMode::Binary => Ok(Message::binary(line.to_vec())),
        InputMode::Base64 => {
            let trimmed = line.trim_ascii();
            BASE64
                .decode(trimmed)
                .map(Message::binary)
                .map_err(|e| format!("line is not valid base64 ({e})"))
        }
    }
}

/// Lowercase hex of `data`.
pub(crate) fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Standard padded base64 of `data`.
pub(crate) fn base64(data: &[u8]) -> String {
    BASE64.encode(data)
}

/// The stdout line (with its `\n`) for a received data message; `None`
/// for control frames, which are reported on stderr instead.
pub(crate) fn message_line(message: &Message, binary: BinaryOutput) -> Option<Vec<u8>> {
    let mut out = match message {
        Message::Text(text) => text.as_bytes().to_vec(),
        Message::Binary(data) => match binary {
            BinaryOutput::Hex => hex(data).into_bytes(),
            BinaryOutput::Base64 => base64(data).into_bytes(),
        },
        _ => return None,
    };
    out.push(b'\n');
    Some(out)
}

/// ` (subprotocol P)` when one was negotiated, for status lines.
pub(crate) fn subprotocol_suffix(protocol: Option<&str>) -> String {
    protocol.map_or_else(String::new, |p| format!(" (subprotocol {p})"))
}

/// A short printable form of a control payload or close reason, for logs.
pub(crate) fn printable(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) if !text.chars().any(char::is_control) => format!("{text:?}"),
        _ => format!("0x{}", hex(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings() {
        assert_eq!(trim_line_ending(b"abc\n"), b"abc");
        assert_eq!(trim_line_ending(b"abc\r\n"), b"abc");
        assert_eq!(trim_line_ending(b"abc"), b"abc");
        assert_eq!(trim_line_ending(b"abc\r"), b"abc\r");
        assert_eq!(trim_line_ending(b"\n"), b"");
    }

    #[test]
    fn lines_to_messages() {
        assert_eq!(
            line_to_message(b"hi", InputMode::Text),
            Ok(Message::text("hi"))
        );
        assert!(line_to_message(b"\xff", InputMode::Text).is_err());
        assert_eq!(
            line_to_message(b"\xff", InputMode::Binary),
            Ok(Message::binary(vec![0xff]))
        );
        assert_eq!(
            line_to_message(b"AAEC/w==", InputMode::Base64),
            Ok(Message::binary(vec![0, 1, 2, 255]))
        );
        assert_eq!(
            line_to_message(b" AAEC/w ", InputMode::Base64),
            Ok(Message::binary(vec![0, 1, 2, 255]))
        );
        assert!(line_to_message(b"not base64!", InputMode::Base64).is_err());
    }

    #[test]
    fn output_lines() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(
            message_line(&Message::text("hé"), BinaryOutput::Hex),
            Some("hé\n".into())
        );
        assert_eq!(
            message_line(&Message::binary(vec![1, 0xfe]), BinaryOutput::Hex),
            Some(b"01fe\n".to_vec())
        );
        assert_eq!(
            message_line(&Message::binary(vec![0, 1, 2, 255]), BinaryOutput::Base64),
            Some(b"AAEC/w==\n".to_vec())
        );
        assert_eq!(
            message_line(&Message::ping(vec![]), BinaryOutput::Hex),
            None
        );
        assert_eq!(printable(b"bye"), "\"bye\"");
        assert_eq!(printable(b"\x00\x01"), "0x0001");
    }
}
