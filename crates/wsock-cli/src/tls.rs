//! TLS settings: the client connector (`--ca`, `--insecure`) that
//! wsock-tokio's client uses, and the server acceptor (`--tls-cert`,
//! `--tls-key`).

use std::path::Path;

use wsock_tokio::tls::{ClientTlsConfig, Pem, ServerTlsConfig, TlsAcceptor, TlsConnector};

use crate::exit::{CliError, ExitKind, Result};

/// A connector that trusts the built-in (webpki) roots, or only the CAs in
/// `ca`; with `insecure`, any certificate. The handshake deadline is the
/// caller's (`--connect-timeout`).
pub(crate) fn client_connector(ca: Option<&Path>, insecure: bool) -> Result<TlsConnector> {
    let mut config = ClientTlsConfig::new().handshake_timeout(None);
    if let Some(ca) = ca {
        config = config
            .webpki_roots(false)
            .add_root_certificates(Pem::file(ca));
    }
    if insecure {
        config = config.danger_accept_invalid_certs(true);
    }
    config
        .build()
        .map_err(|e| CliError::new(ExitKind::Tls, format!("--ca: {e}")))
}

/// An acceptor for `wsock serve --tls-cert --tls-key` (10 s handshake
/// timeout, so silent clients cannot hold a connection slot). ALPN offers
/// `h2` before `http/1.1` when `http2` (the tokio server, without
/// `--no-http2`), so that browsers pick HTTP/2 and may then open their
/// WebSockets on the page's connection (RFC 8441).
pub(crate) fn server_acceptor(cert: &Path, key: &Path, http2: bool) -> Result<TlsAcceptor> {
    let mut alpn = vec![b"http/1.1".to_vec()];
    if http2 {
        alpn.insert(0, b"h2".to_vec());
    }
    ServerTlsConfig::new(Pem::file(cert), Pem::file(key))
        .alpn_protocols(alpn)
        .build()
        .map_err(|e| CliError::new(ExitKind::Tls, e.to_string()))
}
