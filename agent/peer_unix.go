//go:build linux || darwin

package agent

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// processAlive reports whether pid still exists (a zombie counts as gone
// only once reaped; that is the parent's business).
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
