#!/bin/sh
# run-licensed.sh FEATURE COMMAND [ARGS...]
#
# Runs COMMAND while holding a Tally seat on FEATURE, checked out through the
# local tally-agent; the seat is given back when COMMAND ends. The lease token
# is passed to COMMAND in $TALLY_LEASE_TOKEN (verify it against the JWKS from
# `tally-agent jwks`); $TALLY_TOKEN, tallyctl's admin token, is left alone.
# Waits up to $TALLY_WAIT (default 60s) for a free seat.
#
# Exit status: COMMAND's, or 3 when no seat is free, 2 for any other licensing
# failure (the reason is on stderr as "tally-agent: <code>: <message>").
set -u
if [ $# -lt 2 ]; then
	echo "usage: $0 FEATURE COMMAND [ARGS...]" >&2
	exit 64
fi
feature=$1
shift

err=$(mktemp) || exit 2
if ! TALLY_LEASE_TOKEN=$(tally-agent checkout --wait "${TALLY_WAIT:-60s}" "$feature" 2>"$err"); then
	cat "$err" >&2
	code=$(sed -n 's/^tally-agent: \([a-z_]*\):.*/\1/p' "$err")
	rm -f "$err"
	[ "$code" = no_seat ] && exit 3
	exit 2
fi
rm -f "$err"
export TALLY_LEASE_TOKEN

trap 'tally-agent release "$feature" >/dev/null' EXIT
trap 'exit 130' INT TERM
"$@"
