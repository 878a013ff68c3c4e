//! Autobahn|Testsuite echo server (`fuzzingclient` mode): listens on
//! 127.0.0.1, echoes every text and binary message.
//!
//! ```sh
//! cargo run --release -p wsock-blocking --example blocking_autobahn_server -- --port 9001
//! ```

use std::net::TcpStream;

use wsock_blocking::{Acceptor, Message, Server, WebSocket};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 9001;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other:?} (usage: --port PORT)").into()),
        }
    }
    // Case 9.* sends messages of up to 16 MiB, in one frame or many.
    let acceptor = Acceptor::new()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20);
    let server = Server::builder()
        .acceptor(acceptor)
        .bind(("127.0.0.1", port), echo)?;
    eprintln!("listening on ws://{}", server.local_addr());
    loop {
        std::thread::park();
    }
}

fn echo(mut ws: WebSocket<TcpStream>) {
    loop {
        match ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(message).is_err() {
                    return;
                }
            }
            // Pings are answered by the connection; the close is answered too.
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
