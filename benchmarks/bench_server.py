"""Benchmark: `narrator serve` under a bounded load on loopback.

    python benchmarks/bench_server.py [--requests 100] [--concurrency 8] [--voice heart]
                                      [--format mp3] [--write]

Starts ``narrator serve`` as a process of its own on a free port of 127.0.0.1 (a fresh
clip cache and state folder in a temporary folder, so every request synthesizes), sends
a warm-up round, then *requests* speech requests, *concurrency* at a time,
each with a text of its own (two sentences, about 7 s of audio).  Reports errors, the
latency (request sent to last byte) and time to first byte, p50 and p95, and the server's
resident memory after a warm-up round (one request per connection) and after each quarter
of the requests.
``--write`` adds the row to the table in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from bench_longform import append_rows, code_version, machine, today

ROOT = Path(__file__).resolve().parent.parent
SECTION = "server"

NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def text_for(index: int) -> str:
    """A text of its own for each request, both sentences (nothing comes from the cache)."""
    words = " ".join(NUMBERS[int(d)] for d in str(abs(index)))
    words = f"minus {words}" if index < 0 else words
    return (
        f"This is request number {words}, spoken by the narration server. "
        f"Request {words} carries two sentences, so that its stream has more than one piece."
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def speak(port: int, text: str, voice: str, fmt: str) -> tuple[float, float, int, int]:
    """(time to first byte, latency, status, bytes) of one speech request."""
    body = json.dumps({"model": "tts-1", "voice": voice, "input": text, "response_format": fmt})
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", "/v1/audio/speech", body=body,
                           headers={"Content-Type": "application/json"})  # fmt: skip
        response = connection.getresponse()
        first = response.read1(65536)
        ttfb = time.perf_counter() - started
        size = len(first) + len(response.read())
        return ttfb, time.perf_counter() - started, response.status, size
    finally:
        connection.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--voice", default="heart")
    parser.add_argument("--format", default="mp3")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "NARRATOR_CACHE_DIR": str(Path(folder) / "cache"),
               "PYTHONPATH": str(ROOT)}  # fmt: skip
        command = [sys.executable, "-m", "narrator", "serve", "--port", str(port),
                   "--state-dir", str(Path(folder) / "state"), "--queue", "32"]  # fmt: skip
        server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            process = psutil.Process(server.pid)

            def ask(index: int) -> tuple[float, float, int, int]:
                return speak(port, text_for(index), args.voice, args.format)

            with ThreadPoolExecutor(args.concurrency) as pool:
                # Warm-up: the voice loads and every concurrent call allocates its memory.
                warm = list(pool.map(ask, range(-args.concurrency, 0)))
                assert all(r[2] == 200 for r in warm), warm
                rss = [process.memory_info().rss]
                results = []
                began = time.perf_counter()
                quarter = max(1, args.requests // 4)
                for start in range(0, args.requests, quarter):
                    batch = range(start, min(start + quarter, args.requests))
                    results += list(pool.map(ask, batch))
                    rss.append(process.memory_info().rss)
                wall = time.perf_counter() - began
        finally:
            server.terminate()
            server.wait(60)
    errors = sum(1 for r in results if r[2] != 200 or r[3] == 0)
    ttfb = [r[0] for r in results]
    latency = [r[1] for r in results]
    mib = [f"{value / 2**20:.0f}" for value in rss]
    row = [
        today(), code_version(), args.voice, args.format,
        f"{len(results)} × {args.concurrency}", str(errors),
        f"{statistics.median(ttfb):.2f} / {percentile(ttfb, 95):.2f} s",
        f"{statistics.median(latency):.2f} / {percentile(latency, 95):.2f} s",
        f"{wall:.1f} s", " → ".join(mib) + " MiB", f"{os.getloadavg()[0]:.1f}",
    ]  # fmt: skip
    print(f"machine: {machine()}")
    print("| " + " | ".join(row) + " |")
    if args.write:
        append_rows(SECTION, [row])


if __name__ == "__main__":
    main()
