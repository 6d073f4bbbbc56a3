//go:build !linux && !darwin && !windows

package agent

import "net"

// peerPID is not available here (the BSDs): release on exit needs Linux,
// macOS or Windows.
func peerPID(net.Conn) int { return 0 }

func processAlive(int) bool { return true }

// peerUser is unknown here: every local caller shares the device's sign-in.
func peerUser(net.Conn) string { return "" }

func selfUser() string { return "" }

func privilegedUser(string) bool { return true }
