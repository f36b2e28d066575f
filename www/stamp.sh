#!/usr/bin/env bash
# Prints one hash of every source the built exhibit (www/dist) is made from: the core, the wasm
# crate, the npm package's JavaScript, the page and the build scripts. www/build.sh writes it to
# www/dist/STAMP; `./www/stamp.sh --check` fails when the committed www/dist was built from other
# sources than those in the tree (run ./www/build.sh and commit www/dist).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

stamp() {
    find Cargo.toml core/Cargo.toml core/src wasm/Cargo.toml wasm/src wasm/js wasm/build.sh \
        wasm/tools.sh www/src www/build.sh www/package.json -type f -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

case "${1:-}" in
"") stamp ;;
--check)
    want="$(stamp)"
    have="$(cat www/dist/STAMP 2>/dev/null || echo none)"
    if [ "$want" != "$have" ]; then
        echo "FAILED: www/dist is stale (built from sources $have, the tree has $want):" >&2
        echo "        run ./www/build.sh and commit www/dist" >&2
        exit 1
    fi
    echo "www/dist matches its sources ($want)"
    ;;
*)
    echo "usage: www/stamp.sh [--check]" >&2
    exit 2
    ;;
esac
