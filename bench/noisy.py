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

usage: bench/noisy.py [--binary target/release/native] [--duration 5] [--scenarios a,b,...]
                      [--server-args "..."] [--json]
"""
import argparse
import json
import os
import resource
import socket
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


def run_scenario(args, name: str) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [args.binary, "serve", "--port", str(port), *args.server_args.split()],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(args.logs, f"noisy-{name}.log"), "w"),
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
    p.add_argument("--server-args", default="", help="extra arguments for `native serve`")
    p.add_argument("--logs", default="target/bench-logs")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    results = [run_scenario(args, s) for s in args.scenarios.split(",")]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    alone = next((r for r in results if r["scenario"] == "alone"), None)
    print(f"{'beside':<10} {'msg/s':>8} {'p50 µs':>8} {'p99 µs':>9} {'p99 ×alone':>10} "
          f"{'max µs':>9} {'peak MiB':>9}  notes")
    for r in results:
        ratio = r["p99_us"] / alone["p99_us"] if alone and alone["p99_us"] else float("nan")
        notes = "; ".join(
            x for x in [
                "" if r["server_alive"] else "SERVER DIED",
                "; ".join(r["errors"])[:120],
                r["neighbour"][:80],
            ] if x
        )
        print(f"{r['scenario']:<10} {r['msgs_per_s']:>8.0f} {r['p50_us']:>8.0f} {r['p99_us']:>9.0f} "
              f"{ratio:>10.1f} {r['max_us']:>9.0f} {r['peak_mib']:>9.1f}  {notes}")


if __name__ == "__main__":
    sys.exit(main())
