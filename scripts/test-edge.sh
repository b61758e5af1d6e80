#!/usr/bin/env bash
# Builds and tests the Workers example and the dashboard against the real
# collector; exits non-zero when a test fails. Run scripts/setup-edge.sh
# once first (and scripts/setup-wasm.sh if pkg/dist must be built).
#
#   1. the collector and the native writer (examples/writer.rs), debug;
#   2. the npm package's wasm core, only if pkg/dist is missing (pkg/build.sh);
#   3. the dashboard (www/build.mjs → www/dist) and the Worker bundle
#      (examples/worker/build.mjs → examples/worker/dist, sizes printed);
#   4. node --test: the Worker in workerd (miniflare) and the dashboard in
#      headless Chromium (playwright-core); screenshots in target/artifacts/.
#
# The Worker's CPU time per request is measured separately:
#   node tests/worker/measure.mjs
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { echo "test-edge: $*" >&2; }

for tool in node npm /usr/bin/chromium; do
    command -v "$tool" >/dev/null || { say "$tool is missing; run scripts/setup-edge.sh"; exit 1; }
done
for dir in examples/worker www tests/worker tests/dashboard; do
    [[ -d "$dir/node_modules" ]] || { say "npm packages of $dir missing; run scripts/setup-edge.sh"; exit 1; }
done

say "building the collector and the native writer"
cargo build --quiet -p edgemetrics-collector
cargo build --quiet --features native --example writer
if [[ ! -f pkg/dist/edgemetrics.wasm ]]; then
    say "pkg/dist is missing: building the npm package's wasm core (pkg/build.sh)"
    pkg/build.sh
fi
say "building the dashboard (www/dist)"
node www/build.mjs
say "building the Worker bundle (examples/worker/dist)"
node examples/worker/build.mjs

status=0
say "the Worker in workerd against the collector"
node --test --test-reporter=spec tests/worker/worker.test.mjs tests/worker/instruments.test.mjs || status=1
say "the dashboard in headless Chromium against the collector and a native writer"
node --test --test-reporter=spec tests/dashboard/dashboard.test.mjs || status=1

if [[ $status -eq 0 ]]; then say "all passed (screenshots in target/artifacts/)"; else say "FAILED"; fi
exit $status
