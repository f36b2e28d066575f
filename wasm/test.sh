#!/usr/bin/env bash
# Tests the browser adapter: the codec and the sans-IO session with wasm-bindgen-test in headless
# Chromium (Debian's chromium + chromedriver) against tests/vectors; the built npm package
# under Node (the JavaScript API over a stand-in WebSocket); then the package in Chromium over a
# real WebSocket to the native echo server, and in minimal Vite and esbuild apps (tests/bundlers).
# Installs what it needs; runs from any directory; quiet on success.
set -euo pipefail

# shellcheck source=tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
cd "$ROOT"

ensure_wasm_target
ensure_wasm_bindgen
ensure_chromium

WEBDRIVER_JSON="$LOG_DIR/webdriver.json"
cat >"$WEBDRIVER_JSON" <<'JSON'
{"goog:chromeOptions":{"binary":"/usr/bin/chromium","args":["--headless=new","--no-sandbox","--disable-gpu","--disable-dev-shm-usage","--disable-background-networking","--disable-component-update","--disable-sync","--no-first-run","--disable-quic"]}}
JSON

quietly browser-tests env \
    WASM_BINDGEN_TEST_WEBDRIVER_JSON="$WEBDRIVER_JSON" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    CHROMEDRIVER=/usr/bin/chromedriver \
    WASM_BINDGEN_TEST_TIMEOUT=120 \
    cargo test --target "$WASM_TARGET" -p jsocket-wasm --test browser
passed="$(grep -o 'test result: ok. [0-9]* passed' "$LOG_DIR/browser-tests.log" | grep -o '[0-9]* passed' | head -n 1 || true)"
if [ -z "$passed" ] || [ "$passed" = "0 passed" ]; then
    echo "FAILED: no browser test ran (see $LOG_DIR/browser-tests.log)" >&2
    exit 1
fi
echo "wasm: browser tests in Chromium: $passed"

"$ROOT/wasm/build.sh" >"$LOG_DIR/build.out"
quietly package-tests env JSOCKET_PKG="$TARGET_DIR/npm/jsocket-wasm" \
    node --test "$ROOT/wasm/tests/js/"
echo "wasm: npm package tests: $(sed -n 's/^# pass //p' "$LOG_DIR/package-tests.log") passed"

ensure_playwright
quietly native-build cargo build -p native
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$TARGET_DIR/debug/native" serve --bind 127.0.0.1 --port "$PORT" >"$LOG_DIR/native-server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "FAILED: the native server did not start:" >&2
        cat "$LOG_DIR/native-server.log" >&2
        exit 1
    fi
    sleep 0.1
done
quietly end-to-end node "$ROOT/wasm/tests/e2e/echo.mjs" "$TARGET_DIR/npm/jsocket-wasm" "$NPM_TOOLS" \
    "ws://127.0.0.1:$PORT/"
echo "wasm: $(tail -n 1 "$LOG_DIR/end-to-end.log")"

# The packed package in minimal Vite and esbuild apps, built, served and loaded as its README says.
"$ROOT/wasm/tests/bundlers/test.sh"
