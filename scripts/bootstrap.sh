#!/usr/bin/env bash
# Installs everything helpdesk needs on a fresh Debian machine with Python >= 3.11:
# Debian packages (WeasyPrint's libraries; for tests: Dovecot, Chromium, poppler, PostgreSQL when
# none answers) and a virtualenv in .venv with the project and its test extras.
# Idempotent: a second run only checks. Usage: scripts/bootstrap.sh [runtime|test]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-test}"

runtime_pkgs=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
test_pkgs=(dovecot-imapd openssl chromium poppler-utils)

missing=()
want=("${runtime_pkgs[@]}")
[ "$profile" = test ] && want+=("${test_pkgs[@]}")
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[bootstrap] installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # The dovecot package tries to start its system service; without systemd that is skipped.
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($PY --version)" >&2
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$profile"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[bootstrap] installing Python packages ($profile)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  if [ "$profile" = test ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
  else
    .venv/bin/python -m pip install -q -e .
  fi
  touch "$stamp"
fi
