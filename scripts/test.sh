#!/usr/bin/env bash
# The whole test suite, on SQLite and PostgreSQL, with the real Dovecot, SMTP server and Chromium.
# Installs what is missing first (scripts/bootstrap.sh, scripts/postgres.sh).
# Extra arguments go to pytest:  scripts/test.sh -k workflow -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
if [ -z "${HELPDESK_TEST_DATABASE_URL:-}" ]; then
  HELPDESK_TEST_DATABASE_URL="$(bash scripts/postgres.sh)"
  export HELPDESK_TEST_DATABASE_URL
fi
echo "[test] PostgreSQL server for the tests: $HELPDESK_TEST_DATABASE_URL" >&2
export HELPDESK_TEST_ARTIFACTS="${HELPDESK_TEST_ARTIFACTS:-$PWD/test-artifacts}"
mkdir -p "$HELPDESK_TEST_ARTIFACTS"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
