#!/usr/bin/env bash
# The main job, until the engine lands: the policy tool chain on the example policy.
set -euo pipefail
bin=${1:-bin/microseg}
step() { printf '\n== %s\n$ %s\n' "$1" "${*:2}"; "${@:2}" || true; }
step "validate the example policy" "$bin" validate examples/three-tier
