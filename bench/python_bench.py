#!/usr/bin/env python3
"""jsocket 2.0.3 as shipped, jsocket 2.0.3 with TCP_NODELAY, and jsocket_rs, each as client and
as server, in every pairing; then 1,000 clients at once against each server.

    python3 bench/python_bench.py --stock STOCK_PYTHON --rs RS_PYTHON [--duration 3] [--clients 1000]

STOCK_PYTHON has jsocket==2.0.3 (tests/run.sh makes one in target/py/jsocket-2.0.3), RS_PYTHON
has jsocket_rs (``pip install ./python``; tests/run.sh makes target/py/jsocket-rs). Every
server and client is a process of its own; the servers are ``ServerFactory`` echo servers as
their users write them, the clients ``JsonClient`` loops as their users write them:

* rr: one client, request then reply, a 64-byte message;
* pipelined: one client, 64 requests written, then their 64 replies read;
* rr x8: eight such request/response clients at once (eight processes), their rates summed;
* focus: pairs alternating for ``--rounds`` rounds so that all meet the same machine load, rr
  and pipelined; the median of the rounds and the median of the per-round ratios to jsocket 2.0.3
  with TCP_NODELAY on both sides. ``--pairs`` picks them (default: stock+nodelay, rs, raw):
  "raw" is Python sockets with TCP_NODELAY that move the same frames with one blocking send and
  one recv per message on each side, no framing or JSON (what no Python pair can beat on this
  machine); "c" the same in C (bench/python_ceiling.c, compiled into target/ with ``cc``): the
  kernel's own floor; mixed pairs, CLIENT/SERVER ("rs/c": a jsocket_rs client against the C
  echo server; "raw/rs", "c/rs") tell the client's cost from the server's; "rs-before" is jsocket_rs from ``--rs-before PYTHON``,
  to measure a change before and after in one run;
* many: N clients at once from one load process (raw sockets, one request in flight each),
  with the server's thread count and resident memory read from /proc while they are connected.

"stock+nodelay" is jsocket 2.0.3 with ``TCP_NODELAY`` set on each socket after connect and
accept (still two writes per message). Prints a Markdown table; ``--json FILE`` keeps the figures.
"""

import argparse
import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import time
import zlib

IMPLS = ["stock", "stock+nodelay", "rs"]
MESSAGE = {"data": "x" * 52}  # 64 bytes of JSON as jsocket writes it
CONNECT_BUDGET = 60.0  # seconds the many-clients load spends connecting


def load(impl):
    """The jsocket module for `impl`, patched for stock+nodelay."""
    if impl == "rs":
        import jsocket_rs as jsocket

        return jsocket
    import jsocket

    if impl == "stock+nodelay":
        connect = jsocket.JsonClient.connect
        swap = jsocket.ServerFactoryThread.swap_socket

        def nodelay_connect(self):
            ok = connect(self)
            if ok:
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return ok

        def nodelay_swap(self, sock):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            swap(self, sock)

        jsocket.JsonClient.connect = nodelay_connect
        jsocket.ServerFactoryThread.swap_socket = nodelay_swap
    return jsocket


# -- roles, run in child processes ---------------------------------------------------------------


def raw_server():
    """The "raw" pair's server: echoes whatever it reads, a thread per client."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)

    def echo(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()

    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


def raw_client(port, mode, duration):
    """The "raw" pair's client: the frames of MESSAGE, one send and one recv each."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = frame(MESSAGE)
    window = 64 if mode == "pipelined" else 1
    count = 0
    cpu = cpu_seconds()
    start = time.monotonic()
    end = start + duration
    while time.monotonic() < end:
        sock.sendall(request * window)
        want = len(request) * window
        while want:
            want -= len(sock.recv(want))
        count += window
    elapsed = time.monotonic() - start
    cpu_us = (cpu_seconds() - cpu) / max(count, 1) * 1e6
    sock.close()
    print(json.dumps({"rate": count / elapsed, "count": count, "cpu_us": cpu_us}))


def role_server(impl):
    if impl == "raw":
        return raw_server()
    jsocket = load(impl)

    class Echo(jsocket.ServerFactoryThread):
        def _process_message(self, obj):
            return obj

    server = jsocket.ServerFactory(Echo, address="127.0.0.1", port=0)
    server.start()
    print(server.socket.getsockname()[1], flush=True)
    sys.stdin.read()
    server.stop()
    server.join(10)


def role_client(impl, port, mode, duration):
    if impl == "raw":
        return raw_client(port, mode, duration)
    jsocket = load(impl)
    client = jsocket.JsonClient(address="127.0.0.1", port=port, timeout=30.0)
    assert client.connect()
    window = 64 if mode == "pipelined" else 1
    count = 0
    cpu = cpu_seconds()
    end = time.monotonic() + duration
    start = time.monotonic()
    while time.monotonic() < end:
        for _ in range(window):
            client.send_obj(MESSAGE)
        for _ in range(window):
            assert client.read_obj() == MESSAGE
        count += window
    elapsed = time.monotonic() - start
    cpu_us = (cpu_seconds() - cpu) / max(count, 1) * 1e6
    client.close()
    print(json.dumps({"rate": count / elapsed, "count": count, "cpu_us": cpu_us}))


def cpu_seconds():
    """CPU seconds (user + system) this process has used."""
    return time.process_time()


def frame(value):
    payload = json.dumps(value).encode()
    return b"JSN1" + struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def role_many(port, n, duration, server_pid):
    """N raw clients, one request in flight each, for `duration` seconds."""
    request = frame(MESSAGE)
    socks = []
    connect_started = time.monotonic()
    for _ in range(n):
        if time.monotonic() - connect_started > CONNECT_BUDGET:
            break  # a server that accepts slowly keeps the clients it had by then
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    connect_seconds = time.monotonic() - connect_started
    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        pending[s] = b""
        s.sendall(request)
    count = 0
    sampled = None
    start = time.monotonic()
    end = start + duration
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            data = pending[s] + s.recv(65536)
            while len(data) >= 12:
                size = struct.unpack(">I", data[4:8])[0]
                if len(data) < 12 + size:
                    break
                data = data[12 + size :]
                count += 1
                s.sendall(request)
            pending[s] = data
        if sampled is None and time.monotonic() - start > duration / 2:
            sampled = proc_status(server_pid)
    elapsed = time.monotonic() - start
    for s in socks:
        s.close()
    print(json.dumps({"rate": count / elapsed, "connected": len(socks),
                      "connect_seconds": round(connect_seconds, 1), **(sampled or {})}))


def proc_cpu(pid):
    """CPU seconds (user + system) process `pid` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS"):
                fields[key] = int(value.split()[0])
    return {"threads": fields.get("Threads"), "rss_mb": round(fields.get("VmRSS", 0) / 1024, 1)}


# -- the conductor -------------------------------------------------------------------------------


def start_server(python, impl):
    proc = subprocess.Popen(
        [python, __file__, "--role", "server", "--impl", impl],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, int(proc.stdout.readline())


def stop_server(proc):
    proc.stdin.close()
    proc.wait(timeout=60)
    proc.stdout.close()


def run_json(cmd, timeout):
    """Runs `cmd`; returns the JSON object on its last line."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# The focus scenario's pairs: name -> (client, server); "a/b" is client a against server b. A client or server is an impl of
# role_client/role_server ("stock+nodelay", "rs", "raw"), "rs-before" (jsocket_rs from the
# --rs-before interpreter) or "c" (bench/python_ceiling.c).
PAIRS = {
    "stock+nodelay": ("stock+nodelay", "stock+nodelay"),
    "rs": ("rs", "rs"),
    "rs-before": ("rs-before", "rs-before"),
    "raw": ("raw", "raw"),
    "c": ("c", "c"),
    "rs/c": ("rs", "c"),
    "rs-before/c": ("rs-before", "c"),
    "raw/c": ("raw", "c"),
    "raw/rs": ("raw", "rs"),
    "c/rs": ("c", "rs"),
}


def ceiling_binary():
    """bench/python_ceiling.c compiled into target/ (once), or None without a C compiler."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = os.path.join(root, "bench", "python_ceiling.c")
    binary = os.path.join(root, "target", "python_ceiling")
    if os.path.exists(binary) and os.path.getmtime(binary) >= os.path.getmtime(source):
        return binary
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    cc = os.environ.get("CC", "cc")
    try:
        subprocess.run([cc, "-O2", "-o", binary, source, "-lpthread"], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"no C ceiling ({cc}: {e})", file=sys.stderr)
        return None
    return binary


def focus_server(python, impl, binary):
    if impl == "c":
        proc = subprocess.Popen([binary, "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        return proc, int(proc.stdout.readline())
    return start_server(python[impl], "rs" if impl == "rs-before" else impl)


def focus_client(python, impl, binary, port, mode, duration):
    if impl == "c":
        cmd = [binary, "client", str(port), str(duration), frame(MESSAGE).hex()]
    else:
        cmd = [python[impl], __file__, "--role", "client", "--impl",
               "rs" if impl == "rs-before" else impl, "--port", str(port), "--mode", mode,
               "--duration", str(duration)]
    return run_json(cmd, timeout=duration * 20 + 60)


def focus(python, duration, rounds, pairs):
    """The pairs alternating, round after round, so that all meet the same machine load; prints
    medians and the median of per-round ratios to stock+nodelay."""
    import statistics

    binary = ceiling_binary() if any("c" in PAIRS[p] for p in pairs) else None
    pairs = [p for p in pairs if binary or "c" not in PAIRS[p]]
    servers = {}
    rates = {(p, mode): [] for p in pairs for mode in ("rr", "pipelined")}
    cpus = {key: [] for key in rates}  # (client, server) CPU µs per message, each round
    load = []
    try:
        for impl in sorted({PAIRS[p][1] for p in pairs}):
            servers[impl] = focus_server(python, impl, binary)
        for _ in range(rounds):
            load.append(os.getloadavg()[0])
            for mode in ("rr", "pipelined"):
                for p in pairs:
                    client, server = PAIRS[p]
                    if mode != "rr" and client in ("raw", "c"):
                        continue  # they would echo 64 frames as one block: nothing per message
                    proc, port = servers[server]
                    before = proc_cpu(proc.pid)
                    r = focus_client(python, client, binary, port, mode, duration)
                    server_us = (proc_cpu(proc.pid) - before) / max(r["count"], 1) * 1e6
                    rates[(p, mode)].append(r["rate"])
                    cpus[(p, mode)].append((r["cpu_us"], server_us))
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    base = "stock+nodelay"
    print(f"{rounds} alternating rounds of {duration:g} s; load average (1 min) at each round: "
          + ", ".join(f"{x:.1f}" for x in load))
    print(f"| pair | mode | msg/s (median) | ÷ {base} (median of rounds) "
          "| client CPU µs/msg | server CPU µs/msg |")
    print("|---|---|---:|---:|---:|---:|")
    for mode in ("rr", "pipelined"):
        for p in pairs:
            r = rates[(p, mode)]
            if not r:
                continue
            ratio = "—"
            if rates.get((base, mode)):
                ratio = f"{statistics.median(y / x for x, y in zip(rates[(base, mode)], r)):.2f}×"
            client_us = statistics.median(c for c, _ in cpus[(p, mode)])
            server_us = statistics.median(v for _, v in cpus[(p, mode)])
            print(f"| {p} | {mode} | {statistics.median(r):,.0f} | {ratio} | {client_us:.1f} "
                  f"| {server_us:.1f} |")
    print("rounds:", json.dumps({f"{k[0]} {k[1]}": [round(r) for r in v] for k, v in rates.items() if v}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock", help="a Python with jsocket==2.0.3")
    parser.add_argument("--rs", help="a Python with jsocket_rs")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--scenarios", default="rr,pipelined,rr8,many",
                        help="comma-separated: rr, pipelined, rr8, many, focus")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the focus scenario")
    parser.add_argument("--pairs", default="stock+nodelay,rs,raw",
                        help="the focus scenario's pairs, comma-separated: " + ", ".join(PAIRS))
    parser.add_argument("--rs-before", help="a Python with another build of jsocket_rs, for the "
                        "focus pair rs-before (a change measured before and after in one run)")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "server":
        return role_server(args.impl)
    if args.role == "client":
        return role_client(args.impl, args.port, args.mode, args.duration)
    if args.role == "many":
        return role_many(args.port, args.clients, args.duration, args.server_pid)

    python = {"stock": args.stock, "stock+nodelay": args.stock, "rs": args.rs, "raw": args.rs,
              "rs-before": args.rs_before}
    scenarios = args.scenarios.split(",")
    if "focus" in scenarios:
        pairs = args.pairs.split(",")
        unknown = [p for p in pairs if p not in PAIRS]
        if unknown or ("rs-before" in pairs and not args.rs_before):
            parser.error(f"unknown pairs {unknown} (or rs-before without --rs-before)")
        focus(python, args.duration, args.rounds, pairs)
        scenarios = [s for s in scenarios if s != "focus"]
        if not scenarios:
            return 0
    results = {"rr": {}, "pipelined": {}, "rr8": {}, "many": {}}
    for server_impl in IMPLS:
        proc, port = start_server(python[server_impl], server_impl)
        try:
            for mode in [m for m in ("rr", "pipelined", "rr8") if m in scenarios]:
                for client_impl in IMPLS:
                    cmd = [python[client_impl], __file__, "--role", "client", "--impl", client_impl,
                           "--port", str(port), "--mode", "pipelined" if mode == "pipelined" else "rr",
                           "--duration", str(args.duration)]
                    copies = 8 if mode == "rr8" else 1
                    cpu_before = proc_cpu(proc.pid)
                    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
                    rate = 0.0
                    count = 0
                    for p in procs:
                        out, _ = p.communicate(timeout=args.duration * 20 + 60)
                        if p.returncode != 0:
                            raise RuntimeError(f"{cmd} failed")
                        r = json.loads(out.strip().splitlines()[-1])
                        rate += r["rate"]
                        count += r["count"]
                    cpu_us = (proc_cpu(proc.pid) - cpu_before) / max(count, 1) * 1e6
                    results[mode][f"{client_impl} -> {server_impl}"] = rate
                    results.setdefault("server_cpu_us", {})[f"{mode}: {client_impl} -> {server_impl}"] = cpu_us
                    print(f"{mode:9} {client_impl:>13} client -> {server_impl:13} server: {rate:>10.0f} msg/s, "
                          f"server CPU {cpu_us:8.1f} µs/msg", flush=True)
            if "many" in scenarios:
                cmd = [python["rs"], __file__, "--role", "many", "--port", str(port), "--clients",
                       str(args.clients), "--duration", str(args.duration), "--server-pid", str(proc.pid)]
                r = run_json(cmd, timeout=args.duration * 20 + CONNECT_BUDGET + 120)
                results["many"][server_impl] = r
                print(f"many      {r['connected']} clients (connected in {r['connect_seconds']} s) -> "
                      f"{server_impl:13} server: {r['rate']:>10.0f} msg/s, "
                      f"{r.get('threads')} threads, {r.get('rss_mb')} MB", flush=True)
        finally:
            stop_server(proc)

    print()
    print(f"| {'client ↓ server →':20} | " + " | ".join(f"{s:>13}" for s in IMPLS) + " |")
    print("|---|" + "---:|" * len(IMPLS))
    for mode in [m for m in ("rr", "pipelined", "rr8") if m in scenarios]:
        for c in IMPLS:
            row = [f"{results[mode][f'{c} -> {s}']:>13,.0f}" for s in IMPLS]
            print(f"| {mode + ': ' + c:20} | " + " | ".join(row) + " |")
    print()
    print("server CPU per message (µs; user + system, from /proc):")
    print(f"| {'client ↓ server →':20} | " + " | ".join(f"{s:>13}" for s in IMPLS) + " |")
    print("|---|" + "---:|" * len(IMPLS))
    for mode in [m for m in ("rr", "pipelined", "rr8") if m in scenarios]:
        for c in IMPLS:
            row = [f"{results['server_cpu_us'][f'{mode}: {c} -> {s}']:>13,.1f}" for s in IMPLS]
            print(f"| {mode + ': ' + c:20} | " + " | ".join(row) + " |")
    if "many" in scenarios:
        print()
        print(f"| {args.clients} clients asked | connected | connecting took (s) | msg/s | server threads | server RSS (MB) |")
        print("|---|---:|---:|---:|---:|---:|")
        for s in IMPLS:
            r = results["many"][s]
            print(f"| {s} server | {r['connected']} | {r['connect_seconds']} | {r['rate']:,.0f} | "
                  f"{r.get('threads')} | {r.get('rss_mb')} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
