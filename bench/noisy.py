#!/usr/bin/env python3
"""The noisy-neighbour benchmark: how much one hostile or broken client costs the others.

A well-behaved client (`native bench`, request/response, one connection, 64 B) measures its
echo latency against `native serve`, first alone, then beside each neighbour:

  stats      a few thousand quiet clients, and 4 connections that pipeline the stats control
             message ({"$jsocket": "stats"}) as fast as they are answered
  storm      100 clients that never read, and one that broadcasts 1 MiB messages in a loop
  idle       10,000 connections that never send anything
  nonreader  a client that pipelines 64 KiB echo requests and never reads a reply

Each scenario runs against a fresh server, so the peak resident memory (VmHWM) is the
scenario's own. The open-files limit is raised to its hard limit first (the server inherits it).

With `--threads 1,default` each scenario runs once per thread setting (`serve --threads N`;
`default` leaves the option out: a shard per core), the settings interleaved within each
scenario so that they see the same machine; `--compare OTHER` runs each also against OTHER's
`native serve` (another build; the measuring client stays `--binary`'s). With `--rounds N` the whole sequence runs N times
and the table gives medians: of p50 and p99, and of each round's p99 over its own "alone"
(with the range of those ratios), since a busy machine moves single runs by several times.

usage: bench/noisy.py [--binary target/release/native] [--duration 5] [--scenarios a,b,...]
                      [--threads default,1,...] [--compare OTHER] [--rounds 1]
                      [--server-args "..."] [--json]
"""
import argparse
import json
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib

SCENARIOS = ["alone", "stats", "storm", "idle", "nonreader"]


def frame(payload: bytes) -> bytes:
    return b"JSN1" + struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def read_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return bytes(data)


def read_frame(sock: socket.socket) -> bytes:
    head = read_exact(sock, 12)
    (length,) = struct.unpack(">I", head[4:8])
    return read_exact(sock, length)


class Neighbour:
    """Background load; `stop` ends it and closes its sockets."""

    def __init__(self, port: int):
        self.port = port
        self.done = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.note = ""

    def connect(self, identify: bool) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port))
        if identify:
            # One echo: the server now knows it speaks jsocket.
            s.sendall(frame(b'{"hello":1}'))
            read_frame(s)
        self.sockets.append(s)
        return s

    def spawn(self, fn) -> None:
        t = threading.Thread(target=self.guard, args=(fn,), daemon=True)
        t.start()
        self.threads.append(t)

    def guard(self, fn) -> None:
        try:
            fn()
        except OSError as e:
            if not self.done.is_set():
                self.note = f"{type(e).__name__}: {e}"

    def stop(self) -> None:
        self.done.set()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=5)


def start_stats(n: Neighbour) -> None:
    for _ in range(3000):
        n.connect(identify=True)
    stats = frame(b'{"$jsocket":"stats"}')

    def flood():
        s = n.connect(identify=False)
        s.settimeout(30)
        while not n.done.is_set():
            s.sendall(stats * 30)
            for _ in range(30):
                read_frame(s)

    for _ in range(4):
        n.spawn(flood)


def start_storm(n: Neighbour) -> None:
    for _ in range(100):
        s = n.connect(identify=True)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    pad = b"x" * (1 << 20)
    message = frame(b'{"$jsocket":"broadcast","message":{"pad":"' + pad + b'"}}')

    def storm():
        s = n.connect(identify=True)
        while not n.done.is_set():
            s.sendall(message)

    n.spawn(storm)


def start_idle(n: Neighbour) -> None:
    for _ in range(10_000):
        n.connect(identify=False)


def start_nonreader(n: Neighbour) -> None:
    request = frame(b'{"pad":"' + b"y" * (64 << 10) + b'"}')

    def send_only():
        s = n.connect(identify=False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        while not n.done.is_set():
            s.sendall(request)

    n.spawn(send_only)


STARTERS = {
    "stats": start_stats,
    "storm": start_storm,
    "idle": start_idle,
    "nonreader": start_nonreader,
}


def run_scenario(args, name: str, server_name: str, threads: str) -> dict:
    port = free_port()
    thread_args = [] if threads == "default" else ["--threads", threads]
    binary = args.compare if server_name == "compare" else args.binary
    server = subprocess.Popen(
        [binary, "serve", "--port", str(port), *thread_args, *args.server_args.split()],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(args.logs, f"noisy-{name}-{server_name}-t{threads}.log"), "w"),
    )
    neighbour = None
    try:
        wait_port(port)
        if name in STARTERS:
            neighbour = Neighbour(port)
            STARTERS[name](neighbour)
            time.sleep(1)  # let the neighbour reach its pace
        out = subprocess.run(
            [
                args.binary, "bench", "--addr", f"127.0.0.1:{port}", "-c", "1",
                "--mode", "reqrep", "--size", "64", "--duration", str(args.duration),
                "--warmup", "1", "--engine", "threads", "--json",
            ],
            capture_output=True, text=True, timeout=args.duration + 120,
        )
        try:
            report = json.loads(out.stdout)
        except json.JSONDecodeError:
            report = {"errors": [out.stderr.strip()[-300:] or "no report"], "latency_us": {}}
        result = {
            "scenario": name,
            "server": server_name,
            "threads": threads,
            "msgs_per_s": report.get("msgs_per_s", 0.0),
            "p50_us": report["latency_us"].get("p50", 0.0),
            "p99_us": report["latency_us"].get("p99", 0.0),
            "max_us": report["latency_us"].get("max", 0.0),
            "errors": report.get("errors", []),
            "server_alive": server.poll() is None,
            "peak_mib": peak_kib(server.pid) / 1024,
            "neighbour": neighbour.note if neighbour else "",
        }
        return result
    finally:
        if neighbour:
            neighbour.stop()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--binary", default="target/release/native")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--threads", default="default",
                   help="comma-separated `serve --threads` settings, interleaved ('default': none)")
    p.add_argument("--compare", help="another build's binary whose server runs beside, interleaved")
    p.add_argument("--rounds", type=int, default=1, help="run everything this many times")
    p.add_argument("--server-args", default="", help="extra arguments for `native serve`")
    p.add_argument("--logs", default="target/bench-logs")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    servers = ["this", "compare"] if args.compare else ["this"]
    settings = [(server, threads) for server in servers for threads in args.threads.split(",")]
    results = []
    for n in range(args.rounds):
        for name in args.scenarios.split(","):
            for server, threads in settings:
                r = run_scenario(args, name, server, threads)
                r["round"] = n
                results.append(r)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"{'beside':<10} {'server':>7} {'threads':>7} {'msg/s':>8} {'p50 µs':>8} {'p99 µs':>9} "
          f"{'p99 ×alone':>10} {'(range)':>13} {'max µs':>9} {'peak MiB':>9}  notes")
    for name in args.scenarios.split(","):
        for server, threads in settings:
            print(summary_line(results, name, server, threads))


def summary_line(results: list, name: str, server: str, threads: str) -> str:
    """One scenario against one server at one thread setting: medians over the rounds."""
    same = lambda r: r["server"] == server and r["threads"] == threads
    runs = [r for r in results if r["scenario"] == name and same(r)]
    ratios = []
    for r in runs:
        alone = next(
            (a for a in results if a["scenario"] == "alone" and same(a)
             and a["round"] == r["round"]),
            None,
        )
        if alone and alone["p99_us"]:
            ratios.append(r["p99_us"] / alone["p99_us"])
    med = lambda key: statistics.median(r[key] for r in runs)
    ratio = statistics.median(ratios) if ratios else float("nan")
    spread = f"({min(ratios):.1f}–{max(ratios):.1f})" if len(ratios) > 1 else ""
    notes = "; ".join(
        x for r in runs for x in [
            "" if r["server_alive"] else "SERVER DIED",
            "; ".join(r["errors"])[:120],
            r["neighbour"][:80],
        ] if x
    )
    return (f"{name:<10} {server:>7} {threads:>7} {med('msgs_per_s'):>8.0f} {med('p50_us'):>8.0f} "
            f"{med('p99_us'):>9.0f} {ratio:>10.1f} {spread:>13} {max(r['max_us'] for r in runs):>9.0f} "
            f"{max(r['peak_mib'] for r in runs):>9.1f}  {notes}")


if __name__ == "__main__":
    sys.exit(main())
