"""The stock Python jsocket 2.0.3 ``JsonClient`` in a request/response loop, as its users write it.

Sends ``{"data": "xxx..."}`` (``--size`` bytes of JSON), reads the reply, checks it, and repeats
for ``--duration`` seconds after ``--warmup``; prints messages per second (``--json``: one JSON
object). The client is unmodified: header and payload go out in two writes, without
``TCP_NODELAY``, so its speed depends on what the server does about Nagle's algorithm.

    python bench/python_client.py --port 5489 --duration 5
"""

import argparse
import json
import sys
import time

import jsocket


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5489)
    parser.add_argument("--size", type=int, default=64, help="bytes of JSON per message (>= 12)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    # json.dumps writes {"data": "..."}: 12 bytes around the padding.
    message = {"data": "x" * max(0, args.size - 12)}
    client = jsocket.JsonClient(address=args.host, port=args.port)
    if not client.connect():
        print(f"cannot connect to {args.host}:{args.port}", file=sys.stderr)
        return 1

    start = time.monotonic()
    measure_from = start + args.warmup
    end = measure_from + args.duration
    count = 0
    latencies = []
    while True:
        sent = time.monotonic()
        if sent >= end:
            break
        client.send_obj(message)
        reply = client.read_obj()
        now = time.monotonic()
        if reply != message:
            print(f"reply differs from the request: {str(reply)[:80]}", file=sys.stderr)
            return 1
        if now >= measure_from and now < end:
            count += 1
            latencies.append(now - sent)
    client.close()

    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1e6 if latencies else 0.0
    result = {
        "client": "python jsocket 2.0.3 JsonClient",
        "target": f"{args.host}:{args.port}",
        "size": args.size,
        "duration_s": args.duration,
        "messages": count,
        "msgs_per_s": count / args.duration,
        "latency_us": {"p50": p50, "max": latencies[-1] * 1e6 if latencies else 0.0},
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.host}:{args.port}: {result['msgs_per_s']:.1f} msg/s "
            f"({count} replies in {args.duration:.1f} s), latency p50 {p50:.0f} us"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
