//go:build linux || darwin

package agent

import (
	"errors"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// processAlive reports whether pid still exists (a zombie counts as gone
// only once reaped; that is the parent's business).
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// uidUser is the agent's name for a Unix user.
func uidUser(uid uint32) string { return "uid:" + strconv.FormatUint(uint64(uid), 10) }

// selfUser is the OS user the agent runs as.
func selfUser() string { return uidUser(uint32(os.Geteuid())) }

// privilegedUser reports whether an OS user may see every user's leases:
// root, and the user the agent runs as.
func privilegedUser(u string) bool { return u == uidUser(0) || u == selfUser() }
