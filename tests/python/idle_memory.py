"""Resident memory per idle deflate connection of a server process.

Opens N Python `websockets` clients (default options: permessage-deflate
offered as `permessage-deflate; client_max_window_bits`, like Chromium)
against URL; each sends one JSON-like text message (or --messages of
them, ~600 bytes each), reads its echo, then idles. After a warm-up (50 such clients, closed again), reads the server's
VmRSS (from /proc/PID/status) before and after, and prints the growth per
connection. With --active SECONDS, every client then keeps exchanging
echoes (send one message, await its echo, repeat) for that long while the
server's VmRSS is sampled every 20 ms; the peak and median growth per
connection while active are printed too. The server must be started first,
e.g. `wsock serve --port 9001` (release build), with PID its process id.

    python idle_memory.py --url ws://127.0.0.1:9001 --pid PID -n 250

`ulimit -n` limits N (each client is a socket in this process).
"""

import argparse
import asyncio
import json

from websockets.asyncio.client import connect


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def message(i):
    return json.dumps({
        "op": 0, "s": i, "t": "MESSAGE_CREATE",
        "d": {"id": str(1180000000000000000 + i), "channel_id": "812345678901",
              "author": {"id": "900000000000007", "username": "alice", "bot": False},
              "content": "deploy passed, merge the release branch please " * 4,
              "mentions": [], "attachments": [], "embeds": [], "flags": 0},
    })


async def one(url, i, opened, messages=1):
    ws = await connect(url, max_size=None)
    for k in range(messages):
        text = message(i * 1000 + k)
        await ws.send(text)
        assert await ws.recv() == text
    opened.append(ws)
    return ws.response.headers.get("Sec-WebSocket-Extensions")


async def main(args):
    # Warm-up: the server's one-time costs (runtime threads, allocator
    # arenas, first zlib streams) are not per connection.
    warm = []
    await asyncio.gather(*(one(args.url, i, warm) for i in range(args.warmup)))
    await asyncio.gather(*(ws.close() for ws in warm))
    await asyncio.sleep(args.settle)
    before = rss_kib(args.pid)
    opened = []
    answers = set()
    for start in range(0, args.n, 50):
        batch = range(start, min(start + 50, args.n))
        answers.update(await asyncio.gather(
            *(one(args.url, i, opened, args.messages) for i in batch)))
    # Let the server go idle (the tokio adapter shrinks after 50 ms).
    await asyncio.sleep(args.settle)
    after = rss_kib(args.pid)
    print(f"negotiated: {sorted(a or '-' for a in answers)}")
    print(f"connections: {len(opened)}, server VmRSS {before} -> {after} KiB, "
          f"per connection {(after - before) / len(opened):.1f} KiB")
    if args.active > 0:
        await active(args, opened, before)
    await asyncio.gather(*(ws.close() for ws in opened))


async def busy(ws, i, until, counts):
    loop = asyncio.get_running_loop()
    k = 0
    while loop.time() < until:
        text = message(i * 1000000 + k)
        await ws.send(text)
        assert await ws.recv() == text
        k += 1
    counts.append(k)


async def active(args, opened, before):
    """Every client echoes in a loop for args.active seconds; the server's
    VmRSS is sampled meanwhile."""
    loop = asyncio.get_running_loop()
    until = loop.time() + args.active
    counts = []
    samples = []
    tasks = [asyncio.create_task(busy(ws, i, until, counts))
             for i, ws in enumerate(opened)]
    while loop.time() < until:
        await asyncio.sleep(0.02)
        samples.append(rss_kib(args.pid))
    await asyncio.gather(*tasks)
    samples.sort()
    peak, median = samples[-1], samples[len(samples) // 2]
    n = len(opened)
    print(f"active {args.active} s: {sum(counts)} echoes, {len(samples)} samples, "
          f"server VmRSS median {median} peak {peak} KiB; per connection "
          f"median {(median - before) / n:.1f} peak {(peak - before) / n:.1f} KiB")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("-n", type=int, default=250)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--messages", type=int, default=1,
                   help="echoes per client (40 fill the default windows)")
    p.add_argument("--active", type=float, default=0,
                   help="then echo in a loop on every client for this many "
                        "seconds, sampling the server's memory")
    asyncio.run(main(p.parse_args()))
