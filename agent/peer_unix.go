//go:build linux || darwin

package agent

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerPID is the process ID at the other end of a Unix socket (0 if
// unknown); socketPeerPID asks the kernel in the platform's own way.
func peerPID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	raw.Control(func(fd uintptr) { pid = socketPeerPID(int(fd)) })
	return pid
}

// processAlive reports whether pid still exists (a zombie counts as gone
// only once reaped; that is the parent's business).
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
