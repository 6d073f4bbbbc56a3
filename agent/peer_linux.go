//go:build linux

package agent

import "golang.org/x/sys/unix"

// socketPeerPID reads SO_PEERCRED.
func socketPeerPID(fd int) int {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0
	}
	return int(cred.Pid)
}
