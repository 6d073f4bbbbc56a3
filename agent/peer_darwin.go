//go:build darwin

package agent

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerPID is the process ID at the other end of a Unix socket (0 if
// unknown), from macOS's LOCAL_PEERPID.
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
	raw.Control(func(fd uintptr) {
		if p, err := unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
			pid = p
		}
	})
	return pid
}

// processAlive reports whether pid still exists.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
