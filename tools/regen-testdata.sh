#!/usr/bin/env bash
# Regenerates testdata/dumps, testdata/golden and testdata/sample.dump:
#   1. for each PostgreSQL major 14-18, a throwaway cluster loaded from tools/fixture/*.sql
#      and dumped by that major's own pg_dump, in every format and compression it can write;
#   2. pg_restore 18's own output (stdout, stderr, exit status) for a list of argument sets
#      over those archives: the goldens pgsurge is compared with, byte for byte.
# pgsurge's output never becomes a golden. testdata/README.md (hand-written) is never touched,
# nor is anything outside testdata/. Everything is built in a scratch directory and swapped in
# at the end, so a failed run leaves the previous fixtures as they were.
#
# Usage: tools/regen-testdata.sh     (as root: it starts the servers as the `postgres` user)
#
# Golden manifest, testdata/golden/cases.tsv, one line per case, tab-separated:
#   <case-id> <archive path relative to testdata/> <arg> <arg> ...
# where an arg is passed to pg_restore as is, except the tokens
#   {archive}      the archive's absolute path
#   {stdin}        pass no path: the archive is fed on standard input, through a pipe
#   {testdata}     (prefix) the absolute path of testdata/, for -L list and --filter files
# and <case-id>.stdout (gzipped as .stdout.gz when over 8 kB) / .stderr / .status hold what pg_restore 18 wrote and returned, with
# the absolute testdata path in .stderr replaced by the literal {testdata}.
set -euo pipefail

# runuser (to start the servers as `postgres`) and the installer need root.
((EUID == 0)) || { echo "regen-testdata: run as root" >&2; exit 1; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
started=$SECONDS

tools/install-postgres.sh
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh

# Archive headers and -l listings print times in the local zone; timestamptz data is
# printed in the session's. LC_ALL=C keeps pg_restore's messages untranslated.
export TZ=UTC PGTZ=UTC LC_ALL=C
# Nothing from the caller's environment may steer a connection or an encoding.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE PGSERVICE PGSERVICEFILE \
  PGOPTIONS PGCLIENTENCODING PGSSLMODE PGCONNECT_TIMEOUT PGAPPNAME PGDATESTYLE PGTARGETSESSIONATTRS

# Goldens need output that does not change from run to run: pg_restore makes up a random
# \restrict key for every script unless given one.
key=--restrict-key=pgsurgetestkey
pg_restore=$PGSURGE_PG18_BINDIR/pg_restore

final=$repo/testdata
stage=$(mktemp -d /tmp/pgsurge-testdata.XXXXXX)
dumps=$stage/dumps
golden=$stage/golden
mkdir -p "$dumps" "$golden/lists" "$golden/filters" "$golden/inputs"

# ---------------------------------------------------------------------------------------
# Temporary clusters
# ---------------------------------------------------------------------------------------
cluster="" # the running cluster's directory, if any: what the EXIT trap must stop
bin=""     # its major's bin directory

stop_cluster() {
  [[ -n $cluster ]] || return 0
  (cd / && runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -m fast -w stop >/dev/null 2>&1) ||
    (cd / && runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -m immediate -w stop >/dev/null 2>&1) || true
  rm -rf "$cluster"
  cluster=""
}

on_exit() {
  local status=$?
  if ((status != 0)) && [[ -n $cluster && -f $cluster/server.log ]]; then
    echo "regen-testdata: failed; last lines of the server log:" >&2
    tail -n 20 "$cluster/server.log" >&2 || true
  fi
  stop_cluster
  rm -rf "$stage"
  exit "$status"
}
trap on_exit EXIT
# Interrupted, still stop the server and remove the scratch directories.
trap 'exit 130' INT TERM HUP

start_cluster() { # major
  local var=PGSURGE_PG$1_BINDIR
  bin=${!var}
  cluster=$(mktemp -d "/tmp/pgsurge-regen-pg$1.XXXXXX")
  # The server refuses to run as root; its data, socket and tablespace directories must
  # belong to the user it runs as.
  chown postgres: "$cluster"
  runuser -u postgres -- mkdir "$cluster/ts"
  # runuser keeps the caller's working directory, which `postgres` may not be allowed to
  # read; initdb and pg_ctl complain about that, so they start from the cluster directory.
  (cd "$cluster" && runuser -u postgres -- "$bin/initdb" --no-sync -U postgres -A trust -E UTF8 --locale=C \
    -D "$cluster/data" >"$cluster/initdb.log" 2>&1) || { cat "$cluster/initdb.log" >&2; return 1; }
  # No TCP (listen_addresses=''), and the socket lives in a directory made just now, so the
  # port only names the socket file: it cannot collide with another server. Durability is
  # pointless for a cluster that lives a minute.
  local port=$((54000 + $1))
  (cd "$cluster" && runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 120 \
    -o "-p $port -c listen_addresses='' -c unix_socket_directories='$cluster' -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
    start >/dev/null)
  # Clients run as root, connecting over that socket as the superuser initdb made.
  export PGHOST=$cluster PGPORT=$port PGUSER=postgres
  psql_ -d postgres -v tsdir="$cluster/ts" -f tools/fixture/globals.sql
}

# The fixture files are UTF-8 whatever the database's encoding (latin1 converts on the
# server). PGCLIENTENCODING is set for psql only: pg_dump reads it too, and must write each
# archive in its database's own encoding.
psql_() { PGCLIENTENCODING=UTF8 "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null; }

load_db() { # name fixture-file [createdb options...]
  local name=$1 file=$2
  shift 2
  "$bin/createdb" "$@" "$name"
  psql_ -d "$name" -f "$file"
}

# ---------------------------------------------------------------------------------------
# 1. Archives
# ---------------------------------------------------------------------------------------
for major in 14 15 16 17 18; do
  start_cluster "$major"
  out=$dumps/pg$major
  mkdir -p "$out"
  load_db src tools/fixture/src.sql
  pg_dump=$bin/pg_dump

  # 14 and 15 know only gzip, chosen by level: -Z 0 is none, no -Z is the default gzip.
  # 16+ name the algorithm.
  if ((major >= 16)); then
    for alg in none gzip lz4 zstd; do
      "$pg_dump" -Fc -Z "$alg" -d src -f "$out/src.custom.$alg.dump"
      "$pg_dump" -Fd -Z "$alg" -d src -f "$out/src.dir.$alg"
    done
  else
    "$pg_dump" -Fc -Z 0 -d src -f "$out/src.custom.none.dump"
    "$pg_dump" -Fc -d src -f "$out/src.custom.gzip.dump"
    "$pg_dump" -Fd -Z 0 -d src -f "$out/src.dir.none"
    "$pg_dump" -Fd -d src -f "$out/src.dir.gzip"
  fi
  "$pg_dump" -Ft -d src -f "$out/src.tar"
  # Written into a pipe, pg_dump cannot seek back to fill in data offsets: the TOC says
  # "no offset" for every data entry and readers must scan.
  "$pg_dump" -Fc -d src | cat >"$out/src.custom.pipe.dump"
  # To a redirected (hence seekable) stdout, pg_dump 16+ rewrites the TOC with offsets
  # after the data, leaving a second copy of it at the end of the file.
  if ((major >= 16)); then
    "$pg_dump" -Fc -d src >"$out/src.custom.redirect.dump"
  fi

  if ((major == 18)); then
    # Plain SQL, for the "this is a text dump, use psql" error. It takes a \restrict key
    # too, which keeps the file the same from run to run.
    "$pg_dump" -Fp "$key" -d src -f "$out/src.sql"
    # pg_dump 18 dumps statistics only when asked; ANALYZE ran in src.sql.
    "$pg_dump" -Fc --statistics -d src -f "$out/src.custom.stats.dump"
    load_db big tools/fixture/big.sql
    "$pg_dump" -Fc -Z gzip -d big -f "$out/big.custom.gzip.dump"
    load_db latin1 tools/fixture/latin1.sql -E LATIN1 --locale=C -T template0
    "$pg_dump" -Fc -d latin1 -f "$out/latin1.custom.dump"
    load_db sample tools/fixture/sample.sql
    "$pg_dump" -Fc -d sample -f "$stage/sample.dump"
  fi
  if ((major == 14)); then
    load_db big tools/fixture/big.sql
    "$pg_dump" -Fd -d big -f "$out/big.dir.gzip"
  fi
  stop_cluster
  echo "regen-testdata: pg$major archives written ($((SECONDS - started)) s)"
done

# Inputs that are not archives (kept out of dumps/, whose every entry must be a sound archive).
: >"$golden/inputs/empty.dump"
printf 'PGD' >"$golden/inputs/short.dump"
head -c 1000 "$dumps/pg18/src.custom.none.dump" >"$golden/inputs/truncated.dump"

# ---------------------------------------------------------------------------------------
# 2. Goldens
# ---------------------------------------------------------------------------------------
manifest=$golden/cases.tsv
: >"$manifest"
stage_re=$(printf '%s' "$stage" | sed 's/[][\.*^$|/]/\\&/g')
ncases=0

# A readable, stable case id from the archive and the arguments, so that adding a case does
# not renumber the others and a failing test names what it ran. The restrict key and
# {archive} are the same everywhere and left out (a case without any key says "nokey");
# list and filter files go by base name.
case_id() { # rel args...
  local rel=$1 a words=()
  shift
  for a in "$@"; do
    case $a in
      '{archive}' | "$key") ;;
      '{stdin}') words+=(stdin) ;;
      '{testdata}/'*) words+=("${a##*/}") ;;
      *) words+=("$a") ;;
    esac
  done
  ((${#words[@]})) || words=(noargs)
  [[ " $* " == *" --restrict-key="* ]] || words+=(nokey)
  local id
  id="${rel#dumps/}__$(IFS=_; echo "${words[*]}")"
  printf '%s' "$id" | tr -c 'A-Za-z0-9._=+,-' '_'
}

exec_pg_restore() { (PATH=$PGSURGE_PG18_BINDIR:$PATH && exec -a pg_restore "$pg_restore" "$@"); }

run_case() { # archive-rel args...   (see the header for the tokens)
  local rel=$1
  shift
  local id
  id=$(case_id "$rel" "$@")
  [[ ! -e $golden/$id.status ]] || { echo "regen-testdata: duplicate case id $id" >&2; exit 1; }
  local a real=() input=/dev/null
  for a in "$@"; do
    [[ $a != *$'\t'* && $a != *$'\n'* ]] || { echo "regen-testdata: tab or newline in an argument of $id" >&2; exit 1; }
    case $a in
      '{archive}') real+=("$stage/$rel") ;;
      '{stdin}') input=$stage/$rel ;;
      *) real+=("${a//\{testdata\}/$stage}") ;;
    esac
  done
  # Through a pipe, as the tests feed it: a redirected regular file would be a seekable stdin,
  # and pg_restore reads a seekable stdin like a file (out-of-order requests then work).
  # argv[0] is plain `pg_restore`, as when found on PATH: getopt's messages print it whole.
  local status
  set +e
  # shellcheck disable=SC2002 # the pipe is the point
  cat "$input" 2>/dev/null | exec_pg_restore "${real[@]}" >"$golden/$id.stdout" 2>"$golden/$id.stderr"
  status=${PIPESTATUS[1]}
  set -e
  sed -i "s/$stage_re/{testdata}/g" "$golden/$id.stderr"
  # Scripts are mostly repeated schema text and hex large objects: kept gzipped (the tests
  # read either form), which keeps testdata at a few MB.
  if [[ $(stat -c %s "$golden/$id.stdout") -gt 8192 ]]; then
    gzip -9nf "$golden/$id.stdout"
  fi
  echo "$status" >"$golden/$id.status"
  {
    printf '%s\t%s' "$id" "$rel"
    printf '\t%s' "$@"
    printf '\n'
  } >>"$manifest"
  ncases=$((ncases + 1))
}

# -L list files for one archive, from its own -l output (dump IDs differ between pg_dump
# versions): a subset, a reordered one, one with junk lines that pg_restore warns about and
# ignores, and one naming an ID inside the archive's range that no entry has (fatal).
make_lists() { # archive-rel -> golden/lists/<archive slug>/
  local rel=$1
  local dir
  dir=$golden/lists/$(printf '%s' "${rel#dumps/}" | tr '/' '_')
  mkdir -p "$dir"
  local entries
  entries=$("$pg_restore" -l "$stage/$rel" | grep -v -e '^;' -e '^$')
  awk 'NR % 3 == 1' <<<"$entries" >"$dir/subset.list"
  # Every other entry, last first: data comes before its table and out of archive order.
  awk 'NR % 2 == 0' <<<"$entries" | tac >"$dir/reordered.list"
  local ids max gap first
  # IDs of all entries, including those only -v lists (ENCODING, DATABASE, ...).
  ids=$("$pg_restore" -l -v "$stage/$rel" | grep -v -e '^;' -e '^$' | cut -d';' -f1 | sort -n)
  max=$(tail -n 1 <<<"$ids")
  first=$(head -n 1 <<<"$entries" | cut -d';' -f1)
  # pg_dump numbers every object it looked at, dumped or not, so the range has holes.
  gap=$(awk 'NR == 1 { prev = $1; next } $1 > prev + 1 { print prev + 1; exit } { prev = $1 }' <<<"$ids")
  [[ -n $gap ]] || { echo "regen-testdata: no unused dump ID in $rel" >&2; exit 1; }
  {
    echo "; comment line, then blank and white-space-only lines"
    echo ""
    printf ' \t \n'
    head -n 4 <<<"$entries"
    echo "not a number"
    echo "-5"
    echo "0"
    echo "$((max + 1000)); beyond the last dump ID"
    echo "$first; listed twice"
    echo "  +$(sed -n 5p <<<"$entries" | cut -d';' -f1)x; sign, leading blanks and trailing junk"
    sed -n 6p <<<"$entries" | tr -d '\n'   # last line without a newline
  } >"$dir/junk.list"
  {
    head -n 2 <<<"$entries"
    echo "$gap; within the range, but no entry has this ID"
    sed -n 3p <<<"$entries"
  } >"$dir/unknown.list"
}

lists() { printf '{testdata}/golden/lists/%s' "$(printf '%s' "${1#dumps/}" | tr '/' '_')"; }

# --filter files (pg_restore 17+), the same for every archive.
cat >"$golden/filters/include.filter" <<'EOF'
# include rules: tables, a function (odd spacing is normalised), a trigger, an index

include table types
INCLUDE table "MixedCase"."Order Items"    # quoted: never matches a tag
include function add_one( integer )   # trailing comment
include trigger child   child_touch
include index events_kind
EOF
cat >"$golden/filters/exclude.filter" <<'EOF'
exclude schema MixedCase
exclude schema ünï   cödé
EOF
cat >"$golden/filters/invalid.filter" <<'EOF'
include table types
include table_data types
EOF

# --- every archive: its listing and its default script --------------------------------
for path in "$dumps"/pg*/*; do
  rel=${path#"$stage/"}
  [[ $rel == *.sql ]] && continue
  run_case "$rel" -l "$key" '{archive}'
  # The big archives hold a 1.1 MB large object, 2.3 MB of hex in a script: listed only.
  [[ $rel == */big.* ]] || run_case "$rel" -f - "$key" '{archive}'
done
run_case sample.dump -l "$key" '{archive}'
run_case sample.dump -f - "$key" '{archive}'
# The plain form a user types, without a key (-l never needs one).
run_case dumps/pg18/src.custom.gzip.dump -l '{archive}'

# --- the option matrix, on one archive of each archive version (1.14, 1.15, 1.16) -------
for rel in dumps/pg18/src.custom.gzip.dump dumps/pg14/src.custom.gzip.dump dumps/pg16/src.dir.zstd; do
  make_lists "$rel"
  l=$(lists "$rel")
  f='{testdata}/golden/filters'
  option_sets=(
    "-c" "-c --if-exists" "-C" "-C -c --if-exists" "-O" "-x" "--no-acl" "--no-comments"
    "--section=pre-data" "--section=data" "--section=post-data" "--section=pre-data --section=post-data"
    "-a" "-s" "--no-data" "--no-schema" "--statistics" "--no-statistics" "--statistics-only"
    "-n public" "-n MixedCase" "-N public" "-t types" "-t types -n public" "-I types_lower"
    "-L $l/subset.list" "-L $l/reordered.list" "-L $l/junk.list" "-L $l/unknown.list"
    "--filter $f/include.filter" "--filter $f/exclude.filter" "--filter $f/invalid.filter"
    "-a --disable-triggers" "-a --disable-triggers -S postgres" "--use-set-session-authorization"
    "-1" "--transaction-size=5" "--no-policies" "--no-publications" "--no-subscriptions"
    "--no-security-labels" "--no-tablespaces" "--no-table-access-method" "--enable-row-security"
    "--strict-names -t nosuchtable" "--role=alice" "-v"
  )
  for opts in "${option_sets[@]}"; do
    read -ra words <<<"$opts"
    run_case "$rel" -f - "${words[@]}" "$key" '{archive}'
  done
  # Arguments with spaces or parentheses, one word each.
  run_case "$rel" -f - -T "child child_touch" "$key" '{archive}'
  run_case "$rel" -f - -P "add_one(integer)" "$key" '{archive}'
  for opts in "-v" "-n public" "-t types" "-L $l/subset.list" "-L $l/reordered.list" "-L $l/junk.list" \
    "--filter $f/include.filter" "-a" "-s" "-C" "-x --no-comments" "--section=data"; do
    read -ra words <<<"$opts"
    run_case "$rel" -l "${words[@]}" "$key" '{archive}'
  done
done

# --- statistics (pg_dump 18 --statistics): STATISTICS DATA entries ------------------------
rel=dumps/pg18/src.custom.stats.dump
for opts in "--statistics" "--no-statistics" "--statistics-only" "-s" "-a" "-t events" "--section=post-data" \
  "--statistics-only -t events" "--statistics-only -I events_kind"; do
  read -ra words <<<"$opts"
  run_case "$rel" -f - "${words[@]}" "$key" '{archive}'
done
for opts in "-v" "--statistics-only" "--no-statistics" "-t events" "-s" "--statistics-only -n public" \
  "--statistics-only -N public" "--statistics-only -t events -I events_kind"; do
  read -ra words <<<"$opts"
  run_case "$rel" -l "${words[@]}" "$key" '{archive}'
done

# --- refusals: option combinations pg_restore rejects before reading the archive ----------
# (-j 2 is not one: with -f, pg_restore quietly restores serially.)
rel=dumps/pg18/src.custom.gzip.dump
for opts in "-s -a" "-c -a" "-1 --transaction-size=5" "-C -1" "--if-exists" "--statistics --no-statistics" \
  "-F p" "-F x" "-d x" "--section=bogus" "-j 0" "--transaction-size=0" "-a --no-data" "-s --no-schema" \
  "--statistics-only -a" "--statistics-only --no-statistics" "-j 2" "-1 -j 2" "--bogus-option" \
  "--filter {testdata}/golden/filters/missing.filter"; do
  read -ra words <<<"$opts"
  run_case "$rel" -f - "${words[@]}" "$key" '{archive}'
done
run_case "$rel" "$key" '{archive}'                      # neither -f nor -d nor -l
run_case "$rel" -l -d x "$key" '{archive}'              # -l never connects, yet -d + key is refused
run_case "$rel" -f - "--restrict-key=not a valid key" '{archive}'

# --- standard input (custom and tar only) ------------------------------------------------
for rel in dumps/pg14/src.custom.gzip.dump dumps/pg18/src.custom.gzip.dump dumps/pg18/src.custom.pipe.dump dumps/pg18/src.tar dumps/pg16/src.custom.redirect.dump; do
  run_case "$rel" -l "$key" '{stdin}'
  run_case "$rel" -f - "$key" '{stdin}'
done
# Out-of-order requests: from a pipe pg_restore cannot go back (custom) or refuses (tar); a
# custom file written without offsets is still seekable and is scanned.
for rel in dumps/pg18/src.custom.pipe.dump dumps/pg18/src.tar; do
  make_lists "$rel"
  l=$(lists "$rel")
  run_case "$rel" -f - -L "$l/reordered.list" "$key" '{stdin}'
  run_case "$rel" -f - -L "$l/reordered.list" "$key" '{archive}'
done
run_case dumps/pg18/src.custom.gzip.dump -f - -L "$(lists dumps/pg18/src.custom.gzip.dump)/reordered.list" "$key" '{stdin}'

# --- inputs that are not (whole) archives ------------------------------------------------
run_case dumps/pg18/src.sql -l "$key" '{archive}'
run_case dumps/pg18/src.sql -f - "$key" '{archive}'
run_case dumps/pg18/nonexistent.dump -l "$key" '{archive}'
for rel in golden/inputs/empty.dump golden/inputs/short.dump golden/inputs/truncated.dump; do
  run_case "$rel" -l "$key" '{archive}'
  run_case "$rel" -l "$key" '{stdin}'
done
run_case golden/inputs -l "$key" '{archive}' # a directory without toc.dat

# ---------------------------------------------------------------------------------------
# Swap the new fixtures in.
# ---------------------------------------------------------------------------------------
narchives=$(find "$dumps" -mindepth 2 -maxdepth 2 ! -name '*.sql' | wc -l)
rm -rf "$final/dumps" "$final/golden" "$final/sample.dump"
mv "$dumps" "$golden" "$stage/sample.dump" "$final/"
failing=$( (grep -lvx 0 "$final"/golden/*.status || true) | wc -l)
echo "regen-testdata: $narchives archives in testdata/dumps, $ncases golden cases ($failing with a non-zero status)," \
  "$(du -sh "$final" | cut -f1) in testdata/, $((SECONDS - started)) s"
