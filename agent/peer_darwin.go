//go:build darwin

package agent

import "golang.org/x/sys/unix"

// socketPeerPID reads macOS's LOCAL_PEERPID.
func socketPeerPID(fd uintptr) int {
	pid, err := unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
	if err != nil {
		return 0
	}
	return pid
}

// socketPeerUser reads the peer's UID from LOCAL_PEERCRED.
func socketPeerUser(fd uintptr) string {
	cred, err := unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return ""
	}
	return uidUser(cred.Uid)
}
