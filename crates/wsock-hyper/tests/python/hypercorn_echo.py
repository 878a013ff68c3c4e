"""An ASGI WebSocket echo app served by hypercorn, for the HTTP/2 (RFC 8441)
interop tests of wsock-tokio's client (tests/rfc8441_hypercorn.rs).

Usage: hypercorn_echo.py [CERTFILE KEYFILE]

Listens on a free loopback port and prints `port N` once it is bound; with a
certificate, TLS with ALPN h2 and http/1.1 (hypercorn's default), else
cleartext HTTP/1.1 and h2c with prior knowledge. hypercorn announces
SETTINGS_ENABLE_CONNECT_PROTOCOL and negotiates permessage-deflate itself
(with wsproto).

Each WebSocket chooses the subprotocol `chat` when offered, first sends
`http/<version> <path> <subprotocol or ->`, then echoes every text and
binary message until the client closes.
"""

import asyncio
import socket
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not here\n"})
        return
    await receive()  # websocket.connect
    chosen = "chat" if "chat" in scope.get("subprotocols", []) else None
    await send({"type": "websocket.accept", "subprotocol": chosen})
    hello = f"http/{scope['http_version']} {scope['path']} {chosen or '-'}"
    await send({"type": "websocket.send", "text": hello})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        elif message.get("bytes") is not None:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    if len(sys.argv) >= 3:
        config.certfile, config.keyfile = sys.argv[1], sys.argv[2]
    config.loglevel = "WARNING"
    print(f"port {sock.getsockname()[1]}", flush=True)
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
