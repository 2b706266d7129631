#!/usr/bin/env bash
# Browser tests: a page of another origin cannot drive the server (origin.test.mjs), and
# the widgets, with widgets.ipynb run in JupyterLab (notebook.test.mjs), and the demo's and
# a bench report at 1280 px (report.test.mjs), in headless Chromium.
# Installs what a fresh machine lacks (Chromium from Debian, playwright-core from npm),
# then runs both. Screenshots and logs land in tests/browser/artifacts/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export TTSKIT_VENV="${TTSKIT_VENV:-$repo/.venv}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$TTSKIT_VENV/bin/python" ]; then
  echo "no virtualenv at $TTSKIT_VENV: run 'make install' first" >&2
  exit 1
fi
if ! "$TTSKIT_VENV/bin/python" -c "import anywidget, jupyterlab" 2>/dev/null; then
  echo "anywidget and jupyterlab are missing from $TTSKIT_VENV: pip install -e '.[notebook]'" >&2
  exit 1
fi

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$CHROMIUM is missing; install it with: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

cd "$here"
timeout 120 node origin.test.mjs
timeout 300 node report.test.mjs
exec timeout 600 node notebook.test.mjs
