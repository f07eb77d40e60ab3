#!/usr/bin/env bash
# Whole-restore benchmark: pgsurge against pg_restore 18 on the same server and archive.
#
#   tools/bench-restore.sh [WORKLOADS=big,many,schema,lobs,pgbench] [ROUNDS=3] [JOBS="1 2 4"]
#
# The server is configured as production servers are — fsync, synchronous_commit and
# full_page_writes on, shared_buffers 2GB, maintenance_work_mem 1GB, max_wal_size 8GB — since
# a commit's WAL flush is exactly what dominates a restore of many small objects, and a server
# without it hides that cost. BENCH_SERVER=fast turns durability off (fsync,
# synchronous_commit, full_page_writes) for quick comparisons that decide nothing.
#
# Workloads (generated once into BENCH_DIR, default /var/tmp/pgsurge-bench-restore, dumped
# with pg_dump 18 -Fc, then reused):
#   big      one table of BIG_MB (default 1024) MB of COPY text with three indexes and a foreign
#            key, among 20 small tables
#   many     MANY_TABLES (default 2000) small tables, each with an index and a foreign key,
#            plus a view and a function per 10 tables
#   schema   SCHEMA_TABLES (default 3000) tables of a few rows, each with a primary key and a
#            second index, 1000 foreign keys, a view and a function per 3 tables, and a
#            comment per table: over 10,000 TOC entries, nearly all of them DDL
#   lobs     LOBS (default 50000) large objects of 1-16 kB
#   pgbench  pgbench -i --foreign-keys -s PGBENCH_SCALE (default 50)
# For every workload, source (file, stdin) and -j, the tools run alternately ROUNDS times, each
# into a freshly created database of one scratch PostgreSQL 18 cluster started here (the
# unprivileged postgres user, a temporary directory, a free port). Prints a markdown table of
# medians: wall seconds, client CPU seconds, client peak RSS, and pgsurge/pg_restore ratios
# (below 1: pgsurge is faster); then, from pgsurge's --report of its median run, the seconds
# per stage and the share of the wall time each connection was busy.
# "Ready" is the time until the database serves as well as it will: the restore, then what a
# careful operator runs before letting users in — `vacuumdb --analyze-only` at the same -j,
# unless the restore analyzed (pgsurge's report says so) — and a first full read of every
# table (each counted in a sequential scan, which sets the hint bits of rows not loaded
# frozen). BENCH_READY=0 skips it.
# PGSURGE_BASELINE=path adds that pgsurge binary as a third tool (an older build, to show
# what a change did); its column and ratio follow pgsurge's. BASELINE_ARGS="--no-group-commit"
# (or --no-freeze, --no-analyze, --no-split-tables) passes those to the baseline, which is
# then pgsurge itself unless PGSURGE_BASELINE names another: the column shows what that
# trick buys.
# BENCH_SOURCES="file" (default "file stdin") limits the sources measured.
# BENCH_AS_PG_RESTORE=1 runs pgsurge as the drop-in: through a link named pg_restore, with
# pg_restore's command line alone (so no ANALYZE stage, and no report: no stage profile).
# pg_restore cannot read -j from standard input; its stdin rows are serial (-j 1).
# Needs tools/install-postgres.sh and `cargo build --release`. Run nothing else meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
workloads=${1:-big,many,schema,lobs,pgbench}
rounds=${2:-3}
jobs_list=${3:-"1 2 4"}
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
bin=$PGSURGE_PG18_BINDIR
pgsurge=${PGSURGE_BIN:-$PWD/target/release/pgsurge}
baseline=${PGSURGE_BASELINE:-}
# What one trick buys: the same pgsurge with it turned off, e.g.
# BASELINE_ARGS=--no-group-commit (the baseline is then pgsurge itself unless given).
read -r -a baseline_args <<<"${BASELINE_ARGS:-}"
[[ -z $baseline && ${#baseline_args[@]} -gt 0 ]] && baseline=$pgsurge
work=${BENCH_DIR:-/var/tmp/pgsurge-bench-restore}
as_pg_restore=${BENCH_AS_PG_RESTORE:-0}
[[ -x $pgsurge ]] || { echo "no pgsurge binary at $pgsurge: run cargo build --release" >&2; exit 1; }
[[ -z $baseline || -x $baseline ]] || { echo "no baseline binary at $baseline" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
mkdir -p "$work"
if [[ $as_pg_restore == 1 ]]; then
  mkdir -p "$work/as-pg_restore"
  ln -sf "$pgsurge" "$work/as-pg_restore/pg_restore"
fi
chmod 777 "$work"

settings=(-c shared_buffers=2GB -c maintenance_work_mem=1GB -c max_wal_size=8GB -c max_connections=50 -c max_locks_per_transaction=4096)
case ${BENCH_SERVER:-production} in
  production) settings+=(-c fsync=on -c synchronous_commit=on -c full_page_writes=on) ;;
  fast) settings+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off) ;;
  *) echo "BENCH_SERVER is production or fast" >&2; exit 2 ;;
esac
# shellcheck source=tools/scratch-cluster.sh
source tools/scratch-cluster.sh
scratch_cluster "$bin" pgsurge-bench "${settings[@]}"
psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
echo "server: PostgreSQL 18 ($(psql -d postgres -Atc "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'maintenance_work_mem', 'max_wal_size')"))"

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
    schema)
      psql -d gen_schema >&2 <<SQL
DO \$\$ DECLARE n int := ${SCHEMA_TABLES:-3000}; BEGIN FOR i IN 1..n LOOP
  EXECUTE format('CREATE TABLE s_%s (id int PRIMARY KEY, ref int, code text, note text)', i);
  EXECUTE format('INSERT INTO s_%s SELECT g, g, ''c'' || g, NULL FROM generate_series(1, 5) g', i);
  EXECUTE format('CREATE INDEX s_%s_code ON s_%s (code)', i, i);
  EXECUTE format('COMMENT ON TABLE s_%s IS ''table %s''', i, i);
  IF i % 3 = 0 THEN
    EXECUTE format('ALTER TABLE s_%s ADD FOREIGN KEY (ref) REFERENCES s_%s (id)', i, i - 1);
    EXECUTE format('CREATE VIEW sv_%s AS SELECT id, code FROM s_%s', i, i);
    EXECUTE format('CREATE FUNCTION sf_%s(x int) RETURNS int LANGUAGE sql AS ''SELECT x * %s''', i, i);
  END IF;
END LOOP; END \$\$;
SQL
      ;;
    lobs)
      psql -d gen_lobs -c "SELECT lo_from_bytea(0, convert_to(repeat(md5(g::text), 32 + (g * 7919) % 480), 'UTF8')) FROM generate_series(1, ${LOBS:-50000}) g" >/dev/null
      ;;
    pgbench)
      "$bin/pgbench" -i -q --foreign-keys -s "${PGBENCH_SCALE:-50}" gen_pgbench >/dev/null 2>&1
      ;;
  esac
  "$bin/pg_dump" -Fc -d "gen_$w" -f "$a"
  psql -d postgres -c "DROP DATABASE gen_$w" >&2
  echo "$a"
}

# A first full read of every table of database $1, as the first queries after a restore
# would do it: sequential scans, which check every row's visibility.
first_read() {
  psql -d "$1" -At >/dev/null <<'SQL'
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
SELECT format('SELECT count(*) FROM ONLY %I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
\gexec
SQL
}

# Whether the restore that wrote report $1 analyzed the tables itself.
analyzed() {
  [[ -f $1 ]] && python3 -c 'import json, sys; sys.exit(0 if (json.load(open(sys.argv[1])).get("totals") or {}).get("analyzed") else 1)' "$1"
}

n=0
measure() { # tool jobs source archive report vacuum_jobs -> "wall cpu rss_mb status ready"
  local tool=$1 jobs=$2 source=$3 archive=$4 report=$5 vacuum_jobs=$6 out db
  n=$((n + 1))
  db="r$n"
  # Let the previous run's dropped database and dirty buffers settle, so neither tool pays
  # for the other's leftovers.
  psql -d postgres -c "CHECKPOINT" -c "CREATE DATABASE $db"
  sync
  sleep 1
  out=$(mktemp)
  # A report left by an earlier bench must not speak for this run.
  [[ $tool == pgsurge ]] && rm -f "$report"
  [[ $tool == baseline ]] && rm -f "$report.baseline"
  local cmd
  case $tool in
    pg_restore) cmd=("$bin/pg_restore" -d "$db") ;;
    pgsurge)
      if [[ $as_pg_restore == 1 ]]; then
        cmd=("$work/as-pg_restore/pg_restore" -d "$db")
      else
        cmd=("$pgsurge" restore -q --report "$report" -d "$db")
      fi
      ;;
    # The same work as pgsurge's run, report included.
    baseline) cmd=("$baseline" restore -q --report "$report.baseline" "${baseline_args[@]}" -d "$db") ;;
  esac
  if [[ $source == file ]]; then
    cmd+=(-j "$jobs" "$archive")
    /usr/bin/time -o "$out" -f '%e %U %S %M %x' "${cmd[@]}" >/dev/null 2>"$work/last-$tool.err" || true
  else
    [[ $tool != pg_restore ]] && cmd+=(-j "$jobs")
    /usr/bin/time -o "$out" -f '%e %U %S %M %x' "${cmd[@]}" <"$archive" >/dev/null 2>"$work/last-$tool.err" || true
  fi
  read -r wall user sys rss status < <(tail -1 "$out")
  rm -f "$out"
  local ready=- started
  if [[ ${BENCH_READY:-1} == 1 ]]; then
    local rep=$report
    [[ $tool == baseline ]] && rep=$report.baseline
    started=$(date +%s.%N)
    if [[ $tool == pg_restore ]] || ! analyzed "$rep"; then
      "$bin/vacuumdb" -q --analyze-only -j "$vacuum_jobs" -d "$db"
    fi
    first_read "$db"
    ready=$(echo "$wall + $(date +%s.%N) - $started" | bc | awk '{printf "%.2f", $1}')
  fi
  psql -d postgres -c "DROP DATABASE $db" 2>/dev/null || true
  echo "$wall $(echo "$user + $sys" | bc) $((rss / 1024)) $status $ready"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v s="$1" -v p="$2" 'BEGIN { if (p > 0) printf "%.2f", s / p; else print "-" }'; }

# Stages and per-connection busy shares of one pgsurge --report: "schema 1.2 s, data+post
# 3.4 s, …" and "conn 0 91%, conn 1 64%, …" (busy = the union of its items' intervals).
profile() {
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = r.get("wall_seconds") or 0
stages = ", ".join(f"{s['stage']} {s['seconds']:.1f} s" for s in (r.get("stages") or []))
spans = {}
for i in r.get("items", []):
    spans.setdefault(i["connection"], []).append((i["start"], i["end"]))
busy = []
for conn in sorted(spans):
    total, end = 0.0, 0.0
    for a, b in sorted(spans[conn]):
        a = max(a, end)
        if b > a:
            total += b - a
            end = b
    busy.append(f"conn {conn} {100 * total / wall:.0f}%" if wall else f"conn {conn} -")
print(f"{stages} | {', '.join(busy)}")
PY
}

tools=(pg_restore pgsurge)
[[ -n $baseline ]] && tools+=(baseline)
header="| workload | archive MB | source | -j | pg_restore s | pgsurge s | ratio |"
rule="|---|---|---|---|---|---|---|"
[[ -n $baseline ]] && { header+=" baseline s | pgsurge/baseline |"; rule+="---|---|"; }
header+=" pg_restore CPU s | pgsurge CPU s |"; rule+="---|---|"
[[ -n $baseline ]] && { header+=" baseline CPU s |"; rule+="---|"; }
header+=" pg_restore RSS MB | pgsurge RSS MB |"; rule+="---|---|"
if [[ ${BENCH_READY:-1} == 1 ]]; then
  header+=" pg_restore ready s | pgsurge ready s | ready ratio |"; rule+="---|---|---|"
  [[ -n $baseline ]] && { header+=" baseline ready s |"; rule+="---|"; }
fi
echo "$header"
echo "$rule"
profiles=()
for w in ${workloads//,/ }; do
  archive=$(generate "$w")
  size=$(du -m "$archive" | cut -f1)
  entries=$("$pgsurge" list "$archive" | grep -vc '^;')
  for source in ${BENCH_SOURCES:-file stdin}; do
    for j in $jobs_list; do
      declare -A wall=() cpu=() rss=() ready=()
      reports=()
      for ((r = 0; r < rounds; r++)); do
        for tool in "${tools[@]}"; do
          pj=$j
          [[ $tool == pg_restore && $source == stdin ]] && pj=1
          report="$work/report-$w-$source-$j-$r.json"
          read -r w_s c_s m_s st r_s < <(measure "$tool" "$pj" "$source" "$archive" "$report" "$j")
          [[ $st == 0 ]] || echo "warning: $tool -j $pj from $source on $w exited $st: $(tail -2 "$work/last-$tool.err")" >&2
          wall[$tool]+="$w_s "; cpu[$tool]+="$c_s "; rss[$tool]+="$m_s "; ready[$tool]+="$r_s "
          [[ $tool == pgsurge ]] && reports+=("$w_s $report")
        done
      done
      pw=$(median <<<"${wall[pg_restore]}"); sw=$(median <<<"${wall[pgsurge]}")
      row="| $w | $size | $source | $j | $pw | $sw | $(ratio "$sw" "$pw") |"
      if [[ -n $baseline ]]; then
        bw=$(median <<<"${wall[baseline]}")
        row+=" $bw | $(ratio "$sw" "$bw") |"
      fi
      row+=" $(median <<<"${cpu[pg_restore]}") | $(median <<<"${cpu[pgsurge]}") |"
      [[ -n $baseline ]] && row+=" $(median <<<"${cpu[baseline]}") |"
      row+=" $(median <<<"${rss[pg_restore]}") | $(median <<<"${rss[pgsurge]}") |"
      if [[ ${BENCH_READY:-1} == 1 ]]; then
        pr=$(median <<<"${ready[pg_restore]}"); sr=$(median <<<"${ready[pgsurge]}")
        row+=" $pr | $sr | $(ratio "$sr" "$pr") |"
        [[ -n $baseline ]] && row+=" $(median <<<"${ready[baseline]}") |"
      fi
      echo "$row"
      # The report of pgsurge's median run.
      mid=$(printf '%s\n' "${reports[@]}" | sort -n | awk -v k=$(((rounds + 1) / 2)) 'NR == k {print $2}')
      [[ -f $mid ]] && profiles+=("| $w ($entries entries) | $source | $j | $(profile "$mid") |")
    done
  done
done
echo
echo "pgsurge, median run: stages and the share of the wall time each connection was busy"
echo
echo "| workload | source | -j | stages | busy |"
echo "|---|---|---|---|---|"
printf '%s\n' "${profiles[@]}"
