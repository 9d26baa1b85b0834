#!/usr/bin/env bash
# Make an isolated environment (.venv, or $CODEX_FARM_VENV) holding exactly the locked dependencies
# (requirements/lock.txt, hash-checked) and this checkout, installed editable. Never touches the
# system interpreter. Python 3.11 or newer: set PYTHON to pick one (default python3).
set -euo pipefail
cd "$(dirname "$0")"
venv=${CODEX_FARM_VENV:-.venv}
python=${PYTHON:-python3}

fail() { echo "install.sh: $1" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 || fail "$python not found; install Python 3.11 or newer, or set PYTHON"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "$("$python" -V 2>&1) is too old; codex-farm needs Python 3.11 or newer (set PYTHON)"
if [ ! -x "$venv/bin/python" ]; then
    # Debian and Ubuntu ship venv's pip bootstrap separately (python3-venv).
    "$python" -m venv "$venv" || fail "could not make $venv; on Debian/Ubuntu: apt-get install python3-venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --require-hashes --no-deps --requirement requirements/lock.txt
"${pip[@]}" --no-deps --no-build-isolation --editable .
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null || fail "the environment is inconsistent: $("$venv/bin/python" -m pip check)"
echo "installed into $venv: run $venv/bin/codex-farm up"
