#!/usr/bin/env bash
# Plain SQL scripts restored by `psql -f` and by `pgsurge restore`, on a server configured as
# production servers are (fsync, synchronous_commit and full_page_writes on, shared_buffers
# 2GB, maintenance_work_mem 1GB, max_wal_size 8GB), alternating ROUNDS times, each into a
# freshly created database after a CHECKPOINT.
#
#   tools/bench-script.sh [WORKLOADS=many,pgbench,inserts] [ROUNDS=3] [JOBS="1 2 4"]
#
# pgsurge runs once per JOBS value (-j N) in each round, after psql.
#
# Scripts (made once into BENCH_DIR, default /var/tmp/pgsurge-bench-restore):
#   big       pg_restore's script of tools/bench-restore.sh's big.dump (one table of 1 GB of
#             COPY text, its primary key, three indexes and a foreign key: a 1 GB script)
#   wide      pg_dump's script of 8 tables of about 128 MB of COPY text each, a primary key
#             and an index on each (1 GB in all)
#   many      pg_restore's script of tools/bench-restore.sh's many.dump (2000 tables with an
#             index and a foreign key each, views, functions: ~10 000 statements)
#   pgbench   pg_restore's script of its pgbench.dump (scale 50: one 465 MB COPY, keys)
#   inserts   pg_dump --inserts of pgbench -i -s 1 --foreign-keys (100 000 INSERTs)
# big, many and pgbench need tools/bench-restore.sh to have made their archives. Prints wall
# seconds of each run and the median per tool. Needs `cargo build --release`. Run nothing
# else meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
workloads=${1:-many,pgbench,inserts}
rounds=${2:-3}
jobs_list=${3:-1 2 4}
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
bin=$PGSURGE_PG18_BINDIR
pgsurge=${PGSURGE_BIN:-$PWD/target/release/pgsurge}
work=${BENCH_DIR:-/var/tmp/pgsurge-bench-restore}
[[ -x $pgsurge ]] || { echo "no pgsurge binary at $pgsurge: run cargo build --release" >&2; exit 1; }
settings=(-c shared_buffers=2GB -c maintenance_work_mem=1GB -c max_wal_size=8GB -c fsync=on -c synchronous_commit=on -c full_page_writes=on)
# shellcheck source=tools/scratch-cluster.sh
source tools/scratch-cluster.sh
scratch_cluster "$bin" pgsurge-script "${settings[@]}"
psql() { "$bin/psql" -X -q "$@"; }

script() { # workload -> path of its script, made once
  local out=$work/$1.sql
  if [[ ! -f $out ]]; then
    case $1 in
      big | many | pgbench)
        [[ -f $work/$1.dump ]] || { echo "no $work/$1.dump: run tools/bench-restore.sh $1 first" >&2; return 1; }
        "$bin/pg_restore" -f "$out" "$work/$1.dump" ;;
      wide)
        psql -d postgres -c "DROP DATABASE IF EXISTS wide_src" -c "CREATE DATABASE wide_src"
        for i in 1 2 3 4 5 6 7 8; do
          psql -v ON_ERROR_STOP=1 -d wide_src -c "CREATE TABLE w$i (id bigint PRIMARY KEY, k int, name text, amount numeric, at timestamptz)" \
            -c "INSERT INTO w$i SELECT g, (g::bigint * 7919) % 100000, 'item ' || (g % 50000) || repeat('x', 20), (g % 100000) / 100.0, timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, 1500000) g" \
            -c "CREATE INDEX w${i}_k ON w$i (k)"
        done
        "$bin/pg_dump" -d wide_src -f "$out"
        psql -d postgres -c "DROP DATABASE wide_src" ;;
      inserts)
        psql -d postgres -c "DROP DATABASE IF EXISTS inserts_src" -c "CREATE DATABASE inserts_src"
        "$bin/pgbench" -i -q -s 1 --foreign-keys inserts_src >/dev/null 2>&1
        "$bin/pg_dump" --inserts -f "$out" inserts_src
        psql -d postgres -c "DROP DATABASE inserts_src" ;;
      *) echo "unknown workload $1" >&2; return 2 ;;
    esac
  fi
  echo "$out"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

header="| workload | script MB | psql -f s (median)"
line="|---|---|---"
for j in $jobs_list; do header+=" | pgsurge -j $j s | ratio"; line+="|---|---"; done
echo "$header | runs |"
echo "$line|---|"
for w in ${workloads//,/ }; do
  sql=$(script "$w")
  tools=(psql)
  for j in $jobs_list; do tools+=("j$j"); done
  declare -A runs=()
  for ((r = 0; r < rounds; r++)); do
    for tool in "${tools[@]}"; do
      psql -d postgres -c "DROP DATABASE IF EXISTS bench" -c "CHECKPOINT" -c "CREATE DATABASE bench"
      sync
      sleep 1
      started=$(date +%s.%N)
      if [[ $tool == psql ]]; then
        psql -d bench -f "$sql" >/dev/null 2>&1 || true
      else
        "$pgsurge" restore -q -j "${tool#j}" -d bench "$sql" >/dev/null 2>&1 || true
      fi
      runs[$tool]+="$(echo "$(date +%s.%N) - $started" | bc | awk '{printf "%.2f", $1}') "
    done
  done
  p=$(median <<<"${runs[psql]}")
  row="| $w | $(($(stat -c %s "$sql") >> 20)) | $p"
  all="psql: ${runs[psql]}"
  for j in $jobs_list; do
    s=$(median <<<"${runs[j$j]}")
    row+=" | $s | $(awk -v s="$s" -v p="$p" 'BEGIN {printf "%.2f", s / p}')"
    all+="; -j $j: ${runs[j$j]}"
  done
  echo "$row | $all |"
  unset runs
done
