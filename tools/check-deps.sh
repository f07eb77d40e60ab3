#!/usr/bin/env bash
# The archive reader must stay free of any async runtime or database client: the restore
# engine depends on it, never the other way round (ARCHITECTURE.md, "one direction").
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p pgsurge-archive -e normal --prefix none --locked)
if grep -Eq '^(tokio|tokio-postgres|postgres|postgres-protocol|pgsurge-restore) ' <<<"$tree"; then
  echo "check-deps: pgsurge-archive depends on a runtime or database crate:" >&2
  grep -E '^(tokio|tokio-postgres|postgres|postgres-protocol|pgsurge-restore) ' <<<"$tree" >&2
  exit 1
fi
echo "check-deps: pgsurge-archive has no async runtime or database dependency"
