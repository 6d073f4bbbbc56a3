//go:build !linux && !darwin && !windows

package state

// machineID: other systems have no identity the agent knows how to read; the
// agent falls back to a random code persisted in device.json.
func machineID() (string, error) { return "", ErrNoMachineID }
