#!/usr/bin/env bash
# The one test command of the project: ./tests/run.sh [--quick]
#
# Installs what the tests need (skipping anything already at the right version), then runs
# formatting, lints, the host tests (including interop against the real Python jsocket 2.0.3 and
# 1.9.6), the wasm build, the browser tests in headless Chromium (wasm/test.sh), the web
# exhibit's end-to-end test (www/test.sh), a fuzz smoke run and a bench compile check.
#
#   --quick          skip the browser tests, the fuzz smoke run and the bench compile check
#   FUZZ_SECONDS=N   seconds per fuzz target (default 20)
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help)
            sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (usage: ./tests/run.sh [--quick])" >&2
            exit 2
            ;;
    esac
done

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
WASM_TARGET=wasm32-unknown-unknown
PY_VENVS="$ROOT/target/py"

now_ms() { date +%s%3N; }
seconds_since() { # start_ms -> "12.3"
    local ms=$(($(now_ms) - $1))
    printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100))
}

RUN_START=$(now_ms)
CURRENT_STEP=""
STEP_START=0
TIMINGS=()
SKIPPED=()

step() {
    CURRENT_STEP="$1"
    STEP_START=$(now_ms)
    echo
    echo "==> $CURRENT_STEP"
}

step_done() {
    local took
    took=$(seconds_since "$STEP_START")
    echo "    ($CURRENT_STEP: ${took}s)"
    TIMINGS+=("$(printf '%8ss  %s' "$took" "$CURRENT_STEP")")
    CURRENT_STEP=""
}

skip() {
    echo
    echo "SKIPPED: $1"
    SKIPPED+=("$1")
}

on_exit() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -n "$CURRENT_STEP" ]; then
        echo
        echo "FAILED: $CURRENT_STEP (exit status $status, after $(seconds_since "$STEP_START")s;" \
            "total $(seconds_since "$RUN_START")s)"
    fi
}
trap on_exit EXIT

# ---------------------------------------------------------------------------------------------
step "rust toolchain components"
cargo --version
for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
        rustup component add "$component"
    fi
done
cargo fmt --version
cargo clippy --version
if rustup target list --installed | grep -qx "$WASM_TARGET"; then
    echo "target $WASM_TARGET already installed"
else
    rustup target add "$WASM_TARGET"
fi
step_done

# ---------------------------------------------------------------------------------------------
step "the vendored polling is the one in use (vendor/README.md)"
# With no lock file, a newer polling on the registry would make [patch.crates-io] silently unused.
POLLING_TREE=$(cargo tree --workspace --invert polling --depth 0 2>&1) || {
    echo "$POLLING_TREE" >&2
    echo "cargo tree -i polling failed" >&2
    exit 1
}
echo "$POLLING_TREE"
if ! grep -q "^polling v.* (vendor/polling)\$" <<<"${POLLING_TREE//"$ROOT"\//}"; then
    echo "polling does not resolve to vendor/polling: the patch in the workspace Cargo.toml no" \
        "longer applies (is the polling pin still the vendored version? see vendor/README.md)" >&2
    exit 1
fi
step_done

# ---------------------------------------------------------------------------------------------
step "python jsocket peers (2.0.3, 1.9.6)"
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian ships venv/ensurepip apart from the interpreter.
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq python3-venv
    else
        echo "python3 lacks the venv module: install python3-venv" >&2
        exit 1
    fi
fi

# ensure_jsocket_venv VERSION -> path of that venv's python on stdout
ensure_jsocket_venv() {
    local version="$1"
    local venv="$PY_VENVS/jsocket-$version"
    local python="$venv/bin/python"
    local have=""
    if [ -x "$python" ]; then
        have=$("$python" -c 'import importlib.metadata as m; print(m.version("jsocket"))' 2>/dev/null || true)
    fi
    if [ "$have" = "$version" ]; then
        echo "jsocket $version already in $venv" >&2
    else
        if [ ! -x "$python" ]; then
            rm -rf "$venv"
            python3 -m venv "$venv" >&2
        fi
        "$python" -m pip install --disable-pip-version-check -q "jsocket==$version" >&2
        have=$("$python" -c 'import importlib.metadata as m; print(m.version("jsocket"))')
        if [ "$have" != "$version" ]; then
            echo "expected jsocket $version in $venv, found $have" >&2
            exit 1
        fi
        echo "installed jsocket $version in $venv" >&2
    fi
    echo "$python"
}

JSOCKET_PY_203=$(ensure_jsocket_venv 2.0.3)
JSOCKET_PY_196=$(ensure_jsocket_venv 1.9.6)
# From here on a missing interpreter fails the interop tests instead of skipping them.
JSOCKET_REQUIRE_PY=1
export JSOCKET_PY_203 JSOCKET_PY_196 JSOCKET_REQUIRE_PY
echo "JSOCKET_PY_203=$JSOCKET_PY_203"
echo "JSOCKET_PY_196=$JSOCKET_PY_196"
step_done

# ---------------------------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step_done

step "cargo clippy (all targets, warnings denied)"
cargo clippy --workspace --all-targets -- -D warnings
step_done

step "cargo test (host)"
cargo test --workspace
step_done

step "native's server suites again on 2 threads (sharded: JSOCKET_TEST_THREADS=2)"
JSOCKET_TEST_THREADS=2 cargo test -p native --test '*'
step_done

step "vendored polling (vendor/README.md): its own test suite on the patched copy"
cargo test --manifest-path vendor/polling/Cargo.toml --target-dir "${CARGO_TARGET_DIR:-$ROOT/target}"
step_done

# ---------------------------------------------------------------------------------------------
step "python package jsocket_rs: pip install ./python, then its pytest suite (python/tests)"
# A virtualenv of its own, as a user's: the package is built by `pip install ./python` (maturin,
# fetched from PyPI by pip as the build backend), with pytest beside it. The suite talks to the
# real jsocket 2.0.3 and 1.9.6 through the peers' interpreters above.
PY_RS_VENV="$PY_VENVS/jsocket-rs"
if [ ! -x "$PY_RS_VENV/bin/python" ]; then
    python3 -m venv "$PY_RS_VENV"
fi
if ! "$PY_RS_VENV/bin/python" -c 'import pytest' 2>/dev/null; then
    "$PY_RS_VENV/bin/pip" install --disable-pip-version-check -q pytest
fi
"$PY_RS_VENV/bin/pip" install --disable-pip-version-check -q --force-reinstall --no-deps ./python
(cd "$PY_RS_VENV" && bin/python -c 'import jsocket_rs; print("jsocket_rs", jsocket_rs.__version__, jsocket_rs.__file__)')
"$PY_RS_VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests
step_done

# ---------------------------------------------------------------------------------------------
step "wasm build ($WASM_TARGET)"
cargo build -p jsocket-core --target "$WASM_TARGET" --no-default-features
cargo build -p jsocket-wasm --target "$WASM_TARGET"
cargo clippy -p jsocket-wasm --target "$WASM_TARGET" --all-targets -- -D warnings
step_done

step "committed web exhibit (www/dist) matches its sources"
./www/stamp.sh --check
step_done

# ---------------------------------------------------------------------------------------------
if [ "$QUICK" -eq 1 ]; then
    skip "browser tests and web exhibit end-to-end (--quick)"
else
    step "browser: wasm-bindgen tests in Chromium, npm package, end to end (wasm/test.sh)"
    ./wasm/test.sh
    step_done

    step "web exhibit end-to-end in Chromium with Python jsocket (www/test.sh)"
    SKIP_WASM_BUILD=1 ./www/test.sh
    step_done
fi

# ---------------------------------------------------------------------------------------------
if [ "$QUICK" -eq 1 ]; then
    skip "fuzz smoke (--quick)"
elif ! cargo +nightly --version >/dev/null 2>&1; then
    skip "fuzz smoke (no nightly toolchain)"
elif [ ! -d core/fuzz ]; then
    skip "fuzz smoke (no core/fuzz yet)"
else
    step "fuzz smoke (${FUZZ_SECONDS}s per target)"
    if cargo fuzz --version >/dev/null 2>&1; then
        cargo fuzz --version
    else
        cargo install cargo-fuzz
    fi
    mapfile -t FUZZ_TARGETS < <(cd core && cargo +nightly fuzz list)
    if [ "${#FUZZ_TARGETS[@]}" -eq 0 ]; then
        echo "core/fuzz lists no fuzz target" >&2
        exit 1
    fi
    # Each target starts from its committed seed corpus (core/fuzz/seeds/<target>, read only)
    # with the JSON dictionary; what it finds goes to a scratch corpus under target/. A crash
    # stops the suite here: cargo fuzz exits non-zero and leaves the input in core/fuzz/artifacts.
    for target in "${FUZZ_TARGETS[@]}"; do
        echo "--> fuzz target $target"
        scratch="$ROOT/target/fuzz-corpus/$target"
        mkdir -p "$scratch" "core/fuzz/seeds/$target"
        (cd core && cargo +nightly fuzz run "$target" "$scratch" "fuzz/seeds/$target" -- \
            -dict=fuzz/json.dict -max_total_time="$FUZZ_SECONDS")
    done
    step_done
fi

# ---------------------------------------------------------------------------------------------
if [ "$QUICK" -eq 1 ]; then
    skip "bench compile check (--quick)"
else
    step "bench compile check"
    cargo bench --workspace --no-run
    step_done
fi

# ---------------------------------------------------------------------------------------------
echo
echo "==> timings"
for line in "${TIMINGS[@]}"; do
    echo "$line"
done
for line in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do
    echo "   skipped  $line"
done
echo
echo "PASSED: ${#TIMINGS[@]} steps in $(seconds_since "$RUN_START")s, ${#SKIPPED[@]} skipped"
