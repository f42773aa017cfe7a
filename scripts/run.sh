#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the engine demo on ./var/engine-demo
# (seed 000 end to end); run it again to add another order to the same log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
exec build/examples/engine_quickstart ./var/engine-demo
