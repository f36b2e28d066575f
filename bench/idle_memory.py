#!/usr/bin/env python3
"""Server memory per idle connection: the growth of a server's resident set (VmRSS) once N
clients have each echoed one message and gone quiet, divided by N.

usage: idle_memory.py N MESSAGE_BYTES SETTLE_SECONDS -- SERVER_COMMAND... (with PORT in it)
The server is started with PORT replaced by a free port, then measured and stopped.
"""
import json
import socket
import struct
import subprocess
import sys
import time
import zlib


def frame(value):
    payload = json.dumps(value, separators=(",", ":")).encode()
    return b"JSN1" + struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    n, size, settle = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    command = sys.argv[sys.argv.index("--") + 1:]
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = subprocess.Popen([a.replace("PORT", str(port)) for a in command],
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)
        before = rss_kib(server.pid)
        message = frame({"data": "x" * max(0, size - 12)})
        clients = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(message)
            read_exact(s, len(message))
            clients.append(s)
        time.sleep(settle)
        after = rss_kib(server.pid)
        print(f"{n} idle connections after a {size} B echo: RSS {before} KiB -> {after} KiB, "
              f"{(after - before) * 1024 / n:.0f} B per connection")
        for s in clients:
            s.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
