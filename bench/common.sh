# Helpers sourced by the benchmark scripts (bench/run.sh, bench/bridge.sh, bench/room.sh,
# bench/shards.sh, bench/departures.sh), from the repository root: the servers they start, the
# Python jsocket 2.0.3 they compare with, free ports.

# With -h or --help as its first argument, a script prints its header comment and exits.
usage_if_asked() { # "$@"
    if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
        sed -n '2,/^[^#]/p' "$0" | sed -n 's/^# \{0,1\}//p'
        exit 0
    fi
}

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
