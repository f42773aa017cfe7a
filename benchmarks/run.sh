#!/usr/bin/env bash
# Runs every benchmark of the project from an existing build and prints their BENCH lines.
#
#   benchmarks/run.sh [--quick] [BUILD_DIR]     (BUILD_DIR defaults to build)
#
# --quick takes well under a minute; the full run gives the figures for RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
build_dir=build
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) build_dir="$arg" ;;
  esac
done
for program in store_benchmark engine_benchmark grpc_benchmark audit_benchmark; do
  binary="$build_dir/benchmarks/$program"
  if [ ! -x "$binary" ]; then
    echo "run.sh: $binary is missing; build first (scripts/setup.sh $build_dir)" >&2
    exit 1
  fi
  "$binary" "${quick[@]}"
done
