#!/usr/bin/env bash
# Creates .venv beside this file and installs the project into it (editable, with the pinned
# requirements and the test tools). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
