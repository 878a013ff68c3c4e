//! Arbitrary bytes as the server's answer to a fixed client handshake
//! (`ws://example.com/chat`, subprotocols `chat` and `superchat`,
//! permessage-deflate offered), fed to `ClientHandshake::feed` in
//! arbitrary chunks.
//!
//! Input: `[limits][n][n chunk lengths][response bytes…]`. The fixed key is
//! `b"0123456789abcdef"`, so a valid answer carries
//! `Sec-WebSocket-Accept: BACScCJPNqyz+UBoqMH89VmURoA=`.
//!
//! Checks: no panic; chunking never changes the outcome (a rejection's
//! body prefix may be shorter when it arrived in a later piece); an
//! accepted response fits the header limit, is 101, picked an offered
//! subprotocol and only offered extensions, and `feed` hands over a
//! connection with that subprotocol; after an error every later feed
//! returns it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_core::handshake::ExtensionOffer;
use wsock_core::handshake::client::{ClientHandshake, ClientRequest, Response};
use wsock_core::{Config, DeflateConfig, HandshakeError, HandshakeLimits};
use wsock_fuzz::{chunks, same_size, take_lens};

const KEY: [u8; 16] = *b"0123456789abcdef";

fn handshake(limits: HandshakeLimits) -> ClientHandshake {
    let request = ClientRequest::new("ws://example.com/chat")
        .and_then(|r| r.protocol("chat"))
        .and_then(|r| r.protocol("superchat"))
        .and_then(|r| {
            r.extension(
                ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None),
            )
        })
        .expect("fixed request");
    // The core's own offers off: the request offers only what it names.
    let mut config = Config::default();
    config.handshake = limits;
    config.deflate = DeflateConfig::disabled();
    ClientHandshake::with_key(&request, KEY, &config).with_mask_source(|| [1, 2, 3, 4])
}

type Outcome = Result<Option<(Response, usize)>, HandshakeError>;

fn feed(hs: &mut ClientHandshake, pieces: &[&[u8]]) -> (Outcome, usize) {
    let mut total = 0;
    for piece in pieces {
        match hs.read_response(piece) {
            Ok(None) => total += piece.len(),
            Ok(Some((response, n))) => {
                assert!(n <= piece.len());
                return (Ok(Some((response, n))), total + n);
            }
            Err(e) => return (Err(e), total),
        }
    }
    (Ok(None), total)
}

fuzz_target!(|data: &[u8]| {
    let Some((&lim, rest)) = data.split_first() else {
        return;
    };
    let (lens, input) = take_lens(rest);
    let mut limits = HandshakeLimits::default();
    limits.max_header_bytes = [8 * 1024, 300, 100][lim as usize % 3];
    limits.max_headers = [64, 6, 1][(lim as usize / 3) % 3];
    let pieces = chunks(input, lens, 1);

    let mut hs = handshake(limits);
    let (chunked, used) = feed(&mut hs, &pieces);
    let (whole, whole_used) = feed(&mut handshake(limits), &[input]);
    match (&chunked, &whole) {
        (Ok(Some((a, _))), Ok(Some((b, _)))) => {
            assert_eq!(a, b);
            assert_eq!(used, whole_used);
            // feed hands over the connection for the same response.
            let connected = handshake(limits)
                .feed(input)
                .expect("read_response accepted");
            let connected = connected.expect("whole response");
            assert_eq!(&connected.response, b);
            assert_eq!(connected.connection.protocol(), b.protocol());
        }
        (
            Err(HandshakeError::Rejected {
                status: s1,
                headers: h1,
                body_prefix: b1,
            }),
            Err(HandshakeError::Rejected {
                status: s2,
                headers: h2,
                body_prefix: b2,
            }),
        ) => {
            assert_eq!((s1, h1), (s2, h2));
            assert!(b2.starts_with(b1), "body prefix differs by chunking");
            assert!(b2.len() <= 1024);
        }
        (Err(a), Err(b)) => assert_eq!(same_size(a), same_size(b), "chunking changed the error"),
        (Ok(None), Ok(None)) => {}
        (a, b) => panic!("chunked {a:?} vs whole {b:?}"),
    }
    match chunked {
        Ok(Some((response, _))) => {
            assert!(used <= limits.max_header_bytes);
            assert!(response.headers().len() <= limits.max_headers);
            assert_eq!(response.status(), 101);
            if let Some(p) = response.protocol() {
                assert!(p == "chat" || p == "superchat", "unoffered subprotocol {p}");
            }
            for e in response.extensions() {
                assert!(
                    e.name.eq_ignore_ascii_case("permessage-deflate"),
                    "unoffered extension {e:?}"
                );
            }
            assert!(
                hs.feed(b"HTTP/1.1 101 ").is_err(),
                "a finished handshake accepted more"
            );
        }
        Ok(None) => assert!(input.len() <= limits.max_header_bytes),
        Err(err) => {
            let _ = err.to_string();
            assert_eq!(
                hs.feed(b"\r\n\r\n").unwrap_err(),
                err,
                "a failed handshake changed its error"
            );
        }
    }
});
