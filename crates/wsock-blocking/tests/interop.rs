//! Interoperability over loopback with tungstenite 0.30: our client against
//! its server, and its client against our server.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{bounded, listener};
use tungstenite::Message as TMessage;
use tungstenite::handshake::server::{ErrorResponse, Request as TRequest, Response as TResponse};
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode as TCloseCode, Data, OpCode};
use wsock_blocking::{ClientBuilder, CloseFrame, DataKind, Message};

/// tungstenite's accept callback: checks the request, picks "chat".
#[allow(
    clippy::result_large_err,
    clippy::needless_pass_by_value,
    clippy::unnecessary_wraps
)]
fn choose_chat(request: &TRequest, mut response: TResponse) -> Result<TResponse, ErrorResponse> {
    assert_eq!(request.uri().path(), "/interop");
    assert_eq!(request.headers()["x-agent"], "wsock");
    response
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
    Ok(response)
}

#[test]
fn our_client_against_their_server() {
    bounded(30, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = tungstenite::accept_hdr(stream, choose_chat).unwrap();
            ws.send(TMessage::Ping(b"from tungstenite".to_vec().into()))
                .unwrap();
            let mut pongs = 0;
            loop {
                match ws.read() {
                    Ok(message @ (TMessage::Text(_) | TMessage::Binary(_))) => {
                        ws.send(message).unwrap();
                    }
                    Ok(TMessage::Pong(payload)) => {
                        assert_eq!(&payload[..], b"from tungstenite");
                        pongs += 1;
                    }
                    Ok(TMessage::Close(frame)) => {
                        assert_eq!(
                            frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                            Some((1000, "done".into()))
                        );
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::ConnectionClosed) => break,
                    Err(e) => panic!("tungstenite server: {e}"),
                }
            }
            pongs
        });

        let mut ws = ClientBuilder::new(format!("{url}interop"))
            .protocol("chat")
            .header("X-Agent", "wsock")
            .fragment_size(Some(10_000))
            .connect()
            .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::ping(b"from tungstenite".to_vec())
        );
        ws.send("héllo").unwrap();
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::text("héllo")
        );
        // Fragmented by our fragment size; reassembled by tungstenite.
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        ws.send(big.clone()).unwrap();
        assert_eq!(ws.recv().unwrap().expect("a message"), Message::binary(big));
        let mut writer = ws.send_stream(DataKind::Text).unwrap();
        for _ in 0..100 {
            writer.write_all("streamed ".as_bytes()).unwrap();
        }
        writer.finish().unwrap();
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::text("streamed ".repeat(100))
        );
        ws.send(Message::close(1000, "done")).unwrap();
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1000, "done")))
        );
        assert_eq!(ws.recv().unwrap(), None);
        assert_eq!(server.join().unwrap(), 1);
    });
}

#[test]
fn their_client_against_our_server() {
    bounded(30, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = wsock_blocking::accept_with(stream, |request| {
                assert_eq!(request.path(), "/echo");
                assert_eq!(request.protocols(), ["v2", "v1"]);
                Ok(wsock_blocking::Accept::new().protocol("v1"))
            })
            .unwrap();
            ws.send(Message::ping(b"from wsock".to_vec())).unwrap();
            let mut pongs = 0;
            let close = loop {
                match ws.recv().unwrap().expect("a message") {
                    message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).unwrap(),
                    Message::Pong(payload) => {
                        assert_eq!(payload, &b"from wsock"[..]);
                        pongs += 1;
                    }
                    Message::Close(frame) => break frame,
                    Message::Ping(_) => {}
                }
            };
            assert_eq!(ws.recv().unwrap(), None);
            (pongs, close)
        });

        let request =
            tungstenite::client::ClientRequestBuilder::new(format!("{url}echo").parse().unwrap())
                .with_sub_protocol("v2")
                .with_sub_protocol("v1");
        let stream =
            std::net::TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/'))
                .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (mut ws, response) = tungstenite::client(request, stream).unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "v1");

        // Their client answers our ping while reading.
        ws.send(TMessage::text("hello from tungstenite")).unwrap();
        let mut got = Vec::new();
        while got.is_empty() {
            match ws.read().unwrap() {
                TMessage::Text(text) => got.push(text.to_string()),
                TMessage::Ping(_) | TMessage::Pong(_) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, ["hello from tungstenite"]);
        // A large binary message and a fragmented one.
        let big = vec![42u8; 3 << 20];
        ws.send(TMessage::binary(big.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), TMessage::binary(big));
        ws.send(TMessage::Ping(b"ping".to_vec().into())).unwrap();
        assert_eq!(ws.read().unwrap(), TMessage::Pong(b"ping".to_vec().into()));

        ws.close(Some(TCloseFrame {
            code: TCloseCode::Away,
            reason: "leaving".into(),
        }))
        .unwrap();
        loop {
            match ws.read() {
                Ok(TMessage::Close(frame)) => {
                    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1001));
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("tungstenite client: {e}"),
            }
        }
        drop(ws);
        let (pongs, close) = server.join().unwrap();
        assert_eq!(pongs, 1);
        assert_eq!(close, Some(CloseFrame::new(1001, "leaving")));
    });
}

#[test]
fn their_fragmented_messages_stream_into_our_reader() {
    bounded(30, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = wsock_blocking::Acceptor::new()
                .read_buffer_size(1024)
                .accept(stream)
                .unwrap();
            let mut reader = ws.recv_stream().unwrap().expect("a message");
            let mut data = Vec::new();
            reader.read_to_end(&mut data).unwrap();
            drop(reader);
            ws.send(format!("{} bytes", data.len())).unwrap();
            while let Ok(Some(_)) = ws.recv() {}
            data
        });
        let (mut ws, _) = tungstenite::connect(url.as_str()).unwrap();
        // tungstenite fragments nothing itself: send the frames by hand.
        let piece = vec![9u8; 100_000];
        ws.write(TMessage::Frame(Frame::message(
            piece.clone(),
            OpCode::Data(Data::Binary),
            false,
        )))
        .unwrap();
        ws.write(TMessage::Frame(Frame::message(
            piece.clone(),
            OpCode::Data(Data::Continue),
            false,
        )))
        .unwrap();
        ws.write(TMessage::Frame(Frame::message(
            piece.clone(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .unwrap();
        ws.flush().unwrap();
        assert_eq!(ws.read().unwrap(), TMessage::text("300000 bytes"));
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
        drop(ws);
        assert_eq!(server.join().unwrap(), vec![9u8; 300_000]);
    });
}
