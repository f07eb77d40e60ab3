# Sourced, not run (`source tools/pg-env.sh`): tells the tests and tools where each
# PostgreSQL major's binaries are, as tools/install-postgres.sh lays them out. A value already
# in the environment wins, so a developer can point one major at their own build without
# editing anything. Safe under `set -u`.
# shellcheck source=tools/pg-root.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg-root.sh"
_pgsurge_root=$(pgsurge_pg_root)
export PGSURGE_PG14_BINDIR="${PGSURGE_PG14_BINDIR:-$_pgsurge_root/14/bin}"
# 15 is Debian's package, not a wheel: see install-postgres.sh.
export PGSURGE_PG15_BINDIR="${PGSURGE_PG15_BINDIR:-/usr/lib/postgresql/15/bin}"
export PGSURGE_PG16_BINDIR="${PGSURGE_PG16_BINDIR:-$_pgsurge_root/16/bin}"
export PGSURGE_PG17_BINDIR="${PGSURGE_PG17_BINDIR:-$_pgsurge_root/17/bin}"
export PGSURGE_PG18_BINDIR="${PGSURGE_PG18_BINDIR:-$_pgsurge_root/18/bin}"
unset _pgsurge_root
