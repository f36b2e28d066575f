#!/usr/bin/env python3
"""What turning JSON text into Python objects costs a jsocket_rs server, per message: the
measurement behind parsing with Python's own ``json`` rather than in Rust.

Runs the server's per-message path through the sans-IO ``Connection`` (frame checked, payload
parsed by ``json.loads``, reply serialised by jsocket's ``json.dumps(obj, ensure_ascii=False)``
and framed) and the same path with the JSON steps left out (frame checked, payload text handed
over, a fixed reply framed). The difference is all that any parser, in Rust or not, could save;
it is set beside the round trip of one request on loopback.

    python bench/python_json.py        # with jsocket_rs installed
"""

import json
import time

import jsocket_rs as jsocket

MESSAGES = {
    "64 B": {"data": "x" * 52},
    "kiosk (117 B)": {"client": "kiosk-1", "op": "hello", "seq": 12345, "ts": 1732550000.123,
                      "items": [1, 2, 3], "ok": True, "tag": None},
}
MESSAGES["40 kiosks (4.8 KB)"] = [MESSAGES["kiosk (117 B)"]] * 40
BATCH = 1000


def best_of(fn, repeat=7):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) / BATCH * 1e6


def main():
    print("| message | with json.loads + json.dumps (µs) | framing only (µs) | JSON's share (µs) |")
    print("|---|---:|---:|---:|")
    for name, value in MESSAGES.items():
        wire = jsocket.encode(value) * BATCH
        text = json.dumps(value, ensure_ascii=False).encode()

        def full():
            conn = jsocket.Connection(strict_json=True)
            conn.receive_data(wire, 0.0)
            for _ in range(BATCH):
                conn.send(conn.next_event().obj)
            conn.data_to_send()

        def framing_only():
            decoder = jsocket.Decoder()
            for _payload in decoder.feed(wire):
                jsocket.encode_payload(text)

        f, b = best_of(full), best_of(framing_only)
        print(f"| {name} | {f:.2f} | {b:.2f} | {f - b:.2f} |")


if __name__ == "__main__":
    main()
