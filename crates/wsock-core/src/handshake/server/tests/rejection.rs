//! Refusals: the responses `reject_response` writes and the bodies request errors get.

use super::*;

#[test]
fn reject_response_is_well_formed() {
    let response = reject_response(403, &[("X-Reason", "origin")], b"forbidden");
    assert_eq!(
        response,
        b"HTTP/1.1 403 Forbidden\r\nX-Reason: origin\r\nContent-Type: text/plain; charset=utf-8\r\n\
          Content-Length: 9\r\nConnection: close\r\n\r\nforbidden"
    );
    let response = reject_response(
        404,
        &[
            ("content-type", "application/json"),
            ("Content-Length", "0"),
            ("X-Evil", "a\r\nb"),
            ("Bad Name", "x"),
        ],
        b"{}",
    );
    assert_eq!(
        response,
        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    );
    assert_eq!(
        reject_response(101, &[], b""),
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert!(reject_response(499, &[], b"").starts_with(b"HTTP/1.1 499 Client Error\r\n"));
}

#[test]
fn rejection_bodies_do_not_echo_request_bytes() {
    let err = invalid("Origin", b"<script>");
    let response = err.rejection_response().unwrap();
    assert!(response.ends_with(b"\r\n\r\ninvalid Origin header\n"));
    assert!(
        HandshakeError::AcceptMismatch {
            expected: String::new(),
            got: String::new()
        }
        .rejection_response()
        .is_none()
    );
    let app = HandshakeError::RejectedByApplication(401)
        .rejection_response()
        .unwrap();
    assert!(app.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"));
    assert_eq!(
        err.to_string(),
        "invalid value for header Origin: \"<script>\""
    );
}
