#!/usr/bin/env bash
# Installs what is missing, builds, runs every test with ctest, then fuzzes command decoding,
# validation and the server's request conversion briefly (scripts/fuzz.sh, a clang build in
# build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
(cd build && ctest -j2 --output-on-failure --timeout 600)
scripts/fuzz.sh 20 build-fuzz
