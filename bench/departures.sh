#!/usr/bin/env bash
# Departures: a chat room that leaves at once while the server runs (its load client exits), for
# `native serve --handler chat --threads 2`: how long the server stays busy once the client has
# reported its last size and lets its members go (until the server's CPU time stops growing for
# a second, that second not counted), the CPU seconds that takes, and the pushes the server
# queued and dropped since it started (the room's broadcasts are 4 a member at each size):
# ./bench/departures.sh
#
# The room is joined in bursts of STEP by `native bench --room` (one round of broadcasts at each
# size), which then exits with every member.
#
#   SIZES="6000 18000"   STEP=2000   REPEAT=2   THREADS=2   CAP=300 (seconds waited for idle)
#   NATIVE=path (default: built here)   BEFORE=path another native binary, measured in turn
#   NICE=-5   niceness of the server and the client
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
source bench/common.sh
help_on "$@"
SIZES="${SIZES:-6000 18000}"
STEP="${STEP:-2000}"
REPEAT="${REPEAT:-2}"
THREADS="${THREADS:-2}"
CAP="${CAP:-300}"
NICE="${NICE:--5}"

if [ -z "${NATIVE:-}" ]; then
    cargo build --release -q -p native
    NATIVE="${CARGO_TARGET_DIR:-$ROOT/target}/release/native"
fi
SERVERS=(after)
if [ -n "${BEFORE:-}" ]; then
    SERVERS=(before after)
fi

ticks() { # pid -> its user + system CPU time, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

counter() { # port name -> a counter of the server's statistics
    "$NATIVE" send --to "127.0.0.1:$1" '{"$jsocket": "stats"}' |
        python3 -c "import json, sys; print(json.loads(sys.stdin.readline())['$2'])"
}

echo "    $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server size busy_s cpu_s pushes_queued pushes_dropped"
for n in $(seq "$REPEAT"); do
    for size in $SIZES; do
        for s in "${SERVERS[@]}"; do
            bin="$NATIVE"
            [ "$s" = before ] && bin="$BEFORE"
            port=$(free_port)
            nice -n "$NICE" "$bin" serve --handler chat --port "$port" --threads "$THREADS" \
                --max-connections $((size + 100)) 2>/dev/null &
            pid=$!
            PIDS+=("$pid")
            wait_port "$port"
            # The time and the server's CPU when the client reports its last size: then its
            # members begin to leave.
            mark=$(mktemp)
            nice -n "$NICE" "$NATIVE" bench --addr "127.0.0.1:$port" --room "$STEP" \
                --room-step "$STEP" --room-max "$size" --rounds 1 |
                while IFS= read -r _; do
                    echo "$(date +%s.%N) $(ticks "$pid")" >"$mark"
                done
            read -r gone start_ticks <"$mark"
            rm -f "$mark"
            last=$(ticks "$pid")
            last_at=$(date +%s.%N)
            while :; do
                sleep 0.1
                now=$(date +%s.%N)
                t=$(ticks "$pid")
                if [ "$t" != "$last" ]; then
                    last=$t
                    last_at=$now
                elif python3 -c "import sys; sys.exit(0 if $now - $last_at >= 1 else 1)"; then
                    break
                fi
                if python3 -c "import sys; sys.exit(0 if $now - $gone >= $CAP else 1)"; then
                    last_at="over $CAP"
                    break
                fi
            done
            queued=$(counter "$port" pushes_queued)
            dropped=$(counter "$port" pushes_dropped)
            busy=$(python3 -c "print('>$CAP' if '$last_at'.startswith('over') else round($last_at - $gone, 2))")
            cpu=$(python3 -c "print(round(($last - $start_ticks) / $(getconf CLK_TCK), 2))")
            echo "$s $size $busy $cpu $queued $dropped"
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        done
    done
done
