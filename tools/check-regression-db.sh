#!/usr/bin/env bash
# Restores PostgreSQL's own regression database — the richest schema there is: partitions
# several levels deep, inheritance, NOT VALID constraints, every object type — with
# pg_restore 18 and with pgsurge (several -j, from the file and from standard input), and
# requires every pgsurge restore to leave the database pg_restore left (pg_dump output equal).
#
#   tools/check-regression-db.sh [JOBS="1 2 4 8"]
#
# The database is built by running src/test/regress/sql/*.sql of PostgreSQL 18's source in
# parallel_schedule order into a scratch cluster (the unprivileged postgres user, a temporary
# directory, a free port). Scripts that need the regression C library or input files fail in
# part; what they leave is still a schema no fixture matches. The source comes from PG_SRC (a
# postgresql-18.x directory), else from Debian's source package (deb-src lines are added for
# that). Not part of tools/test.sh: it takes a few minutes and a download.
# Needs tools/install-postgres.sh and `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs_list=${1:-"1 2 4 8"}
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
bin=$PGSURGE_PG18_BINDIR
pgsurge=${PGSURGE_BIN:-$PWD/target/release/pgsurge}
[[ -x $pgsurge ]] || { echo "no pgsurge binary at $pgsurge: run cargo build --release" >&2; exit 1; }

src=${PG_SRC:-}
if [[ -z $src ]]; then
  cache=/var/tmp/pgsurge-pgsrc
  src=$(find "$cache" -maxdepth 1 -type d -name 'postgresql-18.*' 2>/dev/null | head -1 || true)
  if [[ -z $src ]]; then
    # shellcheck source=tools/debian-source.sh
    source tools/debian-source.sh
    debian_source postgresql-18 "$cache"
    tarball=$(ls "$cache"/postgresql-18_*.orig.tar.* | head -1)
    tar -xf "$tarball" -C "$cache" --wildcards '*/src/test/regress/sql' '*/src/test/regress/data' '*/src/test/regress/parallel_schedule'
    src=$(find "$cache" -maxdepth 1 -type d -name 'postgresql-18.*' | head -1)
  fi
fi
regress=$src/src/test/regress
[[ -f $regress/parallel_schedule ]] || { echo "no regression tests under $src" >&2; exit 1; }
chmod -R a+rX "$regress"

# shellcheck source=tools/scratch-cluster.sh
source tools/scratch-cluster.sh
scratch_cluster "$bin" pgsurge-regress -c fsync=off -c max_connections=50 -c max_locks_per_transaction=1024
psql() { "$bin/psql" -X -q "$@"; }

psql -d postgres -c "CREATE DATABASE regression"
echo "building the regression database from $regress" >&2
for t in $(sed -n 's/^test: //p' "$regress/parallel_schedule"); do
  [[ -f $regress/sql/$t.sql ]] || continue
  (cd "$regress" && PGOPTIONS="-c statement_timeout=20s" timeout 60 "$bin/psql" -X -q -d regression \
    -v abs_srcdir="$regress" -v abs_builddir="$regress" -v libdir=/nonexistent -v dlsuffix=.so \
    -f "sql/$t.sql" >/dev/null 2>&1) || true
done
archive=$cluster/regression.dump
"$bin/pg_dump" -Fc -d regression -f "$archive"
echo "archive: $(du -h "$archive" | cut -f1), $("$bin/pg_restore" -l "$archive" | grep -vc '^;') entries" >&2

dump() { "$bin/pg_dump" -d "$1" | grep -v '^\\\(un\)\?restrict '; }
psql -d postgres -c "CREATE DATABASE want"
"$bin/pg_restore" -j 4 -d want "$archive" 2>"$cluster/want.err" || true
dump want >"$cluster/want.sql"

failed=0
for j in $jobs_list; do
  for source in file stdin; do
    db="got_${j}_$source"
    psql -d postgres -c "CREATE DATABASE $db"
    status=0
    if [[ $source == file ]]; then
      "$pgsurge" restore -q -j "$j" -d "$db" "$archive" 2>"$cluster/$db.err" || status=$?
    else
      "$pgsurge" restore -q -j "$j" -d "$db" <"$archive" 2>"$cluster/$db.err" || status=$?
    fi
    dump "$db" >"$cluster/$db.sql"
    if [[ $status -ne 0 ]] || ! cmp -s "$cluster/want.sql" "$cluster/$db.sql"; then
      failed=1
      echo "FAIL -j $j from $source: exit $status"
      head -5 "$cluster/$db.err"
      diff "$cluster/want.sql" "$cluster/$db.sql" | head -20 || true
    else
      echo "ok   -j $j from $source"
    fi
    psql -d postgres -c "DROP DATABASE $db"
  done
done
exit $failed
