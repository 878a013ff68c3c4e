//! Prepared messages over real connections: `send_prepared`, and
//! `WriteHalf::try_queue_prepared`, the batching a fan-out hub does
//! (queue while the write buffer has room, then flush once).

mod common;

use common::LIMIT;
use futures_util::SinkExt;
use tokio::time::timeout;
use wsock_tokio::{Acceptor, Message, PreparedMessage};

const BOUND: usize = 4096;

fn numbered(i: usize) -> Message {
    Message::binary(vec![i as u8; 1000])
}

// `try_queue_prepared` queues without writing while the write buffer is
// under its bound, says `false` (queuing nothing) once it is not, and one
// flush writes the batch; the peer gets every message once, in order.
#[tokio::test]
async fn try_queue_prepared_stops_at_the_bound_and_one_flush_sends_the_batch() {
    timeout(LIMIT, async {
        let (mut client, server) = common::pair_with(
            common::uncompressed,
            common::uncompressed_acceptor(Acceptor::new().write_buffer_size(BOUND)),
        )
        .await;
        let (_rx, mut tx) = server.split();
        let mut queued = 0;
        loop {
            let before = tx.buffered_output();
            let message = PreparedMessage::new(numbered(queued));
            if !tx.try_queue_prepared(&message).unwrap() {
                assert_eq!(tx.buffered_output(), before, "nothing queued");
                assert!(before >= BOUND);
                break;
            }
            assert!(tx.buffered_output() > before);
            queued += 1;
        }
        // The bound plus at most one message (1000 bytes, 4 of header).
        assert_eq!(queued, BOUND.div_ceil(1004));
        // The `Sink`'s flush, as wsock-broadcast's `forward` writes a batch.
        SinkExt::<Message>::flush(&mut tx).await.unwrap();
        assert_eq!(tx.buffered_output(), 0);
        // And the one-call form.
        tx.send_prepared(&PreparedMessage::new(numbered(queued)))
            .await
            .unwrap();
        for i in 0..=queued {
            assert_eq!(client.recv().await.unwrap(), Some(numbered(i)), "{i}");
        }
    })
    .await
    .unwrap();
}
