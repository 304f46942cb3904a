#!/usr/bin/env bash
# Installs ATCS with its test tools into .venv and runs the whole suite (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "ATCS needs Python 3.11 or newer" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
# The web chat is tested in a real headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser test..."
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# Two workers: most tests wait on processes and sockets rather than the CPU. The outer bound
# turns a hang (pytest-timeout covers single tests, not the exit) into a failure inside the
# 15-minute CI budget; the suite takes about 7 minutes on 2 quiet cores, 13 with two CPU burners.
exec timeout --kill-after=30 870 .venv/bin/pytest -n 2 "$@"
