#!/usr/bin/env bash
# Installs everything armor-hooks needs to build, demo and test on Debian/Ubuntu,
# as root: the OCI runtimes and a static busybox for test containers (Debian's
# packages), Bun (from the npm registry), and the project's own packages.
# Safe to run again: it installs only what is missing.
set -euo pipefail

# containerd: Debian's 1.6 daemon (its CRI plugin) and ctr, for the CRI e2e suite.
# prometheus: promtool, which checks the agent's /metrics exposition in the tests.
# gdb: tests/e2e/runtime-env.test.ts traces which environment names the compiled binaries getenv().
# systemd: systemd-analyze, which rates and verifies the agent's unit (scripts/check-unit.sh); bsdutils: script(1).
APT_PACKAGES=(runc crun busybox-static podman containerd procps util-linux bsdutils systemd prometheus gdb)
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

# Debian's kubernetes-client 1.20 (kubectl whose kustomize predates components), for the test that
# deploy/kubernetes/overlays render with it: unpacked, not installed, since its package would
# replace the recent kubectl these machines have (which renders the components).
KUBECTL_1_20=/opt/kubernetes-client-1.20
if [ ! -x "$KUBECTL_1_20/usr/bin/kubectl" ]; then
  echo "setup.sh: unpacking Debian's kubernetes-client 1.20 into $KUBECTL_1_20"
  deb_dir=$(mktemp -d)
  chmod 0755 "$deb_dir" # apt-get download drops to the _apt user
  (cd "$deb_dir" && { apt-get download -qq kubernetes-client 2>/dev/null || { apt-get update -qq && apt-get download -qq kubernetes-client; }; })
  mkdir -p "$KUBECTL_1_20"
  dpkg-deb -x "$deb_dir"/kubernetes-client_*.deb "$KUBECTL_1_20"
  rm -rf "$deb_dir"
fi
command -v kubectl >/dev/null 2>&1 || echo "setup.sh: warning: no recent kubectl on PATH (deploy/kubernetes tests need one with kustomize components, 1.21 or newer)" >&2

bun install --frozen-lockfile >/dev/null
echo "setup.sh: ready (bun $(bun --version), $(runc --version | head -1), $(crun --version | head -1))"
