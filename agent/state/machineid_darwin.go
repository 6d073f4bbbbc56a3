package state

import (
	"fmt"
	"os/exec"
	"regexp"
)

var platformUUID = regexp.MustCompile(`"IOPlatformUUID"\s*=\s*"([0-9A-Fa-f-]+)"`)

// machineID reads the hardware UUID from the I/O Registry, as
// `ioreg -rd1 -c IOPlatformExpertDevice` prints it.
func machineID() (string, error) {
	out, err := exec.Command("/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice").Output()
	if err != nil {
		return "", fmt.Errorf("%w: ioreg: %v", ErrNoMachineID, err)
	}
	m := platformUUID.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%w: ioreg printed no IOPlatformUUID", ErrNoMachineID)
	}
	return string(m[1]), nil
}
