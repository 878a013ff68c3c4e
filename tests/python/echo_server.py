"""A websockets echo server for tests/tests/interop_python.rs.

Binds 127.0.0.1 on a free port and prints "PORT <n>"; serves one
connection: reports what it negotiated (on stdout, and as the first
message it sends, a text message starting with "NEGOTIATED"), echoes every
message, prints the close code and reason it received, then exits.
"""

import asyncio

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

import peer_common as common


async def main(args):
    done = asyncio.get_running_loop().create_future()

    async def handler(ws):
        header = ws.response.headers.get("Sec-WebSocket-Extensions")
        negotiated = common.describe(ws.protocol.extensions, header, is_server=True)
        common.report(negotiated)
        messages = 0
        try:
            await ws.send(negotiated)
            async for message in ws:
                messages += 1
                await ws.send(message)
        except ConnectionClosed:
            pass
        rcvd = ws.protocol.close_rcvd
        code = rcvd.code if rcvd is not None else "none"
        reason = rcvd.reason if rcvd is not None else ""
        common.report(
            f"STATS messages={messages} compressed_in={common.COUNTS['compressed']}"
            f" data_frames_in={common.COUNTS['data_frames']}"
        )
        common.report(f"CLOSED code={code} reason={reason}")
        if not done.done():
            done.set_result(None)

    if common.custom(args):
        options = {
            "compression": None,
            "extensions": [
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=args.server_no_context_takeover,
                    client_no_context_takeover=args.client_no_context_takeover,
                    server_max_window_bits=args.server_max_window_bits,
                    client_max_window_bits=args.client_max_window_bits,
                )
            ],
        }
    else:
        options = {"compression": "deflate"}
    async with serve(
        handler,
        "127.0.0.1",
        0,
        max_size=None,
        max_queue=None,
        ping_interval=None,
        **options,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        common.report(f"PORT {port}")
        await done
    common.report("RESULT ok")


if __name__ == "__main__":
    args = common.arguments(__doc__, url=False)
    common.run(main, args)
