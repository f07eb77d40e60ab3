# Sourced, not run (`source tools/scratch-cluster.sh`): `scratch_cluster BINDIR STEM [SETTING…]`
# starts a throwaway PostgreSQL cluster the way the server allows under root — as the
# unprivileged postgres user, in a temporary directory it owns (/tmp/STEM.XXXXXX), on a free
# port, its socket in that directory — with trust authentication and each SETTING (`-c
# name=value` words) on the command line. It sets `cluster` (the directory) and exports
# PGHOST, PGPORT and PGUSER; an EXIT trap stops the server and removes the directory.
scratch_cluster() {
  local bindir=$1 stem=$2 port
  shift 2
  cluster=$(mktemp -d "/tmp/$stem.XXXXXX")
  chown postgres "$cluster"
  # shellcheck disable=SC2064 # the paths are fixed now, on purpose
  trap "runuser -u postgres -- '$bindir/pg_ctl' -D '$cluster/data' -m immediate stop >/dev/null 2>&1 || true; rm -rf '$cluster'" EXIT
  runuser -u postgres -- "$bindir/initdb" --no-sync -U postgres -A trust -D "$cluster/data" >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$bindir/pg_ctl" -D "$cluster/data" -w -l "$cluster/log" \
    -o "-k $cluster -p $port -c listen_addresses='' $*" start >/dev/null
  export PGHOST=$cluster PGPORT=$port PGUSER=postgres
}
