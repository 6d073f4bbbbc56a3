#!/usr/bin/env bash
# chaos.sh: the long fault-injection runs behind `make chaos`, then the
# figures: fault schedules run, operations checked, violations.
#
#   CHAOS_SCHEDULES       seeded in-process schedules (cluster/store TestChaosSchedules), default 1000
#   CHAOS_PROC_SCHEDULES  seeded real-process schedules (daemon/chaos TestChaosProcesses), default 30
#   CHAOS_DURATION        length of each time-based nemesis run (TestClusterChaos*), default 60s
#   CHAOS_LOG             where the full log goes, default chaos.log
#   TALLY_CHAOS_SEED      replay one schedule (pass it with the -run of the test that printed it)
set -u
GO=${GO:-go}
LOG=${CHAOS_LOG:-chaos.log}
: > "$LOG"
status=0
run() {
	echo "== $*" | tee -a "$LOG"
	"$@" 2>&1 | tee -a "$LOG"
	[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
}
start=$(date +%s)
run env TALLY_CHAOS=1 TALLY_CHAOS_DURATION="${CHAOS_DURATION:-60s}" "$GO" test -race -count=1 -timeout 60m -v \
	-run '^(TestClusterChaos|TestClusterChaosOverTLS|TestClusterChaosExpiry|TestClusterFaults|TestClusterDiskFaults|TestChaosCheckerCatchesOverGrant)$' ./cluster/store/
run env TALLY_CHAOS_SCHEDULES="${CHAOS_SCHEDULES:-1000}" "$GO" test -count=1 -timeout 600m -v -run '^TestChaosSchedules$' ./cluster/store/
run env TALLY_CHAOS_PROC_SCHEDULES="${CHAOS_PROC_SCHEDULES:-30}" "$GO" test -count=1 -timeout 300m -v -run '^TestChaosProcesses$' ./daemon/chaos/
elapsed=$(( $(date +%s) - start ))

# Every chaos test logs one "chaos-figures:" line with key=value pairs.
grep -o 'chaos-figures: .*' "$LOG" | awk -v elapsed="$elapsed" '
{
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	h = v["harness"]; sched[h] += v["schedules"]; ops[h] += v["operations"]; viol[h] += v["violations"]
	tot_s += v["schedules"]; tot_o += v["operations"]; tot_v += v["violations"]; tok += v["tokens"]; ooc += v["out-of-contract-overlaps"]
}
END {
	printf "\nchaos figures (%ds):\n", elapsed
	for (h in sched) printf "  %-12s %6d schedules %9d operations %4d violations\n", h, sched[h], ops[h], viol[h]
	printf "  %-12s %6d schedules %9d operations %4d violations\n", "total", tot_s, tot_o, tot_v
	printf "  token ledger: %d tokens recorded; %d overlaps under out-of-contract clocks (reported, not promised)\n", tok, ooc
}' | tee -a "$LOG"
exit $status
