#!/usr/bin/env bash
# Whole-archive reader benchmark: pgsurge `sql -f /dev/null` and `verify` against
# `pg_restore -f /dev/null` (pg_restore 18) on a generated archive of about SIZE_MB of table
# data, gzip and zstd, measured alternately for ROUNDS rounds. Prints a markdown table of
# wall time, CPU time and peak RSS (medians).
#
#   tools/bench-reader.sh [SIZE_MB=1200] [ROUNDS=3]
#
# Needs tools/install-postgres.sh (pg 18) and a release build (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1200}
rounds=${2:-3}
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
bin=$PGSURGE_PG18_BINDIR
pgsurge=${PGSURGE_BIN:-target/release/pgsurge}
work=${BENCH_DIR:-/var/tmp/pgsurge-bench}
mkdir -p "$work"
chmod 777 "$work"

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

archives=("$work/big.gzip.dump" "$work/big.zstd.dump")
if [[ ! -s ${archives[1]} || $(cat "$work/size" 2>/dev/null) != "$size_mb" ]]; then
  cluster=$(mktemp -d /tmp/pgsurge-bench.XXXXXX)
  chown postgres "$cluster"
  trap 'runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$cluster"' EXIT
  runuser -u postgres -- "$bin/initdb" --no-sync -U postgres -D "$cluster/data" >/dev/null
  port=$((20000 + RANDOM % 20000))
  runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -w -l "$cluster/log" \
    -o "-k $cluster -p $port -c listen_addresses='' -c fsync=off -c max_wal_size=4GB" start >/dev/null
  export PGHOST=$cluster PGPORT=$port PGUSER=postgres
  rows=$((size_mb * 1024 * 1024 / 110))
  "$bin/psql" -q -d postgres -c "create database bench"
  # Rows of about 110 bytes of COPY text: mixed numbers, text, timestamps, so compression
  # ratios look like real tables rather than runs of one byte.
  "$bin/psql" -q -v ON_ERROR_STOP=1 -d bench -c "create table big(id bigint, k int, name text, amount numeric, at timestamptz, note text)" \
    -c "insert into big select g, (g::bigint * 7919) % 100000, 'customer ' || (g % 50000), (g % 100000) / 100.0, timestamptz '2024-01-01' + g * interval '1 second', md5(g::text) from generate_series(1, $rows) g" \
    -c "create table small as select g as id, md5(g::text) as v from generate_series(1, 1000) g"
  "$bin/pg_dump" -Fc -Z gzip -d bench -f "${archives[0]}"
  "$bin/pg_dump" -Fc -Z zstd -d bench -f "${archives[1]}"
  echo "$size_mb" > "$work/size"
fi

[[ -x $pgsurge ]] || { echo "no pgsurge binary at $pgsurge: run cargo build --release" >&2; exit 1; }

measure() { # command... -> "wall user sys maxrss_kb"
  local out
  out=$(mktemp)
  /usr/bin/time -o "$out" -f '%e %U %S %M' "$@" >/dev/null 2>/dev/null || echo "warning: $* failed" >&2
  tail -1 "$out"
  rm -f "$out"
}

echo "| archive | tool | wall s | CPU s | peak RSS MB |"
echo "|---|---|---|---|---|"
for a in "${archives[@]}"; do
  declare -A walls=() cpus=() rss=()
  for ((r = 0; r < rounds; r++)); do
    for tool in pg_restore sql verify verify-j1; do
      case $tool in
        pg_restore) m=$(measure "$bin/pg_restore" -f /dev/null "$a") ;;
        sql) m=$(measure "$pgsurge" sql -f /dev/null "$a") ;;
        verify) m=$(measure "$pgsurge" verify "$a") ;;
        verify-j1) m=$(measure "$pgsurge" verify -j 1 "$a") ;;
      esac
      read -r wall user sys maxrss <<<"$m"
      walls[$tool]+="$wall "
      cpus[$tool]+="$(echo "$user + $sys" | bc) "
      rss[$tool]+="$((maxrss / 1024)) "
    done
  done
  median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  for tool in pg_restore sql verify verify-j1; do
    label=$tool
    [[ $tool == sql ]] && label="pgsurge sql -f /dev/null"
    [[ $tool == verify ]] && label="pgsurge verify (all cores)"
    [[ $tool == verify-j1 ]] && label="pgsurge verify -j 1"
    [[ $tool == pg_restore ]] && label="pg_restore -f /dev/null"
    echo "| $(basename "$a") ($(du -m "$a" | cut -f1) MB) | $label | $(median <<<"${walls[$tool]}") | $(median <<<"${cpus[$tool]}") | $(median <<<"${rss[$tool]}") |"
  done
done
