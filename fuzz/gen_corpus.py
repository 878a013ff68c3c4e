#!/usr/bin/env python3
"""Writes the checked-in seed corpora under fuzz/corpus/<target>/.

Run from anywhere: `python3 fuzz/gen_corpus.py`. Deterministic; rerun after
changing a target's input layout (documented at the top of each target).
Files are named after what they hold, so `git diff` shows what changed.
"""

import base64
import hashlib
import os
import shutil
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # the RFC 6455 §5.7 mask key


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(b0, payload, mask=KEY):
    """One frame with first byte b0, shortest length form, optional mask."""
    n = len(payload)
    m = 0x80 if mask else 0
    if n <= 125:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + payload
    return head + payload


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


MULTILINGUAL = "κόσμε 世界 🌍 Hello-µ@ßöäüàá-UTF-8!!".encode()

# ----------------------------------------------------------------- frames

# RFC 6455 §5.7, byte for byte.
RFC_FRAMES = {
    "rfc-unmasked-hello": bytes.fromhex("810548656c6c6f"),
    "rfc-masked-hello": bytes.fromhex("818537fa213d7f9f4d5158"),
    "rfc-fragmented-hello": bytes.fromhex("010348656c") + bytes.fromhex("80026c6f"),
    "rfc-ping-then-masked-pong": bytes.fromhex("890548656c6c6f")
    + bytes.fromhex("8a8537fa213d7f9f4d5158"),
    "rfc-256-byte-binary": bytes.fromhex("827e0100") + bytes(256),
    # The 64 KiB example's header, payload cut short (the targets' limits
    # reject it anyway; the header path is what matters).
    "rfc-64k-binary-header": bytes.fromhex("827f0000000000010000") + bytes(16),
}


def client_stream(unmasked=False):
    """Every kind of frame, as a client (masked) or a server sends them."""
    mask = None if unmasked else KEY
    f = lambda b0, p: frame(b0, p, mask)
    return {
        "text": f(0x81, b"Hello, world"),
        "text-multilingual": f(0x81, MULTILINGUAL),
        "text-empty": f(0x81, b""),
        "binary": f(0x82, bytes(range(40))),
        "binary-200-16bit-length": f(0x82, bytes(range(200))),
        "fragmented-text-split-codepoint": f(0x01, "日本".encode()[:4])
        + f(0x00, "日本".encode()[4:])
        + f(0x80, b"!"),
        "fragmented-binary-with-ping": f(0x02, b"abc") + f(0x89, b"p") + f(0x80, b"def"),
        "ping": f(0x89, b"are you there"),
        "ping-empty": f(0x89, b""),
        "ping-125": f(0x89, bytes(125)),
        "pong": f(0x8A, b"yes"),
        "close-normal-reason": f(0x88, close_payload(1000, b"bye")),
        "close-empty": f(0x88, b""),
        "close-4999": f(0x88, close_payload(4999)),
        "messages-then-close": f(0x81, b"one") + f(0x82, b"two") + f(0x88, close_payload(1001)),
        # Violations, each answered with a close code.
        "bad-rsv1": f(0xC1, b"x"),
        "bad-opcode-3": f(0x83, b"x"),
        "bad-fragmented-ping": f(0x09, b"x"),
        "bad-control-126": f(0x89, bytes(126)),
        "bad-utf8": f(0x81, b"ok\xc0\xaf"),
        "bad-utf8-surrogate": f(0x81, b"\xed\xa0\x80"),
        "bad-close-1005": f(0x88, close_payload(1005)),
        "bad-close-one-byte": f(0x88, b"\x03"),
        "bad-close-reason-utf8": f(0x88, close_payload(1000, b"\xff")),
        "bad-continuation-first": f(0x80, b"x"),
        "bad-text-inside-fragmented": f(0x01, b"a") + f(0x81, b"b"),
        "bad-64bit-top-bit": bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]) + KEY,
        "over-frame-limit": f(0x82, bytes(1100)),
    }


def frame_decoder():
    streams = dict(RFC_FRAMES)
    for name, data in client_stream().items():
        streams["masked-" + name] = data
    for name, data in client_stream(unmasked=True).items():
        if not name.startswith("bad-"):
            streams["unmasked-" + name] = data
    # [flags][n][lens][stream]; flags: 1 stream, 2 input_buffer, 4 toggle
    # mode, 8 no auto-pong, 16 no writes, 32 x16 chunks, 64 small read
    # buffer, 128 end of stream.
    variants = {
        "whole": (0x00, b""),
        "stream-bytewise": (0x01, b"\x01"),
        "inputbuf-3": (0x02, b"\x03"),
        "toggle-2-5": (0x04, b"\x02\x05"),
        "eof-stream": (0x81, b"\x07"),
    }
    for name, data in streams.items():
        for vname, (flags, lens) in variants.items():
            write("frame_decoder", f"{name}.{vname}", bytes([flags, len(lens)]) + lens + data)
    # Found by fuzzing: a pong held back by a full output
    # (regressions::poll_transmit_includes_the_held_back_pong), and a code
    # point cut between frames across a stream-mode switch
    # (regressions::stream_switch_keeps_a_code_point_cut_between_frames).
    write("frame_decoder", "regression-held-back-pong", bytes.fromhex(
        "37e28989898989898989898989898989898989898989898989de658afa6f89c9"
        "8989028337fa213d5b98898989898989898989898989de658a42898a8a8a8989"
        "89898989898989898989898989898989de658afa6f89898989898989898989de"
        "658a42898a8a8a898989898989898989898989898989898989de658afa6f89c9"
        "898989778989898989278989898989898989898989898989898989898989de65"
        "8afa6f898989898989898989898989898989898989898d898989898989898989"
        "898989de658a41fa6f8989898989898989898989898989898925898989898989"
        "898989898989776d8989898989898989898989898989898989898989898989de"
        "658afa6f89c98989028337fa213d5b98898989898989898989898989de658a42"
        "898a8a8a898989898989898989898989898989898989de658afa6f8989898989"
        "8989898989de658a42898a8a8a898989898989898989898989898989898989de"
        "658afa6f89c98989897789898989892789898989898989898989898989898989"
        "89898989de658afa6f898989898989898989898989898989898989898d898989"
        "898989898989898989de658a41fa6f8989898989898989898989898989898925"
        "898989898989898989898989898989898989898989898989de658afa6f898989"
        "8989890000000000000000000000000000000089898989898989898925898989"
        "8989020205874f"))
    write("frame_decoder", "stream-switch-cut-code-point", bytes.fromhex("040209050104e697a5e600029cac800121"))


# ------------------------------------------------------ connection_events

def u16(n):
    return struct.pack("<H", n)


def connection_events():
    peer_text = lambda t: b"\x00" + bytes([len(t)]) + t
    peer_binary = lambda b: b"\x01" + bytes([len(b)]) + b
    peer_fragment = lambda text, last, b: b"\x02" + bytes([(1 if text else 0) | (2 if last else 0), len(b)]) + b
    peer_ping = lambda p: b"\x03" + bytes([len(p)]) + p
    peer_close = lambda sel, r: b"\x04" + bytes([sel, len(r)]) + r
    deliver = lambda n=0xFFFF: b"\x05" + u16(n)
    garbage = lambda g: b"\x06" + bytes([len(g)]) + g
    app_text = lambda t: b"\x07" + bytes([len(t)]) + t
    app_binary = lambda b: b"\x08" + bytes([len(b)]) + b
    app_fragment = lambda text, last, b: b"\x09" + bytes([(1 if text else 0) | (2 if last else 0), len(b)]) + b
    app_ping = lambda p: b"\x0a" + bytes([len(p)]) + p
    app_pong = lambda p: b"\x0b" + bytes([len(p)]) + p
    app_close = lambda sel, r: b"\x0c" + bytes([sel, len(r)]) + r
    time = lambda units: b"\x0d" + u16(units)  # 4 ms per unit
    write_out = lambda n=0xFFFF: b"\x0e" + u16(n)
    mode = lambda stream: b"\x0f" + bytes([1 if stream else 0])
    eof = b"\x10"

    echo = peer_text(b"hello") + deliver() + app_text(b"hello back") + write_out()
    scripts = {
        "echo": echo,
        "echo-then-we-close": echo + app_close(0, b"done") + write_out() + deliver(),
        "peer-closes": echo + peer_close(1, b"going away") + deliver() + write_out(),
        "both-close-at-once": app_close(0, b"") + peer_close(0, b"") + deliver() + write_out() + deliver(),
        "ping-pong": peer_ping(b"hi") + deliver() + write_out() + app_ping(b"yo") + write_out() + deliver(),
        "fragments-both-ways": peer_fragment(True, False, b"ab") + peer_ping(b"") + peer_fragment(True, True, b"cd")
        + deliver(3) + deliver() + app_fragment(False, False, b"12") + app_ping(b"") + app_fragment(False, True, b"34")
        + write_out(5) + write_out(),
        "stream-mode": mode(True) + peer_binary(bytes(100)) + deliver(30) + deliver() + mode(False) + peer_binary(b"x") + deliver(),
        "garbage": echo + garbage(b"\xff\xff\xff") + write_out(),
        "keepalive-timeout": time(10) + time(200) + time(200) + time(200) + write_out(),
        "close-timeout": app_close(6, b"") + write_out() + time(100) + time(200) + time(200),
        "eof-midway": peer_text(b"abc") + deliver(4) + eof,
        "eof-after-close": app_close(0, b"") + write_out() + deliver() + eof,
        "send-after-close": app_close(0, b"x") + app_text(b"late") + app_ping(b"") + write_out(),
        "big-message": peer_binary(b"\xab" * 10) + b"\x01\xff" + deliver() + deliver(),
        "invalid-close-code": app_close(3, b"") + app_close(200, b"") + write_out(),
    }
    # [flags][fragment][steps]: flags 1 client, 2 no auto-pong, 4 keepalive,
    # 8 no close timeout, 16 small write buffer, 32 fragment_size, 64 tiny
    # read buffer, 128 stream mode. fragment&3: 1 read_buffer + commit_read,
    # 3 read_space, else feed.
    configs = {"server": (0x04, 0), "client": (0x05, 1), "client-frag3": (0x25, 3), "server-tiny": (0xD0, 2)}
    for name, steps in scripts.items():
        for cname, (flags, frag) in configs.items():
            write("connection_events", f"{name}.{cname}", bytes([flags, frag]) + steps)
    # Found by fuzzing. skip-between-frames: a message skipped between two of
    # its frames (receive_modes::skip_between_frames_stays_skipped_in_message_mode). fails-as-text-lands:
    # invalid text in a gathered fragment, fed (or read into read_space)
    # straight into the message, fails the connection before poll_event
    # reports it; the harness must still expect the 1007 close.
    regressions = {
        "regress-skip-between-frames-a": "040002010005ffff09fa0231320a000902023334" + "86" * 63
        + "620300020302636405030005ff9f9f090002000000080effff3f",
        "regress-skip-between-frames-b": "000201026102010261620300020302639c05036102010261620300020302639c0503"
        "0005ffff09000231320a000005ffff09000231320a00020902332505010d0a000dc8ffffffffff340e",
        "regress-feed-fails-as-text-lands": "040002010261d1070002030263640503000500006c21006f00",
        "regress-read-space-fails-as-text-lands": "040302010261d1070002030263640503000500006c21006f00",
    }
    for name, data in regressions.items():
        write("connection_events", name, bytes.fromhex(data))


# -------------------------------------------------------------- roundtrip

def roundtrip():
    text = lambda t: b"\x00" + bytes([len(t)]) + t
    binary = lambda b: b"\x01" + bytes([len(b)]) + b
    def fragmented(is_text, ping_between, whole, cuts):
        op = 0x02 | (0x80 if is_text else 0) | (0x40 if ping_between else 0)
        return bytes([op, len(whole)]) + whole + bytes([len(cuts)]) + cuts
    ping = lambda p: b"\x03" + bytes([len(p)]) + p
    pong = lambda p: b"\x04" + bytes([len(p)]) + p
    # n & 3 != 3: 126 + (n >> 2) % 2048 bytes; else 65536 + (n >> 2) % 1024.
    long = lambda n, seed: b"\x05" + u16(n) + bytes([seed])

    messages = {
        "text": text(b"Hello"),
        "multilingual": text(MULTILINGUAL[:200]),
        "binary": binary(bytes(range(256))[:255]),
        "fragmented-text-split-codepoints": fragmented(True, True, MULTILINGUAL[:60], b"\x01\x02\x03\x05\x07"),
        "fragmented-binary": fragmented(False, False, bytes(range(50)), b"\x10\x10"),
        "control": ping(b"ping!") + pong(b"") + ping(bytes(125)),
        "long-16bit": long(4 * 74, 3),  # 126 + 74 = 200 bytes
        "long-64bit": long(3, 7),  # 65536 bytes
        "mixed": text(b"a") + binary(b"") + ping(b"") + fragmented(False, True, b"xyz", b"\x01") + text(b""),
    }
    # [flags][fragment][n][lens][messages]; flags 1 client sends, 2 stream,
    # 4 fragment_size, 8 input_buffer, 16 x64 chunks, 32 no close.
    variants = {
        "server-whole": (0x00, 0, b""),
        "client-stream-bytewise": (0x03, 0, b"\x01"),
        "client-frag7-inputbuf": (0x0D, 7, b"\x05\x40"),
        "server-stream-x64": (0x12, 0, b"\x03"),
    }
    for name, msgs in messages.items():
        for vname, (flags, frag, lens) in variants.items():
            write("roundtrip", f"{name}.{vname}", bytes([flags, frag, len(lens)]) + lens + msgs)


# ------------------------------------------------------------- handshakes

RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)

# As Chrome 131 sends it (captured from a local echo server).
CHROME = (
    b"GET /socket?room=7 HTTP/1.1\r\n"
    b"Host: localhost:9001\r\n"
    b"Connection: Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: http://localhost:8080\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
)

# As Firefox 133 sends it: `Connection: keep-alive, Upgrade`.
FIREFOX = (
    b"GET /ws HTTP/1.1\r\n"
    b"Host: example.org\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n"
    b"Accept: */*\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Origin: https://example.org\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
    b"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
    b"Connection: keep-alive, Upgrade\r\n"
    b"Sec-Fetch-Dest: empty\r\n"
    b"Sec-Fetch-Mode: websocket\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Upgrade: websocket\r\n\r\n"
)


def handshake_server():
    requests = {
        "rfc": RFC_REQUEST,
        "chrome": CHROME,
        "firefox": FIREFOX,
        "chrome-with-frame-after": CHROME + frame(0x81, b"hi"),
        "absolute-target": RFC_REQUEST.replace(b"GET /chat", b"GET ws://server.example.com/chat?x=1"),
        "bare-lf": RFC_REQUEST.replace(b"\r\n", b"\n"),
        "bad-post": RFC_REQUEST.replace(b"GET", b"POST"),
        "bad-http10": RFC_REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0"),
        "bad-version-8": RFC_REQUEST.replace(b"Version: 13", b"Version: 8"),
        "bad-no-key": RFC_REQUEST.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""),
        "bad-short-key": RFC_REQUEST.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"c2hvcnQ="),
        "bad-two-hosts": RFC_REQUEST.replace(b"Host:", b"Host: a\r\nHost:"),
        "bad-extension-syntax": RFC_REQUEST.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: a; b=\"\r\n\r\n"),
        "bad-duplicate-protocol": RFC_REQUEST.replace(b"chat, superchat", b"chat, chat"),
        "partial": CHROME[:100],
    }
    # [limits][n][lens][request]; limits&3: header bytes 8K/600/200/64,
    # (limits>>2)&3: headers 64/12/4/0.
    variants = {"default-whole": (0x00, b""), "default-bytewise": (0x00, b"\x01"),
                "600b-12h-chunks": (0x05, b"\x11\x40\x03"), "200b-4h": (0x0A, b"")}
    for name, req in requests.items():
        for vname, (lim, lens) in variants.items():
            write("handshake_server", f"{name}.{vname}", bytes([lim, len(lens)]) + lens + req)


def handshake_client():
    key = base64.b64encode(b"0123456789abcdef")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    ok = (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n"
    )
    responses = {
        "typical": ok + b"\r\n",
        "typical-with-frame-after": ok + b"\r\n" + frame(0x81, b"hi", None),
        "protocol-chat": ok + b"Sec-WebSocket-Protocol: chat\r\n\r\n",
        "deflate": ok + b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15; server_no_context_takeover\r\n\r\n",
        "nginx-style": b"HTTP/1.1 101 Switching Protocols\r\nServer: nginx/1.25.3\r\nDate: Thu, 01 Jan 2025 00:00:00 GMT\r\n"
        b"Connection: upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n",
        "bad-accept": ok.replace(accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") + b"\r\n",
        "bad-unoffered-protocol": ok + b"Sec-WebSocket-Protocol: mqtt\r\n\r\n",
        "bad-unoffered-extension": ok + b"Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n",
        "redirect": b"HTTP/1.1 302 Found\r\nLocation: wss://example.com/chat\r\nContent-Length: 0\r\n\r\n",
        "rejected-with-body": b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nforbidden",
        "http10": ok.replace(b"HTTP/1.1", b"HTTP/1.0") + b"\r\n",
    }
    # [limits][n][lens][response]; limits%3: header bytes 8K/300/100,
    # (limits/3)%3: headers 64/6/1.
    variants = {"default-whole": (0x00, b""), "default-bytewise": (0x00, b"\x01"), "300b-chunks": (0x01, b"\x0d\x22")}
    for name, resp in responses.items():
        for vname, (lim, lens) in variants.items():
            write("handshake_client", f"{name}.{vname}", bytes([lim, len(lens)]) + lens + resp)


# ------------------------------------------------------------------- utf8

def utf8():
    texts = {
        "ascii": b"Hello, WebSocket!",
        "multilingual": MULTILINGUAL,
        "four-byte": "🌍🚀𝄞".encode(),
        "max-codepoint": "\U0010ffff".encode(),
        "bad-overlong": b"\xc0\xaf",
        "bad-surrogate": b"a\xed\xa0\x80b",
        "bad-above-max": b"\xf4\x90\x80\x80",
        "bad-truncated-end": "日本".encode()[:5],
        "bad-lone-continuation": b"ab\x80cd",
        "autobahn-6.3.1": bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564"),
    }
    variants = {"whole": b"", "bytewise": b"\x01", "2-3": b"\x02\x03", "with-empty": b"\x00\x01\x05"}
    for name, t in texts.items():
        for vname, lens in variants.items():
            write("utf8", f"{name}.{vname}", bytes([len(lens)]) + lens + t)

# ---------------------------------------------------------------- inflate

def deflate(data, wbits=15, level=6, final=False):
    """Raw deflate as RFC 7692 §7.2.1 sends a message: sync-flushed,
    without the trailing 00 00 ff ff (or ended with BFINAL)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    if final:
        return c.compress(data) + c.flush(zlib.Z_FINISH)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate():
    # params: bits 0-2 server window - 8, 3-5 client window - 8, 64 server
    # no context takeover, 128 client no context takeover.
    w15, w9, w8 = 0x3F, 0x09, 0x00
    hello = bytes.fromhex("f248cdc9c90700")  # RFC 7692 §7.2.3.1
    # Hostile: [flags][params][n][lens][k][plans][payload]; flags 2 client
    # sends, 4 input_buffer, 8 x16 chunks, 16 big limit, 32 bomb, 64 x32
    # frames, 128 RSV1 on continuations. Plan: bits 0-5 length, 64 FIN,
    # 128 text (first frame) or ping before (continuation).
    def plan(lens):
        return bytes([len(lens)]) + bytes(lens)
    zeros = deflate(bytes(1 << 20), level=9)
    noise = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(32))[:1000]
    text = MULTILINGUAL * 3
    payloads = {
        "rfc-hello": (w15, [0xC7], hello),
        "rfc-hello-fragmented": (w15, [0x83, 0x44], hello),
        "rfc-hello-fragmented-ping": (w15, [0x81, 0x81, 0xC5], hello),
        # §7.2.3.2: the second "Hello" refers back into the first.
        "rfc-sharing-window": (w15, [0xC7, 0xC5], hello + bytes.fromhex("f200110000")),
        "rfc-sharing-window-no-takeover": (w15 | 0xC0, [0xC7, 0xC5], hello + bytes.fromhex("f200110000")),
        # §7.2.3.3: a stored block; §7.2.3.4: BFINAL set.
        "rfc-stored-block": (w15, [0xCB], bytes.fromhex("000500faff48656c6c6f00")),
        "rfc-bfinal": (w15, [0xC8], bytes.fromhex("f348cdc9c907000000")),
        "text-multilingual": (w15, [0xC0], deflate(text)),
        "text-multilingual-frames-of-5": (w15, [0x85, 0x05, 0x85], deflate(text)),
        "text-window-9": (w9, [0xC0], deflate(text * 4, wbits=9)),
        "binary-window-8-peer": (w8, [0x40], deflate(bytes(range(256)) * 8, wbits=9)),
        "two-messages-takeover": (w15, [0x40 | len(deflate(b"abcabcabc")), 0x40], deflate(b"abcabcabc") + deflate(b"abcabcabc")),
        "bad-utf8": (w15, [0xC0], deflate(b"ok\xc0\xaf")),
        "bad-data": (w15, [0x40], b"\xff\xff\xff\xff\x00\x01"),
        # Repeats 1000 bytes back: past a 9-bit window.
        "bad-distance-too-far": (w9, [0x40], deflate(noise + noise, wbits=15)),
        # §7.2.3.6: an empty message is one 0x00 byte; truly empty payloads
        # (invalid) leave the restored tail inside a stored block.
        "rfc-empty-then-hello": (w15, [0x41, 0xC7], b"\x00" + hello),
        "bad-empty-payload-then-hello": (w15, [0x40, 0xC7], hello),
        "bomb-1mib-zeros": (w15, [0x3F], zeros),
        "bomb-1mib-zeros-text": (w15, [0xBF, 0x3F], zeros),
    }
    variants = {
        "server-whole": (0x00, b""),
        "client-bytewise": (0x02, b"\x01"),
        "client-inputbuf-3-7": (0x06, b"\x03\x07"),
        "server-big": (0x58, b"\x02"),
    }
    for name, (params, plans, payload) in payloads.items():
        for vname, (flags, lens) in variants.items():
            write("inflate", f"{name}.{vname}", bytes([flags, params, len(lens)]) + lens + plan(plans) + payload)
    write("inflate", "bad-rsv1-continuation.server", bytes([0x80, w15, 0]) + plan([0x83, 0x44]) + hello)
    # Found by fuzzing (regressions::compressed_text_error_does_not_depend_on_reads):
    # text whose invalid UTF-8 and corrupt data came out of one inflate step.
    write("inflate", "regression-text-error-order", bytes.fromhex(
        "063f02030701c03ab7eb7ccff9e6737bce6d5578b263daf3a93d0a1fe6f7f42a"
        "78a4e6e4e4eb1edaea7078eb7ccff9e61c9e7378c1e185baa1216eba168a8ae7"
        "e8a40700"))
    # BOMB: the payload is [size][literals]: the literals, then
    # (size + 1) * 8 copies of 258 bytes at distance 1, in fixed Huffman.
    for name, flags, params, plans, spec in [
        ("bomb-zeros-528k", 0x20, w15, [], b"\xff\x00"),
        ("bomb-zeros-528k-big-limit", 0x30, w15, [0x3F], b"\xff\x00"),
        ("bomb-text-pattern-frames", 0x62, w9 | 0x80, [0x9F, 0x1F], b"\x40abc "),
        ("bomb-small-fits", 0x00 | 0x20, w15, [], b"\x00xyz"),
    ]:
        write("inflate", name, bytes([flags, params, 0]) + plan(plans) + spec)

    # Round trip: [flags][params][n][lens][fragment size][level][messages];
    # flags 1 (set), 2 client sends, 4 input_buffer, 8 x64 chunks, 32
    # fragment_size.
    text = lambda t: b"\x00" + bytes([len(t)]) + t
    binary = lambda b: b"\x01" + bytes([len(b)]) + b
    def fragmented(is_text, ping_between, whole, cuts):
        op = 0x02 | (0x80 if is_text else 0) | (0x40 if ping_between else 0)
        return bytes([op, len(whole)]) + whole + bytes([len(cuts)]) + cuts
    long = lambda n, pattern: b"\x03" + u16(n) + bytes([len(pattern)]) + pattern
    messages = {
        "hello": text(b"Hello") + text(b"Hello"),
        "multilingual": text(MULTILINGUAL[:200]) + binary(bytes(range(200))),
        "fragments": fragmented(True, True, MULTILINGUAL[:60], b"\x01\x02\x03\x05\x07")
        + fragmented(False, False, bytes(range(50)), b"\x10\x00\x10"),
        "long": long(30000, b"wsock ") + long(39999, bytes(range(7))),
        "mixed": text(b"") + binary(b"") + fragmented(False, True, b"", b"\x00") + text(b"a" * 100),
    }
    variants = {
        "server-w15-whole": (0x01, w15, 6, b""),
        "client-w9-bytewise": (0x03, w9, 9, b"\x01"),
        "server-w8-frag7": (0x21, 0x07, 1, b"\x05\x40"),
        "client-no-takeover-inputbuf": (0x07, w15 | 0xC0, 0, b"\x03"),
        "server-w10-w12-x64": (0x09, 0x02 | (4 << 3) | 0x40, 6, b"\x03"),
    }
    # "mixed" found regressions::empty_compressed_message_after_another_is_one_zero_byte.
    for name, msgs in messages.items():
        for vname, (flags, params, level, lens) in variants.items():
            write("inflate", f"roundtrip-{name}.{vname}", bytes([flags, params, len(lens)]) + lens + bytes([7, level]) + msgs)


if __name__ == "__main__":
    for target in ["frame_decoder", "connection_events", "roundtrip", "handshake_server", "handshake_client", "utf8", "inflate"]:
        shutil.rmtree(os.path.join(ROOT, target), ignore_errors=True)
    frame_decoder()
    connection_events()
    roundtrip()
    handshake_server()
    handshake_client()
    utf8()
    inflate()
    for target in sorted(os.listdir(ROOT)):
        files = os.listdir(os.path.join(ROOT, target))
        size = sum(os.path.getsize(os.path.join(ROOT, target, f)) for f in files)
        print(f"{target}: {len(files)} seeds, {size} bytes")
