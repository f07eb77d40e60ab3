#!/usr/bin/env bash
# Whole-restore benchmark: pgsurge against pg_restore 18 on the same server and archive.
#
#   tools/bench-restore.sh [WORKLOADS=big,many,lobs,pgbench] [ROUNDS=3] [JOBS="1 2 4"]
#
# Workloads (generated once into BENCH_DIR, default /var/tmp/pgsurge-bench-restore, dumped
# with pg_dump 18 -Fc, then reused):
#   big      one table of BIG_MB (default 1024) MB of COPY text with three indexes and a foreign
#            key, among 20 small tables
#   many     MANY_TABLES (default 2000) small tables, each with an index and a foreign key,
#            plus a view and a function per 10 tables
#   lobs     LOBS (default 20000) large objects of 1-8 kB
#   pgbench  pgbench -i -s PGBENCH_SCALE (default 50)
# For every workload, source (file, stdin) and -j, the tools run alternately ROUNDS times, each
# into a freshly created database of one scratch PostgreSQL 18 cluster started here (the
# unprivileged postgres user, a temporary directory, a free port). Prints a markdown table of
# medians: wall seconds, client CPU seconds, client peak RSS, and pgsurge/pg_restore ratios.
# pg_restore cannot read -j from standard input; its stdin rows are serial (-j 1).
# Needs tools/install-postgres.sh and `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
workloads=${1:-big,many,lobs,pgbench}
rounds=${2:-3}
jobs_list=${3:-"1 2 4"}
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
bin=$PGSURGE_PG18_BINDIR
pgsurge=${PGSURGE_BIN:-$PWD/target/release/pgsurge}
work=${BENCH_DIR:-/var/tmp/pgsurge-bench-restore}
[[ -x $pgsurge ]] || { echo "no pgsurge binary at $pgsurge: run cargo build --release" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
mkdir -p "$work"
chmod 777 "$work"

# shellcheck source=tools/scratch-cluster.sh
source tools/scratch-cluster.sh
scratch_cluster "$bin" pgsurge-bench -c fsync=off -c synchronous_commit=off -c max_wal_size=8GB -c checkpoint_timeout=30min \
  -c maintenance_work_mem=256MB -c max_connections=50 -c max_locks_per_transaction=4096
psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

generate() { # workload -> archive path
  local w=$1 a=$work/$1.dump
  if [[ -s $a ]]; then echo "$a"; return; fi
  psql -d postgres -c "DROP DATABASE IF EXISTS gen_$w" -c "CREATE DATABASE gen_$w" >&2
  case $w in
    big)
      local rows=$(( ${BIG_MB:-1024} * 1024 * 1024 / 110 ))
      psql -d gen_big >&2 <<SQL
CREATE TABLE customer (id int PRIMARY KEY, name text);
INSERT INTO customer SELECT g, 'customer ' || g FROM generate_series(1, 100000) g;
CREATE TABLE big (id bigint PRIMARY KEY, customer_id int REFERENCES customer, k int, name text, amount numeric, at timestamptz, note text);
INSERT INTO big SELECT g, 1 + g % 100000, (g::bigint * 7919) % 100000, 'item ' || (g % 50000), (g % 100000) / 100.0,
  timestamptz '2024-01-01' + g * interval '1 second', md5(g::text) FROM generate_series(1, $rows) g;
CREATE INDEX big_k ON big (k);
CREATE INDEX big_at ON big (at);
CREATE INDEX big_customer ON big (customer_id);
DO \$\$ BEGIN FOR i IN 1..20 LOOP
  EXECUTE format('CREATE TABLE small_%s AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g', i);
  EXECUTE format('ALTER TABLE small_%s ADD PRIMARY KEY (id)', i);
END LOOP; END \$\$;
SQL
      ;;
    many)
      psql -d gen_many >&2 <<SQL
DO \$\$ BEGIN FOR i IN 1..${MANY_TABLES:-2000} LOOP
  EXECUTE format('CREATE TABLE t_%s (id int PRIMARY KEY, parent int, label text, at timestamptz DEFAULT now())', i);
  EXECUTE format('INSERT INTO t_%s SELECT g, NULL, ''row '' || g FROM generate_series(1, 200) g', i);
  EXECUTE format('CREATE INDEX t_%s_label ON t_%s (label)', i, i);
  IF i > 1 THEN EXECUTE format('ALTER TABLE t_%s ADD FOREIGN KEY (parent) REFERENCES t_%s (id)', i, i - 1); END IF;
  IF i % 10 = 0 THEN
    EXECUTE format('CREATE VIEW v_%s AS SELECT id, label FROM t_%s WHERE id %% 2 = 0', i, i);
    EXECUTE format('CREATE FUNCTION f_%s(x int) RETURNS int LANGUAGE sql AS ''SELECT x + %s''', i, i);
  END IF;
END LOOP; END \$\$;
SQL
      ;;
    lobs)
      psql -d gen_lobs -c "SELECT lo_from_bytea(0, convert_to(repeat(md5(g::text), 32 + g % 224), 'UTF8')) FROM generate_series(1, ${LOBS:-20000}) g" >/dev/null
      ;;
    pgbench)
      "$bin/pgbench" -i -q -s "${PGBENCH_SCALE:-50}" gen_pgbench >/dev/null 2>&1
      ;;
  esac
  "$bin/pg_dump" -Fc -d "gen_$w" -f "$a"
  psql -d postgres -c "DROP DATABASE gen_$w" >&2
  echo "$a"
}

n=0
measure() { # tool jobs source archive -> "wall cpu rss_mb status"
  local tool=$1 jobs=$2 source=$3 archive=$4 out db
  n=$((n + 1))
  db="r$n"
  # Let the previous run's dropped database and dirty buffers settle, so neither tool pays
  # for the other's leftovers: the checkpoint writes them to the kernel, sync to the disk
  # (with fsync=off nothing else would, and the next run would share the disk with them).
  psql -d postgres -c "CHECKPOINT" -c "CREATE DATABASE $db"
  sync
  sleep 1
  out=$(mktemp)
  local cmd
  case $tool in
    pg_restore) cmd=("$bin/pg_restore" -d "$db") ;;
    pgsurge) cmd=("$pgsurge" restore -d "$db") ;;
  esac
  if [[ $source == file ]]; then
    cmd+=(-j "$jobs" "$archive")
    /usr/bin/time -o "$out" -f '%e %U %S %M %x' "${cmd[@]}" >/dev/null 2>"$work/last-$tool.err" || true
  else
    [[ $tool == pgsurge ]] && cmd+=(-j "$jobs")
    /usr/bin/time -o "$out" -f '%e %U %S %M %x' "${cmd[@]}" <"$archive" >/dev/null 2>"$work/last-$tool.err" || true
  fi
  read -r wall user sys rss status < <(tail -1 "$out")
  rm -f "$out"
  psql -d postgres -c "DROP DATABASE $db" 2>/dev/null || true
  echo "$wall $(echo "$user + $sys" | bc) $((rss / 1024)) $status"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| workload | archive MB | source | -j | pg_restore s | pgsurge s | ratio | pg_restore CPU s | pgsurge CPU s | pg_restore RSS MB | pgsurge RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for w in ${workloads//,/ }; do
  archive=$(generate "$w")
  size=$(du -m "$archive" | cut -f1)
  for source in file stdin; do
    for j in $jobs_list; do
      declare -A wall=() cpu=() rss=()
      for ((r = 0; r < rounds; r++)); do
        for tool in pg_restore pgsurge; do
          pj=$j
          [[ $tool == pg_restore && $source == stdin ]] && pj=1
          read -r w_s c_s m_s st < <(measure "$tool" "$pj" "$source" "$archive")
          [[ $st == 0 ]] || echo "warning: $tool -j $pj from $source on $w exited $st: $(tail -2 "$work/last-$tool.err")" >&2
          wall[$tool]+="$w_s "; cpu[$tool]+="$c_s "; rss[$tool]+="$m_s "
        done
      done
      pw=$(median <<<"${wall[pg_restore]}"); sw=$(median <<<"${wall[pgsurge]}")
      ratio=$(awk -v s="$sw" -v p="$pw" 'BEGIN { if (p > 0) printf "%.2f", s / p; else print "-" }')
      echo "| $w | $size | $source | $j | $pw | $sw | $ratio | $(median <<<"${cpu[pg_restore]}") | $(median <<<"${cpu[pgsurge]}") | $(median <<<"${rss[pg_restore]}") | $(median <<<"${rss[pgsurge]}") |"
    done
  done
done
