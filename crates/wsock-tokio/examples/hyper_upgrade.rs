//! Serving WebSocket from a hyper 1.x HTTP server (the axum/hyper path):
//! hyper parses the request, the core validates it and writes the `101`
//! headers, and after the upgrade `WebSocket::from_connection` drives the
//! upgraded connection.
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
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wsock_core::handshake::server::validate_request;
use wsock_tokio::{Accept, Config, Message, WebSocket};

type Body = Full<Bytes>;

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}

/// Handles one HTTP request: plain HTTP for most paths, an upgrade on `/echo`.
async fn handle(mut request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if request.uri().path() != "/echo" {
        return Ok(plain(StatusCode::NOT_FOUND, "try /echo\n"));
    }
    let minor = match request.version() {
        Version::HTTP_10 => 0,
        Version::HTTP_11 => 1,
        _ => {
            return Ok(plain(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "HTTP/1.1 only\n",
            ));
        }
    };
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    // The same checks the core's own handshake reader makes.
    // Deflate and the limits come from the same Config as everywhere else.
    let config = Config::default();
    let method = request.method().as_str();
    let ws_request = match validate_request(method, target, minor, headers, &config) {
        Ok(ws_request) => ws_request,
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status().unwrap_or(400))
                .unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = plain(status, &format!("{e}\n"));
            if status == StatusCode::UPGRADE_REQUIRED {
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Version", "13".parse().unwrap());
            }
            return Ok(response);
        }
    };
    let accept = match ws_request.protocols().iter().find(|p| *p == "echo") {
        Some(protocol) => Accept::new().protocol(protocol.as_str()),
        None => Accept::new(),
    };
    // The core writes the 101 response; hand its header fields to hyper.
    let accepted = match ws_request.accept(accept) {
        Ok(accepted) => accepted,
        Err(rejected) => {
            let text = format!("{}\n", rejected.error);
            return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, &text));
        }
    };
    let mut response = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for line in accepted.response_bytes.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            break;
        };
        response = response.header(&line[..colon], line[colon + 1..].trim_ascii());
    }

    let conn = accepted.connection;
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => return eprintln!("upgrade failed: {e}"),
        };
        let mut ws = WebSocket::from_connection(TokioIo::new(upgraded), conn);
        if let Err(e) = echo(&mut ws).await {
            eprintln!("websocket: {e}");
        }
    });
    Ok(response.body(Body::default()).expect("valid response"))
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
    let (mut ws, response) = wsock_tokio::ClientBuilder::new(format!("ws://{addr}/echo"))
        .protocol("echo")
        .connect()
        .await?;
    assert_eq!(
        (response.protocol(), ws.protocol()),
        (Some("echo"), Some("echo"))
    );
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
