#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (in BUILD_DIR, default build-fuzz) and runs each for
# SECONDS (default 20) on its committed seed corpus. A crash, a sanitizer report, or a refused
# command that wrote fails the run.
#
#   scripts/fuzz.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
build_dir="${2:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DSPOTFLOW_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build_dir.configure.log" 2>&1 ||
  { cat "$build_dir.configure.log"; exit 1; }
cmake --build "$build_dir" -j2 --target command_fuzzer
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
cp tests/fuzz/corpus/command/* "$corpus"/
ASAN_OPTIONS=detect_leaks=0 "$build_dir/tests/fuzz/command_fuzzer" \
  -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$corpus"
echo "fuzz: command_fuzzer ran ${seconds}s without a finding"
