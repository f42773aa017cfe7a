#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the store demo on ./var/spotflow.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
exec build/examples/store_quickstart ./var/spotflow
