//go:build !linux && !darwin && !windows

package agent

import "net"

// peerPID is not available here (the BSDs): release on exit needs Linux,
// macOS or Windows.
func peerPID(net.Conn) int { return 0 }

func processAlive(int) bool { return true }
