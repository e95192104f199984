#!/usr/bin/env bash
# Refresh the translation catalogue after adding _() strings: extract the French source strings,
# merge them into helpdesk/translations/en/.../messages.po, then compile the .mo that is committed.
# Translate the new empty msgstr entries in the .po, then run this script again (or `compile`).
# Usage: scripts/translations.sh [update|compile]   (default: update then compile)
set -euo pipefail
cd "$(dirname "$0")/.."
step="${1:-all}"
pybabel=.venv/bin/pybabel
if [ "$step" != compile ]; then
  $pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
    -o helpdesk/translations/messages.pot . 2>&1 | grep -v "^extracting" || true
  $pybabel update --no-fuzzy-matching -i helpdesk/translations/messages.pot -d helpdesk/translations
fi
$pybabel compile -d helpdesk/translations
