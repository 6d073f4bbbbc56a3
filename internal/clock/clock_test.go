package clock

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOffsetFileIsReadAgainAtRunTime moves a clock forward and back by
// rewriting its offset file, as the chaos tests do to a running tallyd, and
// keeps the last offset when the file holds garbage.
func TestOffsetFileIsReadAgainAtRunTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offset")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := OffsetFile(path, 0, quiet)
	near := func(want time.Duration) {
		t.Helper()
		got := now().Sub(time.Now())
		if d := got - want; d < -time.Second/2 || d > time.Second/2 {
			t.Fatalf("offset %v, want about %v", got, want)
		}
	}
	near(0) // no file: the system clock
	for _, off := range []string{"90s", "-2m", "1.5s"} {
		if err := os.WriteFile(path, []byte(off+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		d, _ := time.ParseDuration(off)
		near(d)
	}
	if err := os.WriteFile(path, []byte("soon"), 0o600); err != nil {
		t.Fatal(err)
	}
	near(1500 * time.Millisecond)
	if got := now(); got.Location() != time.UTC {
		t.Fatalf("time in %v, want UTC", got.Location())
	}
}

func TestFromEnvWithoutTheVariableIsTheSystemClock(t *testing.T) {
	t.Setenv(EnvOffsetFile, "")
	c := FromEnv(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if d := c().Sub(time.Now()); d < -time.Second || d > time.Second {
		t.Fatalf("system clock off by %v", d)
	}
}
