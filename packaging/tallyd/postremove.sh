#!/bin/sh
# The cluster's state (/var/lib/tallyd: the Raft log, the ledger, the
# cluster CA key) and the user "tally" are kept even on purge: deleting a
# license ledger must be a deliberate act, not a side effect of apt.
set -e
case "$1" in
purge | 0)
	[ -d /var/lib/tallyd ] && echo "tallyd: /var/lib/tallyd (cluster state and keys) is kept; delete it by hand if you mean to"
	;;
esac
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
