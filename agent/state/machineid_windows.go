package state

import (
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// machineID reads the MachineGuid Windows sets at installation. The 64-bit
// view is asked for explicitly so that a 32-bit build reads the same value.
func machineID() (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return "", fmt.Errorf("%w: open HKLM\\SOFTWARE\\Microsoft\\Cryptography: %v", ErrNoMachineID, err)
	}
	defer k.Close()
	id, _, err := k.GetStringValue("MachineGuid")
	if err != nil || id == "" {
		return "", fmt.Errorf("%w: read MachineGuid: %v", ErrNoMachineID, err)
	}
	return id, nil
}
