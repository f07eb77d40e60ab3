#!/usr/bin/env bash
# The whole test suite, as CI runs it: install the PostgreSQL binaries the tests and fixtures
# need and the headless browser the timeline test screenshots with (both idempotent, pinned),
# check the crate layering and lints, then every unit and integration test,
# then PostgreSQL 18.6's own pg_dump/pg_restore TAP tests with pgsurge as pg_restore.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-postgres.sh
tools/install-browser.sh
tools/install-python.sh
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
tools/check-deps.sh
# Lints as errors where clippy is installed (a toolchain without it still runs every test).
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets --locked -- -D warnings
else
  echo "test.sh: cargo clippy is not installed; lints skipped" >&2
fi
# Goldens were written with TZ=UTC; the listing header prints times in the local zone.
export TZ=UTC
# Every major and the browser are installed now: a test that finds one missing must fail, not skip.
export PGSURGE_REQUIRE_PG=1
cargo test --workspace --locked
# The debug binary the integration tests just built; about a minute.
tools/check-pg-dump-tap.sh
# The README's first command, as a user without root runs it; seconds.
tools/check-demo.sh
