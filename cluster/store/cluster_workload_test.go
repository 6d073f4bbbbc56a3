package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/internal/clustertest/traffic"
	"github.com/tally-licensing/tally/internal/clustertest/validate"
)

// workload is traffic.Workload bound to the cluster it runs against.
type workload struct {
	*traffic.Workload
	c *testCluster
}

func newWorkload(c *testCluster, settings ledger.Settings, seats, devices int) *workload {
	return &workload{Workload: traffic.New(c, settings, seats, devices), c: c}
}

// progressCheck returns a function that fails the test, with the cluster's
// event log, unless the workload completes a few more operations within
// limit.
func (w *workload) progressCheck(t *testing.T, ctx context.Context, c *testCluster, limit time.Duration) func(what string) {
	return func(what string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		if err := w.WaitProgress(pctx, 5); err != nil {
			c.dumpEvents()
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// verifyRun ends every fault, waits until every node holds the same ledger
// and checks the run with validate.Check (see there: one log on every node,
// the audit S1–S5 at every entry, S1 in ledger time, every acknowledgement
// in the log and the final ledger, porcupine when linearizable). It returns
// the report, whose violations have failed the test.
func (w *workload) verifyRun(t *testing.T, linearizable bool) validate.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, li := w.c.converge(ctx)
	leader := w.c.storeOf(li)
	rep := validate.Check(validate.Run{
		Trace: w.c.trace, Final: leasesOf(leader), AppliedIndex: appliedIndex(leader),
		Workload: w.Workload, Linearizable: linearizable, VisualizeDir: t.TempDir(),
	})
	for _, v := range rep.Violations {
		t.Error(v)
	}
	if len(rep.Violations) > 0 {
		w.c.dumpEvents()
	}
	t.Log(rep.Summary)
	return rep
}

// logFigures logs the figures line scripts/chaos.sh adds up, for a test
// that runs one fault schedule.
func logFigures(t *testing.T, rep validate.Report) {
	t.Logf("chaos-figures: harness=in-process schedules=1 operations=%d violations=%d", rep.Operations, len(rep.Violations))
}
