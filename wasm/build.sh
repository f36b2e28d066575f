#!/usr/bin/env bash
# Builds the npm package `jsocket-wasm` into target/npm/jsocket-wasm and packs it into
# target/npm/jsocket-wasm-<version>.tgz, installing what it needs (wasm target, the wasm-bindgen
# CLI matching Cargo.lock, npm's binaryen for wasm-opt). Runs from any directory; quiet on success
# but for the sizes.
set -euo pipefail

# shellcheck source=tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
cd "$ROOT"

ensure_wasm_target
ensure_wasm_bindgen
ensure_wasm_opt

PROFILE=wasm-release
OUT="$TARGET_DIR/npm/jsocket-wasm"
STAGE="$TARGET_DIR/npm/bindgen"
WASM_IN="$TARGET_DIR/$WASM_TARGET/$PROFILE/jsocket_wasm.wasm"

# Panic locations baked into the module name the source files as they lie on this machine (the
# package registry's own directory among them): map those places to neutral names.
quietly cargo-fetch cargo fetch --target "$WASM_TARGET"
# (Passed as CARGO_ENCODED_RUSTFLAGS, one flag per field, so that paths may hold spaces.)
read -r -a flags <<<"${RUSTFLAGS:-}"
flags+=("--remap-path-prefix=$ROOT=/jsocket")
for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
    flags+=("--remap-path-prefix=${dir%/}=/deps")
done
encoded="$(IFS=$'\x1f'; echo "${flags[*]}")"
quietly cargo-build env CARGO_ENCODED_RUSTFLAGS="$encoded" \
    cargo build -p jsocket-wasm --no-default-features --target "$WASM_TARGET" --profile "$PROFILE"

rm -rf "$STAGE" "$OUT"
mkdir -p "$STAGE" "$OUT"
# The package's own index.d.ts documents the API; the bindings' types are internal.
quietly wasm-bindgen wasm-bindgen --target web --no-typescript --omit-default-module-path --out-dir "$STAGE" "$WASM_IN"
quietly wasm-opt "$WASM_OPT" -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$STAGE/jsocket_wasm_bg.wasm" -o "$OUT/jsocket_wasm_bg.wasm"
cp "$STAGE/jsocket_wasm.js" "$OUT/"
cp wasm/js/index.js wasm/js/index.d.ts wasm/js/package.json wasm/js/README.md "$OUT/"

# The package version is the crate's.
crate_version="$(sed -n 's/^version = "\(.*\)"/\1/p' wasm/Cargo.toml | head -n 1)"
package_version="$(node -p 'require(process.argv[1]).version' "$OUT/package.json")"
if [ "$crate_version" != "$package_version" ]; then
    echo "FAILED: wasm/js/package.json has version $package_version, wasm/Cargo.toml $crate_version" >&2
    exit 1
fi

rm -f "$TARGET_DIR/npm/jsocket-wasm-"*.tgz
quietly npm-pack npm pack --pack-destination "$TARGET_DIR/npm" "$OUT"
TARBALL="$TARGET_DIR/npm/jsocket-wasm-$package_version.tgz"

size() { wc -c <"$1" | tr -d ' '; }
echo "jsocket-wasm $package_version: $TARBALL"
echo "  tarball $(size "$TARBALL") B; .wasm $(size "$OUT/jsocket_wasm_bg.wasm") B" \
    "($(gzip -9c "$OUT/jsocket_wasm_bg.wasm" | wc -c | tr -d ' ') B gzipped)"
