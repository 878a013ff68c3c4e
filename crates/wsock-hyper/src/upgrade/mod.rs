//! Serving WebSocket from a hyper 1.x server, over HTTP/1.1 and over
//! HTTP/2 (RFC 8441).
//!
//! hyper reads the request and writes the response; wsock checks the
//! request and answers it with the same rules and the same
//! [`Config`](wsock_tokio::Config) as [`Acceptor::accept`], so subprotocols
//! and permessage-deflate are negotiated as on a plain TCP accept:
//!
//! 1. [`is_upgrade_request`] tells WebSocket requests from the rest;
//! 2. [`AcceptorExt::upgrade`] (or
//!    [`upgrade_with`](AcceptorExt::upgrade_with), with a callback as
//!    [`accept_with`](wsock_tokio::accept_with)), methods of a
//!    [`wsock_tokio::Acceptor`], give the
//!    response to return from the service, `101 Switching Protocols` for
//!    HTTP/1.1 or `200` for an HTTP/2 extended CONNECT, and an [`Upgrade`]
//!    to spawn; a refusal is a ready response (400, 403, 405, 426, 501…);
//! 3. the [`Upgrade`] resolves to the [`WebSocket`] once hyper hands over
//!    the connection (HTTP/1.1) or the stream (HTTP/2).
//!
//! ```
//! use std::convert::Infallible;
//! use wsock_hyper::upgrade::{AcceptorExt, Body, is_upgrade_request};
//!
//! async fn handle(
//!     mut request: hyper::Request<hyper::body::Incoming>,
//! ) -> Result<hyper::Response<Body>, Infallible> {
//!     if !is_upgrade_request(&request) {
//!         return Ok(hyper::Response::new(Body::from("not a WebSocket\n")));
//!     }
//!     Ok(match wsock_tokio::Acceptor::new().upgrade(&mut request) {
//!         Ok((response, upgrade)) => {
//!             tokio::spawn(async move {
//!                 let mut ws = upgrade.await?;
//!                 while let Some(message) = ws.recv().await? {
//!                     if message.is_data() {
//!                         ws.send(message).await?;
//!                     }
//!                 }
//!                 Ok::<_, wsock_tokio::Error>(())
//!             });
//!             response
//!         }
//!         Err(refusal) => refusal,
//!     })
//! }
//! ```
//!
//! Over HTTP/2 hyper must accept extended CONNECT: build its server with
//! `enable_connect_protocol()` (`hyper::server::conn::http2::Builder`, or
//! `.http2()` of hyper-util's `auto::Builder`); without it hyper refuses
//! the request before the service sees it. On a stream the WebSocket ends
//! as on TCP: after the closing handshake its write side is shut down,
//! which ends the stream (`END_STREAM`); a stream reset by the client
//! (`RST_STREAM`) is [`ErrorKind::AbnormalClose`](wsock_tokio::ErrorKind).

mod io;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hyper::body::Bytes;
use wsock_core::handshake::server::{Accept, Rejection, Request};
use wsock_core::handshake::{Accepted, Rejected};
use wsock_core::http;
use wsock_io::diag;
use wsock_io::handshake::Handshake;
use wsock_io::opened::Opened;
use wsock_io::options::Settings;
use wsock_tokio::{Acceptor, Error, ErrorKind, WebSocket};

pub use io::Upgraded;

/// The body of the responses [`AcceptorExt::upgrade`] gives: empty in a
/// `101` or `200`, the reason in a refusal. One type for both, so that a
/// service returns either as it is.
pub type Body = http_body_util::Full<Bytes>;

/// Whether `request` asks for a WebSocket: an HTTP/1.1 `Upgrade:
/// websocket`, or an HTTP/2 `CONNECT` whose `:protocol`
/// (`hyper::ext::Protocol`) is `websocket`. Only the intent is read, so
/// that a malformed request (no key, a wrong version) gets its answer
/// (400, 426) from [`AcceptorExt::upgrade`] rather than a 404 from the
/// application's other routes. See
/// [`Request::is_upgrade_request`](wsock_core::handshake::server::Request::is_upgrade_request).
pub fn is_upgrade_request<B>(request: &http::Request<B>) -> bool {
    Request::is_upgrade_request(request, protocol(request))
}

/// An extended CONNECT's `:protocol`, which hyper keeps in the request's
/// extensions rather than its header map.
fn protocol<B>(request: &http::Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<hyper::ext::Protocol>()
        .map(hyper::ext::Protocol::as_str)
}

/// The upgrade, as methods of a [`wsock_tokio::Acceptor`] (whose settings
/// apply): `use wsock_hyper::upgrade::AcceptorExt`. Sealed: implemented
/// for `Acceptor` only.
pub trait AcceptorExt: sealed::Sealed {
    /// Answers a WebSocket request that hyper parsed, with no subprotocol:
    /// see [`upgrade_with`](Self::upgrade_with).
    // The refusal is a response returned from the service as it is, no
    // larger than the acceptance: boxing it would only add an allocation.
    #[allow(clippy::result_large_err)]
    fn upgrade<B>(
        &self,
        request: &mut http::Request<B>,
    ) -> Result<(http::Response<Body>, Upgrade), http::Response<Body>> {
        self.upgrade_with(request, |_| Ok(Accept::new()))
    }

    /// Answers a WebSocket request that hyper parsed: checks it as
    /// [`Acceptor::accept_with`] does (with these settings'
    /// [`Config`](wsock_tokio::Config), which negotiates permessage-deflate), lets
    /// `callback` accept it (choosing a subprotocol, adding headers) or
    /// reject it, and returns the response for the service to return with
    /// the [`Upgrade`] that becomes the [`WebSocket`] once hyper has sent
    /// it. The response is `101 Switching Protocols` to an HTTP/1.1
    /// upgrade and `200` to an HTTP/2 extended CONNECT.
    ///
    /// Refusals are the `Err` response, for the service to return as it is
    /// (no connection follows): the core's status for a bad request (400,
    /// 405 with `Allow`, 426 with `Sec-WebSocket-Version: 13`, 501 for an
    /// extended CONNECT of another protocol), the callback's
    /// [`Rejection`], or 500 when the callback's [`Accept`] names what the
    /// client did not offer.
    ///
    /// Takes the request by `&mut` because hyper's upgrade handle is taken
    /// out of it (`hyper::upgrade::on`); the rest stays for the service,
    /// and [`WebSocket::request`] has the head.
    ///
    /// hyper read the request, so the acceptor's
    /// [`handshake_timeout`](Acceptor::handshake_timeout) plays no part:
    /// hyper's own (`header_read_timeout`) bounds it. The other settings
    /// apply to the WebSocket.
    #[allow(clippy::result_large_err)]
    fn upgrade_with<B, F>(
        &self,
        request: &mut http::Request<B>,
        callback: F,
    ) -> Result<(http::Response<Body>, Upgrade), http::Response<Body>>
    where
        F: FnOnce(&Request) -> Result<Accept, Rejection>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for wsock_tokio::Acceptor {}
}

impl AcceptorExt for Acceptor {
    #[allow(clippy::result_large_err)]
    fn upgrade_with<B, F>(
        &self,
        request: &mut http::Request<B>,
        callback: F,
    ) -> Result<(http::Response<Body>, Upgrade), http::Response<Body>>
    where
        F: FnOnce(&Request) -> Result<Accept, Rejection>,
    {
        let span = diag::connection_span(wsock_core::Role::Server);
        match answer(request, &self.settings().config, callback) {
            Ok(accepted) => {
                let response = accepted.response.map(|()| Body::default());
                let upgrade = Upgrade {
                    on_upgrade: hyper::upgrade::on(request),
                    pending: Some(Pending {
                        accepted: Box::new((accepted.connection, accepted.request)),
                        settings: self.settings().clone(),
                        span,
                    }),
                };
                Ok((response, upgrade))
            }
            Err((rejected, error)) => {
                diag::handshake_failed(&span, &error);
                Err(rejected.response().map(Body::from))
            }
        }
    }
}

/// The core's verdict on `request` and the callback's answer, as
/// [`Acceptor::accept_with`] reaches it (and with the same errors).
fn answer<B, F>(
    request: &http::Request<B>,
    config: &wsock_tokio::Config,
    callback: F,
) -> Result<Accepted, (Rejected, Error)>
where
    F: FnOnce(&Request) -> Result<Accept, Rejection>,
{
    let request = Request::from_http(request, protocol(request), config).map_err(|rejected| {
        let error = Error::handshake(rejected.error.clone());
        (rejected, error)
    })?;
    // The callback's rejection, or its invalid answer (the application's
    // mistake: 500), as every server of this crate decides them.
    wsock_io::accept::answer(request, callback)
}

/// The accepted WebSocket, once hyper has sent the response and handed
/// over the connection: a future of `WebSocket<Upgraded>`. Spawn it (or
/// `.await` it in a task): hyper sends the response only after the service
/// returns it, so awaiting it inside the service would wait forever.
///
/// Fails if the connection ends before the upgrade (the client went away,
/// or hyper was not told to allow upgrades: `with_upgrades()` on an
/// HTTP/1.1 connection).
#[must_use = "the WebSocket arrives by awaiting the Upgrade"]
pub struct Upgrade {
    on_upgrade: hyper::upgrade::OnUpgrade,
    /// What the WebSocket is built from; taken when the future completes.
    pending: Option<Pending>,
}

/// The agreement and the options, waiting for the transport.
struct Pending {
    /// Boxed: the future is moved into a task, and stays small.
    accepted: Box<(wsock_core::Connection, Request)>,
    settings: Settings,
    span: diag::Span,
}

impl Pending {
    fn into_websocket(self, io: Upgraded) -> WebSocket<Upgraded> {
        let (conn, request) = *self.accepted;
        diag::handshake_done(&self.span, conn.protocol(), conn.extensions());
        let exchanged = Handshake::Server(Box::new(request));
        WebSocket::from_opened(io, conn, Opened::new(self.settings, exchanged, self.span))
    }
}

impl Future for Upgrade {
    type Output = Result<WebSocket<Upgraded>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = ready!(Pin::new(&mut self.on_upgrade).poll(cx));
        let pending = self
            .pending
            .take()
            .expect("Upgrade polled after completion");
        Poll::Ready(match outcome {
            Ok(upgraded) => Ok(pending.into_websocket(Upgraded::new(upgraded))),
            Err(e) => {
                // A user error is a server that does not allow upgrades.
                let kind = if e.is_user() {
                    ErrorKind::InvalidInput
                } else {
                    ErrorKind::AbnormalClose
                };
                let error = Error::new(kind, e);
                diag::handshake_failed(&pending.span, &error);
                Err(error)
            }
        })
    }
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("done", &self.pending.is_none())
            .finish_non_exhaustive()
    }
}
