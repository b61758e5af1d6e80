#!/usr/bin/env bash
# Installs what the Workers example, the dashboard and their tests need,
# skipping what is there:
#   - the npm packages of examples/worker (esbuild), www (uPlot, esbuild),
#     tests/worker (miniflare 4, which brings workerd) and tests/dashboard
#     (playwright-core), from their lockfiles; the `edgemetrics` package
#     is linked from pkg/ (file:), not downloaded;
#   - Chromium from Debian, only if missing (playwright-core drives
#     /usr/bin/chromium; no browser is ever downloaded).
# The npm package itself (pkg/dist) needs scripts/setup-wasm.sh's tools.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "setup-edge: $*" >&2; }

if [[ -x /usr/bin/chromium ]]; then
    say "chromium: present"
else
    say "installing chromium from Debian"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

for dir in examples/worker www tests/worker tests/dashboard; do
    # npm writes node_modules/.package-lock.json when it installs; newer
    # than the lockfile means the install is current.
    if [[ -f "$ROOT/$dir/node_modules/.package-lock.json" && "$ROOT/$dir/node_modules/.package-lock.json" -nt "$ROOT/$dir/package-lock.json" ]]; then
        say "npm packages of $dir: present"
    else
        say "npm ci in $dir"
        (cd "$ROOT/$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
say "done"
