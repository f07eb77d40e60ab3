# Sourced, not run: points the tests at each major's binaries, keeping values already set.
_pgsurge_root=${PGSURGE_PG_ROOT:-/opt/pgsurge/pg}
export PGSURGE_PG14_BINDIR=${PGSURGE_PG14_BINDIR:-$_pgsurge_root/14/bin}
export PGSURGE_PG15_BINDIR=${PGSURGE_PG15_BINDIR:-/usr/lib/postgresql/15/bin}
export PGSURGE_PG16_BINDIR=${PGSURGE_PG16_BINDIR:-$_pgsurge_root/16/bin}
export PGSURGE_PG17_BINDIR=${PGSURGE_PG17_BINDIR:-$_pgsurge_root/17/bin}
export PGSURGE_PG18_BINDIR=${PGSURGE_PG18_BINDIR:-$_pgsurge_root/18/bin}
unset _pgsurge_root
