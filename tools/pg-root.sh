# Sourced, not run: `pgsurge_pg_root` prints where tools/install-postgres.sh puts the pinned
# PostgreSQL wheels — PGSURGE_PG_ROOT if set, else /opt/pgsurge/pg for root and
# ${XDG_CACHE_HOME:-~/.cache}/pgsurge/pg for anyone else (who cannot write /opt).
pgsurge_pg_root() {
  if [[ -n ${PGSURGE_PG_ROOT:-} ]]; then
    echo "$PGSURGE_PG_ROOT"
  elif [[ $(id -u) == 0 ]]; then
    echo /opt/pgsurge/pg
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/pgsurge/pg"
  fi
}
