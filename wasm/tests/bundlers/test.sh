#!/usr/bin/env bash
# The packed npm package in minimal Vite, esbuild and webpack apps, as a web developer would use
# it (see run.mjs): copies the apps to target/bundlers, installs the versions pinned in
# package.json and the tarball wasm/build.sh made, then builds, serves and checks them in
# Chromium. Expects the tarball, target/debug/native and playwright-core under target/npm-tools
# (wasm/test.sh makes them); quiet on success but for one line per check.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../tools.sh
source "$HERE/../../tools.sh"

APP="$TARGET_DIR/bundlers"
version="$(node -p 'require(process.argv[1]).version' "$ROOT/wasm/js/package.json")"
TARBALL="$TARGET_DIR/npm/jsocket-wasm-$version.tgz"

mkdir -p "$APP"
rm -rf "$APP/src" "$APP/build" "$APP/dist" "$APP/dist-other"
cp "$HERE/package.json" "$HERE/tsconfig.json" "$APP/"
cp -r "$HERE/vite" "$HERE/esbuild" "$APP/"
# No lock file: the pins are in package.json, and a lock would record download addresses.
quietly bundlers-npm npm install --prefix "$APP" --no-package-lock --no-audit --no-fund "$TARBALL"

quietly bundlers node "$HERE/run.mjs" "$APP" "$TARGET_DIR/debug/native" "$NPM_TOOLS"
sed -n 's/^/wasm: bundlers: /p' "$LOG_DIR/bundlers.log"
