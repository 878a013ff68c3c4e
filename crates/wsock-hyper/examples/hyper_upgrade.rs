//! Serving WebSocket from a hyper 1.x server, over HTTP/1.1 (`101`) and
//! HTTP/2 (RFC 8441 extended CONNECT, `200`), with `wsock_hyper::upgrade`:
//! `Acceptor::upgrade_with` (`AcceptorExt`) checks the request,
//! negotiates the subprotocol and permessage-deflate (on by default) and
//! gives the response for hyper to send, and the `Upgrade` it returns
//! becomes the `WebSocket` once hyper hands the connection or stream over.
//!
//! `cargo run -p wsock-hyper --example hyper_upgrade` serves on a free port,
//! connects to itself over HTTP/1.1 and HTTP/2, and exits.
//! `... -- --serve --port 8080` keeps serving (try `ws://127.0.0.1:8080/echo`).

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use wsock_hyper::upgrade::{AcceptorExt, Body, Upgrade, is_upgrade_request};
use wsock_tokio::{Accept, Acceptor, Message};

/// Handles one HTTP request: a WebSocket on `/echo`, a 404 page elsewhere.
fn handle(mut request: Request<Incoming>) -> Response<Body> {
    if request.uri().path() != "/echo" || !is_upgrade_request(&request) {
        let mut page = Response::new(Body::from("try ws://…/echo\n"));
        *page.status_mut() = StatusCode::NOT_FOUND;
        return page;
    }
    let answer = Acceptor::new().upgrade_with(&mut request, |request| {
        let echo = request.protocols().iter().any(|p| p == "echo");
        Ok(if echo {
            Accept::new().protocol("echo")
        } else {
            Accept::new()
        })
    });
    match answer {
        Ok((response, upgrade)) => {
            // The WebSocket arrives once hyper has sent the response.
            tokio::spawn(async move {
                if let Err(e) = echo(upgrade).await {
                    eprintln!("websocket: {e}");
                }
            });
            response // 101, or 200 over HTTP/2
        }
        Err(refusal) => refusal, // 400, 405, 426, 501… with a reason
    }
}

async fn echo(upgrade: Upgrade) -> Result<(), wsock_tokio::Error> {
    let mut ws = upgrade.await?;
    while let Some(message) = ws.recv().await? {
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

async fn serve(listener: TcpListener) {
    let mut http = auto::Builder::new(TokioExecutor::new());
    // RFC 8441: HTTP/2 clients open WebSockets as extended CONNECT streams.
    http.http2().enable_connect_protocol();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let http = http.clone();
        tokio::spawn(async move {
            let service =
                service_fn(|request| std::future::ready(Ok::<_, Infallible>(handle(request))));
            let connection = http.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            if let Err(e) = connection.await {
                eprintln!("http: {e}");
            }
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let keep_serving = args.iter().any(|a| a == "--serve");
    let port: u16 = match args.iter().position(|a| a == "--port") {
        Some(i) => args.get(i + 1).ok_or("--port needs a number")?.parse()?,
        None => 0,
    };
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("serving ws://{}/echo", listener.local_addr()?);
    if keep_serving {
        serve(listener).await;
        return Ok(());
    }
    self_test(listener).await
}

// Below: the self-test, a client for each HTTP version.

/// Serves on `listener` and connects to itself through the hyper server.
async fn self_test(listener: TcpListener) -> Result<(), Box<dyn std::error::Error>> {
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener));
    http11_client(addr).await?;
    http2_client(addr).await?;
    server.abort();
    Ok(())
}

async fn http11_client(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let mut ws = wsock_tokio::ClientBuilder::new(format!("ws://{addr}/echo"))
        .protocol("echo")
        .connect()
        .await?;
    assert_eq!(ws.protocol(), Some("echo"));
    // Compression was negotiated from both sides' default Config.
    #[cfg(feature = "deflate")]
    assert!(ws.extensions().deflate().is_some());
    ws.send("hello through hyper").await?;
    let echoed = ws.recv().await?;
    println!("HTTP/1.1 echoed: {echoed:?}");
    assert_eq!(echoed, Some(Message::text("hello through hyper")));
    ws.close(None).await?;
    // Other paths are plain HTTP.
    let err = wsock_tokio::connect(&format!("ws://{addr}/elsewhere"))
        .await
        .unwrap_err();
    println!("non-WebSocket path: {err}");
    assert_eq!(err.http_status(), Some(404));
    Ok(())
}

/// An RFC 8441 request on an h2c connection, with the `h2` crate: a
/// `CONNECT` stream with `:protocol websocket`, then WebSocket frames as
/// DATA (`tests/hyper.rs` runs a whole `WebSocket` on such a stream).
async fn http2_client(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let (h2, connection) = h2::client::handshake(TcpStream::connect(addr).await?).await?;
    tokio::spawn(connection);
    let mut h2 = h2.ready().await?;
    while !h2.is_extended_connect_protocol_enabled() {
        // The server's SETTINGS_ENABLE_CONNECT_PROTOCOL is on its way.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        h2 = h2.ready().await?;
    }
    let mut request = Request::connect(format!("http://{addr}/echo"))
        .header("sec-websocket-version", "13")
        .body(())?;
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let (response, mut stream) = h2.send_request(request, false)?;
    let response = response.await?;
    assert_eq!(response.status(), StatusCode::OK);
    // A masked text frame "hi" (mask key 0); the echo comes back unmasked
    // and, deflate not being offered, uncompressed.
    stream.send_data(Bytes::from_static(b"\x81\x82\0\0\0\0hi"), false)?;
    let echoed = response.into_body().data().await.ok_or("no echo")??;
    println!("HTTP/2 echoed: {echoed:?}");
    assert_eq!(&echoed[..], b"\x81\x02hi");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn upgrade_through_hyper() {
        let listener = super::TcpListener::bind("127.0.0.1:0").await.unwrap();
        super::self_test(listener).await.unwrap();
    }
}
