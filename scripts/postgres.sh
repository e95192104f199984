#!/usr/bin/env bash
# Prints a PostgreSQL server URL for the tests. Uses the server on 127.0.0.1:5432 when one
# answers; otherwise installs Debian's postgresql and starts a throw-away cluster (trust auth,
# loopback only) under /tmp, owned by the postgres system user.
set -euo pipefail
PGPORT_THROWAWAY="${HELPDESK_TEST_PGPORT:-55432}"
PGROOT="${HELPDESK_TEST_PGROOT:-/tmp/helpdesk-test-pg}"

answers() { # host port user
  python3 - "$@" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
}

if answers 127.0.0.1 5432 && psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  echo "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
  exit 0
fi
if answers 127.0.0.1 "$PGPORT_THROWAWAY"; then
  echo "postgresql+psycopg://postgres@127.0.0.1:$PGPORT_THROWAWAY/postgres"
  exit 0
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ]; then
  echo "[postgres] installing Debian's postgresql" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

run_as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if [ ! -s "$PGROOT/data/PG_VERSION" ]; then
  mkdir -p "$PGROOT"
  [ "$(id -u)" = 0 ] && chown postgres "$PGROOT"
  run_as_pg "$bindir/initdb -D $PGROOT/data -U postgres -A trust -E UTF8 --no-locale" >&2
fi
run_as_pg "$bindir/pg_ctl -D $PGROOT/data -l $PGROOT/log -w -o '-p $PGPORT_THROWAWAY -h 127.0.0.1 -k $PGROOT -c fsync=off' start" >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PGPORT_THROWAWAY/postgres"
