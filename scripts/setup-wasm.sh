#!/usr/bin/env bash
# Installs what the wasm build and its tests need, skipping what is there:
#   - the wasm32-unknown-unknown target;
#   - wasm-bindgen-cli at the exact version Cargo.lock pins (the CLI must
#     match the crate; `cargo install --locked` fails on this registry
#     mirror because a pinned transitive version is missing, so no --locked);
#   - Chromium and ChromeDriver from Debian (only if missing);
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

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock")
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [[ "$have" == "$want" ]] && command -v wasm-bindgen-test-runner >/dev/null; then
    say "wasm-bindgen-cli $want: present"
else
    say "installing wasm-bindgen-cli $want (was: ${have:-none})"
    cargo install wasm-bindgen-cli --version "$want" --force
fi

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    say "chromium and chromedriver: present"
else
    say "installing chromium and chromium-driver from Debian"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
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
