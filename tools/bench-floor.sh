#!/usr/bin/env bash
# The physical floor of a restore on this machine: what the server alone needs for a
# workload's largest table, with no restore client in the way. It loads that table's rows
# with a server-side `COPY … FROM '<file>'` (the rows already decompressed, in a file the
# server reads itself), on one connection and split in two halves on two at once, then runs
# the table's post-data statements (keys, indexes, foreign keys) one after another, each
# timed by the server. A restore tool's time for the same table can come near that sum and
# no lower; its ratio to pg_restore is bounded by it.
#
#   tools/bench-floor.sh [WORKLOADS=big,pgbench]
#
# Uses the archives tools/bench-restore.sh generated (BENCH_DIR, default
# /var/tmp/pgsurge-bench-restore; run that first) and a scratch PostgreSQL 18 cluster with
# the same production settings (fsync, synchronous_commit and full_page_writes on,
# shared_buffers 2GB, maintenance_work_mem 1GB, max_wal_size 8GB). Run nothing else meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
workloads=${1:-big,pgbench}
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
bin=$PGSURGE_PG18_BINDIR
work=${BENCH_DIR:-/var/tmp/pgsurge-bench-restore}
settings=(-c shared_buffers=2GB -c maintenance_work_mem=1GB -c max_wal_size=8GB -c fsync=on -c synchronous_commit=on -c full_page_writes=on)
# shellcheck source=tools/scratch-cluster.sh
source tools/scratch-cluster.sh
scratch_cluster "$bin" pgsurge-floor "${settings[@]}"
psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -o /dev/null "$@"; }
# In the cluster's directory, which the server can read and which goes with it.
rows=$cluster/rows
mkdir -p "$rows"
chmod 755 "$cluster" "$rows"
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc | awk '{printf "%.2f", $1}'; }

floor() { # workload
  local archive=$work/$1.dump table schema=public
  [[ -f $archive ]] || { echo "no $archive: run tools/bench-restore.sh $1 first" >&2; return 1; }
  case $1 in
    big) table=big ;;
    pgbench) table=pgbench_accounts ;;
    *) echo "bench-floor knows big and pgbench" >&2; return 2 ;;
  esac
  psql -d postgres -c "DROP DATABASE IF EXISTS floor" -c "CREATE DATABASE floor"
  # Every table with its rows, then the table emptied again for the timed loads.
  "$bin/pg_restore" --section=pre-data --section=data -d floor "$archive"
  psql -d floor -c "TRUNCATE $schema.$table"
  # The rows as COPY text: pg_restore's script of the table's data, without the COPY line and
  # the end marker.
  "$bin/pg_restore" --data-only -t "$table" -f - "$archive" | sed -n '/^COPY /,/^\\\.$/p' | sed '1d;$d' >"$rows/all"
  local n half
  n=$(wc -l <"$rows/all")
  half=$(((n + 1) / 2))
  head -n "$half" "$rows/all" >"$rows/a"
  tail -n +"$((half + 1))" "$rows/all" >"$rows/b"
  chmod 644 "$rows"/*
  local mb
  mb=$(($(stat -c %s "$rows/all") >> 20))

  psql -d postgres -c "CHECKPOINT"
  local t
  t=$(now)
  psql -d floor -c "COPY $schema.$table FROM '$rows/all'"
  local one
  one=$(since "$t")
  psql -d floor -c "TRUNCATE $schema.$table" -c "CHECKPOINT"
  t=$(now)
  psql -d floor -c "COPY $schema.$table FROM '$rows/a'" &
  psql -d floor -c "COPY $schema.$table FROM '$rows/b'"
  wait
  local two
  two=$(since "$t")

  # Every post-data statement, in the archive's order (each a paragraph of pg_restore's
  # script), each timed; those over 50 ms shown.
  local total=0 line
  echo "| $1 | $table, $mb MB of COPY text | COPY on 1 connection $one s | on 2 connections $two s |"
  while IFS= read -r -d $'\0' stmt; do
    t=$(now)
    psql -d floor -c "$stmt"
    line=$(since "$t")
    total=$(echo "$total + $line" | bc)
    if (($(echo "$line >= 0.05" | bc))); then
      echo "|  | $(echo "$stmt" | tr '\n' ' ' | sed 's/  */ /g' | cut -c1-90) | $line s | |"
    fi
  done < <("$bin/pg_restore" --section=post-data -f - "$archive" | awk 'BEGIN{RS=""} $0 !~ /^(--[^\n]*\n?)*$/ && $0 !~ /^\\/ {printf "%s%c", $0, 0}')
  echo "|  | all post-data, one statement after another | $total s | |"
  psql -d postgres -c "DROP DATABASE floor"
}

echo "| workload | step | seconds | |"
echo "|---|---|---|---|"
IFS=, read -r -a list <<<"$workloads"
for w in "${list[@]}"; do
  floor "$w"
done
