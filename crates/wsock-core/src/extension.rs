//! Extensions (RFC 6455 §9): what the opening handshake agreed on, handed
//! from the handshake to the [`Connection`](crate::Connection).
//!
//! An extension plugs in at three places: negotiation (the client's offer,
//! the server's choice, the client's check of the answer), the reserved
//! header bits it owns, and a per-message transform of data payloads. The
//! handshake types call the negotiation hooks here; the connection asks
//! which bits are owned and runs the transform. permessage-deflate
//! (RFC 7692, feature `deflate`) is the only one so far.

use alloc::vec::Vec;

use crate::config::Config;
use crate::error::HandshakeError;
use crate::handshake::ExtensionOffer;

#[cfg(feature = "deflate")]
use crate::deflate::{DeflateParams, negotiate};

/// The extensions in force on a connection, as the handshake negotiated
/// them: [`Connection::extensions`](crate::Connection::extensions), and
/// before accepting, [`Request::negotiated_extensions`](crate::handshake::server::Request::negotiated_extensions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions {
    #[cfg(feature = "deflate")]
    deflate: Option<DeflateParams>,
}

impl Extensions {
    /// No extension.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether no extension is in force.
    pub fn is_empty(&self) -> bool {
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            return false;
        }
        true
    }

    /// permessage-deflate with these agreed parameters (for connections
    /// set up without this crate's handshake, and tests).
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, params: DeflateParams) -> Self {
        self.deflate = Some(params);
        self
    }

    /// The agreed permessage-deflate parameters, if it was negotiated.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<&DeflateParams> {
        self.deflate.as_ref()
    }

    /// The RSV bits the extensions own (§5.2): frames may set only these.
    #[cfg_attr(not(feature = "deflate"), allow(clippy::unused_self))]
    pub(crate) fn reserved_bits(self) -> u8 {
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            return crate::frame::RSV1;
        }
        0
    }

    /// Client hook: the offers `config` enables, in order of preference.
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
    pub(crate) fn offers(config: &Config) -> Vec<ExtensionOffer> {
        let mut offers = Vec::new();
        #[cfg(feature = "deflate")]
        if config.deflate.enabled {
            offers.push(negotiate::offer(&config.deflate));
        }
        let _ = config;
        offers
    }

    /// Server hook: chooses among the client's offers; returns what is in
    /// force and the answers to send. Offers it cannot honour are declined.
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
    pub(crate) fn answer(
        config: &Config,
        offers: &[ExtensionOffer],
    ) -> (Self, Vec<ExtensionOffer>) {
        let mut agreed = Self::none();
        let mut answers = Vec::new();
        #[cfg(feature = "deflate")]
        if config.deflate.enabled
            && let Some((params, answer)) = negotiate::answer(&config.deflate, offers)
        {
            agreed.deflate = Some(params);
            answers.push(answer);
        }
        let _ = (config, offers);
        (agreed, answers)
    }

    /// Client hook: checks the server's answers against what `config`
    /// offered. An invalid answer fails the handshake (RFC 7692 §7.1).
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut, clippy::unnecessary_wraps))]
    pub(crate) fn accepted(
        config: &Config,
        answers: &[ExtensionOffer],
    ) -> Result<Self, HandshakeError> {
        let mut agreed = Self::none();
        #[cfg(feature = "deflate")]
        if config.deflate.enabled {
            agreed.deflate = negotiate::accepted(&config.deflate, answers)?;
        }
        let _ = (config, answers);
        Ok(agreed)
    }
}
