#!/usr/bin/env bash
# End-to-end test of the web exhibit in headless Chromium: builds the npm package and the page
# (www/build.sh, into target/www-dist: the test runs what the sources make now, not the
# committed www/dist), starts the native server on a free port serving it, then two pages and a
# Python jsocket 2.0.3 client share the live room (www/tests/e2e.mjs). The screenshot goes to
# target/e2e/exhibit.png. Installs what it needs: Debian's chromium (never a downloaded
# browser), playwright-core in www/node_modules, the Python venv under target/py.
# Runs from any directory; quiet on success. SKIP_WASM_BUILD=1 as for build.sh.
set -euo pipefail

WWW="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../wasm/tools.sh
source "$WWW/../wasm/tools.sh" # ROOT, TARGET_DIR, quietly, ensure_chromium
LOG_DIR="$TARGET_DIR/www-logs"
mkdir -p "$LOG_DIR"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if ! [ -x "$CHROMIUM" ]; then
    ensure_chromium
fi

PY_VENV="$TARGET_DIR/py/jsocket-2.0.3"
PYTHON="${JSOCKET_PY_203:-$PY_VENV/bin/python}"
if ! "$PYTHON" -c 'import jsocket, sys; sys.exit(jsocket.__version__ != "2.0.3")' 2>/dev/null; then
    PYTHON="$PY_VENV/bin/python"
    quietly venv-203 sh -c "python3 -m venv '$PY_VENV' && '$PY_VENV/bin/pip' install -q jsocket==2.0.3"
fi

DIST="$TARGET_DIR/www-dist"
quietly www-build "$WWW/build.sh" --out "$DIST"
quietly cargo-native cargo build -q -p native --manifest-path "$ROOT/Cargo.toml"
SERVER="$TARGET_DIR/debug/native"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SERVER_LOG="$LOG_DIR/e2e-server.log"
"$SERVER" serve --port "$PORT" --web "$DIST" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT

# Wait (a condition, not a measurement) for the page to be served.
for _ in $(seq 300); do
    if curl -fs -o /dev/null "http://127.0.0.1:$PORT/"; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "FAILED: the server exited:" >&2
        cat "$SERVER_LOG" >&2
        exit 1
    fi
    sleep 0.1
done

mkdir -p "$TARGET_DIR/e2e"
if ! (cd "$WWW" && EXHIBIT_URL="http://127.0.0.1:$PORT/" PYTHON="$PYTHON" CHROMIUM="$CHROMIUM" \
    SCREENSHOT="$TARGET_DIR/e2e/exhibit.png" node tests/e2e.mjs); then
    echo "(server log: $SERVER_LOG)" >&2
    exit 1
fi
echo "www: exhibit end-to-end in Chromium: ok (screenshot: $TARGET_DIR/e2e/exhibit.png)"
