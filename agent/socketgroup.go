package agent

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// shareSocket opens the local API to the members of group: the socket
// becomes 0660 with that group, and its directory 0750 with that group so
// that they can reach it. A system service runs as root, and applications
// run as users; without this only root could check out. The state files
// themselves stay 0600, so group members can reach the socket but read
// nothing else.
func shareSocket(path, group string) error {
	gid, err := lookupGroup(group)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	for _, step := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o750}, {path, 0o660}} {
		if err := os.Chown(step.path, -1, gid); err != nil {
			return fmt.Errorf("give %s to group %s: %w", step.path, group, err)
		}
		if err := os.Chmod(step.path, step.mode); err != nil {
			return fmt.Errorf("open %s to group %s: %w", step.path, group, err)
		}
	}
	return nil
}

// lookupGroup accepts a group name or a numeric GID.
func lookupGroup(group string) (int, error) {
	if gid, err := strconv.Atoi(group); err == nil && gid >= 0 {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("socket group: %w", err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("socket group %s has GID %q, which is not a number", group, g.Gid)
	}
	return gid, nil
}
