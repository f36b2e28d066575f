"""Prints bench/run.sh's table from the JSON of its runs.

    python3 bench/table.py OUT_DIR ROUNDS SERVER... -- SCENARIO...

Each run is ``OUT_DIR/<scenario>.<server>.<round>.json``, as ``native bench --json`` and
``bench/python_client.py --json`` write them. Rates are the median over the rounds; ratios are
the median (and range) of the per-round ratios, each round's runs having been made back to back.
"""

import json
import statistics
import sys

NAMES = {"ours": "ours", "py": "jsocket 2.0.3", "tokio": "tokio"}


def main():
    out, rounds = sys.argv[1], int(sys.argv[2])
    split = sys.argv.index("--")
    servers, scenarios = sys.argv[3:split], sys.argv[split + 1:]

    def load(name, server, n):
        try:
            with open(f"{out}/{name}.{server}.{n}.json") as f:
                run = json.load(f)
        except (OSError, ValueError):
            return None
        return None if run.get("errors") else run

    def runs(name, server):
        return [load(name, server, n) for n in range(1, rounds + 1)]

    def cell(name, server):
        ok = [r for r in runs(name, server) if r]
        if not ok:
            return "failed"
        rate = statistics.median(r["msgs_per_s"] for r in ok)
        text = f"{rate:,.0f}/s"
        if ok[0]["size"] >= 65536:
            text += f" {rate * ok[0]['size'] / 1e6:,.0f} MB/s"
        return text

    def ratio(name, a, b):
        pairs = zip(runs(name, a), runs(name, b))
        rs = sorted(x["msgs_per_s"] / y["msgs_per_s"] for x, y in pairs if x and y and y["msgs_per_s"])
        if not rs:
            return "-"
        median = statistics.median(rs)
        if len(rs) == 1:
            return f"{median:,.2f}x"
        return f"{median:,.2f}x ({rs[0]:,.2f}-{rs[-1]:,.2f})"

    others = [s for s in servers if s != "ours"]
    head = ["scenario"] + [NAMES[s] for s in servers] + [f"ours / {NAMES[s]}" for s in others]
    table = [head]
    for name in scenarios:
        table.append([name] + [cell(name, s) for s in servers] + [ratio(name, "ours", s) for s in others])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    print(f"median of {rounds} round(s); ratios: median of the per-round ratios (range)")
    for n, row in enumerate(table):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for name in scenarios:
        ok = sorted((r for r in runs(name, "ours") if r and "p99" in r["latency_us"]),
                    key=lambda r: r["msgs_per_s"])
        if not ok:
            continue
        r = ok[len(ok) // 2]
        lat = r["latency_us"]
        cpu = f", client CPU {r['client_cpu'] * 100:.0f}%" if r.get("client_cpu") is not None else ""
        print(f"ours, {name}: latency p50 {lat['p50']:.1f} us, p99 {lat['p99']:.1f} us, "
              f"max {lat['max']:.0f} us{cpu}")


if __name__ == "__main__":
    main()
