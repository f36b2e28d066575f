"""Drive a jsocket server with the real jsocket JsonClient (and raw sockets for bad input).

Usage: python peer_client.py MODE PORT [ARGS]

Modes (each prints "ok ..." and exits 0 on success; any failure raises, exit status 1):
  echo PORT VECTORS_DIR   every value of VECTORS_DIR/*.tsv, and some harder ones, echoed back
  concurrent PORT N       N JsonClients in N threads, each echoing its own messages at once
  reconnect PORT          one JsonClient: connect, echo, close, connect again, echo
  garbage PORT            each malformed input of the protocol on its own raw connection, while
                          a JsonClient keeps being served in between; prints the kinds sent

The server under test must echo every message (jsocket 2.x framing on the client side), or,
with --wrapped after the mode's arguments, answer each message m with {"echo": m} (so that a
Python handler, whose None means no reply, can answer null too). The interpreter's jsocket may
be 2.0.3 or 1.9.6 (v1 framing).
"""

import glob
import json
import os
import socket
import struct
import sys
import threading
import time
import zlib

import jsocket

HOST = "127.0.0.1"


# Whether the server answers m with {"echo": m} (--wrapped).
WRAPPED = False


def client(port):
    try:
        c = jsocket.JsonClient(address=HOST, port=port, timeout=30.0)
    except TypeError:  # 1.9.6 takes no timeout argument
        c = jsocket.JsonClient(address=HOST, port=port)
        c.timeout = 30.0
    assert c.connect(), "could not connect"
    return c


def echo_one(c, value):
    c.send_obj(value)
    got = c.read_obj()
    want = {"echo": value} if WRAPPED else value
    assert got == want, f"sent {value!r:.200}, got {got!r:.200}"


def vector_values(directory):
    values = []
    for path in sorted(glob.glob(os.path.join(directory, "*.tsv"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                values.append(json.loads(line.split("\t", 1)[0]))
    assert values, f"no vectors in {directory}"
    return values


def harder_values():
    deep = "bottom"
    for level in range(40):
        deep = {"level": level, "inner": [deep]}
    return [
        {"large": "jsocket ☃ 😀 héllo\n" * 10000},
        deep,
        {f"key{i:04}": i for i in range(500)},
        [0.1, -0.0, 1.5, 1e300, -2.25, 9007199254740993, -(2**63), 2**64 - 1],
        {"escapes": "tab\t nl\n quote\" bs\\ nul\u0000 \u2028\u2029 \U0010ffff"},
        "",
        [],
        False,
    ]


def mode_echo(port, directory):
    c = client(port)
    values = vector_values(directory) + harder_values()
    if WRAPPED:
        assert None in values, "null is among the values"
    for value in values:
        echo_one(c, value)
    c.close()
    print(f"ok {len(values)} values echoed")


def mode_concurrent(port, n):
    errors = []
    start = threading.Barrier(n)

    def worker(k):
        try:
            c = client(port)
            start.wait(timeout=30)
            for i in range(50):
                echo_one(c, {"client": f"py-{k}", "i": i, "pad": "x" * (k * 100)})
            c.close()
        except Exception as e:  # reported by the main thread
            errors.append(f"client {k}: {e!r}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    print(f"ok {n} clients x 50 messages")


def mode_reconnect(port):
    c = client(port)
    echo_one(c, {"round": 1})
    c.close()
    assert c.connect(), "could not reconnect"
    echo_one(c, {"round": 2})
    c.close()
    c = client(port)
    echo_one(c, {"round": 3})
    c.close()
    print("ok 3 rounds")


def v2_frame(payload, magic=b"JSN1", length=None, crc=None):
    length = len(payload) if length is None else length
    crc = zlib.crc32(payload) & 0xFFFFFFFF if crc is None else crc
    return struct.pack("!4sII", magic, length, crc) + payload


def closed_by_server(sock):
    """True once the server has ended the connection (end of file or reset)."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def mode_garbage(port):
    good = client(port)
    good_payload = json.dumps({"ok": True}).encode()
    kinds = {
        # Fits no dialect: not JSN1, not HTTP, and a length over the limit read either way.
        "bad_header": b"\xde\xad\xbe\xef" + b"\x00" * 12,
        # A good frame sets the dialect to v2; the next header then lacks the magic.
        "bad_magic": v2_frame(good_payload) + v2_frame(good_payload, magic=b"XXXX"),
        "oversize": v2_frame(b"", length=11 * 1024 * 1024),
        "bad_crc": v2_frame(good_payload, crc=0xDEADBEEF),
        "truncated": v2_frame(good_payload)[:15],
        "timeout": v2_frame(good_payload)[:9],
    }
    sent = []
    for i, (kind, data) in enumerate(kinds.items()):
        raw = socket.create_connection((HOST, port), timeout=30)
        raw.sendall(data)
        if kind == "truncated":
            raw.shutdown(socket.SHUT_WR)
        # "timeout" relies on the server's frame timeout, which the test sets short.
        assert closed_by_server(raw), f"{kind}: the server kept the connection"
        raw.close()
        sent.append(kind)
        echo_one(good, {"between": i, "after": kind})

    # Bad JSON, or a payload that is not UTF-8, in an intact frame costs that message only: the
    # stream goes on.
    for kind, bad in [("invalid_utf8", b'"\xff\xfe"'), ("invalid_json", b"{not json")]:
        raw = socket.create_connection((HOST, port), timeout=30)
        raw.sendall(v2_frame(bad) + v2_frame(good_payload))
        header = b""
        while len(header) < 12:
            chunk = raw.recv(12 - len(header))
            assert chunk, f"{kind}: the server closed the connection"
            header += chunk
        magic, size, _crc = struct.unpack("!4sII", header)
        assert magic == b"JSN1", header
        body = b""
        while len(body) < size:
            body += raw.recv(size - len(body))
        assert json.loads(body) == {"ok": True}, body
        raw.close()
        sent.append(kind)
    echo_one(good, {"last": True})
    good.close()
    print("ok " + " ".join(sent))


def main():
    global WRAPPED
    args = sys.argv[1:]
    if "--wrapped" in args:
        args.remove("--wrapped")
        WRAPPED = True
    mode, port = args[0], int(args[1])
    if mode == "echo":
        mode_echo(port, args[2])
    elif mode == "concurrent":
        mode_concurrent(port, int(args[2]))
    elif mode == "reconnect":
        mode_reconnect(port)
    elif mode == "garbage":
        mode_garbage(port)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
