#!/usr/bin/env bash
# Regenerates testdata/dumps (archives written by pg_dump 14-18 in every format and
# compression each can write) and testdata/golden (pg_restore 18's own -l and -f outputs).
# pgsurge's output never becomes a golden. Re-runnable; touches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-postgres.sh >/dev/null
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
export TZ=UTC
testdata=$PWD/testdata
dumps=$testdata/dumps
golden=$testdata/golden
rm -rf "$dumps" "$golden"
mkdir -p "$dumps" "$golden/lists" "$golden/filters"

cluster=""
stop_cluster() {
  if [[ -n $cluster ]]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$cluster"
    cluster=""
  fi
}
trap stop_cluster EXIT

start_cluster() { # major
  bin_var=PGSURGE_PG$1_BINDIR
  bin=${!bin_var}
  cluster=$(mktemp -d /tmp/pgsurge-regen.XXXXXX)
  chown postgres "$cluster"
  runuser -u postgres -- "$bin/initdb" --no-sync -U postgres -E UTF8 --locale=C -D "$cluster/data" >/dev/null 2>&1
  port=$((20000 + RANDOM % 20000))
  runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -w -l "$cluster/log" \
    -o "-k $cluster -p $port -c listen_addresses='' -c fsync=off" start >/dev/null
  export PGHOST=$cluster PGPORT=$port PGUSER=postgres
}

for major in 14 15 16 17 18; do
  start_cluster "$major"
  out=$dumps/pg$major
  mkdir -p "$out"
  chmod 777 "$out"
  "$bin/createdb" src
  "$bin/psql" -q -X -d src -f tools/fixture/src.sql >/dev/null
  if ((major >= 16)); then algorithms=(none gzip lz4 zstd); else algorithms=(none gzip); fi
  for alg in "${algorithms[@]}"; do
    z=$alg
    if ((major < 16)); then [[ $alg == none ]] && z=0 || z=6; fi
    "$bin/pg_dump" -Fc -Z "$z" -d src -f "$out/src.custom.$alg.dump"
    "$bin/pg_dump" -Fd -Z "$z" -d src -f "$out/src.dir.$alg"
  done
  "$bin/pg_dump" -Ft -d src -f "$out/src.tar"
  # Written to a pipe: data offsets are never filled in.
  "$bin/pg_dump" -Fc -d src | cat >"$out/src.custom.pipe.dump"
  # pg_dump 16+ writing to redirected stdout appends a second TOC copy.
  if ((major >= 16)); then "$bin/pg_dump" -Fc -d src >"$out/src.custom.redirect.dump"; fi
  if ((major == 18)); then
    "$bin/pg_dump" -Fp -d src -f "$out/src.sql"
    "$bin/pg_dump" -Fc --statistics -d src -f "$out/src.custom.stats.dump"
    "$bin/createdb" sample
    "$bin/psql" -q -X -d sample -f tools/fixture/sample.sql >/dev/null
    "$bin/pg_dump" -Fc -d sample -f "$testdata/sample.dump"
    "$bin/createdb" big
    "$bin/psql" -q -X -d big -c "select lo_from_bytea(200001, convert_to(string_agg(md5(g::text), ''), 'UTF8')) from generate_series(1, 40000) g" >/dev/null
    "$bin/pg_dump" -Fc -Z gzip -d big -f "$out/big.custom.gzip.dump"
    "$bin/createdb" -E LATIN1 --locale=C -T template0 latin1
    PGCLIENTENCODING=LATIN1 "$bin/psql" -q -X -d latin1 -c "$(printf 'create table "t\xe9l\xe9" ("caf\xe9" text); insert into "t\xe9l\xe9" values ($$na\xefve$$);')" >/dev/null
    "$bin/pg_dump" -Fc -d latin1 -f "$out/latin1.custom.dump"
  fi
  if ((major == 14)); then
    "$bin/createdb" big
    "$bin/psql" -q -X -d big -c "select lo_from_bytea(200001, convert_to(string_agg(md5(g::text), ''), 'UTF8')) from generate_series(1, 40000) g" >/dev/null
    "$bin/pg_dump" -Fd -d big -f "$out/big.dir.gzip"
  fi
  chmod -R a+rX "$out"
  stop_cluster
done

# Goldens: pg_restore 18 on every archive, and option sets on a few.
pg_restore=$PGSURGE_PG18_BINDIR/pg_restore
manifest=$golden/cases.tsv
: >"$manifest"
n=0
case_() { # archive(relative to testdata) stdin(0|1) args...
  local rel=$1 stdin=$2
  shift 2
  n=$((n + 1))
  local id
  id=$(printf 'c%04d' "$n")
  local args=() shown=()
  for a in "$@"; do
    if [[ $a == "{archive}" ]]; then args+=("$testdata/$rel"); else args+=("${a//\{testdata\}/$testdata}"); fi
    shown+=("$a")
  done
  local status=0
  if ((stdin)); then
    "$pg_restore" "${args[@]}" <"$testdata/$rel" >"$golden/$id.stdout" 2>"$golden/$id.stderr" || status=$?
    shown+=("{stdin}")
  else
    "$pg_restore" "${args[@]}" >"$golden/$id.stdout" 2>"$golden/$id.stderr" </dev/null || status=$?
  fi
  sed -i "s|$testdata|{testdata}|g" "$golden/$id.stderr"
  echo "$status" >"$golden/$id.status"
  (IFS=$'\t'; echo "$id	$rel	${shown[*]}") >>"$manifest"
}

key=--restrict-key=pgsurgetestkey
for path in "$dumps"/pg*/*; do
  rel=${path#"$testdata/"}
  [[ $rel == *.sql ]] && continue
  case_ "$rel" 0 -l "{archive}"
  # The big archives exist for their >1 MB large object; its script is 2.6 MB of hex.
  [[ $rel == */big.* ]] || case_ "$rel" 0 -f - $key "{archive}"
done
case_ sample.dump 0 -l "{archive}"

# A list file: every other entry of the pg18 archive, reversed.
"$pg_restore" -l "$dumps/pg18/src.custom.gzip.dump" | grep -v '^;' | awk 'NR % 2 == 0' | tac >"$golden/lists/pg18-reordered.list"
"$pg_restore" -l "$dumps/pg18/src.custom.gzip.dump" | grep -v '^;' | awk 'NR % 3 == 0' >"$golden/lists/pg18-subset.list"
printf '; a comment line\n\n   \nnot a number\n-5\n999999999\n%s\n' "$(head -3 "$golden/lists/pg18-subset.list")" >"$golden/lists/pg18-junk.list"
printf 'include table types\ninclude function add_one(integer) # trailing comment\n' >"$golden/filters/include.filter"
printf 'exclude schema MixedCase\n' >"$golden/filters/exclude.filter"
printf 'include table_data types\n' >"$golden/filters/invalid.filter"

for rel in dumps/pg18/src.custom.gzip.dump dumps/pg14/src.custom.gzip.dump dumps/pg16/src.dir.zstd; do
  for opts in "-l -v" "-l -n public" "-l -t types" "-l -n MixedCase" "-l -N public" "-l --section=data" "-l -a" "-l -s" \
    "-l -x --no-comments" "-l -C" "-l -T child child_touch" "-l -I types_lower" "-l -P add_one(integer)" \
    "-l --no-policies --no-publications" "-l --statistics-only" "-l --no-data" "-l --no-schema" \
    "-l --strict-names -t nosuchtable" \
    "-c" "-c --if-exists" "-C" "-C -c --if-exists" "-O" "-x" "--no-acl" "--no-comments" "--section=pre-data" \
    "--section=data" "--section=post-data" "-a" "-s" "--no-data" "--no-schema" "--statistics" "--no-statistics" \
    "--statistics-only" "-n public" "-N public" "-t types" "-a --disable-triggers" "-a --disable-triggers -S postgres" \
    "--use-set-session-authorization" "-1" "--transaction-size=5" "--no-policies" "--no-tablespaces" \
    "--no-table-access-method" "--enable-row-security" "--role=alice" "-v"; do
    # shellcheck disable=SC2086
    if [[ $opts == -l* ]]; then
      if [[ $opts == "-l -T child child_touch" ]]; then case_ "$rel" 0 -l -T "child child_touch" "{archive}"; continue; fi
      case_ "$rel" 0 $opts "{archive}"
    else
      case_ "$rel" 0 -f - $key $opts "{archive}"
    fi
  done
done
rel=dumps/pg18/src.custom.gzip.dump
case_ $rel 0 -l -L "{testdata}/golden/lists/pg18-reordered.list" "{archive}"
case_ $rel 0 -l -L "{testdata}/golden/lists/pg18-subset.list" "{archive}"
case_ $rel 0 -l -L "{testdata}/golden/lists/pg18-junk.list" "{archive}"
case_ $rel 0 -l --filter "{testdata}/golden/filters/include.filter" "{archive}"
case_ $rel 0 -l --filter "{testdata}/golden/filters/exclude.filter" "{archive}"
case_ $rel 0 -l --filter "{testdata}/golden/filters/invalid.filter" "{archive}"
case_ $rel 0 -f - $key -L "{testdata}/golden/lists/pg18-reordered.list" "{archive}"
for refusal in "-s -a" "-c -a" "-1 --transaction-size=5" "-C -1" "--if-exists" "--statistics --no-statistics" \
  "-F p" "-F x" "-d x" "--section=bogus" "-j 0" "--transaction-size=0" "-a --no-data" "-s --no-schema"; do
  # shellcheck disable=SC2086
  case_ $rel 0 -f - $refusal "{archive}"
done
case_ $rel 0 "{archive}"
for rel in dumps/pg14/src.custom.gzip.dump dumps/pg18/src.custom.gzip.dump dumps/pg18/src.custom.pipe.dump dumps/pg18/src.tar; do
  case_ "$rel" 1 -l
  case_ "$rel" 1 -f - $key
done
case_ dumps/pg18/src.custom.pipe.dump 1 -f - $key -L "{testdata}/golden/lists/pg18-reordered.list"
echo "regen-testdata: $(ls "$dumps"/pg* | wc -l) archive files, $n golden cases, $(du -sh "$testdata" | cut -f1) in testdata/"
