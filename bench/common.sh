# Helpers sourced by the benchmark scripts (bench/run.sh, bench/bridge.sh, bench/room.sh,
# bench/shards.sh, bench/departures.sh), from the repository root: their help, the servers
# they start, the Python jsocket 2.0.3 they compare with, free ports, the load average to quote
# beside the figures.

# With -h or --help as the first argument: prints the calling script's header (the comment
# lines after its first line) and exits.
help_on() {
    case "${1:-}" in
        -h | --help)
            awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
            exit 0
            ;;
    esac
}

# The load average over 1, 5 and 15 minutes, to quote beside the figures.
load_average() { cut -d' ' -f1-3 /proc/loadavg; }

# Background processes to stop on exit: add each PID with `PIDS+=($!)`.
PIDS=()
stop_all() {
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop_all EXIT

# Sets PY to a Python with jsocket 2.0.3: $JSOCKET_PY_203, else target/py/jsocket-2.0.3
# (created when missing).
python_jsocket() {
    PY="${JSOCKET_PY_203:-$ROOT/target/py/jsocket-2.0.3/bin/python}"
    if ! "$PY" -c 'import importlib.metadata as m; assert m.version("jsocket") == "2.0.3"' 2>/dev/null; then
        echo "==> installing jsocket 2.0.3 in target/py/jsocket-2.0.3"
        rm -rf "$ROOT/target/py/jsocket-2.0.3"
        python3 -m venv "$ROOT/target/py/jsocket-2.0.3"
        PY="$ROOT/target/py/jsocket-2.0.3/bin/python"
        "$PY" -m pip install --disable-pip-version-check -q "jsocket==2.0.3"
    fi
}

# Builds the release server and the tokio comparison server; sets NATIVE and TOKIO to them.
build_servers() {
    echo "==> building (release)"
    cargo build --release -q -p native
    cargo build --release -q --manifest-path "$ROOT/bench/tokio-echo/Cargo.toml" \
        --target-dir "$ROOT/bench/tokio-echo/target"
    NATIVE="${CARGO_TARGET_DIR:-$ROOT/target}/release/native"
    TOKIO="$ROOT/bench/tokio-echo/target/release/tokio-echo"
}

# The comparison of bench/room.sh and bench/shards.sh: builds the servers (build_servers) and
# sets SERVERS to t1, t2 (native --threads 1 and 2) and tokio, then the arguments (the runs of
# the BEFORE binary: b1, b2) when BEFORE is set; NICE (default -5) for the servers and the
# client, and OUT (default: a temporary directory), created.
comparison() {
    NICE="${NICE:--5}"
    OUT="${OUT:-$(mktemp -d)}"
    mkdir -p "$OUT"
    build_servers
    SERVERS=(t1 t2 tokio)
    if [ -n "${BEFORE:-}" ]; then
        SERVERS+=("$@")
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port -> waits until something accepts there
    local n
    for n in $(seq 100); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2).close()" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    exit 1
}
