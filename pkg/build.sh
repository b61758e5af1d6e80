#!/usr/bin/env bash
# Builds the package's wasm cores into pkg/dist: edgemetrics.wasm, the
# engine's chunk buffers and send pipeline behind a C ABI (src/wasm/), for
# every entry but one (the transports, the encoder and the subscription code
# are JavaScript, in lib/); and edgemetrics-instruments.wasm, the same with
# the engine's instruments, for `edgemetrics/instruments`. cargo (profile
# wasm-release, target wasm32-unknown-unknown, feature `wasm` alone), then
# wasm-opt from the npm `binaryen` package (Debian's binaryen 108 produces
# modules that fail to load).
#
# Usage: pkg/build.sh
set -euo pipefail
cd "$(dirname "$0")"
PKG=$(pwd)
ROOT=$(cd .. && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

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
# defines its memory, so it starts zeroed. Between the -Oz rounds, twice,
# --flatten --rereloop rebuild each function's control flow from scratch,
# which -Oz then folds tighter than rustc's own (measured, gzip -9:
# edgemetrics.wasm 7,166 -> 7,076 B, the instruments' 22,303 -> 22,180 B;
# once saves less, three times no more). A function with one caller is
# inlined into it only when it is small (-ocimfs, 10 instructions; by
# default at any size): 7,076 -> 7,003 B, 22,180 -> 22,128 B (the same
# from 5 to 30; from 40 on it grows again). Last, the functions most
# called first, whose indices then take fewer bytes (--reorder-functions):
# 7,003 -> 6,966 B, 22,128 -> 22,068 B.
OPT=(-Oz --flatten --rereloop -Oz --flatten --rereloop -Oz --reorder-functions --converge
    --one-caller-inline-max-function-size=10 --low-memory-unused --zero-filled-memory)

rm -rf "$PKG/dist"
mkdir -p "$PKG/dist"
# The core of every entry (feature `wasm`), and the core with the engine's
# instruments for `edgemetrics/instruments` (feature `instruments`).
for variant in edgemetrics:wasm edgemetrics-instruments:instruments; do
    name=${variant%%:*}
    features=${variant#*:}
    echo "== $name (cargo, feature $features)" >&2
    (cd "$ROOT" && cargo rustc --quiet --lib --crate-type cdylib --profile wasm-release \
        --target wasm32-unknown-unknown --no-default-features --features "$features")
    built="$TARGET_DIR/wasm32-unknown-unknown/wasm-release/edgemetrics.wasm"
    if [[ -n "${EDGEMETRICS_SIZE_REPORT:-}" ]]; then
        # The same optimisation keeping the name section, for scripts/wasm-size.mjs and twiggy.
        mkdir -p "$TARGET_DIR/wasm-size"
        "$WASM_OPT" "${FEATURES[@]}" "${OPT[@]}" -g "$built" -o "$TARGET_DIR/wasm-size/$name.wasm"
    fi
    "$WASM_OPT" "${FEATURES[@]}" "${OPT[@]}" --strip-debug --strip-producers --strip-target-features \
        "$built" -o "$PKG/dist/$name.wasm"
    echo "   $(wc -c < "$PKG/dist/$name.wasm") bytes wasm" >&2
done
