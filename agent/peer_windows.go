//go:build windows

package agent

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// sioAFUnixGetPeerPID is SIO_AF_UNIX_GETPEERPID (afunix.h): the process ID
// at the other end of an AF_UNIX socket, Windows 10 1803 and later.
const sioAFUnixGetPeerPID = 0x58000100

// stillActive is the exit code GetExitCodeProcess reports for a process
// that has not exited (STILL_ACTIVE).
const stillActive = 259

// socketPeerPID asks for SIO_AF_UNIX_GETPEERPID.
func socketPeerPID(fd uintptr) int {
	var pid uint32
	var n uint32
	if windows.WSAIoctl(windows.Handle(fd), sioAFUnixGetPeerPID, nil, 0, (*byte)(unsafe.Pointer(&pid)), uint32(unsafe.Sizeof(pid)), &n, nil, 0) != nil {
		return 0
	}
	return int(pid)
}

// processAlive reports whether pid has not exited. A process the agent
// may not open (another user's) counts as alive: the lease is kept rather
// than taken from a running application.
func processAlive(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return err != windows.ERROR_INVALID_PARAMETER // no such process
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == stillActive
}
