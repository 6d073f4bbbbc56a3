//go:build !linux

package backupcrypt

import "errors"

// readTerminal is only implemented on Linux; elsewhere the passphrase comes
// from a file.
func readTerminal(string) ([]byte, error) {
	return nil, errors.New("reading a passphrase from the terminal is supported on Linux only: give --passphrase-file")
}
