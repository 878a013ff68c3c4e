//! What both adapters queue on a connection that the diagnostics report:
//! a close frame is reported in the connection's span as it is queued, so
//! a message, a prepared message, a close and an abandoned connection are
//! queued and reported the same way in either adapter.

use wsock_core::{CloseCode, CloseFrame, Connection, Error, Message, PreparedMessage};

use crate::diag::{self, Span};

/// Queues `message`; a close frame is reported as sent.
pub fn send(conn: &mut Connection, span: &Span, message: Message) -> Result<(), Error> {
    let close = match &message {
        Message::Close(frame) => Some(frame.clone()),
        _ => None,
    };
    conn.send(message)?;
    if let Some(frame) = close {
        diag::close(span, false, frame.as_ref());
    }
    Ok(())
}

/// Queues a prepared message; a close frame is reported as by [`send`].
pub fn send_prepared(
    conn: &mut Connection,
    span: &Span,
    message: &PreparedMessage,
) -> Result<(), Error> {
    match message.kind() {
        None => send(conn, span, message.message().clone()),
        Some(_) => conn.send_prepared(message),
    }
}

/// Starts the closing handshake with `code` and `reason` unless it already
/// started (the core's [`close_if_open`](Connection::close_if_open)); a
/// close frame queued is reported as sent. Returns whether it queued one.
pub fn close(
    conn: &mut Connection,
    span: &Span,
    code: CloseCode,
    reason: &str,
) -> Result<bool, Error> {
    let queued = conn.close_if_open(code, reason)?;
    if queued {
        diag::close(span, false, Some(&CloseFrame::new(code, reason)));
    }
    Ok(queued)
}

/// The application let go of the connection: the core's
/// [`abandon`](Connection::abandon), with the close frame (1001) it queues,
/// if it does, reported as sent.
pub fn abandon(conn: &mut Connection, span: &Span) {
    if conn.abandon() {
        let frame = CloseFrame::new(CloseCode::GOING_AWAY, "");
        diag::close(span, false, Some(&frame));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsock_core::{Config, Role, State};

    #[test]
    fn closes_are_queued_once_and_abandon_queues_1001() {
        let span = diag::connection_span(Role::Server);
        let mut conn = Connection::new(Role::Server, Config::default());
        send(&mut conn, &span, Message::text("hi")).unwrap();
        assert!(close(&mut conn, &span, CloseCode::NORMAL, "bye").unwrap());
        assert_eq!(conn.state(), State::CloseSent);
        assert!(!close(&mut conn, &span, CloseCode::NORMAL, "again").unwrap());
        assert!(send(&mut conn, &span, Message::Close(None)).is_err());

        let mut conn = Connection::new(Role::Server, Config::default());
        abandon(&mut conn, &span);
        assert_eq!(conn.state(), State::CloseSent);
        let mut out = Vec::new();
        wsock_core::__internals::transmit_all(&mut conn, &mut out);
        assert_eq!(out, [0x88, 0x02, 0x03, 0xe9]);
    }
}
