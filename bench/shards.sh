#!/usr/bin/env bash
# Scaling: `native serve --threads 1` and `--threads 2` beside bench/tokio-echo (multi-thread
# runtime, a worker per core), same load client, same run: ./bench/shards.sh
#
# Each scenario runs against every server in turn, ROUNDS times interleaved; the table gives
# the median messages per second and the server's CPU seconds per run (user + system, from
# /proc), and the ratios to tokio.
#
#   DURATION=5      seconds measured per run        WARMUP=1   seconds before measuring
#   ROUNDS=3        rounds                          OUT=dir    keep every run's JSON there
#   NICE=-5         niceness of the servers and the load client (below 0 needs root)
#   BEFORE=path     another native binary, measured with --threads 1 in the same run
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
source bench/common.sh
help_on "$@"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-1}"
ROUNDS="${ROUNDS:-3}"
comparison b1

declare -A PORT PID
for s in "${SERVERS[@]}"; do
    PORT[$s]=$(free_port)
done
nice -n "$NICE" "$NATIVE" serve --threads 1 --port "${PORT[t1]}" 2>"$OUT/t1.log" &
PID[t1]=$!
nice -n "$NICE" "$NATIVE" serve --threads 2 --port "${PORT[t2]}" 2>"$OUT/t2.log" &
PID[t2]=$!
nice -n "$NICE" "$TOKIO" "127.0.0.1:${PORT[tokio]}" multi \
    >"$OUT/tokio.log" 2>&1 &
PID[tokio]=$!
if [ -n "${BEFORE:-}" ]; then
    nice -n "$NICE" "$BEFORE" serve --threads 1 --port "${PORT[b1]}" 2>"$OUT/b1.log" &
    PID[b1]=$!
fi
PIDS+=("${PID[@]}")
for s in "${SERVERS[@]}"; do
    wait_port "${PORT[$s]}"
done
echo "    $(nproc) cores, load average $(load_average); ${DURATION} s per run; results in $OUT"

# CPU ticks (user + system) of a process so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

SCENARIOS=()
scenario() {
    local name="$1"
    shift
    SCENARIOS+=("$name")
    local s round before
    for round in $(seq "$ROUNDS"); do
        for s in "${SERVERS[@]}"; do
            before=$(ticks "${PID[$s]}")
            nice -n "$NICE" "$NATIVE" bench --addr "127.0.0.1:${PORT[$s]}" --duration "$DURATION" \
                --warmup "$WARMUP" --json "$@" >"$OUT/$name.$s.$round.json" \
                2>"$OUT/$name.$s.$round.err" || echo "    $name against $s failed" >&2
            echo $(($(ticks "${PID[$s]}") - before)) >"$OUT/$name.$s.$round.ticks"
        done
    done
    echo "    done: $name"
}

scenario "pipelined, 8 conns, depth 16, 64 B" --mode pipelined -c 8 --depth 16 --size 64
scenario "pipelined, 8 conns, depth 1000, 64 B" --mode pipelined -c 8 --depth 1000 --size 64
scenario "pipelined, 1 conn, depth 64, 64 B" --mode pipelined -c 1 --depth 64 --size 64
scenario "reqrep, 8 conns, 64 B" --mode reqrep -c 8 --size 64
scenario "reqrep, 1 conn, 64 B" --mode reqrep -c 1 --size 64
scenario "reqrep, 64 conns, 64 B" --mode reqrep -c 64 --size 64
scenario "reqrep, 1 conn, 1 MiB" --mode reqrep -c 1 --size 1048576

python3 - "$OUT" "$ROUNDS" "$(getconf CLK_TCK)" "$DURATION" "$WARMUP" "${BEFORE:+b1}" "${SCENARIOS[@]}" <<'PY'
import json, statistics, sys
out, rounds, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds = float(sys.argv[4]) + float(sys.argv[5])
before = sys.argv[6] == "b1"
servers = ["t1", "t2", "tokio"] + (["b1"] if before else [])
extra = " | before, --threads 1 | 1 / before" if before else ""
print(f"| scenario | --threads 1 | --threads 2 | tokio (2 workers) | 2 / 1 | 2 / tokio{extra} |")
print("|---|---|---|---|---|---|" + ("---|---|" if before else ""))
for name in sys.argv[7:]:
    rate, cpu = {}, {}
    for s in servers:
        r, c = [], []
        for n in range(1, rounds + 1):
            try:
                run = json.load(open(f"{out}/{name}.{s}.{n}.json"))
                r.append(run["messages"] / run["duration_s"])
                c.append(int(open(f"{out}/{name}.{s}.{n}.ticks").read()) / hz / seconds)
            except (OSError, ValueError, KeyError):
                pass
        rate[s] = statistics.median(r) if r else 0
        cpu[s] = statistics.median(c) if c else 0
    shown = lambda r: f"{r / 1000:,.0f} k/s" if r >= 10000 else f"{r:,.0f}/s"
    cell = lambda s: f"{shown(rate[s])}, {cpu[s]:.2f} cores"
    ratio = lambda a, b: f"{rate[a] / rate[b]:.2f}×" if rate[b] else "-"
    more = f" | {cell('b1')} | {ratio('t1', 'b1')}" if before else ""
    print(f"| {name} | {cell('t1')} | {cell('t2')} | {cell('tokio')} | {ratio('t2', 't1')} | {ratio('t2', 'tokio')}{more} |")
PY
