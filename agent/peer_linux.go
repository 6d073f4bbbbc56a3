//go:build linux

package agent

import "golang.org/x/sys/unix"

// socketPeerPID reads SO_PEERCRED.
func socketPeerPID(fd uintptr) int {
	cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0
	}
	return int(cred.Pid)
}

// socketPeerUser reads the peer's UID from SO_PEERCRED.
func socketPeerUser(fd uintptr) string {
	cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return ""
	}
	return uidUser(cred.Uid)
}
