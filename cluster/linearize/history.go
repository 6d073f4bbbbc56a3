package linearize

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Recorder collects a concurrent history of seat operations. Times are
// monotonic nanoseconds since the recorder was made. It is safe for
// concurrent use.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewRecorder starts a history.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the timestamp to pass as an operation's call time. Take it before
// sending the first attempt of the operation.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Record adds an operation that was invoked at call. Its return time is
// taken now, except for an Unknown outcome, which stays pending for ever:
// the operation may take effect at any later point, or never.
func (r *Recorder) Record(client int, in Input, call int64, out Output) {
	ret := r.Now()
	if out.Outcome == Unknown {
		ret = math.MaxInt64
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// Operations returns a copy of the history.
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// Stats counts the operations by kind and outcome.
func (r *Recorder) Stats() map[string]int {
	out := map[string]int{}
	for _, op := range r.Operations() {
		out[op.Input.(Input).Kind.String()+"/"+op.Output.(Output).Outcome.String()]++
	}
	return out
}

// CheckResult is the verdict on a history.
type CheckResult struct {
	Result porcupine.CheckResult
	// Visualization is the path of the HTML visualisation, written when the
	// history is not linearizable (or the check timed out) and a directory
	// was given.
	Visualization string
}

// Check decides whether ops is linearizable with respect to model, within
// timeout. When it is not (or the checker ran out of time) and dir is not
// empty, the porcupine visualisation is written to dir.
func Check(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration, dir string) (CheckResult, error) {
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	out := CheckResult{Result: res}
	if res == porcupine.Ok || dir == "" {
		return out, nil
	}
	path := filepath.Join(dir, "linearizability.html")
	f, err := os.Create(path)
	if err != nil {
		return out, fmt.Errorf("write visualization: %w", err)
	}
	defer f.Close()
	if err := porcupine.Visualize(model, info, f); err != nil {
		return out, fmt.Errorf("write visualization: %w", err)
	}
	out.Visualization = path
	return out, nil
}
