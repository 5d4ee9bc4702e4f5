#!/usr/bin/env bash
# Installs everything armor-hooks needs to build, demo and test on Debian/Ubuntu,
# as root: the OCI runtimes and a static busybox for test containers (Debian's
# packages), Bun (from the npm registry), and the project's own packages.
# Safe to run again: it installs only what is missing.
set -euo pipefail

# containerd: Debian's 1.6 daemon (its CRI plugin) and ctr, for the CRI e2e suite.
# prometheus: promtool, which checks the agent's /metrics exposition in the tests.
# gdb: tests/e2e/runtime-env.test.ts traces which environment names the compiled binaries getenv().
APT_PACKAGES=(runc crun busybox-static podman containerd procps util-linux prometheus gdb)
BUN_VERSION=1.4.5

cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages and runs containers)" >&2
  exit 1
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v bun >/dev/null 2>&1 || [ "$(bun --version)" != "$BUN_VERSION" ]; then
  echo "setup.sh: installing bun $BUN_VERSION from npm"
  npm install -g --silent "bun@$BUN_VERSION"
fi

bun install --frozen-lockfile >/dev/null
echo "setup.sh: ready (bun $(bun --version), $(runc --version | head -1), $(crun --version | head -1))"
