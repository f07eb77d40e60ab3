# Sourced, not run (`source tools/scratch-cluster.sh`): `scratch_cluster BINDIR STEM [SETTING…]`
# starts a throwaway PostgreSQL cluster the way the server allows — as root, as the
# unprivileged postgres user; otherwise as the caller — in a temporary directory that user
# owns (/tmp/STEM.XXXXXX), on a free port, its socket in that directory, with trust
# authentication and each SETTING (`-c name=value` words) on the command line. It sets
# `cluster` (the directory) and exports PGHOST, PGPORT and PGUSER; an EXIT trap stops the
# server and removes the directory.
scratch_cluster() {
  local bindir=$1 stem=$2 port as=()
  shift 2
  cluster=$(mktemp -d "/tmp/$stem.XXXXXX")
  if [[ $(id -u) == 0 ]]; then
    chown postgres "$cluster"
    as=(runuser -u postgres --)
  fi
  # shellcheck disable=SC2064 # the paths are fixed now, on purpose
  trap "${as[*]} '$bindir/pg_ctl' -D '$cluster/data' -m immediate stop >/dev/null 2>&1 || true; rm -rf '$cluster'" EXIT
  "${as[@]}" "$bindir/initdb" --no-sync -U postgres -A trust -D "$cluster/data" >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as[@]}" "$bindir/pg_ctl" -D "$cluster/data" -w -l "$cluster/log" \
    -o "-k $cluster -p $port -c listen_addresses='' $*" start >/dev/null
  export PGHOST=$cluster PGPORT=$port PGUSER=postgres
}
