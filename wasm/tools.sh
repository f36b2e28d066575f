# Shared by build.sh and test.sh (sourced, not run): installs what the wasm build needs, each
# step skipped when the tool is already there at the right version. Output of installs goes to
# a log that is shown only when the step fails.

WASM_TARGET=wasm32-unknown-unknown
# npm's binaryen: Debian's (version 108) writes modules that fail to load.
BINARYEN_VERSION=132.0.0
# Drives Debian's /usr/bin/chromium; never downloads a browser.
PLAYWRIGHT_VERSION=1.65.1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LOG_DIR="$TARGET_DIR/wasm-logs"
mkdir -p "$LOG_DIR"

# quietly NAME CMD...: runs CMD with its output in a log; on failure prints the log's end.
quietly() {
    local name="$1"
    shift
    local log="$LOG_DIR/$name.log"
    if ! "$@" >"$log" 2>&1; then
        echo "FAILED: $name: $*" >&2
        tail -n 40 "$log" >&2
        echo "(full log: $log)" >&2
        return 1
    fi
}

ensure_wasm_target() {
    if ! rustup target list --installed | grep -qx "$WASM_TARGET"; then
        quietly rustup-target rustup target add "$WASM_TARGET"
    fi
}

# The wasm-bindgen version resolved in Cargo.lock (wasm/Cargo.toml pins it with `=`).
wasm_bindgen_version() {
    (
        cd "$ROOT"
        # Cargo.lock is not committed: resolve it first on a fresh checkout.
        [ -f Cargo.lock ] || cargo metadata --quiet --format-version 1 >/dev/null
        cargo pkgid -p wasm-bindgen 2>/dev/null | sed 's/.*[#@]//'
    )
}

ensure_wasm_bindgen() {
    local want
    want="$(wasm_bindgen_version)"
    if [ -z "$want" ]; then
        echo "FAILED: cannot find the wasm-bindgen version in Cargo.lock" >&2
        return 1
    fi
    if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $want" ] ||
        [ "$(wasm-bindgen-test-runner --version 2>/dev/null)" != "wasm-bindgen-test-runner $want" ]; then
        echo "installing wasm-bindgen-cli $want (a few minutes)" >&2
        # Not --locked: the registry mirror lacks some of the newest transitive versions.
        quietly wasm-bindgen-cli cargo install wasm-bindgen-cli --version "$want" --force
    fi
}

# npm packages the scripts use (binaryen, playwright-core), installed together under target/ so
# that one install does not remove the other.
NPM_TOOLS="$TARGET_DIR/npm-tools"
npm_tools_install() {
    mkdir -p "$NPM_TOOLS"
    quietly npm-tools npm install --prefix "$NPM_TOOLS" --no-save --no-audit --no-fund \
        "binaryen@$BINARYEN_VERSION" "playwright-core@$PLAYWRIGHT_VERSION"
}

ensure_playwright() {
    if [ "$(node -p 'require(process.argv[1]).version' \
        "$NPM_TOOLS/node_modules/playwright-core/package.json" 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]; then
        npm_tools_install
    fi
}

# Sets WASM_OPT to npm's wasm-opt, installed under target/.
ensure_wasm_opt() {
    WASM_OPT="$NPM_TOOLS/node_modules/.bin/wasm-opt"
    if [ "$("$WASM_OPT" --version 2>/dev/null)" != "wasm-opt version ${BINARYEN_VERSION%%.*} (version_${BINARYEN_VERSION%%.*})" ]; then
        npm_tools_install
    fi
}

# Debian's chromium and chromedriver (never a downloaded browser).
ensure_chromium() {
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        echo "installing chromium and chromium-driver from apt" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        quietly apt-update $sudo apt-get update
        quietly apt-chromium env DEBIAN_FRONTEND=noninteractive \
            $sudo apt-get install -y --no-install-recommends chromium chromium-driver
    fi
}
