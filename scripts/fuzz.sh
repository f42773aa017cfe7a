#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (in BUILD_DIR, default build-fuzz) and runs each for
# SECONDS (default 20) on its committed seed corpus (tests/fuzz/corpus/<target>):
#   command_fuzzer  the bytes of an engine command, executed by every preset role;
#   request_fuzzer  a change method's request bytes, parsed and converted as the server does
#                   (service/requests.h), then executed the same way.
# A crash, a sanitizer report, or a refused command that wrote fails the run.
#
#   scripts/fuzz.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
build_dir="${2:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DSPOTFLOW_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build_dir.configure.log" 2>&1 ||
  { cat "$build_dir.configure.log"; exit 1; }
cmake --build "$build_dir" -j2 --target command_fuzzer request_fuzzer
for target in command request; do
  corpus="$(mktemp -d)"
  cp "tests/fuzz/corpus/$target"/* "$corpus"/
  ASAN_OPTIONS=detect_leaks=0 "$build_dir/tests/fuzz/${target}_fuzzer" \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$corpus" ||
    { rm -rf "$corpus"; exit 1; }
  rm -rf "$corpus"
  echo "fuzz: ${target}_fuzzer ran ${seconds}s without a finding"
done
