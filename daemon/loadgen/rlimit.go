//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// RaiseOpenFiles raises the process's open-file limit (RLIMIT_NOFILE) to at
// least want when it can: the soft limit up to the hard limit always, and
// the hard limit too when the process may (root). The tallyd processes the
// bench starts inherit it. It returns the soft limit now in force.
func RaiseOpenFiles(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise the open-file limit to %d: %w", lim.Cur, err)
	}
	return lim.Cur, nil
}
