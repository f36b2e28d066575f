#!/usr/bin/env bash
# The bridge's round trip beside a direct TCP round trip to the same server: ./bench/bridge.sh
#
# Starts `native serve`, a Python jsocket 2.0.3 ServerFactory echo server, and a `native bridge`
# in front of each, on free loopback ports; then, ROUNDS times, runs `native bench` (request/
# response, one connection, 64-byte messages) over TCP and over WebSocket straight to our
# server, through the bridge to it, over TCP to the Python server and through the bridge to it,
# one after the other. Prints p50, p99 and msgs/s per case (medians over the rounds) and the
# p50 ratio to TCP direct to the same server (median and range of the per-round ratios).
#
#   DURATION=3      seconds measured per run        WARMUP=0.5   seconds before measuring
#   ROUNDS=7        rounds                          OUT=dir      keep every run's JSON there
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
DURATION="${DURATION:-3}"
WARMUP="${WARMUP:-0.5}"
ROUNDS="${ROUNDS:-7}"
case "${1:-}" in
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    "") ;;
    *)
        echo "unknown argument: $1 (see --help)" >&2
        exit 2
        ;;
esac

OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
source bench/common.sh

echo "==> building (release)"
cargo build --release -q -p native
N="$ROOT/target/release/native"
python_jsocket

OURS=$(free_port)
"$N" serve --port "$OURS" 2>"$OUT/serve.log" &
PIDS+=($!)
PYS=$(free_port)
"$PY" "$ROOT/bench/python_echo_server.py" --port "$PYS" >"$OUT/python.log" 2>&1 &
PIDS+=($!)
wait_port "$OURS"
wait_port "$PYS"
BR_OURS=$(free_port)
"$N" bridge --listen "127.0.0.1:$BR_OURS" --target "127.0.0.1:$OURS" 2>"$OUT/bridge-ours.log" &
PIDS+=($!)
BR_PY=$(free_port)
"$N" bridge --listen "127.0.0.1:$BR_PY" --target "127.0.0.1:$PYS" 2>"$OUT/bridge-py.log" &
PIDS+=($!)
wait_port "$BR_OURS"
wait_port "$BR_PY"

CASES=("ours-tcp 127.0.0.1:$OURS" "ours-ws ws://127.0.0.1:$OURS/" "ours-bridge ws://127.0.0.1:$BR_OURS/"
    "py-tcp 127.0.0.1:$PYS" "py-bridge ws://127.0.0.1:$BR_PY/")
echo "==> $ROUNDS rounds of ${DURATION} s after ${WARMUP} s warm-up; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
for round in $(seq "$ROUNDS"); do
    for c in "${CASES[@]}"; do
        set -- $c
        "$N" bench --addr "$2" --duration "$DURATION" --warmup "$WARMUP" --json \
            >"$OUT/$1.$round.json" 2>"$OUT/$1.$round.err" ||
            echo "    $1 failed: $(tail -1 "$OUT/$1.$round.err")" >&2
    done
    echo "    round $round done"
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def run(name, n):
    try:
        with open(f"{out}/{name}.{n}.json") as f:
            r = json.load(f)
    except (OSError, ValueError):
        return None
    return None if r.get("errors") else r
rows = [("ours, TCP direct", "ours-tcp", "ours-tcp"), ("ours, WebSocket direct", "ours-ws", "ours-tcp"),
        ("ours, WebSocket via the bridge", "ours-bridge", "ours-tcp"),
        ("Python 2.0.3, TCP direct", "py-tcp", "py-tcp"),
        ("Python 2.0.3, WebSocket via the bridge", "py-bridge", "py-tcp")]
print("| round trip | p50 | p99 | msg/s | vs TCP direct to the same server (p50) |")
print("|---|---|---|---|---|")
for label, name, base in rows:
    runs = [run(name, n) for n in range(1, rounds + 1)]
    ok = [r for r in runs if r]
    if not ok:
        print(f"| {label} | failed | | | |")
        continue
    p50 = statistics.median(r["latency_us"]["p50"] for r in ok)
    p99 = statistics.median(r["latency_us"]["p99"] for r in ok)
    rate = statistics.median(r["msgs_per_s"] for r in ok)
    if name == base:
        ratio = "1"
    else:
        rs = sorted(a["latency_us"]["p50"] / b["latency_us"]["p50"]
                    for a, b in zip(runs, [run(base, n) for n in range(1, rounds + 1)]) if a and b)
        ratio = f"{statistics.median(rs):.2f}× ({rs[0]:.2f}–{rs[-1]:.2f})" if rs else "-"
    print(f"| {label} | {p50:.1f} µs | {p99:.0f} µs | {rate:,.0f} | {ratio} |")
PY
