package protocol

import (
	"encoding/json"
	"testing"
	"time"
)

// Durations are written as Go duration strings, and read from strings or,
// for clients older than that rule, whole nanoseconds.
func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(struct {
		D Duration `json:"d"`
	}{Duration(90 * time.Second)})
	if err != nil || string(b) != `{"d":"1m30s"}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	for in, want := range map[string]time.Duration{`"30s"`: 30 * time.Second, `"1h30m"`: 90 * time.Minute, `5000000000`: 5 * time.Second, `0`: 0} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("unmarshal %s = %v, %v; want %v", in, d.D(), err, want)
		}
	}
	for _, bad := range []string{`"soon"`, `1.5`, `true`, `"10"`} {
		var d Duration
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("unmarshal %s: accepted as %v", bad, d.D())
		}
	}
}
