#!/usr/bin/env bash
# Our server against Python jsocket 2.0.3's ServerFactory, same clients, same run: ./bench/run.sh
#
# Builds the release binary, starts `native serve` and bench/python_echo_server.py on free
# loopback ports, runs each scenario against both servers back to back with `native bench`, then
# the stock Python JsonClient against both, and prints a table of ratios (ours / jsocket's).
#
#   --syscalls      also count the server's system calls per message (request/response, one
#                   connection), with `perf stat` where it works, else `strace -c`
#   --tokio         also start bench/tokio-echo (a plain tokio server) as a third column
#   DURATION=5      seconds measured per run        WARMUP=1   seconds before measuring
#   ROUNDS=3        runs of each scenario against each server, interleaved; the table shows the
#                   median rate and the median (and range) of the per-round ratios
#   OUT=dir         keep every run's JSON there (default: a temporary directory)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-1}"
ROUNDS="${ROUNDS:-3}"
SYSCALLS=0
TOKIO=0
for arg in "$@"; do
    case "$arg" in
        --syscalls) SYSCALLS=1 ;;
        --tokio) TOKIO=1 ;;
        -h | --help)
            sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (see --help)" >&2
            exit 2
            ;;
    esac
done

OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
source bench/common.sh

echo "==> building (release)"
cargo build --release -q -p native
NATIVE="$ROOT/target/release/native"

python_jsocket

OURS_PORT=$(free_port)
"$NATIVE" serve --port "$OURS_PORT" 2>"$OUT/native-serve.log" &
OURS_PID=$!
PIDS+=("$OURS_PID")
PY_PORT=$(free_port)
"$PY" "$ROOT/bench/python_echo_server.py" --port "$PY_PORT" >"$OUT/python-server.log" 2>&1 &
PIDS+=($!)
SERVERS=(ours py)
declare -A PORT=([ours]="$OURS_PORT" [py]="$PY_PORT")
if [ "$TOKIO" = 1 ]; then
    echo "==> building bench/tokio-echo (release)"
    cargo build --release -q --manifest-path "$ROOT/bench/tokio-echo/Cargo.toml"
    PORT[tokio]=$(free_port)
    "$ROOT/bench/tokio-echo/target/release/tokio-echo" "127.0.0.1:${PORT[tokio]}" \
        >"$OUT/tokio-echo.log" 2>&1 &
    TOKIO_PID=$!
    PIDS+=("$TOKIO_PID")
    SERVERS+=(tokio)
fi
for s in "${SERVERS[@]}"; do
    wait_port "${PORT[$s]}"
done
echo "==> servers: ours on ${PORT[ours]}, python jsocket 2.0.3 on ${PORT[py]}${PORT[tokio]:+, tokio on ${PORT[tokio]}}"
echo "    $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ${DURATION} s per run after ${WARMUP} s warm-up; results in $OUT"

# scenario NAME ARGS... : `native bench` against every server in turn, ROUNDS times.
SCENARIOS=()
scenario() {
    local name="$1"
    shift
    SCENARIOS+=("$name")
    local s round
    for round in $(seq "$ROUNDS"); do
        for s in "${SERVERS[@]}"; do
            if ! "$NATIVE" bench --addr "127.0.0.1:${PORT[$s]}" --duration "$DURATION" \
                --warmup "$WARMUP" --json "$@" >"$OUT/$name.$s.$round.json" \
                2>"$OUT/$name.$s.$round.err"; then
                echo "    $name against $s failed: $(tail -1 "$OUT/$name.$s.$round.err")" >&2
            fi
        done
    done
    echo "    done: $name"
}

echo "==> native bench against each server"
scenario "reqrep, 1 conn, 64 B" --mode reqrep -c 1 --size 64
scenario "reqrep, 1 conn, 64 B, threads engine" --mode reqrep -c 1 --size 64 --engine threads
scenario "reqrep, 8 conns, 64 B" --mode reqrep -c 8 --size 64
scenario "pipelined, 1 conn, depth 64, 64 B" --mode pipelined -c 1 --depth 64 --size 64
scenario "pipelined, 8 conns, depth 16, 64 B" --mode pipelined -c 8 --depth 16 --size 64
scenario "reqrep, 1 conn, 1 MiB" --mode reqrep -c 1 --size 1048576
scenario "reqrep, 1 conn, 64 B, no quick ACK" --mode reqrep -c 1 --size 64 --no-quickack

echo "==> stock Python JsonClient against each server"
PYCLIENT="stock Python JsonClient, reqrep, 64 B"
for round in $(seq "$ROUNDS"); do
    for s in "${SERVERS[@]}"; do
        "$PY" "$ROOT/bench/python_client.py" --port "${PORT[$s]}" --duration "$DURATION" \
            --warmup "$WARMUP" --json >"$OUT/$PYCLIENT.$s.$round.json" \
            2>"$OUT/$PYCLIENT.$s.$round.err" ||
            echo "    python client against $s failed: $(tail -1 "$OUT/$PYCLIENT.$s.$round.err")" >&2
    done
done
SCENARIOS+=("$PYCLIENT")

# syscalls NAME PID: system calls per message of server PID (and of the client) during one
# request/response run on one connection; then a breakdown by call from `strace -c`.
syscalls() {
    local name="$1" pid="$2" port="${PORT[$1]}"
    local bench=("$NATIVE" bench --addr "127.0.0.1:$port" --warmup 0 --json --mode reqrep -c 1
        --size 64)
    if perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
        perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$OUT/syscalls.$name.server" &
        local counter=$!
        sleep 0.5
        perf stat -x, -e raw_syscalls:sys_enter -o "$OUT/syscalls.$name.client" -- \
            "${bench[@]}" --duration "$DURATION" >"$OUT/syscalls.$name.json"
        kill -INT "$counter"
        wait "$counter" || true
        python3 - "$OUT" "$name" <<'PY'
import json, sys
out, name = sys.argv[1], sys.argv[2]
def calls(side):
    for line in open(f"{out}/syscalls.{name}.{side}"):
        if "raw_syscalls" in line:
            return int(line.split(",")[0])
messages = json.load(open(f"{out}/syscalls.{name}.json"))["messages"]
server, client = calls("server"), calls("client")
print(f"    {name}: {messages} messages at {messages / json.load(open(f'{out}/syscalls.{name}.json'))['duration_s']:,.0f}/s; "
      f"system calls per message: server {server / messages:.2f}, client {client / messages:.2f} (perf stat)")
PY
    fi
    strace -c -f -p "$pid" -o "$OUT/syscalls.$name.strace" 2>/dev/null &
    local tracer=$!
    sleep 0.5
    "${bench[@]}" --duration 2 >"$OUT/syscalls.$name.strace.json"
    kill -INT "$tracer"
    wait "$tracer" || true
    local messages
    messages=$(python3 -c "import json; print(json.load(open('$OUT/syscalls.$name.strace.json'))['messages'])")
    echo "    $name under strace -c ($messages messages, calls per message):"
    awk -v m="$messages" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
        printf "      %-16s %6.2f\n", $NF, $4 / m }' "$OUT/syscalls.$name.strace" | head -12
}

if [ "$SYSCALLS" = 1 ]; then
    echo "==> system calls, request/response on one connection"
    syscalls ours "$OURS_PID"
    if [ "$TOKIO" = 1 ]; then
        syscalls tokio "$TOKIO_PID"
    fi
fi

echo
python3 "$ROOT/bench/table.py" "$OUT" "$ROUNDS" "${SERVERS[@]}" -- "${SCENARIOS[@]}"
