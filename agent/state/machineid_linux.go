package state

import (
	"fmt"
	"os"
	"strings"
)

// machineID reads systemd's machine ID, or D-Bus's on systems without
// systemd. An empty or "uninitialized" file (an image not yet booted) counts
// as none.
func machineID() (string, error) {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		id := strings.TrimSpace(string(b))
		if id != "" && id != "uninitialized" {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: neither /etc/machine-id nor /var/lib/dbus/machine-id holds one", ErrNoMachineID)
}
