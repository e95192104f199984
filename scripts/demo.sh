#!/usr/bin/env bash
# Runs helpdesk on its embedded default: SQLite under var/, demo data, the worker (mail drop in
# var/maildrop/, outgoing mail captured in var/mail-out/) and the web on http://127.0.0.1:5000.
# Ctrl-C stops both. Set PORT to use another port.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh runtime
export HELPDESK_ENVIRONMENT="${HELPDESK_ENVIRONMENT:-development}"
PORT="${PORT:-5000}"
export HELPDESK_BASE_URL="${HELPDESK_BASE_URL:-http://127.0.0.1:$PORT}"
.venv/bin/helpdesk init-db
.venv/bin/helpdesk demo
.venv/bin/helpdesk worker &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
echo "helpdesk: http://127.0.0.1:$PORT  (worker pid $worker; Ctrl-C to stop)"
echo "command line on this demo, from another terminal in $PWD:"
echo "  HELPDESK_ENVIRONMENT=development .venv/bin/helpdesk ticket list --json"
echo "mail in: cp tests/mail/plain.eml var/maildrop/   mail out: ls var/mail-out/"
.venv/bin/gunicorn --workers 2 --bind "127.0.0.1:$PORT" --access-logfile - 'helpdesk:create_app()'
