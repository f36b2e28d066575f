#!/usr/bin/env bash
# Broadcast fan-out: the largest chat room whose 95th-percentile broadcast round trip (send
# until the last member has it) stays under 250 ms and under 100 ms, for `native serve
# --handler chat --threads 1` and `--threads 2` beside bench/tokio-echo's chat room (multi-thread
# runtime), same client, same run: ./bench/room.sh
#
# Each server is started fresh and loaded by `native bench --room`: the room grows by STEP
# members up to MAX, with 4 members broadcasting at once for ROUNDS rounds at each size; the
# servers take turns, REPEAT times. Every size's figures (p95, server CPU seconds, resident
# memory) are kept in OUT.
#
#   STEP=2000   MAX=18000 (the open-files limit less a reserve)   ROUNDS=20   REPEAT=2
#   BEFORE=path another native binary, measured as b1 and b2 in the same run
#   NICE=-5     niceness of the servers and the client          OUT=dir
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
source bench/common.sh
help_on "$@"
LIMIT=$(ulimit -Hn)
STEP="${STEP:-2000}"
MAX="${MAX:-$(((LIMIT - 1000) / STEP * STEP))}"
ROUNDS="${ROUNDS:-20}"
REPEAT="${REPEAT:-2}"
comparison b1 b2

start() { # server port -> starts it, sets SERVER_PID
    local args=(serve --handler chat --port "$2" --max-connections $((MAX + 100)))
    case "$1" in
        t1) nice -n "$NICE" "$NATIVE" "${args[@]}" --threads 1 2>"$OUT/$1.log" & ;;
        t2) nice -n "$NICE" "$NATIVE" "${args[@]}" --threads 2 2>"$OUT/$1.log" & ;;
        b1) nice -n "$NICE" "$BEFORE" "${args[@]}" --threads 1 2>"$OUT/$1.log" & ;;
        b2) nice -n "$NICE" "$BEFORE" "${args[@]}" --threads 2 2>"$OUT/$1.log" & ;;
        tokio) nice -n "$NICE" "$TOKIO" "127.0.0.1:$2" multi chat >"$OUT/$1.log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

echo "    $(nproc) cores, load average $(load_average); rooms of $STEP to $MAX; results in $OUT"
for n in $(seq "$REPEAT"); do
    for s in "${SERVERS[@]}"; do
        port=$(free_port)
        start "$s" "$port"
        wait_port "$port"
        : >"$OUT/$s.$n.jsonl"
        nice -n "$NICE" "$NATIVE" bench --addr "127.0.0.1:$port" --room "$STEP" \
            --room-step "$STEP" --room-max "$MAX" --rounds "$ROUNDS" \
            --server-pid "$SERVER_PID" --json >"$OUT/$s.$n.jsonl" 2>"$OUT/$s.$n.err" &
        client=$!
        # The server goes before the room does: every member leaving at once would have the
        # chat server tell each departure to everyone left (the square of the room), and keep
        # the machine busy into the next server's run.
        while kill -0 "$client" 2>/dev/null &&
            [ "$(wc -l <"$OUT/$s.$n.jsonl")" -lt $((MAX / STEP)) ]; do
            sleep 0.2
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        wait "$client" || echo "    $s: $(tail -1 "$OUT/$s.$n.err")" >&2
        echo "    done: $s, run $n (load average $(load_average))"
    done
done

python3 - "$OUT" "$REPEAT" "${SERVERS[@]}" <<'PY'
import json, statistics, sys
out, repeat, servers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
names = {"t1": "--threads 1", "t2": "--threads 2", "tokio": "tokio (2 workers)",
         "b1": "before, --threads 1", "b2": "before, --threads 2"}
steps = {}
for s in servers:
    for n in range(1, repeat + 1):
        try:
            lines = open(f"{out}/{s}.{n}.jsonl").read().split("\n")
        except OSError:
            continue
        for line in filter(None, lines):
            step = json.loads(line)
            steps.setdefault(s, {}).setdefault(step["members"], []).append(step)

def largest(s, n, limit):
    """The largest room of run n whose p95 stays under limit (every smaller one too)."""
    best = 0
    for members in sorted(steps.get(s, {})):
        runs = steps[s][members]
        if n >= len(runs) or runs[n]["timed_out"] or runs[n]["p95_ms"] >= limit:
            break
        best = members
    return best

runs_of = lambda s: max((len(r) for r in steps.get(s, {}).values()), default=0)

print("| server | largest room, p95 < 250 ms | largest room, p95 < 100 ms |")
print("|---|---|---|")
for s in servers:
    cells = []
    for limit in (250, 100):
        got = [largest(s, n, limit) for n in range(runs_of(s))]
        cells.append(", ".join(f"{g:,}" for g in got))
    print(f"| {names[s]} | {cells[0]} | {cells[1]} |")
print()
print("p95 round trip in ms, per run; server CPU µs per delivery, resident MiB, and the client's CPU")
print("µs per delivery (median of runs)")
print()
print("| members | " + " | ".join(names[s] for s in servers) + " |")
print("|---|" + "---|" * len(servers))
sizes = sorted({m for s in steps for m in steps[s]})
for members in sizes:
    cells = []
    for s in servers:
        runs = steps.get(s, {}).get(members, [])
        if not runs:
            cells.append("-")
            continue
        p95 = "/".join(f"{r['p95_ms']:.0f}" for r in runs)
        cpu = statistics.median(r["cpu_per_delivery_us"] or 0 for r in runs)
        rss = statistics.median(r["server_rss_mib"] or 0 for r in runs)
        client = statistics.median(r.get("client_cpu_per_delivery_us", 0) for r in runs)
        cells.append(f"{p95}; {cpu:.2f} µs, {rss:.0f} MiB; client {client:.2f} µs")
    print(f"| {members:,} | " + " | ".join(cells) + " |")
PY
