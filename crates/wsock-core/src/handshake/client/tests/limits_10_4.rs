//! Header limits (§10.4) on the server's response.

use super::*;

#[test]
fn header_limits_apply_to_responses() {
    let bytes = crlf(RFC_RESPONSE);
    let limits = HandshakeLimits {
        max_header_bytes: 64,
        ..Default::default()
    };
    let request = ClientRequest::new("ws://h/").unwrap();
    let err = ClientHandshake::with_key(&request, NONCE, &limited(limits))
        .read_response(&bytes)
        .unwrap_err();
    assert!(matches!(
        err,
        HandshakeError::Capacity(CapacityError {
            limit: Limit::HeaderBytes,
            max: 64,
            ..
        })
    ));
    let limits = HandshakeLimits {
        max_headers: 3,
        ..Default::default()
    };
    let err = ClientHandshake::with_key(&request, NONCE, &limited(limits))
        .read_response(&bytes)
        .unwrap_err();
    assert_eq!(
        err,
        CapacityError {
            limit: Limit::HeaderCount,
            size: 4,
            max: 3
        }
        .into()
    );
}
