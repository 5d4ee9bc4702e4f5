#!/usr/bin/env bash
# One command from a fresh Debian machine with Node/npm (as root): install what is
# needed, build both binaries, and run a real container through the hook.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bun run build
bun run scripts/demo.ts
