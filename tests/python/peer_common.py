"""Shared by the Python peers of tests/tests/interop_python.rs.

Each peer prints line-oriented reports on stdout, flushed at once, which
the Rust test reads:

    PORT <n>                      (echo_server.py: the port it bound)
    NEGOTIATED header=<value> server_no_context_takeover=<0|1> ...
    CLOSED code=<n> reason=<rest of line>
    RESULT ok ... | RESULT fail <why>

Every wait is bounded (the --timeout option, 60 s by default).
"""

import argparse
import os
import random
import sys

from websockets.extensions import permessage_deflate as pmd

# Frames received with RSV1 set (the first frame of a compressed message),
# and data frames received at all: proof that the peer really compressed.
COUNTS = {"compressed": 0, "data_frames": 0}

_decode = pmd.PerMessageDeflate.decode


# WSOCK_PEER_VERBOSE=1: one line on stderr per data frame received.
VERBOSE = os.environ.get("WSOCK_PEER_VERBOSE", "") not in ("", "0")


def _counting_decode(self, frame, *args, **kwargs):
    if frame.opcode.value in (0, 1, 2):
        COUNTS["data_frames"] += 1
        if frame.rsv1:
            COUNTS["compressed"] += 1
        if VERBOSE:
            print(
                f"frame {frame.opcode.name} fin={int(frame.fin)} rsv1={int(frame.rsv1)}"
                f" len={len(frame.data)} head={bytes(frame.data[:16]).hex()}"
                f" tail={bytes(frame.data[-8:]).hex()}",
                file=sys.stderr,
                flush=True,
            )
    return _decode(self, frame, *args, **kwargs)


pmd.PerMessageDeflate.decode = _counting_decode


def report(line):
    print(line, flush=True)


def arguments(description, *, url):
    parser = argparse.ArgumentParser(description=description)
    if url:
        parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=60.0)
    if url:
        parser.add_argument(
            "--expect-greeting",
            action="store_true",
            help="the server first sends one text message (echo_server.py does)",
        )
        parser.add_argument(
            "--noise",
            type=int,
            metavar="BYTES",
            help="send only one incompressible binary message of BYTES bytes",
        )
    parser.add_argument("--server-no-context-takeover", action="store_true")
    parser.add_argument("--client-no-context-takeover", action="store_true")
    parser.add_argument("--server-max-window-bits", type=int)
    parser.add_argument("--client-max-window-bits", type=int)
    return parser.parse_args()


def custom(args):
    """Whether any deflate parameter was given (else websockets' defaults)."""
    return (
        args.server_no_context_takeover
        or args.client_no_context_takeover
        or args.server_max_window_bits is not None
        or args.client_max_window_bits is not None
    )


def describe(extensions, header, *, is_server):
    """The negotiated permessage-deflate parameters, in the RFC's names."""
    deflate = [e for e in extensions if isinstance(e, pmd.PerMessageDeflate)]
    if not deflate:
        return f"NEGOTIATED header={header or '-'} deflate=0"
    d = deflate[0]
    if is_server:
        server = (d.local_no_context_takeover, d.local_max_window_bits)
        client = (d.remote_no_context_takeover, d.remote_max_window_bits)
    else:
        server = (d.remote_no_context_takeover, d.remote_max_window_bits)
        client = (d.local_no_context_takeover, d.local_max_window_bits)
    return (
        f"NEGOTIATED header={(header or '-').replace(' ', '')} deflate=1"
        f" server_no_context_takeover={int(server[0])}"
        f" client_no_context_takeover={int(client[0])}"
        f" server_max_window_bits={server[1]}"
        f" client_max_window_bits={client[1]}"
    )


def payloads():
    """The messages the Python client sends (the Rust client sends the same
    kinds): (label, message)."""
    line = "The quick brown fox jumps over the lazy dog; Größe, 速い, ¡ñ! "
    text_1mib = (line * (2**20 // len(line.encode()) + 1)).encode()[: 2**20]
    # Cut on a character boundary.
    text_1mib = text_1mib.decode("utf-8", errors="ignore")
    rng = random.Random(7)
    noise = rng.randbytes(256 * 1024)
    # A period zlib finds even with a 9-bit window (at most 250 bytes back).
    pattern = bytes(i % 199 for i in range(199))
    binary_1mib = (pattern * (2**20 // 199 + 1))[: 2**20]
    return [
        ("ascii", "hello from python"),
        ("multilingual", "héllo wörld, привет мир, こんにちは世界, مرحبا, 🦀🐍"),
        ("text 1 MiB", text_1mib),
        ("binary 256 KiB incompressible", noise),
        ("binary 1 MiB compressible", binary_1mib),
        ("empty text", ""),
        ("empty binary", b""),
    ]


class Failed(Exception):
    """A check failed: reported as "RESULT fail <why>", exit status 1."""


def smalls(count):
    """Small messages sent back to back: half text below the usual
    compression threshold (64 bytes), half binary above it."""
    return [
        f"small {i}" if i % 2 == 0 else f"small binary message {i}: {'abc' * 30}".encode()
        for i in range(count)
    ]


def fail(why):
    raise Failed(why)


def run(main, args):
    """Runs `main(args)` within args.timeout; exit status 0 only on success."""
    import asyncio

    try:
        asyncio.run(asyncio.wait_for(main(args), args.timeout))
    except Failed as e:
        report(f"RESULT fail {e}")
        sys.exit(1)
    except asyncio.TimeoutError:
        report(f"RESULT fail not done within {args.timeout} s")
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - any error is a failed run
        report(f"RESULT fail {type(e).__name__}: {e}")
        sys.exit(1)
