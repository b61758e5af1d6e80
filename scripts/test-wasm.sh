#!/usr/bin/env bash
# Runs every test of the npm package, against real collectors, in real
# Chromium and Node; exits non-zero when one fails. Run
# scripts/setup-wasm.sh once first.
#
#   1. builds the collector and the native writer (debug), and the
#      package's wasm core (pkg/build.sh: wasm-release, wasm-opt);
#   2. node --test, without a collector: the encoder and the schema reader
#      against avsc and the engine's corpus (encode.test.mjs), and a short
#      run of the JS fuzz targets (fuzz/js/fuzz.test.mjs);
#   3. node --test through the harness, which runs the collector and lets
#      the tests stop and start it: the client suite in Node and in
#      headless Chromium (client.test.mjs, browser.test.mjs), the page that
#      goes away (page.test.mjs) and the packed package (package.test.mjs).
#
# Set EDGEMETRICS_SKIP_BUILD=1 to reuse pkg/dist as it is.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { echo "test-wasm: $*" >&2; }

for tool in node npm /usr/bin/chromium; do
    command -v "$tool" >/dev/null || { say "$tool is missing; run scripts/setup-wasm.sh"; exit 1; }
done
[[ -d tests/browser/js/node_modules && -d pkg/node_modules ]] || { say "npm packages missing; run scripts/setup-wasm.sh"; exit 1; }

say "building the collector and the native writer"
cargo build --quiet -p edgemetrics-collector -p edgemetrics-browser-tests --bin edgemetrics-collector --bin native-writer
if [[ -z "${EDGEMETRICS_SKIP_BUILD:-}" ]]; then
    say "building the npm package's wasm core (pkg/build.sh)"
    pkg/build.sh
fi

status=0
say "the encoder and the schema reader (node --test)"
node --test --test-reporter=spec tests/browser/js/encode.test.mjs fuzz/js/fuzz.test.mjs || status=1

say "the client in Node and in Chromium, the page, the packed package (node --test)"
node tests/browser/js/harness.mjs -- \
    node --test --test-concurrency=1 --test-reporter=spec tests/browser/js/client.test.mjs tests/browser/js/browser.test.mjs \
    tests/browser/js/page.test.mjs tests/browser/js/package.test.mjs \
    || status=1

if [[ $status -eq 0 ]]; then say "all passed"; else say "FAILED"; fi
exit $status
