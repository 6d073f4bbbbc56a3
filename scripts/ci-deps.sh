#!/usr/bin/env bash
# Installs the Debian packages the tests use. Safe to run twice; a machine
# without apt (or without root and sudo) only loses the tests that need them,
# which then skip and say why.
set -euo pipefail
PKGS=(python3 python3-jwt python3-cryptography chromium fonts-dejavu-core debootstrap systemd)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
	echo "ci-deps: no apt-get; tests needing ${missing[*]} will skip" >&2
	exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
		echo "ci-deps: not root and no sudo; tests needing ${missing[*]} will skip" >&2
		exit 0
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
