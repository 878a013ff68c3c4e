//! Arbitrary bytes as a client's opening handshake, fed to
//! `ServerHandshake::feed` in arbitrary chunks under varying limits.
//!
//! Input: `[limits][n][n chunk lengths][request bytes…]`.
//!
//! Checks: no panic; chunking never changes the outcome (compared with one
//! whole feed); an accepted request fits the limits (header bytes and
//! count), was really complete, and its `101` response parses back with
//! the right `Sec-WebSocket-Accept` and hands over a connection holding
//! what followed the request; an extension the core lacks is never
//! accepted; a rejection has an HTTP status and
//! `rejection_response()` is a complete, well-formed HTTP/1.1 response
//! (parsed back with httparse: that status, `Content-Length` matching the
//! body, `Connection: close`) that never echoes request bytes; after an
//! error every later feed returns it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_core::handshake::accept_key;
use wsock_core::handshake::server::{Accept, Request, ServerHandshake};
use wsock_core::{Config, DeflateConfig, HandshakeError, HandshakeLimits, Limit};
use wsock_fuzz::{chunks, same_size, take_lens};

fn limits(b: u8) -> HandshakeLimits {
    let mut limits = HandshakeLimits::default();
    limits.max_header_bytes = [8 * 1024, 600, 200, 64][b as usize & 3];
    limits.max_headers = [64, 12, 4, 0][(b as usize >> 2) & 3];
    limits
}

/// A server config with `limits` that negotiates no extension, so the
/// response holds only what the target asks for.
fn config(limits: HandshakeLimits) -> Config {
    let mut config = Config::default();
    config.handshake = limits;
    config.deflate = DeflateConfig::disabled();
    config
}

/// What chunking must not change: the request, not the bytes behind it.
fn parts(r: &Request) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        r.method(),
        r.target(),
        r.headers(),
        r.key(),
        r.protocols(),
        r.extensions(),
    )
}

/// The `101` for `accept`, or the error it was refused with.
fn respond(request: &Request, accept: Accept) -> Result<Vec<u8>, HandshakeError> {
    match request.clone().accept(accept) {
        Ok(accepted) => Ok(accepted.response_bytes),
        Err(rejected) => Err(rejected.error),
    }
}

type Outcome = Result<Option<(Request, usize)>, HandshakeError>;

/// Feeds the pieces; returns the outcome and the bytes consumed in total.
fn feed(hs: &mut ServerHandshake, pieces: &[&[u8]]) -> (Outcome, usize) {
    let mut total = 0;
    for piece in pieces {
        match hs.feed(piece) {
            Ok(None) => total += piece.len(),
            Ok(Some(request)) => {
                assert!(
                    request.leftover().len() <= piece.len(),
                    "left {} of a {}-byte piece",
                    request.leftover().len(),
                    piece.len()
                );
                let n = piece.len() - request.leftover().len();
                assert_eq!(
                    request.leftover(),
                    &piece[n..],
                    "leftover is not the piece's tail"
                );
                return (Ok(Some((request, n))), total + n);
            }
            Err(e) => return (Err(e), total),
        }
    }
    (Ok(None), total)
}

fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn check_accepted(request: &Request, used: usize, limits: HandshakeLimits, input: &[u8]) {
    assert!(
        used <= limits.max_header_bytes,
        "accepted {used} header bytes over the limit"
    );
    assert!(
        request.headers().len() <= limits.max_headers,
        "accepted too many headers"
    );
    assert_eq!(request.method(), "GET");
    // What was consumed is a complete request by httparse's reading too.
    let mut slots = vec![httparse::EMPTY_HEADER; request.headers().len()];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(&input[..used]) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, used),
        other => panic!("accepted bytes that httparse reads as {other:?}"),
    }
    let accepted = request
        .clone()
        .accept(Accept::new())
        .expect("plain accept failed");
    assert_eq!(accepted.request.leftover(), b"", "leftover not handed over");
    let response = accepted.response_bytes;
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(&response) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, response.len()),
        other => panic!("101 response does not parse: {other:?}"),
    }
    assert_eq!(parsed.code, Some(101));
    let accept = header(parsed.headers, "Sec-WebSocket-Accept").expect("no accept header");
    let key = request.key().expect("an HTTP/1.1 request has a key");
    assert_eq!(accept, accept_key(key.as_bytes()).as_bytes());
    // Accepting an offered extension by hand is refused: the core applies
    // only what its Config negotiates, so a 101 never names one it lacks.
    if let Some(ext) = request.extensions().first() {
        match respond(request, Accept::new().extension(ext.clone())) {
            Ok(_) => panic!("accepted extension {ext:?} the core does not apply"),
            Err(HandshakeError::UnsupportedExtension(_) | HandshakeError::InvalidHeader { .. }) => {
            }
            Err(e) => panic!("accepting an offered extension failed with {e:?}"),
        }
    }
    // Choosing an offered subprotocol works, an unoffered one fails.
    if let Some(p) = request.protocols().first() {
        assert!(respond(request, Accept::new().protocol(p.clone())).is_ok());
    }
    let unoffered = "x-not-offered-protocol";
    if !request.protocols().iter().any(|p| p == unoffered) {
        assert!(respond(request, Accept::new().protocol(unoffered)).is_err());
    }
}

fn check_rejected(err: &HandshakeError, input: &[u8]) {
    let status = err
        .http_status()
        .unwrap_or_else(|| panic!("server error without status: {err:?}"));
    let response = err.rejection_response().expect("no rejection response");
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut slots);
    let head = match parsed.parse(&response) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "rejection does not parse: {other:?}\n{}",
            String::from_utf8_lossy(&response)
        ),
    };
    assert_eq!(parsed.version, Some(1));
    assert_eq!(parsed.code, Some(status));
    let length = header(parsed.headers, "Content-Length").expect("no Content-Length");
    let length: usize = std::str::from_utf8(length).unwrap().parse().unwrap();
    assert_eq!(
        length,
        response.len() - head,
        "Content-Length does not match the body"
    );
    let connection = header(parsed.headers, "Connection").expect("no Connection header");
    assert!(connection.ends_with(b"close"));
    if status == 426 {
        assert_eq!(
            header(parsed.headers, "Sec-WebSocket-Version"),
            Some(&b"13"[..])
        );
    }
    if status == 431 {
        assert!(
            matches!(err, HandshakeError::Capacity(c) if matches!(c.limit, Limit::HeaderBytes | Limit::HeaderCount))
        );
    }
    // The body never echoes the request (no reflected content): no run of
    // 12 letters and digits in the body is copied from the request.
    let body = &response[head..];
    for w in body
        .windows(12)
        .filter(|w| w.iter().all(u8::is_ascii_alphanumeric))
    {
        assert!(
            !input.windows(12).any(|i| i == w),
            "rejection echoes request bytes"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&lim, rest)) = data.split_first() else {
        return;
    };
    let (lens, input) = take_lens(rest);
    let limits = limits(lim);
    let pieces = chunks(input, lens, 1);

    let mut hs = ServerHandshake::new(&config(limits));
    let (chunked, used) = feed(&mut hs, &pieces);
    let (whole, whole_used) = feed(&mut ServerHandshake::new(&config(limits)), &[input]);
    match (&chunked, &whole) {
        (Ok(Some((a, _))), Ok(Some((b, _)))) => {
            assert_eq!(parts(a), parts(b), "chunking changed the request");
            assert_eq!(used, whole_used, "chunking changed the request's length");
        }
        (Err(a), Err(b)) => assert_eq!(same_size(a), same_size(b), "chunking changed the error"),
        (Ok(None), Ok(None)) => {}
        // An error can only show up once the block is complete or too long:
        // compare outcomes only when both had all the input.
        (a, b) => panic!("chunked {a:?} vs whole {b:?}"),
    }
    match chunked {
        Ok(Some((request, _))) => {
            check_accepted(&request, used, limits, input);
            assert!(
                hs.feed(b"GET").is_err(),
                "a finished handshake accepted more"
            );
        }
        Ok(None) => {
            assert!(
                input.len() <= limits.max_header_bytes,
                "{} bytes pending over the limit",
                input.len()
            );
        }
        Err(err) => {
            check_rejected(&err, input);
            assert_eq!(
                hs.feed(b"\r\n\r\n").unwrap_err(),
                err,
                "a failed handshake changed its error"
            );
        }
    }
});
