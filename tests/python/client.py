"""A websockets client for tests/tests/interop_python.rs.

Connects to an echo server at URL, reports what it negotiated, sends text
(ASCII, multilingual, 1 MiB), binary (256 KiB incompressible, 1 MiB
compressible), 1000 small messages and a fragmented message (with
--noise: only one incompressible binary message of the given size),
checks every echo byte for byte, closes with 1000 "bye from python", and
prints the close it got back and a RESULT line.
"""

import asyncio
import random

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

import peer_common as common

SMALL = 1000


async def main(args):
    if common.custom(args):
        options = {
            "compression": None,
            "extensions": [
                ClientPerMessageDeflateFactory(
                    server_no_context_takeover=args.server_no_context_takeover,
                    client_no_context_takeover=args.client_no_context_takeover,
                    server_max_window_bits=args.server_max_window_bits,
                    client_max_window_bits=args.client_max_window_bits or True,
                )
            ],
        }
    else:
        options = {"compression": "deflate"}
    async with connect(
        args.url, max_size=None, max_queue=None, ping_interval=None, **options
    ) as ws:
        header = ws.response.headers.get("Sec-WebSocket-Extensions")
        common.report(common.describe(ws.protocol.extensions, header, is_server=False))
        if args.expect_greeting:
            greeting = await ws.recv()
            if not greeting.startswith("NEGOTIATED"):
                common.fail(f"unexpected greeting {greeting[:100]!r}")
        if args.noise is not None:
            sent = await exchange_noise(ws, args.noise)
        else:
            sent = await exchange_all(ws)

        await ws.close(1000, "bye from python")
        rcvd = ws.protocol.close_rcvd
        code = rcvd.code if rcvd is not None else "none"
        reason = rcvd.reason if rcvd is not None else ""
    common.report(
        f"STATS messages={sent} compressed_in={common.COUNTS['compressed']}"
        f" data_frames_in={common.COUNTS['data_frames']}"
    )
    common.report(f"CLOSED code={code} reason={reason}")
    common.report(f"RESULT ok messages={sent}")


async def exchange_noise(ws, size):
    """One incompressible binary message and its echo."""
    message = random.Random(11).randbytes(size)
    await ws.send(message)
    echo = await ws.recv()
    if echo != message:
        common.fail(f"echo of {size} incompressible bytes differs ({len(echo)} bytes)")
    return 1


async def exchange_all(ws):
    """Every kind of message, each echo checked; returns how many were sent."""
    sent = 0
    for label, message in common.payloads():
        await ws.send(message)
        sent += 1
        echo = await ws.recv()
        if type(echo) is not type(message) or echo != message:
            common.fail(f"echo of {label} differs ({len(echo)} vs {len(message)})")
    # Many small messages, pipelined.
    smalls = common.smalls(SMALL)
    for message in smalls:
        await ws.send(message)
    sent += SMALL
    for i, message in enumerate(smalls):
        echo = await ws.recv()
        if echo != message:
            common.fail(f"echo of small message {i} differs: {echo!r}")
    # A fragmented message: websockets sends an iterable as fragments.
    pieces = [f"fragment {i:03}; " * 300 for i in range(20)]
    await ws.send(pieces)
    sent += 1
    echo = await ws.recv()
    if echo != "".join(pieces):
        common.fail("echo of the fragmented message differs")
    pieces = [bytes([i]) * 5000 for i in range(10)]
    await ws.send(pieces)
    sent += 1
    echo = await ws.recv()
    if echo != b"".join(pieces):
        common.fail("echo of the fragmented binary message differs")
    return sent


if __name__ == "__main__":
    args = common.arguments(__doc__, url=True)
    common.run(main, args)
