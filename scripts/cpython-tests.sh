#!/usr/bin/env bash
# Runs CPython's own test suite files inside pyvisor (through our kernel and
# VFS), with the sources' Lib/test mounted read-only into the stdlib.
# Needs the engine build tree (npm run engine:build) and the compiled CLI.
#   scripts/cpython-tests.sh [test_name ...]     (default: a file-system and core set)
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS="$PWD/engine/.build/src/cpython/Lib/test"
[ -d "$TESTS" ] || { echo "missing $TESTS: run npm run engine:build first" >&2; exit 2; }
[ -f dist/src/cli/main.js ] || npm run build >/dev/null
if [ $# -eq 0 ]; then
  set -- test_json test_grammar test_re test_dict test_os test_pathlib test_tempfile test_shutil test_fileio \
    test_glob test_posixpath test_zlib test_sqlite3 test_time test_random test_decimal test_datetime test_io
fi
exec node bin/pyvisor.js --isolation thread --memory 2G --timeout 1200 \
  --mount "$TESTS:/usr/local/lib/python3.13/test" -m test "$@"
