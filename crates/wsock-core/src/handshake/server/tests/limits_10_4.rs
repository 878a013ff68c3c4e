//! Header limits (§10.4), answered 431 (RFC 6585 §5), in linear work however bytes arrive.

use super::*;

#[test]
fn rfc6585_5_over_header_bytes_is_431() {
    let mut hs = ServerHandshake::new(&limits(RFC_REQUEST.len() - 1, 64));
    let err = hs.feed(RFC_REQUEST).unwrap_err();
    let size = RFC_REQUEST.len() as u64;
    assert_eq!(
        err,
        CapacityError {
            limit: Limit::HeaderBytes,
            size,
            max: size - 1
        }
        .into()
    );
    assert_eq!(
        status_of(&err),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let mut hs = ServerHandshake::new(&limits(RFC_REQUEST.len(), 64));
    assert!(hs.feed(RFC_REQUEST).unwrap().is_some());
}

#[test]
fn rfc6585_5_over_header_count_is_431() {
    let mut hs = ServerHandshake::new(&limits(8192, 6));
    let err = hs.feed(RFC_REQUEST).unwrap_err();
    assert_eq!(
        err,
        CapacityError {
            limit: Limit::HeaderCount,
            size: 7,
            max: 6
        }
        .into()
    );
    assert_eq!(
        status_of(&err),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert!(
        ServerHandshake::new(&limits(8192, 7))
            .feed(RFC_REQUEST)
            .unwrap()
            .is_some()
    );
}

#[test]
fn dribbled_megabyte_stops_at_the_limit() {
    let mut hs = ServerHandshake::new(&plain());
    let max = HandshakeLimits::default().max_header_bytes;
    let mut fed = 0;
    let err = loop {
        let byte: &[u8] = if fed < 16 {
            &b"GET / HTTP/1.1\r\n"[fed..=fed]
        } else {
            b"a"
        };
        fed += 1;
        match hs.feed(byte) {
            Ok(None) => assert!(fed <= 1 << 20, "never rejected"),
            Ok(Some(_)) => panic!("no header block end was sent"),
            Err(e) => break e,
        }
    };
    assert_eq!(fed, max + 1);
    assert_eq!(
        err,
        CapacityError {
            limit: Limit::HeaderBytes,
            size: fed as u64,
            max: max as u64
        }
        .into()
    );
    assert_eq!(hs.feed(&vec![b'a'; 1 << 20]), Err(err));
    assert_eq!(hs.reader.examined, fed);
}

#[test]
fn one_megabyte_chunk_is_rejected_without_buffering() {
    let mut data = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
    data.resize(1 << 20, b'a');
    let mut hs = ServerHandshake::new(&plain());
    let err = hs.feed(&data).unwrap_err();
    assert!(matches!(err, HandshakeError::Capacity(c) if c.size == 1 << 20));
    assert!(hs.reader.block().is_empty());
}

/// Linear work: each byte is examined exactly once, however it arrives.
#[test]
fn eight_kib_byte_by_byte_examines_each_byte_once() {
    let mut request = edit("Origin: http://example.com", "");
    let pad = format!(
        "X-Pad: {}\r\n\r\n",
        "p".repeat(8 * 1024 - request.len() - 9)
    );
    request.truncate(request.len() - 2);
    request.extend_from_slice(pad.as_bytes());
    assert_eq!(request.len(), 8 * 1024);
    let mut hs = ServerHandshake::new(&limits(8 * 1024, 64));
    let mut result = None;
    for (i, byte) in request.chunks(1).enumerate() {
        if let Some(request) = hs.feed(byte).unwrap() {
            result = Some((i, byte.len() - request.leftover().len()));
        }
    }
    assert_eq!(result, Some((request.len() - 1, 1)));
    assert_eq!(hs.reader.examined, request.len());
}
