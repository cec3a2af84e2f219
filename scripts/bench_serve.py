"""Load test of `nerwin serve`: starts it on a free loopback port (the shipped model unless --model), drives it
with N concurrent keep-alive clients (N = 1, 8, 64) sending one-sentence and 50-sentence requests, a bounded
number each, then stops it. Prints requests/s, tokens/s, p50/p99 latency and errors per setting, then where
the time went: CPU milliseconds a request in the server's event-loop thread (HTTP, JSON, the batcher), in its
other threads (tagging: the worker thread and the threads of its kernels and BLAS), and in the client, and
requests per tagging batch (from the server's GET /stats).

    python scripts/bench_serve.py [--requests 3000] [--clients 1,8,64] [--model M]

The clients are raw asyncio streams speaking HTTP/1.1 with keep-alive (one process, one core's worth of
Python at most), so the figures include the client's own cost on this machine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import read_toy_corpus  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(x.split(":", 1)[1]) for x in lines[1:] if x.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def client(port: int, requests: list[bytes], latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for req in requests:
            t = time.perf_counter()
            writer.write(req)
            try:
                status = await asyncio.wait_for(read_answer(reader), 30)
            except Exception as e:  # a dropped connection or a timeout is an error, then reconnect
                errors.append(type(e).__name__)
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            latencies.append(time.perf_counter() - t)
            if status != 200:
                errors.append(str(status))
    finally:
        writer.close()


def request(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (b"POST /tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(data), data))


async def run(port: int, n_clients: int, n_requests: int, per_request: int, sentences: list[str]) -> dict:
    per_client = max(1, n_requests // n_clients)
    plans, tokens = [], 0
    for c in range(n_clients):
        plan = []
        for r in range(per_client):
            at = (c * per_client + r) * per_request
            texts = [sentences[(at + i) % len(sentences)] for i in range(per_request)]
            tokens += sum(len(t.split()) for t in texts)
            plan.append(request({"text": texts[0]} if per_request == 1 else {"texts": texts}))
        plans.append(plan)
    latencies: list[float] = []
    errors: list[str] = []
    t = time.perf_counter()
    await asyncio.gather(*[client(port, plan, latencies, errors) for plan in plans])
    wall = time.perf_counter() - t
    latencies.sort()
    done = len(latencies)
    return {"clients": n_clients, "sentences": per_request, "requests": done, "seconds": wall,
            "req_s": done / wall, "tok_s": tokens / wall,
            "p50_ms": 1000 * latencies[done // 2] if done else float("nan"),
            "p99_ms": 1000 * latencies[min(done - 1, int(done * 0.99))] if done else float("nan"),
            "errors": len(errors)}


def process_cpu(pid: int, thread: int | None = None) -> float:
    """CPU seconds (user + system) a process, or one of its threads, has used so far, from /proc."""
    stat = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
        return json.loads(r.read())


def measured(port: int, pid: int, *setting) -> dict:
    """`run` with the CPU time each side spent on it."""
    stats, client = server_stats(port), time.process_time()
    server, loop = process_cpu(pid), process_cpu(pid, pid)  # the event loop runs on the main thread
    r = asyncio.run(run(port, *setting))
    client, server, loop = time.process_time() - client, process_cpu(pid) - server, process_cpu(pid, pid) - loop
    after = server_stats(port)
    n = max(r["requests"], 1)
    r.update(server_ms=1000 * server / n, tag_ms=1000 * (server - loop) / n, rest_ms=1000 * loop / n,
             client_ms=1000 * client / n, busy=(server + client) / r["seconds"],
             per_batch=(after["requests"] - stats["requests"]) / max(after["batches"] - stats["batches"], 1))
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model folder (default: the shipped model)")
    ap.add_argument("--requests", type=int, default=3000, help="one-sentence requests per setting")
    ap.add_argument("--big-requests", type=int, default=200, help="50-sentence requests per setting")
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--server-args", default="", help="extra `nerwin serve` options, e.g. '--max-wait-ms 1'")
    args = ap.parse_args()

    sentences = [" ".join(s.tokens) for split in read_toy_corpus().values() for s in split]
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "nerwin.cli", "serve", "--port", str(port), *args.server_args.split()]
    if args.model:
        cmd += ["--model", args.model]
    server = subprocess.Popen(cmd, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("server did not start")
                time.sleep(0.1)
        asyncio.run(run(port, 8, 400, 1, sentences))  # warm-up: first-call paths, the tagger's memos
        print(f"{'clients':>7} {'sent/req':>8} {'requests':>8} {'req/s':>8} {'tok/s':>9} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'errors':>6}")
        rows = []
        for per_request, n in ((1, args.requests), (50, args.big_requests)):
            for n_clients in (int(c) for c in args.clients.split(",")):
                if n <= 0:
                    continue
                r = measured(port, server.pid, n_clients, n, per_request, sentences)
                rows.append(r)
                print(f"{r['clients']:>7} {r['sentences']:>8} {r['requests']:>8} {r['req_s']:>8,.0f} "
                      f"{r['tok_s']:>9,.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6}", flush=True)
        print("\nwhere the time went, CPU ms a request (cores busy: server + client CPU seconds a second of wall time)")
        print(f"{'clients':>7} {'sent/req':>8} {'server':>7} {'tagging':>8} {'event loop':>10} {'client':>7} "
              f"{'cores busy':>10} {'req/batch':>9}")
        for r in rows:
            print(f"{r['clients']:>7} {r['sentences']:>8} {r['server_ms']:>7.3f} {r['tag_ms']:>8.3f} "
                  f"{r['rest_ms']:>10.3f} {r['client_ms']:>7.3f} {r['busy']:>10.2f} {r['per_batch']:>9.1f}")
    finally:
        server.terminate()
        try:
            print(f"server exit code after SIGTERM: {server.wait(30)}")
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
