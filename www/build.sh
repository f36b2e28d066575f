#!/usr/bin/env bash
# Builds the web exhibit into www/dist (or the directory given with --out DIR): builds the npm
# package (wasm/build.sh), installs it from its tarball into www/node_modules as any user of the
# package would, and copies the page and the package's browser files beside it (an import map
# names the package: no bundler needed), with a STAMP of the sources (www/stamp.sh).
# www/dist is committed, so that `cargo run -p native` serves the exhibit at
# http://127.0.0.1:5489/ on a fresh clone; CI checks that it matches its sources.
# Runs from any directory; quiet on success. SKIP_WASM_BUILD=1 takes the package tarball already
# in target/npm as it is.
set -euo pipefail

WWW="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../wasm/tools.sh
source "$WWW/../wasm/tools.sh" # ROOT, TARGET_DIR, quietly, ensure_chromium
LOG_DIR="$TARGET_DIR/www-logs"
mkdir -p "$LOG_DIR"

OUT="$WWW/dist"
if [ "${1:-}" = --out ] && [ -n "${2:-}" ]; then
    mkdir -p "$2"
    OUT="$(cd "$2" && pwd)"
elif [ -n "${1:-}" ]; then
    echo "usage: www/build.sh [--out DIR]" >&2
    exit 2
fi

if [ "${SKIP_WASM_BUILD:-0}" != 1 ]; then
    quietly wasm-build "$ROOT/wasm/build.sh"
fi

version="$(node -p 'require(process.argv[1]).version' "$ROOT/wasm/js/package.json")"
tarball="$TARGET_DIR/npm/jsocket-wasm-$version.tgz"
if [ ! -f "$tarball" ]; then
    echo "FAILED: $tarball is missing (wasm/build.sh should have made it)" >&2
    exit 1
fi
# package.json names the tarball under the default target directory.
want="file:../target/npm/jsocket-wasm-$version.tgz"
have="$(node -p 'require(process.argv[1]).dependencies["jsocket-wasm"]' "$WWW/package.json")"
if [ "$have" != "$want" ]; then
    echo "FAILED: www/package.json depends on $have; the package is now $want" >&2
    exit 1
fi
if [ "$TARGET_DIR" != "$ROOT/target" ]; then
    mkdir -p "$ROOT/target/npm"
    cp "$tarball" "$ROOT/target/npm/"
fi

cd "$WWW"
# The tarball keeps its version across builds: drop the installed copy so npm takes the new one.
rm -rf node_modules/jsocket-wasm
quietly npm-install npm install --no-audit --no-fund --no-package-lock

pkg="$WWW/node_modules/jsocket-wasm"
stage="$OUT.new"
rm -rf "$stage"
mkdir -p "$stage/vendor/jsocket-wasm"
cp "$WWW"/src/*.html "$WWW"/src/*.js "$WWW"/src/*.css "$stage/"
# The package's browser files, as its package.json lists them.
for file in $(node -p 'require(process.argv[1]).files.join(" ")' "$pkg/package.json"); do
    case "$file" in
    *.js | *.wasm) cp "$pkg/$file" "$stage/vendor/jsocket-wasm/" ;;
    esac
done
for file in index.js jsocket_wasm_bg.wasm; do
    if [ ! -f "$stage/vendor/jsocket-wasm/$file" ]; then
        echo "FAILED: the package has no $file" >&2
        exit 1
    fi
done
"$WWW/stamp.sh" >"$stage/STAMP"
# Swap in whole, so a running server never serves half a build.
rm -rf "$OUT.old"
if [ -d "$OUT" ]; then mv "$OUT" "$OUT.old"; fi
mv "$stage" "$OUT"
rm -rf "$OUT.old"
