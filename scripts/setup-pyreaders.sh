#!/usr/bin/env bash
# The Python readers tests open exports with — pandas for the tables, pympi-ling for ELAN — in
# a virtual environment of their own (from PyPI, pinned). Prints its python.
set -euo pipefail

dir="${IMIND_PYREADERS_DIR:-$HOME/.cache/imind/pyreaders}"
if ! "$dir/bin/python" -c "import pandas, pympi" 2>/dev/null; then
  rm -rf "$dir"
  python3 -m venv "$dir" >&2
  "$dir/bin/python" -m pip install -q --disable-pip-version-check pandas==2.2.3 pympi-ling==1.70.2 >&2
fi
echo "$dir/bin/python"
