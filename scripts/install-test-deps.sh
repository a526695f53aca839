#!/usr/bin/env bash
# Installs what `make test` needs from Debian's packages and npm, each only
# when missing. Safe to run again.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

for p in awscli python3-boto3 systemd qemu-user-static dpkg init-system-helpers; do
	pkg_installed "$p" || need+=("$p")
done
# test/clients runs the JavaScript SDK under Node.js (any packaging will do).
have node || need+=(nodejs)
have npm || need+=(npm)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing Debian packages: ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The JavaScript SDK v3 for test/clients, pinned by its package-lock.json.
js="$(dirname "$0")/../test/clients/js"
if [ ! -d "$js/node_modules" ]; then
	npm ci --prefix "$js" --no-audit --no-fund
fi
