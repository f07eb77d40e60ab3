#!/usr/bin/env bash
# The whole test suite, as CI runs it: install the PostgreSQL binaries the tests and fixtures
# need (idempotent, pinned), check the crate layering, then every unit and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-postgres.sh
# shellcheck source=tools/pg-env.sh
source tools/pg-env.sh
tools/check-deps.sh
# Goldens were written with TZ=UTC; the listing header prints times in the local zone.
export TZ=UTC
cargo test --workspace --locked
