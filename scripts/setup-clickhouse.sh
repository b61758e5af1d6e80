#!/usr/bin/env bash
# Installs Debian's clickhouse-server (18.16 on Debian 12), which the
# ClickHouse sink's tests, its bench and `make demo SINK=clickhouse` start
# on 127.0.0.1 from a config of their own; skips it when it is there. The
# package's own service is never started (its data would be elsewhere).
set -euo pipefail
say() { echo "setup-clickhouse: $*" >&2; }

if [[ -n "${CLICKHOUSE_SERVER:-}" && -x "${CLICKHOUSE_SERVER}" ]] || command -v clickhouse-server >/dev/null \
    || [[ -x /usr/sbin/clickhouse-server ]]; then
    say "clickhouse-server: present"
    exit 0
fi
say "installing clickhouse-server from Debian"
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
$SUDO apt-get update
# policy-rc.d (or the lack of an init system) keeps the service from starting.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends clickhouse-server
say "done"
