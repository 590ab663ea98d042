#!/usr/bin/env bash
# Build fuzz/corpus/<target>/ seed corpora from testdata/*.json (see seed.py).
set -euo pipefail
exec python3 "$(dirname "$0")/seed.py" "$@"
