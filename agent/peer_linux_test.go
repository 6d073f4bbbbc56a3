//go:build linux

package agent

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestPeerUserIsTheKernelsWord: the local API learns the caller's UID from
// SO_PEERCRED on the accepted connection, not from anything the caller sends.
func TestPeerUserIsTheKernelsWord(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := peerUser(s), "uid:"+strconv.Itoa(os.Geteuid()); got != want {
		t.Fatalf("peerUser = %q, want %q", got, want)
	}
	if got := peerPID(s); got != os.Getpid() {
		t.Fatalf("peerPID = %d, want %d", got, os.Getpid())
	}
	if !privilegedUser(selfUser()) || privilegedUser("uid:4294967294") {
		t.Fatal("only root and the agent's own user see every lease")
	}
}
