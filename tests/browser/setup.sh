#!/usr/bin/env bash
# Installs what the browser test needs and the machine lacks: Debian's chromium, and the
# npm packages of this folder at the versions package-lock.json pins.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/jose ]; then
    npm ci --no-audit --no-fund
fi
