#!/usr/bin/env bash
# The main job: installs what is missing, builds, and starts spotflowd on ./var/spotflow.
# On a new data directory it seeds a demo (a user per preset role with their tokens, clients,
# orders in different states) and prints three CLI commands to try. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
exec build/service/spotflowd --data-dir=./var/spotflow --demo "$@"
