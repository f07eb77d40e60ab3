#!/usr/bin/env bash
# Runs tools/demo.sh as a user without root, as a newcomer would: as root (CI), as the
# unprivileged `postgres` OS user, with the PostgreSQL binaries root installed (read-only to
# that user) and the pgsurge binary just built (that user has no Rust toolchain); otherwise
# as the calling user. Fails unless the demo ends with pgsurge's summary of a clean restore.
#
#   tools/check-demo.sh [PGSURGE_BINARY]   (default: target/debug/pgsurge)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/pgsurge}")
[[ -x $bin ]] || { echo "check-demo: no pgsurge binary at $bin" >&2; exit 1; }
# shellcheck source=tools/pg-root.sh
source tools/pg-root.sh
pg_root=$(pgsurge_pg_root)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [[ $(id -u) == 0 ]]; then
  chmod 644 "$out"
  chown postgres "$out"
  home=$(getent passwd postgres | cut -d: -f6)
  runuser -u postgres -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" PGSURGE_PG_ROOT="$pg_root" PGSURGE_BIN="$bin" \
    bash tools/demo.sh >"$out" 2>&1 || { cat "$out"; echo "check-demo: the demo failed as the postgres user" >&2; exit 1; }
else
  PGSURGE_BIN="$bin" tools/demo.sh >"$out" 2>&1 || { cat "$out"; echo "check-demo: the demo failed" >&2; exit 1; }
fi
if ! grep -q '^pgsurge: .* 1 index, 4 constraints, 0 errors$' "$out"; then
  cat "$out"
  echo "check-demo: the demo ran but its summary is not a clean restore of sample.dump" >&2
  exit 1
fi
echo "check-demo: the demo restored sample.dump as $( [[ $(id -u) == 0 ]] && echo "the postgres user" || id -un), without root"
