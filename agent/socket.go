package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// maxSocketPath is the shortest sun_path limit among the platforms we run on
// (macOS: 104 bytes including the terminating NUL).
const maxSocketPath = 103

// socketListener is the local API's listener. Closing it removes the socket
// file, unless another process has replaced it since.
type socketListener struct {
	net.Listener
	path string
	info os.FileInfo
}

func (l *socketListener) Close() error {
	err := l.Listener.Close()
	if fi, statErr := os.Lstat(l.path); statErr == nil && os.SameFile(fi, l.info) {
		os.Remove(l.path)
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// listenSocket listens on the Unix socket at path with mode 0600.
//
// An existing socket that nobody answers on is stale and replaced; one that
// answers belongs to a running agent, and listenSocket refuses to start. The
// socket is bound inside a private (0700) temporary directory, set to 0600
// and only then renamed into place, so it is never reachable with a wider
// mode, whatever the umask.
func listenSocket(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another tally-agent is already listening on %s", path)
		}
		// Stale: left by an agent that did not shut down cleanly.
	}

	ln, err := listenPrivate(path)
	if err != nil {
		// Paths too long for the detour, or platforms that cannot rename a
		// socket: bind in place and tighten the mode before serving.
		os.Remove(path)
		ln, err = net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("restrict %s to 0600: %w", path, err)
		}
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // socketListener removes it, if still ours
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &socketListener{Listener: ln, path: path, info: fi}, nil
}

func listenPrivate(path string) (net.Listener, error) {
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".tally-agent-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	if len(tmp) > maxSocketPath {
		return nil, errors.New("socket path too long for a private temporary directory")
	}
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
