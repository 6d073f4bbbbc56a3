//go:build linux || darwin || windows

package agent

import "net"

// peerPID is the process ID at the other end of the local API's Unix
// socket (0 if unknown); socketPeerPID asks the kernel in the platform's
// own way.
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
	raw.Control(func(fd uintptr) { pid = socketPeerPID(fd) })
	return pid
}
