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
