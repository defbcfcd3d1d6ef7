#!/usr/bin/env bash
# Headless Chromium for the e2e status-page test: Debian's `chromium` package. Needs root (or sudo);
# does nothing when a chromium binary is already there. CHROMIUM=/path/to/binary makes the test use another one.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "install-chromium: $(chromium --version 2>/dev/null || chromium-browser --version) already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-chromium: needs root or sudo (apt-get install chromium)" >&2; exit 1; }
  SUDO="sudo"
fi
started=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "install-chromium: $(chromium --version) in $(( $(date +%s) - started )) s"
