#!/usr/bin/env bash
# Runs every test of the wasm build, against real collectors, in real
# Chromium and Node; exits non-zero when one fails. Run
# scripts/setup-wasm.sh once first.
#
#   1. builds the collector and the native writer (debug), and the npm
#      package's two builds (pkg/build.sh: wasm-release, wasm-bindgen, wasm-opt);
#   2. wasm-bindgen-test suites (tests/browser/tests/suite) in headless
#      Chromium, the gRPC-web build, through the harness that runs the
#      collector and lets the tests stop and start it;
#   3. node --test: the page test (playwright-core, /usr/bin/chromium) and
#      the packed npm package's test, through the harness again.
#
# Set EDGEMETRICS_SKIP_BUILD=1 to reuse pkg/dist as it is.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { echo "test-wasm: $*" >&2; }

for tool in wasm-bindgen wasm-bindgen-test-runner node npm /usr/bin/chromium /usr/bin/chromedriver; do
    command -v "$tool" >/dev/null || { say "$tool is missing; run scripts/setup-wasm.sh"; exit 1; }
done
[[ -d tests/browser/js/node_modules && -d pkg/node_modules ]] || { say "npm packages missing; run scripts/setup-wasm.sh"; exit 1; }

say "building the collector and the native writer"
cargo build --quiet -p edgemetrics-collector -p edgemetrics-browser-tests --bin edgemetrics-collector --bin native-writer
if [[ -z "${EDGEMETRICS_SKIP_BUILD:-}" ]]; then
    say "building the npm package (pkg/build.sh)"
    pkg/build.sh
fi

export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/webdriver.json"
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-180}
# A dashboard page is not cross-origin isolated; neither is the test page.
export WASM_BINDGEN_TEST_NO_ORIGIN_ISOLATION=1

status=0
say "wasm-bindgen-test suites in headless Chromium"
node tests/browser/js/harness.mjs -- \
    cargo test --target wasm32-unknown-unknown -p edgemetrics-browser-tests --features grpc-web --test suite \
    || status=1

say "page test (Playwright) and packed package test (node --test)"
node tests/browser/js/harness.mjs -- \
    node --test --test-reporter=spec tests/browser/js/page.test.mjs tests/browser/js/package.test.mjs \
    || status=1

if [[ $status -eq 0 ]]; then say "all passed"; else say "FAILED"; fi
exit $status
