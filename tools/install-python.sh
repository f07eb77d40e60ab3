#!/usr/bin/env bash
# Installs the Python virtual environment the migrations tests (tests/migrations.rs) run a
# real app's migrations with: Alembic, SQLAlchemy and psycopg 3 (libpq-based, so it reads
# PGPASSFILE as pgsurge's --then sets it), each pinned to one exact version from PyPI,
# their dependencies too, so that the app migrates the same way on every machine.
# Idempotent: a venv already holding the pinned set (for this python3) is left alone, so CI
# can call this on every run for the price of reading one file.
#
# Usage: tools/install-python.sh   (no prompts; safe with CI=true)
#
# The venv lives at $PGSURGE_VENV if set, else /opt/pgsurge/venv as root and
# ${XDG_CACHE_HOME:-~/.cache}/pgsurge/venv for anyone else, beside the PostgreSQL binaries of
# tools/install-postgres.sh; the tests look in the same places. Its bin/ has `alembic`.
set -euo pipefail

# Every package the venv gets, with its exact version: the three the app needs and what they
# depend on. Installed with --no-deps and then `pip check`ed, so a bump here that brings a new
# dependency fails loudly instead of pulling an unpinned one.
pinned=(
  alembic==1.20.1
  SQLAlchemy==2.1.9
  psycopg==3.3.9
  psycopg-binary==3.3.9
  Mako==1.4.3
  MarkupSafe==3.0.4
  typing_extensions==4.16.0
)

if [[ -n ${PGSURGE_VENV:-} ]]; then
  venv=$PGSURGE_VENV
elif [[ $(id -u) == 0 ]]; then
  venv=/opt/pgsurge/venv
else
  venv=${XDG_CACHE_HOME:-$HOME/.cache}/pgsurge/venv
fi
marker=$venv/.pgsurge-pins

command -v python3 >/dev/null || { echo "install-python: python3 is missing (Debian: apt-get install python3)" >&2; exit 1; }
# What the venv was built from: a new python3 (an upgrade of the machine) rebuilds it too,
# since a venv links the interpreter it was made with.
want="$(python3 --version 2>&1) ${pinned[*]}"

if [[ -f $marker && $(<"$marker") == "$want" && -x $venv/bin/alembic ]]; then
  echo "python venv: already present ($venv)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
umask 022

# Debian splits venv (and the ensurepip it needs) out of python3. The package is not pinned:
# it must match the installed python3 exactly, which apt already insists on.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [[ $(id -u) != 0 ]]; then
    echo "install-python: python3's venv module is missing; as root: apt-get install python3-venv" >&2
    exit 1
  fi
  echo "python venv: installing Debian's python3-venv package"
  apt-get update -qq
  apt-get install -y -qq python3-venv >/dev/null
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || { echo "install-python: python3-venv installed but python3 still cannot make a venv" >&2; exit 1; }
fi

mkdir -p "$(dirname "$venv")"
[[ -w $(dirname "$venv") ]] || { echo "install-python: cannot write $(dirname "$venv"); set PGSURGE_VENV to a directory of your own" >&2; exit 1; }
# Two runs at once (a developer and a test script, say) must not build into each other.
exec 9>"$venv.lock"
flock 9
if [[ -f $marker && $(<"$marker") == "$want" && -x $venv/bin/alembic ]]; then
  echo "python venv: already present ($venv)"
  exit 0
fi

echo "python venv: installing ${pinned[*]} from PyPI into $venv"
# A venv cannot be moved once made (its scripts name their interpreter by absolute path),
# so it is built in place; the marker is written last, so a run killed half-way leaves a
# venv the next run sees as missing and rebuilds.
# Only ever a venv is removed: PGSURGE_VENV pointing at some other directory is refused.
if [[ -e $venv && ! -f $venv/pyvenv.cfg ]] && [[ -n $(ls -A "$venv" 2>/dev/null) ]]; then
  echo "install-python: $venv exists and is not a virtual environment; not replacing it (set PGSURGE_VENV elsewhere)" >&2
  exit 1
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-deps --only-binary=:all: "${pinned[@]}"
"$venv/bin/python" -m pip check >/dev/null || { "$venv/bin/python" -m pip check >&2; echo "install-python: the pinned set is incomplete (see above); add the missing packages to \`pinned\` in $0" >&2; exit 1; }
got=$("$venv/bin/alembic" --version)
[[ $got == "alembic ${pinned[0]#alembic==}" ]] || { echo "install-python: installed ${pinned[0]} but alembic says: $got" >&2; exit 1; }
"$venv/bin/python" -c 'import psycopg; psycopg.pq.version()' || { echo "install-python: psycopg cannot load its libpq" >&2; exit 1; }
echo "$want" >"$marker"
echo "python venv: installed ($venv; $got, $("$venv/bin/python" -c 'import sqlalchemy, psycopg; print("SQLAlchemy", sqlalchemy.__version__ + ", psycopg", psycopg.__version__)'))"
