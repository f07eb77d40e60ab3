#!/usr/bin/env bash
# The crates' dependencies point one way, as their folders read (docs/architecture.md):
#
#   1-archive <- 1-script (sources: no runtime, no database) <- 2-plan (no server) <- 3-restore -> 4-connect
#   1-script <- 1-bundle (a source too: backup bundles, which hold a dump)
#   2-plan <- 3-stages -> 4-connect (the steps around a restore: preflight, marker, migrations, swap)
#
# so the reader and the planner stay free of any async runtime or database client, the
# connection crate knows nothing of archives, and nothing depends on the engine but the binary.
# Then: no import cycle between sibling modules of any crate (tools/module-cycles.py; a
# page of Python, where cargo-modules would need rust-analyzer's crates built first, ten
# minutes on this machine, and a newer rustc for its current release).
set -euo pipefail
cd "$(dirname "$0")/.."

# crate: the crates it must not reach, directly or through others
declare -A forbidden=(
  [pgsurge-archive]='tokio|tokio-postgres|postgres-protocol|pgsurge-script|pgsurge-plan|pgsurge-restore|pgsurge-connect'
  [pgsurge-script]='tokio|tokio-postgres|postgres-protocol|pgsurge-plan|pgsurge-restore|pgsurge-connect'
  [pgsurge-bundle]='tokio|tokio-postgres|postgres-protocol|pgsurge-plan|pgsurge-restore|pgsurge-connect'
  [pgsurge-plan]='tokio|tokio-postgres|postgres-protocol|pgsurge-restore|pgsurge-connect'
  [pgsurge-connect]='pgsurge-archive|pgsurge-script|pgsurge-plan|pgsurge-restore'
  [pgsurge-restore]='pgsurge|pgsurge-stages'
  [pgsurge-stages]='pgsurge|pgsurge-restore|pgsurge-script|pgsurge-bundle'
)
status=0
for crate in pgsurge-archive pgsurge-script pgsurge-bundle pgsurge-plan pgsurge-connect pgsurge-restore pgsurge-stages; do
  tree=$(cargo tree -p "$crate" -e normal --prefix none --locked)
  if bad=$(grep -E "^(${forbidden[$crate]}) " <<<"$tree" | sort -u) && [[ -n $bad ]]; then
    echo "check-deps: $crate depends on what it must not:" >&2
    echo "$bad" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "check-deps: crate dependencies point one way (archive <- script <- bundle, archive <- plan <- restore -> connect, plan <- stages -> connect)"
python3 tools/module-cycles.py crates/*/src src || status=1
exit $status
