#!/usr/bin/env bash
# PostgreSQL 18.6's own pg_dump/pg_restore TAP tests (src/bin/pg_dump/t/*.pl of Debian's
# postgresql-18 18.6-3 source package) run against the pinned 18.6 binaries, with pgsurge
# first on PATH under the name pg_restore. Every test must pass: pg_restore's behaviour as
# PostgreSQL itself pins it down, about 15,000 checks.
#
#   tools/check-pg-dump-tap.sh [--real] [t/002_pg_dump.pl ...]
#
# --real runs the suite with pg_restore 18.6 itself (a check of this harness: it must pass
# whole too). Test files may be named to run only those. PGSURGE_BIN picks the pgsurge binary
# (default: target/debug/pgsurge, built here). The source is downloaded once into
# /var/tmp/pgsurge-pgsrc (apt-get source, deb-src lines added for that) and checked against
# the pinned orig tarball's SHA-256. Servers refuse to run as root,
# so as root the suite runs as the postgres user, from a copy it owns. Needs
# tools/install-postgres.sh; installs libipc-run-perl when it is missing. About a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
bin=$PGSURGE_PG18_BINDIR

real=0
tests=()
for arg in "$@"; do
  case $arg in
    --real) real=1 ;;
    -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) tests+=("$arg") ;;
  esac
done

# The orig tarball carries the tests; every Debian revision of 18.6 shares it, so it is what
# is pinned (by hash); apt is asked for the revision that was checked.
version=18.6
debian_version=18.6-3
orig=postgresql-18_$version.orig.tar.bz2
orig_sha256=555610c24d53e4316da5b7d3fc25c279d96856d5e0e23ee308c328c5fa881d9f
cache=/var/tmp/pgsurge-pgsrc
# The tests and their perl modules, unpacked once (reading the whole tarball takes seconds).
# Not named postgresql-18.*: tools/check-regression-db.sh takes such a directory for its own.
tree=$cache/pg_dump-tap-$version

[[ $("$bin/pg_restore" --version) == "pg_restore (PostgreSQL) $version" ]] ||
  { echo "need PostgreSQL $version binaries at $bin: run tools/install-postgres.sh" >&2; exit 1; }
pg_regress=$("$bin/pg_config" --pkglibdir)/pgxs/src/test/regress/pg_regress
[[ -x $pg_regress ]] || { echo "no pg_regress at $pg_regress" >&2; exit 1; }

if ! perl -MIPC::Run -e 1 2>/dev/null; then
  # A fresh machine may not have read its package lists yet.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libipc-run-perl >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libipc-run-perl >/dev/null; }
fi

have_orig() { echo "$orig_sha256  $cache/$orig" | sha256sum --check --status 2>/dev/null; }
if ! have_orig; then
  [[ $(id -u) -eq 0 ]] || { echo "the source package needs root to fetch (apt-get source); put $orig in $cache" >&2; exit 1; }
  # shellcheck source=tools/debian-source.sh
  source tools/debian-source.sh
  debian_source "postgresql-18=$debian_version" "$cache" || true
  have_orig || { echo "no $orig with SHA-256 $orig_sha256 from apt-get source postgresql-18=$debian_version;" \
    "once Debian has moved past 18.6, put that tarball in $cache" >&2; exit 1; }
  rm -rf "$tree"
fi
if [[ ! -f $tree/.complete ]]; then
  rm -rf "$tree"
  mkdir -p "$tree"
  tar -xjf "$cache/$orig" -C "$tree" --strip-components=1 \
    "postgresql-$version/src/test/perl" "postgresql-$version/src/bin/pg_dump/t"
  touch "$tree/.complete"
fi

if [[ $real -eq 1 ]]; then
  restore=$bin/pg_restore
  under_test="pg_restore $version"
else
  restore=${PGSURGE_BIN:-}
  if [[ -z $restore ]]; then
    cargo build --locked --quiet --bin pgsurge
    restore=$PWD/target/debug/pgsurge
  fi
  [[ -x $restore ]] || { echo "no pgsurge binary at $restore" >&2; exit 1; }
  under_test="pgsurge ($restore)"
fi

# A scratch tree: the test scripts and their perl modules, a bin directory whose pg_restore is
# the program under test, and the tests' data and logs. Owned by whoever runs the servers.
work=$(mktemp -d /tmp/pgsurge-tap.XXXXXX)
keep=0 # a failed run's logs stay for reading
trap '[[ $keep -eq 1 ]] || rm -rf "$work"' EXIT
cp -R "$tree/src" "$work/"
mkdir "$work/bin"
cp "$restore" "$work/bin/pg_restore"
run_as=()
if [[ $(id -u) -eq 0 ]]; then
  chown -R postgres: "$work"
  run_as=(runuser -u postgres --)
fi

# What src/Makefile.global's prove_check and meson's test setup give each TAP test.
env_vars=(
  PATH="$work/bin:$bin:/usr/bin:/bin"
  TESTDATADIR="$work/tmp_check"
  TESTLOGDIR="$work/tmp_check/log"
  PG_REGRESS="$pg_regress"
  PG_TEST_PORT_DIR="$work/portlock"
  GZIP_PROGRAM="$(command -v gzip || true)"
  LZ4="$(command -v lz4 || true)"
  ZSTD="$(command -v zstd || true)"
  with_icu="$(grep -qs '^#define USE_ICU 1' "$("$bin/pg_config" --includedir)/pg_config.h" && echo yes || echo no)"
)
[[ ${#tests[@]} -gt 0 ]] || mapfile -t tests < <(cd "$work/src/bin/pg_dump" && printf '%s\n' t/*.pl)

echo "running PostgreSQL $version's pg_dump TAP tests with $under_test as pg_restore" >&2
start=$SECONDS
status=0
(cd "$work/src/bin/pg_dump" &&
  "${run_as[@]}" env -i HOME="$work" "${env_vars[@]}" \
    prove -I ../../test/perl -I . "${tests[@]}") >"$work/prove.out" 2>&1 || status=$?
elapsed=$((SECONDS - start))
# prove's per-file lines and its summary report, and the names of the failed tests (their
# diagnostics are in prove.out and the logs).
grep -E '^t/.*\.\.|^(Test Summary Report|---|  |Files=|Result:|Dubious|Failed )' "$work/prove.out" >&2 || true
grep '^#   Failed test' "$work/prove.out" | head -40 >&2 || true
summary=$(grep -o 'Files=[0-9]*, Tests=[0-9]*' "$work/prove.out" | tail -1 || true)
failed=$( (grep -o 'Failed: [0-9]*' "$work/prove.out" || true) | awk '{n += $2} END {print n + 0}')
if [[ $status -eq 0 ]] && grep -q '^Result: PASS' "$work/prove.out"; then
  echo "PASS pg_dump TAP tests of PostgreSQL $version with $under_test: ${summary:-no summary}, 0 failed, ${elapsed}s"
else
  keep=1
  echo "FAIL pg_dump TAP tests of PostgreSQL $version with $under_test: ${summary:-no summary}, $failed failed, ${elapsed}s;" \
    "prove output in $work/prove.out, logs in $work/tmp_check/log"
  exit 1
fi
