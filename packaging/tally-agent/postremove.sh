#!/bin/sh
# The device's identity (/var/lib/tally-agent: key, certificate, lease
# cache) is kept even on purge, so a reinstall keeps its Device Code.
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
