//! The core, driven end to end through a handshake and a message exchange.

use wsock_core::handshake::{
    client::ClientHandshake, client::ClientRequest, server::Accept, server::ServerHandshake,
};
use wsock_core::{Config, Event, Message};

#[test]
fn handshake_then_messages() {
    let request = ClientRequest::new("ws://example.com:8080/chat?room=1")
        .unwrap()
        .protocol("chat")
        .unwrap();
    let mut client_hs =
        ClientHandshake::with_key(&request, *b"0123456789abcdef", &Config::default());
    let mut server_hs = ServerHandshake::new(&Config::default());
    let req = server_hs.feed(client_hs.request_bytes()).unwrap().unwrap();
    assert_eq!(req.leftover(), b"");
    assert_eq!(req.path(), "/chat");
    let accepted = req.accept(Accept::new().protocol("chat")).unwrap();

    // The server's first frame arrives in the same read as the response.
    let mut server = accepted.connection;
    assert_eq!(server.protocol(), Some("chat"));
    server.send("welcome").unwrap();
    let mut wire = accepted.response_bytes.clone();
    wsock_core::__internals::transmit_all(&mut server, &mut wire);

    let connected = client_hs.feed(&wire).unwrap().unwrap();
    assert_eq!(connected.response.protocol(), Some("chat"));
    // The frame behind the response is already in the client's connection.
    let mut client = connected.connection;
    assert_eq!(client.protocol(), Some("chat"));
    assert_eq!(
        client.poll_event().unwrap(),
        Some(Event::Message(Message::text("welcome")))
    );
}
