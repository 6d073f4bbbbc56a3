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

// peerUser names the OS user at the other end of the local API's socket
// ("uid:1001" on Unix, "sid:S-1-5-…" on Windows), or "" when the kernel
// does not say. It is what the agent keys sign-ins and leases by: a member
// signed in by one OS user is that OS user's member on this device.
func peerUser(c net.Conn) string {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ""
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ""
	}
	user := ""
	raw.Control(func(fd uintptr) { user = socketPeerUser(fd) })
	return user
}
