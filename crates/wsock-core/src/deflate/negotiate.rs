//! permessage-deflate negotiation (RFC 7692 §7.1): the client's offer, the
//! server's choice among offers, and the client's check of the answer.

use alloc::string::ToString;

use super::{DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS, NAME};
use crate::config::DeflateConfig;
use crate::error::HandshakeError;
use crate::handshake::ExtensionOffer;

const HEADER: &str = "Sec-WebSocket-Extensions";

/// One offer's or answer's parameters after the checks of §7.1: no unknown
/// parameter, none twice, every value well formed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in an offer only).
    #[allow(clippy::option_option)]
    client_max_window_bits: Option<Option<u8>>,
}

/// `None` when the element breaks §7.1 (§7.1: "decline" for a server,
/// "fail" for a client; the caller decides).
fn parse(ext: &ExtensionOffer) -> Option<Params> {
    let mut p = Params::default();
    for (name, value) in &ext.params {
        let value = value.as_deref();
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() && !p.server_no_context_takeover => {
                p.server_no_context_takeover = true;
            }
            "client_no_context_takeover" if value.is_none() && !p.client_no_context_takeover => {
                p.client_no_context_takeover = true;
            }
            "server_max_window_bits" if p.server_max_window_bits.is_none() => {
                p.server_max_window_bits = Some(window_bits(value?)?);
            }
            "client_max_window_bits" if p.client_max_window_bits.is_none() => {
                p.client_max_window_bits = Some(match value {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    Some(p)
}

/// §7.1.2: `1*DIGIT` from 8 to 15, no leading zero.
fn window_bits(value: &str) -> Option<u8> {
    let bits: u8 = value.parse().ok()?;
    let canonical = value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0');
    ((MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits) && canonical).then_some(bits)
}

fn is_deflate(ext: &ExtensionOffer) -> bool {
    ext.name.eq_ignore_ascii_case(NAME)
}

/// The client's offer, built from its settings.
pub(crate) fn offer(config: &DeflateConfig) -> ExtensionOffer {
    let mut offer = ExtensionOffer::new(NAME);
    if config.server_no_context_takeover {
        offer = offer.param("server_no_context_takeover", None);
    }
    if config.client_no_context_takeover {
        offer = offer.param("client_no_context_takeover", None);
    }
    let server_bits = clamp_bits(config.server_max_window_bits);
    if server_bits < MAX_WINDOW_BITS {
        offer = offer.param("server_max_window_bits", Some(&server_bits.to_string()));
    }
    let client_bits = clamp_bits(config.client_max_window_bits);
    let value = (client_bits < MAX_WINDOW_BITS).then(|| client_bits.to_string());
    offer.param("client_max_window_bits", value.as_deref())
}

/// The server's choice: the first offer it can honour (§7.1 "accepts"),
/// with the answer to send. Malformed offers are declined, not failed.
pub(crate) fn answer(
    config: &DeflateConfig,
    offers: &[ExtensionOffer],
) -> Option<(DeflateParams, ExtensionOffer)> {
    if !config.enabled {
        return None;
    }
    let p = offers.iter().filter(|e| is_deflate(e)).find_map(parse)?;
    let mut answer = ExtensionOffer::new(NAME);
    let server_no_context_takeover =
        p.server_no_context_takeover || config.server_no_context_takeover;
    if server_no_context_takeover {
        answer = answer.param("server_no_context_takeover", None);
    }
    let client_no_context_takeover =
        p.client_no_context_takeover || config.client_no_context_takeover;
    if client_no_context_takeover {
        answer = answer.param("client_no_context_takeover", None);
    }
    // §7.1.2.1: a server answers with the same or a smaller value when
    // offered, and "MAY include" it when not, to say it uses a smaller
    // window (the client's decompressor can then be smaller too).
    let server_max_window_bits = p
        .server_max_window_bits
        .unwrap_or(MAX_WINDOW_BITS)
        .min(clamp_bits(config.server_max_window_bits))
        .min(clamp_bits(config.answer_server_window_bits));
    if p.server_max_window_bits.is_some() || server_max_window_bits < MAX_WINDOW_BITS {
        answer = answer.param(
            "server_max_window_bits",
            Some(&server_max_window_bits.to_string()),
        );
    }
    // §7.1.2.2: the server may limit the client's window only if offered;
    // a bare `client_max_window_bits` leaves the value to the server.
    let client_max_window_bits = match p.client_max_window_bits {
        Some(offered) => {
            let limit = offered.unwrap_or(MAX_WINDOW_BITS);
            let bits = limit
                .min(clamp_bits(config.client_max_window_bits))
                .min(clamp_bits(config.answer_client_window_bits));
            if bits < MAX_WINDOW_BITS || offered.is_some() {
                answer = answer.param("client_max_window_bits", Some(&bits.to_string()));
            }
            bits
        }
        None => MAX_WINDOW_BITS,
    };
    let params = DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    };
    Some((params, answer))
}

/// The client's check of the server's answer against its offer (§7.1):
/// `Ok(None)` if the server declined, an error if the answer is invalid
/// or accepts something that was not offered.
pub(crate) fn accepted(
    config: &DeflateConfig,
    answers: &[ExtensionOffer],
) -> Result<Option<DeflateParams>, HandshakeError> {
    let mut found = answers.iter().filter(|e| is_deflate(e));
    let Some(answer) = found.next() else {
        return Ok(None);
    };
    let bad = || HandshakeError::InvalidHeader {
        name: HEADER,
        value: answer.to_string(),
    };
    if found.next().is_some() {
        return Err(bad());
    }
    let p = parse(answer).ok_or_else(bad)?;
    let offered = parse(&offer(config)).ok_or_else(bad)?;
    if offered.server_no_context_takeover && !p.server_no_context_takeover {
        return Err(bad());
    }
    // §7.1.2.1: granted with the same or a smaller value when asked for;
    // and a server "MAY include" it even when not asked for (Python's
    // websockets answers `server_max_window_bits=12` to every offer).
    let server_max_window_bits = match (offered.server_max_window_bits, p.server_max_window_bits) {
        (None, None) => MAX_WINDOW_BITS,
        (None, Some(bits)) => bits,
        (Some(asked), Some(bits)) if bits <= asked => bits,
        _ => return Err(bad()),
    };
    let client_max_window_bits = match (offered.client_max_window_bits, p.client_max_window_bits) {
        (_, None) => MAX_WINDOW_BITS,
        (Some(asked), Some(Some(bits))) if bits <= asked.unwrap_or(MAX_WINDOW_BITS) => bits,
        _ => return Err(bad()),
    };
    Ok(Some(DeflateParams {
        server_no_context_takeover: p.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    }))
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}
