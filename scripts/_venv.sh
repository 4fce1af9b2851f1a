# Sourced by scripts/demo and scripts/test: make .venv (Python ≥ 3.11) and install
# chargerd into it, again only when pyproject.toml changes. $1: extras, e.g. "[test]".
set -euo pipefail
extras="${1:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "chargerd needs Python 3.11 or newer (python3.11 not found)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $python" >&2
    "$python" -m venv .venv
fi
stamp=".venv/.installed$(echo "$extras" | tr -c 'a-z' '-')$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -e "$stamp" ]; then
    echo "installing chargerd$extras into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras" >&2
    touch "$stamp"
fi
