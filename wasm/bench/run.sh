#!/usr/bin/env bash
# Benchmarks in headless Chromium (Debian's /usr/bin/chromium via playwright-core, never a
# downloaded browser): decode throughput of the package beside plain JavaScript, then round
# trips over a WebSocket to the native echo server beside the native client's over TCP.
# Builds the package and the server first. Runs from any directory.
set -euo pipefail

# shellcheck source=../tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tools.sh"
cd "$ROOT"

"$ROOT/wasm/build.sh"
ensure_chromium
ensure_playwright
quietly native-release cargo build --release -p native
NATIVE="$TARGET_DIR/release/native"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$NATIVE" serve --bind 127.0.0.1 --port "$PORT" >"$LOG_DIR/bench-server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

node "$ROOT/wasm/bench/decode.mjs" "$TARGET_DIR/npm/jsocket-wasm" "$NPM_TOOLS" "$ROOT/wasm/bench" \
    "ws://127.0.0.1:$PORT/"
echo "native client round trips over TCP to the same server (64-byte payloads):"
"$NATIVE" bench --addr "127.0.0.1:$PORT" --mode reqrep --size 64 --duration 3 --json
