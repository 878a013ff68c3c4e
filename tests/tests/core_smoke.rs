//! The core, driven end to end through a handshake and a message exchange.

use wsock_core::handshake::{
    client::ClientHandshake, client::ClientRequest, server::Accept, server::ServerHandshake,
};
use wsock_core::{Config, Connection, Event, HandshakeLimits, Role};

#[test]
fn handshake_then_messages() {
    let request = ClientRequest::new("ws://example.com:8080/chat?room=1")
        .unwrap()
        .protocol("chat")
        .unwrap();
    let mut client_hs =
        ClientHandshake::new(&request, *b"0123456789abcdef", HandshakeLimits::default());
    let mut server_hs = ServerHandshake::new(HandshakeLimits::default());
    let (req, used) = server_hs.feed(client_hs.request_bytes()).unwrap().unwrap();
    assert_eq!(used, client_hs.request_bytes().len());
    assert_eq!(req.path(), "/chat");
    let response = req.accept(&Accept::new().protocol("chat")).unwrap();

    // The server's first frame arrives in the same read as the response.
    let mut server =
        Connection::new(Role::Server, Config::default()).with_protocol(Some("chat".into()));
    server.send_text("welcome").unwrap();
    let mut wire = response.clone();
    server.poll_transmit(&mut wire);

    let (resp, used) = client_hs.feed(&wire).unwrap().unwrap();
    assert_eq!(resp.protocol(), Some("chat"));
    let mut client = Connection::new(Role::Client, Config::default());
    client.feed(&wire[used..]);
    assert_eq!(client.poll_event().unwrap(), Some(Event::Text("welcome")));
}
