#!/usr/bin/env bash
# Installs what the wasm build and its tests need, skipping what is there:
#   - the wasm32-unknown-unknown target;
#   - Chromium from Debian (only if missing);
#   - the npm packages of pkg/ (binaryen's wasm-opt) and tests/browser/js/
#     (playwright-core, avsc, esbuild, OpenTelemetry, typescript), from
#     their lockfiles. No browser is ever downloaded: playwright-core
#     drives /usr/bin/chromium.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "setup-wasm: $*" >&2; }

if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "wasm32-unknown-unknown: present"
else
    rustup target add wasm32-unknown-unknown
fi

if [[ -x /usr/bin/chromium ]]; then
    say "chromium: present"
else
    say "installing chromium from Debian"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

for dir in "$ROOT/pkg" "$ROOT/tests/browser/js"; do
    # npm writes node_modules/.package-lock.json when it installs; newer
    # than the lockfile means the install is current.
    if [[ -f "$dir/node_modules/.package-lock.json" && "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]]; then
        say "npm packages of ${dir#"$ROOT"/}: present"
    else
        say "npm ci in ${dir#"$ROOT"/}"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
say "done"
