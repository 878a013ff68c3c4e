//! Serving WebSocket from a hyper 1.x HTTP server (the axum/hyper path):
//! hyper parses the request, `Request::from_http` checks it and negotiates
//! the subprotocol and compression from the `Config`, accepting it gives the
//! `101` response for hyper to send, and after the upgrade
//! `WebSocket::from_connection` drives the upgraded connection.
//!
//! `cargo run -p wsock-tokio --example hyper_upgrade` serves on a free port,
//! connects to itself, exchanges a message and exits.
//! `... -- --serve --port 8080` keeps serving (try `ws://127.0.0.1:8080/echo`).

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wsock_core::handshake::server::Request as WsRequest;
use wsock_tokio::{Accept, Config, Message, WebSocket};

type Body = Full<Bytes>;

/// Handles one HTTP request: plain HTTP for most paths, an upgrade on `/echo`.
async fn handle(mut request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if request.uri().path() != "/echo" {
        let mut response = Response::new(Body::from("try /echo\n"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Ok(response);
    }
    // Limits and permessage-deflate (on by default) come from the Config.
    let ws_request = match WsRequest::from_http(&request, None, &Config::default()) {
        Ok(ws_request) => ws_request,
        // 400, 405 or 426 (with `Sec-WebSocket-Version: 13`), with a body.
        Err(rejected) => return Ok(rejected.response().map(Body::from)),
    };
    let mut accept = Accept::new();
    if ws_request.protocols().iter().any(|p| p == "echo") {
        accept = accept.protocol("echo");
    }
    let accepted = match ws_request.accept(accept) {
        Ok(accepted) => accepted,
        Err(rejected) => return Ok(rejected.response().map(Body::from)),
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let connection = accepted.connection;
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => return eprintln!("upgrade failed: {e}"),
        };
        let mut ws = WebSocket::from_connection(TokioIo::new(upgraded), connection);
        if let Err(e) = echo(&mut ws).await {
            eprintln!("websocket: {e}");
        }
    });
    // The 101 with its Sec-WebSocket-* fields, for hyper to send.
    Ok(accepted.response.map(|()| Body::default()))
}

async fn echo<S>(ws: &mut WebSocket<S>) -> Result<(), wsock_tokio::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = ws.recv().await? {
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

async fn serve(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service_fn(handle))
                .with_upgrades();
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

/// Serves on `listener` and connects to itself through the hyper server.
async fn self_test(listener: TcpListener) -> Result<(), Box<dyn std::error::Error>> {
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener));
    let mut ws = wsock_tokio::ClientBuilder::new(format!("ws://{addr}/echo"))
        .protocol("echo")
        .connect()
        .await?;
    let response = ws.response().ok_or("no handshake response")?;
    assert_eq!(
        (response.protocol(), ws.protocol()),
        (Some("echo"), Some("echo"))
    );
    // Compression was negotiated from both sides' default Config.
    #[cfg(feature = "deflate")]
    assert!(response.negotiated_extensions().deflate().is_some());
    ws.send("hello through hyper").await?;
    let echoed = ws.recv().await?;
    println!("echoed: {echoed:?}");
    assert_eq!(echoed, Some(Message::text("hello through hyper")));
    ws.close(None).await?;
    // Other paths are plain HTTP.
    let err = wsock_tokio::connect(&format!("ws://{addr}/elsewhere"))
        .await
        .unwrap_err();
    println!("non-WebSocket path: {err}");
    assert_eq!(err.http_status(), Some(404));
    server.abort();
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
