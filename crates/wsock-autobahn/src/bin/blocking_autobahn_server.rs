//! Autobahn|Testsuite echo server (`fuzzingclient` mode): listens on
//! 127.0.0.1, echoes every text and binary message.
//!
//! ```sh
//! cargo run --release -p wsock-autobahn --bin blocking_autobahn_server -- --port 9001
//! # wss:// with a PEM certificate chain and key:
//! cargo run --release -p wsock-autobahn --bin blocking_autobahn_server -- \
//!     --port 9001 --tls-cert cert.pem --tls-key key.pem
//! ```

use wsock_blocking::tls::{Pem, ServerTlsConfig};
use wsock_blocking::{Acceptor, Server, Transport, WebSocket};

const USAGE: &str = "usage: --port PORT [--tls-cert CERT.pem --tls-key KEY.pem]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 9001;
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--tls-cert" => cert = Some(args.next().ok_or("--tls-cert needs a value")?),
            "--tls-key" => key = Some(args.next().ok_or("--tls-key needs a value")?),
            other => return Err(format!("unknown argument {other:?} ({USAGE})").into()),
        }
    }
    // Case 9.* sends messages of up to 16 MiB, in one frame or many.
    let acceptor = Acceptor::new()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20);
    let builder = Server::builder().acceptor(acceptor);
    let server = match (cert, key) {
        (Some(cert), Some(key)) => {
            let tls = ServerTlsConfig::new(Pem::file(cert), Pem::file(key)).build()?;
            let server = builder.bind_tls(("127.0.0.1", port), tls, echo)?;
            eprintln!("listening on wss://{}", server.local_addr());
            server
        }
        (None, None) => {
            let server = builder.bind(("127.0.0.1", port), echo)?;
            eprintln!("listening on ws://{}", server.local_addr());
            server
        }
        _ => return Err(format!("--tls-cert and --tls-key go together ({USAGE})").into()),
    };
    let _server = server;
    loop {
        std::thread::park();
    }
}

fn echo<S: Transport>(mut ws: WebSocket<S>) {
    // Pings are answered by the connection; the close is answered too.
    while let Ok(Some(message)) = ws.recv() {
        if message.is_data() && ws.send(message).is_err() {
            return;
        }
    }
}
