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

// socketPeerUser names the peer by the user SID of its process token:
// Windows has no peer-credential option on AF_UNIX sockets, but it gives
// the peer's process ID, and the process's token says who runs it.
func socketPeerUser(fd uintptr) string {
	pid := socketPeerPID(fd)
	if pid <= 0 {
		return ""
	}
	return processUser(uint32(pid))
}

func processUser(pid uint32) string {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return ""
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return ""
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return ""
	}
	return "sid:" + u.User.Sid.String()
}

// selfUser is the OS user the agent runs as.
func selfUser() string { return processUser(windows.GetCurrentProcessId()) }

// privilegedUser reports whether an OS user may see every user's leases:
// LocalSystem (the service account) and the user the agent runs as.
func privilegedUser(u string) bool { return u == "sid:S-1-5-18" || u == selfUser() }
