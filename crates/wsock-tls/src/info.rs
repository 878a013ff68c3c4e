//! [`TlsInfo`]: what was negotiated on a connected TLS stream.

use std::io::{Read, Write};

use rustls::{
    CipherSuite, ClientConnection, CommonState, ProtocolVersion, ServerConnection, StreamOwned,
};
use rustls_pki_types::CertificateDer;

/// Facts about an established TLS connection.
///
/// Build it with [`TlsInfo::new`] from any `&CommonState` (a
/// `ClientConnection` or `ServerConnection` derefs to one), or with
/// [`TlsConnectionInfo::tls_info`] on a stream returned by this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The peer's certificate chain, end-entity first (DER). Empty if the
    /// peer sent none (a server that did not ask for client certificates).
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// The negotiated protocol version (`TLSv1_3` or `TLSv1_2`).
    pub protocol_version: Option<ProtocolVersion>,
    /// The negotiated cipher suite.
    pub cipher_suite: Option<CipherSuite>,
    /// The negotiated ALPN protocol (for WebSocket, `http/1.1`).
    pub alpn_protocol: Option<Vec<u8>>,
    /// On a server: the SNI host name the client asked for, if any.
    pub server_name: Option<String>,
}

impl TlsInfo {
    /// Reads the negotiated parameters from a connection (client or server).
    pub fn new(state: &CommonState) -> Self {
        Self {
            peer_certificates: state
                .peer_certificates()
                .map(<[CertificateDer<'static>]>::to_vec)
                .unwrap_or_default(),
            protocol_version: state.protocol_version(),
            cipher_suite: state.negotiated_cipher_suite().map(|s| s.suite()),
            alpn_protocol: state.alpn_protocol().map(<[u8]>::to_vec),
            server_name: None,
        }
    }

    /// Like [`new`](Self::new), plus the SNI name the client sent.
    pub fn from_server(conn: &ServerConnection) -> Self {
        Self {
            server_name: conn.server_name().map(str::to_owned),
            ..Self::new(conn)
        }
    }

    /// Whether TLS 1.3 was negotiated.
    pub fn is_tls13(&self) -> bool {
        self.protocol_version == Some(ProtocolVersion::TLSv1_3)
    }

    /// The ALPN protocol as text, if negotiated and valid UTF-8.
    pub fn alpn_str(&self) -> Option<&str> {
        self.alpn_protocol
            .as_deref()
            .and_then(|p| std::str::from_utf8(p).ok())
    }

    /// The cipher suite's IANA name (e.g. `TLS13_AES_256_GCM_SHA384`).
    pub fn cipher_suite_name(&self) -> Option<&'static str> {
        self.cipher_suite.and_then(|s| s.as_str())
    }

    /// The peer's end-entity certificate (DER).
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.peer_certificates.first()
    }
}

/// Streams and connections that can report [`TlsInfo`].
pub trait TlsConnectionInfo {
    /// What was negotiated.
    fn tls_info(&self) -> TlsInfo;
}

impl TlsConnectionInfo for ClientConnection {
    fn tls_info(&self) -> TlsInfo {
        TlsInfo::new(self)
    }
}

impl TlsConnectionInfo for ServerConnection {
    fn tls_info(&self) -> TlsInfo {
        TlsInfo::from_server(self)
    }
}

impl<S: Read + Write> TlsConnectionInfo for StreamOwned<ClientConnection, S> {
    fn tls_info(&self) -> TlsInfo {
        self.conn.tls_info()
    }
}

impl<S: Read + Write> TlsConnectionInfo for StreamOwned<ServerConnection, S> {
    fn tls_info(&self) -> TlsInfo {
        self.conn.tls_info()
    }
}

#[cfg(feature = "tokio")]
impl<S> TlsConnectionInfo for tokio_rustls::client::TlsStream<S> {
    fn tls_info(&self) -> TlsInfo {
        self.get_ref().1.tls_info()
    }
}

#[cfg(feature = "tokio")]
impl<S> TlsConnectionInfo for tokio_rustls::server::TlsStream<S> {
    fn tls_info(&self) -> TlsInfo {
        self.get_ref().1.tls_info()
    }
}

#[cfg(feature = "tokio")]
impl<S> TlsConnectionInfo for tokio_rustls::TlsStream<S> {
    fn tls_info(&self) -> TlsInfo {
        match self {
            tokio_rustls::TlsStream::Client(s) => s.tls_info(),
            tokio_rustls::TlsStream::Server(s) => s.tls_info(),
        }
    }
}
