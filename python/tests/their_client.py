"""The real jsocket's JsonClient (2.0.3 or 1.9.6, run by that interpreter) against a server that
answers each message ``m`` with ``{"echo": m}``.

  echo PORT VECTORS_DIR   every vector value and the harder values of tests/python/peer_client.py,
                          ``null`` included (a handler returning the message itself could not
                          answer ``null``: ``None`` means no reply)
  concurrent PORT N       N clients in N threads, 50 messages each, at once

Prints "ok ..." on success; any failure raises (exit status 1).
"""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "python"))

import jsocket  # noqa: E402
import peer_client  # noqa: E402


def client(port):
    try:
        c = jsocket.JsonClient(address="127.0.0.1", port=port, timeout=30.0)
    except TypeError:  # 1.9.6 takes no timeout argument
        c = jsocket.JsonClient(address="127.0.0.1", port=port)
        c.timeout = 30.0
    assert c.connect(), "could not connect"
    return c


def echo(c, value):
    c.send_obj(value)
    got = c.read_obj()
    assert got == {"echo": value}, f"sent {value!r:.200}, got {got!r:.200}"


def mode_echo(port, directory):
    c = client(port)
    values = peer_client.vector_values(directory) + peer_client.harder_values()
    assert None in values
    for value in values:
        echo(c, value)
    c.close()
    print(f"ok {len(values)} values")


def mode_concurrent(port, n):
    errors = []
    start = threading.Barrier(n)

    def worker(k):
        try:
            c = client(port)
            start.wait(timeout=30)
            for i in range(50):
                echo(c, {"client": k, "i": i, "pad": "x" * (k * 100)})
            c.close()
        except Exception as e:  # reported below
            errors.append(f"client {k}: {e!r}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    print(f"ok {n} clients x 50 messages")


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "echo":
        mode_echo(port, sys.argv[3])
    elif mode == "concurrent":
        mode_concurrent(port, int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
