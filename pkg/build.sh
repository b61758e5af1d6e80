#!/usr/bin/env bash
# Builds the two wasm builds of the package into pkg/dist:
#   dist/default   fetch + WebSocket (feature `wasm`)
#   dist/grpc-web  the same plus the gRPC-web transport (feature `grpc-web`)
# Each: cargo (profile wasm-release, target wasm32-unknown-unknown), the
# wasm-bindgen CLI at the exact version Cargo.lock pins (installed by
# scripts/setup-wasm.sh), then wasm-opt from the npm `binaryen` package
# (Debian's binaryen 108 produces modules that fail to load).
#
# Usage: pkg/build.sh [default|grpc-web]...   (both when none is named)
set -euo pipefail
cd "$(dirname "$0")"
PKG=$(pwd)
ROOT=$(cd .. && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock")
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [[ "$have" != "$want" ]]; then
    echo "pkg/build.sh: wasm-bindgen $want is needed (Cargo.lock), found '${have:-none}'; run scripts/setup-wasm.sh" >&2
    exit 1
fi
WASM_OPT="$PKG/node_modules/.bin/wasm-opt"
if [[ ! -x "$WASM_OPT" ]]; then
    echo "pkg/build.sh: $WASM_OPT is missing; run scripts/setup-wasm.sh (npm ci in pkg/)" >&2
    exit 1
fi
# The features rustc enables for wasm32-unknown-unknown, named for wasm-opt
# (the module's target-features section is not relied upon).
FEATURES=(--enable-bulk-memory --enable-bulk-memory-opt --enable-multivalue --enable-mutable-globals
    --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext)
# -Oz until nothing changes; rustc's wasm layout leaves the low 1 KiB of
# memory unused (the stack sits below the data at 1 MiB) and the module
# defines its memory, so it starts zeroed. Together 0.9 KB gzip less than
# one -Oz pass on the default build. (--traps-never-happen would save 0.25
# KB more but lets wasm-opt drop the code on the way to a panic.)
OPT=(-Oz --converge --low-memory-unused --zero-filled-memory)

variants=("$@")
[[ ${#variants[@]} -gt 0 ]] || variants=(default grpc-web)
for variant in "${variants[@]}"; do
    case "$variant" in
        default) features=wasm ;;
        grpc-web) features=grpc-web ;;
        *) echo "pkg/build.sh: unknown build '$variant' (default or grpc-web)" >&2; exit 2 ;;
    esac
    echo "== $variant: cargo (features $features)" >&2
    (cd "$ROOT" && cargo rustc --quiet --lib --crate-type cdylib --profile wasm-release \
        --target wasm32-unknown-unknown --no-default-features --features "$features")
    out="$PKG/dist/$variant"
    rm -rf "$out"
    mkdir -p "$out"
    wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name edgemetrics \
        "$TARGET_DIR/wasm32-unknown-unknown/wasm-release/edgemetrics.wasm"
    if [[ -n "${EDGEMETRICS_SIZE_REPORT:-}" ]]; then
        # The same optimisation keeping the name section, for scripts/wasm-size.mjs.
        mkdir -p "$TARGET_DIR/wasm-size"
        "$WASM_OPT" "${FEATURES[@]}" "${OPT[@]}" -g "$out/edgemetrics_bg.wasm" -o "$TARGET_DIR/wasm-size/$variant.wasm"
    fi
    "$WASM_OPT" "${FEATURES[@]}" "${OPT[@]}" --strip-debug --strip-producers --strip-target-features \
        "$out/edgemetrics_bg.wasm" -o "$out/edgemetrics_bg.wasm"
    echo "   $(wc -c < "$out/edgemetrics_bg.wasm") bytes wasm, $(wc -c < "$out/edgemetrics.js") bytes JS" >&2
done
